from celery import shared_task
from django.db import DatabaseError
from django.utils import timezone

from alarms.tasks import enqueue_batch_evaluation
from telemetry import services
from telemetry.models import WorkerHeartbeat


@shared_task(name="telemetry.worker_heartbeat", ignore_result=True)
def worker_heartbeat():
    hostname = worker_heartbeat.request.hostname or "unknown"
    WorkerHeartbeat.objects.update_or_create(hostname=hostname, defaults={"beat_at": timezone.now()})


@shared_task(
    name="telemetry.process_batch",
    acks_late=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=5,
    ignore_result=True,
)
def process_batch(batch_id):
    """Store one landed batch. Idempotent: a done batch is skipped, a failed attempt leaves nothing behind."""
    result = services.batch_process(batch_id=batch_id)
    if result is not None and result.stored:
        enqueue_batch_evaluation(batch_id=batch_id)  # alarms, in their own task: the ingest stays fast


@shared_task(name="telemetry.requeue_stale_batches", ignore_result=True)
def requeue_stale_batches():
    services.batches_requeue_stale()
