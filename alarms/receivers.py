"""What alarms does when the apps below announce something; connected in AlarmsConfig.ready."""

from alarms.tasks import enqueue_site_evaluation


def evaluate_sites_of_stored_batches(sender, *, site_ids, **kwargs):
    """telemetry.signals.batches_stored: evaluate those sites in a task of their own, so the ingest stays
    fast."""
    enqueue_site_evaluation(site_ids=site_ids)
