"""Raw readings are kept for TELEMETRY_RAW_RETENTION_DAYS; older chunks are dropped whole.

Apache-edition TimescaleDB has no retention policies, so a daily beat task calls ``drop_chunks``. Only the
readings hypertables are trimmed: the rollups (and the 1-hour ones can be rebuilt from the 1-minute ones)
are what the pages show for older periods.

Landed payloads are kept for INGEST_BATCH_RETENTION_DAYS once their batch is stored whole: by then their
readings are in the hypertables, and a fleet of 1,000 sites lands about 270 GB of JSON a day. Batches that
failed or quarantined records are kept for people to look at.
"""

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from telemetry.models import IngestBatch, InverterReading, MpptReading, PackReading

READINGS_TABLES = [model._meta.db_table for model in (PackReading, MpptReading, InverterReading)]
BATCH_DELETE_CHUNK = 10_000
DROP_STORED_BATCHES_SQL = f"""
DELETE FROM {IngestBatch._meta.db_table} WHERE id IN (
    SELECT id FROM {IngestBatch._meta.db_table}
    WHERE received_at < %(cutoff)s AND status = 'done' AND quarantined = 0
    LIMIT {BATCH_DELETE_CHUNK}
)
"""


def drop_old_readings(*, now=None):
    """Drop the readings chunks that end before the retention cut-off. Returns {table: chunks dropped}."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.TELEMETRY_RAW_RETENTION_DAYS)
    dropped = {}
    with connection.cursor() as cursor:
        for table in READINGS_TABLES:
            cursor.execute("SELECT drop_chunks(%s::regclass, older_than => %s)", [table, cutoff])
            dropped[table] = len(cursor.fetchall())
    return dropped


def drop_old_batches(*, now=None):
    """Delete the landing rows of batches stored whole before the cut-off, a chunk per transaction so the
    landing table is never locked for long. Returns how many were deleted."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.INGEST_BATCH_RETENTION_DAYS)
    deleted = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(DROP_STORED_BATCHES_SQL, {"cutoff": cutoff})
            deleted += cursor.rowcount
        if cursor.rowcount < BATCH_DELETE_CHUNK:
            return deleted
