"""Bound reading times to a plausible range in the database too: readings, latest state and discrepancies.

Ingest refuses implausible times (telemetry/ingest/times.py TimeParser); this is the defence behind it. A
year-10000 time, which psycopg cannot read back, broke every page and alarm task that met it. Rows outside
the range (only a faulty gateway clock put them there) are deleted first. TimescaleDB (Apache edition too)
passes a CHECK constraint of a hypertable on to its chunks. Adding it scans each table once.
"""

from django.db import migrations

EARLIEST, END = "2000-01-01 00:00:00+00", "2100-01-01 00:00:00+00"
TIME_COLUMNS = [
    ("telemetry_packreading", "time"),
    ("telemetry_mpptreading", "time"),
    ("telemetry_inverterreading", "time"),
    ("telemetry_packstate", "time"),
    ("telemetry_devicestate", "time"),
    ("telemetry_discrepancy", "first_seen"),
    ("telemetry_discrepancy", "last_seen"),
]


def bound_sql(table, column):
    within = f"{column} >= '{EARLIEST}' AND {column} < '{END}'"
    return (
        f"DELETE FROM {table} WHERE NOT ({within}); "
        f"ALTER TABLE {table} ADD CONSTRAINT {table}_{column}_plausible CHECK ({within});"
    )


class Migration(migrations.Migration):
    dependencies = [("telemetry", "0005_discrepancy_resolved_with")]

    operations = [
        migrations.RunSQL(
            bound_sql(table, column), f"ALTER TABLE {table} DROP CONSTRAINT {table}_{column}_plausible;"
        )
        for table, column in TIME_COLUMNS
    ]
