"""Turn the readings and rollup tables into TimescaleDB hypertables.

Chunk intervals are sized for a fleet of hundreds of sites; the arithmetic is in telemetry/models.py.
Raw readings keep TimescaleDB's default time index (the rollup and retention jobs select by time alone);
rollups are only read per entity or per site, so they have no extra time index.
"""

from django.db import migrations

HYPERTABLES = [
    # (table, time column, chunk interval, create the default time index)
    ("telemetry_packreading", "time", "1 hour", True),
    ("telemetry_mpptreading", "time", "1 day", True),
    ("telemetry_inverterreading", "time", "1 day", True),
    ("telemetry_packrollup1m", "bucket", "1 day", False),
    ("telemetry_packrollup1h", "bucket", "7 days", False),
    ("telemetry_devicerollup1m", "bucket", "1 day", False),
    ("telemetry_devicerollup1h", "bucket", "7 days", False),
]


def create_sql(table, column, interval, default_indexes):
    return (
        f"SELECT create_hypertable('{table}', by_range('{column}', INTERVAL '{interval}'), "
        f"create_default_indexes => {str(default_indexes).lower()});"
    )


class Migration(migrations.Migration):
    dependencies = [("telemetry", "0002_telemetry_tables")]

    operations = [
        migrations.RunSQL("CREATE EXTENSION IF NOT EXISTS timescaledb;", migrations.RunSQL.noop),
        *[
            # Reversing keeps the data: the table stays a hypertable until 0002 is reversed and drops it.
            migrations.RunSQL(create_sql(*spec), migrations.RunSQL.noop)
            for spec in HYPERTABLES
        ],
    ]
