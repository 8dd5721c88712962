import time

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from telemetry import queue, selectors, services
from telemetry.models import IngestBatch, WorkerHeartbeat
from telemetry.signals import batches_stored

MAX_REATTRIBUTION_REST_S = 5


@shared_task(name="telemetry.worker_heartbeat", ignore_result=True)
def worker_heartbeat():
    hostname = worker_heartbeat.request.hostname or "unknown"
    WorkerHeartbeat.objects.update_or_create(hostname=hostname, defaults={"beat_at": timezone.now()})


@shared_task(
    bind=True,
    name="telemetry.process_batch",
    acks_late=True,
    # batch_process raises only an operational error, and only while its batch has attempts left: the retry
    # is one new message for this batch alone. The attempts counted in the database bound the retries.
    autoretry_for=services.OPERATIONAL_ERRORS,
    retry_backoff=2,
    retry_backoff_max=settings.INGEST_RETRY_BACKOFF_MAX,
    retry_jitter=True,
    max_retries=settings.INGEST_MAX_ATTEMPTS,
    ignore_result=True,
)
def process_batch(self, batch_id):
    """Store one landed batch, with the batches waiting behind it (a retry takes its batch alone).
    Idempotent: a done batch is skipped, a failed attempt leaves nothing behind."""
    companions = 0 if self.request.retries else settings.INGEST_BATCH_COMPANIONS
    processed = services.batch_process(batch_id=batch_id, companions=companions)
    if not processed and companions:
        # Its batch went along with another task's (or failed alone): this message drains the oldest instead.
        oldest = selectors.batch_oldest_waiting()
        if oldest is not None:
            processed = services.batch_process(batch_id=oldest, companions=companions)
    stored = [item for item in processed if item.result.stored]
    site_ids = {item.batch.site_id for item in stored if item.batch.site_id}
    if site_ids:
        batches_stored.send(sender=IngestBatch, site_ids=site_ids)
    if any(item.result.late_minutes for item in stored):
        queue.late_rollups_enqueue()


@shared_task(name="telemetry.requeue_stale_reattributions", ignore_result=True)
def requeue_stale_reattributions():
    services.reattributions_requeue_stale()


@shared_task(name="telemetry.requeue_stale_batches", ignore_result=True)
def requeue_stale_batches():
    services.batches_requeue_stale()


@shared_task(
    name="telemetry.reattribute_readings",
    acks_late=True,
    autoretry_for=services.OPERATIONAL_ERRORS,
    retry_backoff=2,
    max_retries=settings.INGEST_MAX_ATTEMPTS,
    ignore_result=True,
)
def reattribute_readings(reattribution_id):
    """One step of a re-attribution (telemetry/reattribution.py), then the next in a message of its own.

    The step is followed by a rest in proportion to it (REATTRIBUTION_REST_RATIO), taken in this process, so
    that the process does no other such work meanwhile (a swap queues two re-attributions at once: a rest
    between one's messages would go to the other's steps), and ingest keeps most of the database while a
    month of readings moves."""
    began = time.monotonic()
    if services.reattribution_step(reattribution_id=reattribution_id):
        rest = (time.monotonic() - began) * settings.REATTRIBUTION_REST_RATIO
        time.sleep(min(rest, MAX_REATTRIBUTION_REST_S))
        reattribute_readings.delay(reattribution_id)
