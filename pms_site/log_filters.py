"""Logging filters (named in settings.LOGGING; imported while logging is configured, before the apps)."""


def not_service_unavailable(record):
    """Drops django.request's line for each 503: while the database is down, pms_site/middleware.py logs the
    outage once, instead of a line per request."""
    return getattr(record, "status_code", None) != 503
