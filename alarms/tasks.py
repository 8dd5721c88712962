import logging

from celery import shared_task
from django.db import OperationalError

from alarms import services
from telemetry.models import IngestBatch

logger = logging.getLogger(__name__)


def enqueue_batch_evaluation(*, batch_id):
    """Queue the alarm evaluation of a processed batch's site. Called by the ingest task after it commits.

    A publish failure is logged, not raised: the batch is stored, and the next batch evaluates the same
    latest state again.
    """
    try:
        evaluate_batch.apply_async(args=[str(batch_id)], retry=False)
    except Exception:
        logger.exception("Could not queue the alarm evaluation of batch %s", batch_id)


@shared_task(
    name="alarms.evaluate_batch",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def evaluate_batch(batch_id):
    """Evaluate the packs of the site a batch came from (HTTP batches always have one)."""
    site_ids = IngestBatch.objects.filter(pk=batch_id, site__isnull=False).values_list("site_id", flat=True)
    services.evaluate_packs(site_ids=list(site_ids))


@shared_task(name="alarms.check_staleness", ignore_result=True)
def check_staleness():
    """Beat task: raise and clear "pack stopped reporting" and "site stopped reporting"."""
    services.evaluate_staleness()
