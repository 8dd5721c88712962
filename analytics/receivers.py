"""What analytics does when telemetry announces something; connected in AnalyticsConfig.ready."""

from analytics.tasks import enqueue_refresh
from telemetry.rollups import ONE_HOUR


def refresh_after_rollups(sender, *, width, start, end, **kwargs):
    """telemetry.signals.rollups_refreshed: once the 1-hour rollups of a range are re-computed, so are the
    analytics of its hours (from the 1-minute rollups, complete by then)."""
    if width == ONE_HOUR and start < end:
        enqueue_refresh(start=start, end=end)
