from celery import shared_task
from django.utils import timezone

from telemetry.models import WorkerHeartbeat


@shared_task(name="telemetry.worker_heartbeat", ignore_result=True)
def worker_heartbeat():
    hostname = worker_heartbeat.request.hostname or "unknown"
    WorkerHeartbeat.objects.update_or_create(hostname=hostname, defaults={"beat_at": timezone.now()})
