"""Beat's upkeep of derived telemetry: rollups every minute and every 10 minutes, retention daily.

Listed in CELERY_IMPORTS (Celery's autodiscovery only loads ``tasks.py``).
"""

from celery import shared_task

from telemetry.retention import drop_old_batches, drop_old_readings
from telemetry.rollups import (
    ONE_HOUR,
    ONE_MINUTE,
    refresh_recent_rollups,
    rollups_refresh_late,
)


@shared_task(name="telemetry.refresh_rollups_1m", ignore_result=True)
def refresh_rollups_1m():
    return refresh_recent_rollups(width=ONE_MINUTE)


@shared_task(name="telemetry.refresh_rollups_1h", ignore_result=True)
def refresh_rollups_1h():
    return refresh_recent_rollups(width=ONE_HOUR)


@shared_task(name="telemetry.drop_old_readings", ignore_result=True)
def drop_old_readings_task():
    return drop_old_readings()


@shared_task(name="telemetry.drop_old_batches", ignore_result=True)
def drop_old_batches_task():
    return drop_old_batches()


@shared_task(name="telemetry.refresh_late_rollups", ignore_result=True)
def refresh_late_rollups():
    """The rollups of every minute the ingest noted as late, a bounded number of minutes per transaction.
    Prompted after an ingest that stored late readings (queue.late_rollups_enqueue), and by beat every
    minute in case a prompt was lost."""
    while rollups_refresh_late():
        pass
