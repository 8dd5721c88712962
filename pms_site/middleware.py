"""The database down means 503 with Retry-After, for pages and the API, and one log line per outage.

A view's database error reaches ``DatabaseUnavailableMiddleware.process_exception`` (pages) or DRF's
exception handler (pms_site/drf.py; DRF views handle their own exceptions); both answer with
``database_unavailable_response``. The session and user are loaded lazily, inside the view, so a dead
database meets them there too. Recovery needs nothing: Django drops a connection that had errors at the end
of the request (``conn_health_checks``) and the next request connects again.

"One line per outage" across every web process: the first process to see the outage logs it, the others
find the shared cache's flag set; the first to connect again logs the end. Should that Redis be down as well,
each process logs the outage (and its end) once.
"""

import logging
import threading
import time

from django.conf import settings
from django.core.cache import caches
from django.db import InterfaceError, OperationalError
from django.db.backends.signals import connection_created
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)
DATABASE_ERRORS = (OperationalError, InterfaceError)
OUTAGE_FLAG = "database-outage"
OUTAGE_FLAG_SECONDS = 600  # a flag left by a process that stopped mid-outage silences the next one no longer


class _Outage:
    """This process's view of a database outage: when it first saw it, or None."""

    def __init__(self):
        self.since = None
        self._lock = threading.Lock()

    def begin(self, error):
        with self._lock:
            if self.since is not None:
                return
            self.since = time.monotonic()
        if _shared_flag(lambda cache: cache.add(OUTAGE_FLAG, time.time(), OUTAGE_FLAG_SECONDS), default=True):
            logger.error(
                "Database unavailable, answering 503 until it is back: %s", str(error).strip().splitlines()[0]
            )

    def end(self, **kwargs):
        if self.since is None:
            return
        with self._lock:
            since, self.since = self.since, None
        if since is not None and _shared_flag(lambda cache: cache.delete(OUTAGE_FLAG), default=True):
            logger.warning("Database available again after %.0f s", time.monotonic() - since)


def _shared_flag(operation, default):
    try:
        return operation(caches["shared"])
    except RedisError:
        return default


outage = _Outage()
connection_created.connect(outage.end, dispatch_uid="pms_site.middleware.outage_end")


def database_unavailable_response(request, error):
    outage.begin(error)
    retry_after = str(settings.DATABASE_UNAVAILABLE_RETRY_AFTER_S)
    if request.path.startswith("/api/"):
        response = JsonResponse(
            {"detail": f"The database is unavailable; nothing was stored. Retry in {retry_after} s."},
            status=503,
        )
    else:
        response = HttpResponse(render_to_string("503.html", {"retry_after": retry_after}), status=503)
    response["Retry-After"] = retry_after
    return response


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, DATABASE_ERRORS):
            return database_unavailable_response(request, exception)
        return None
