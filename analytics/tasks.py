import logging
from datetime import datetime

from celery import shared_task
from django.db import OperationalError

from analytics import services

logger = logging.getLogger(__name__)


def enqueue_refresh(*, start, end):
    """Queue the analytics of [start, end). A publish failure is logged, not raised: beat's next refresh of
    the 1-hour rollups covers the recent hours again (a backfill's range can be re-run with
    ``manage.py refresh_rollups``)."""
    try:
        refresh_analytics.apply_async(args=[start.isoformat(), end.isoformat()], retry=False)
    except Exception:
        logger.exception("Could not queue the analytics of %s to %s", start, end)


@shared_task(
    name="analytics.refresh_analytics",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def refresh_analytics(start, end):
    """The hours of [start, end] (ISO 8601 times) and the health of their cases."""
    services.analytics_refresh(start=datetime.fromisoformat(start), end=datetime.fromisoformat(end))
