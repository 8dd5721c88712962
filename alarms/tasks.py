import logging

from celery import shared_task
from django.db import OperationalError

from alarms import services

logger = logging.getLogger(__name__)


def enqueue_site_evaluation(*, site_ids):
    """Queue the alarm evaluation of the sites whose readings were just stored. Called when the ingest task
    has committed (telemetry.signals.batches_stored).

    A publish failure is logged, not raised: the readings are stored, and the next batch of each site
    evaluates the same latest state again.
    """
    try:
        evaluate_sites.apply_async(args=[sorted(site_ids)], retry=False)
    except Exception:
        logger.exception("Could not queue the alarm evaluation of sites %s", sorted(site_ids))


@shared_task(
    name="alarms.evaluate_sites",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def evaluate_sites(site_ids):
    """Evaluate the latest state of the packs of these sites."""
    services.pack_alarms_evaluate(site_ids=site_ids)


@shared_task(name="alarms.check_staleness", ignore_result=True)
def check_staleness():
    """Beat task: raise and clear "pack stopped reporting" and "site stopped reporting"."""
    services.staleness_alarms_evaluate()
