"""Raw readings are kept for TELEMETRY_RAW_RETENTION_DAYS; older chunks are dropped whole.

Apache-edition TimescaleDB has no retention policies, so a daily beat task calls ``drop_chunks``. Only the
readings hypertables are trimmed: the rollups (and the 1-hour ones can be rebuilt from the 1-minute ones)
are what the pages show for older periods.
"""

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from telemetry.models import InverterReading, MpptReading, PackReading

READINGS_TABLES = [model._meta.db_table for model in (PackReading, MpptReading, InverterReading)]


def drop_old_readings(*, now=None):
    """Drop the readings chunks that end before the retention cut-off. Returns {table: chunks dropped}."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.TELEMETRY_RAW_RETENTION_DAYS)
    dropped = {}
    with connection.cursor() as cursor:
        for table in READINGS_TABLES:
            cursor.execute("SELECT drop_chunks(%s::regclass, older_than => %s)", [table, cutoff])
            dropped[table] = len(cursor.fetchall())
    return dropped
