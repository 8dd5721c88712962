"""Per-site rollups for the site charts: hypertables like the other rollups (0003), filled from the pack
rollups already computed; telemetry/rollups.py keeps them up to date from then on."""

import django.db.models.deletion
from django.db import migrations, models

import telemetry.models

FILL_SQL = """
INSERT INTO telemetry_siterollup{width} (bucket, site_id, n, volts_min, volts_avg, volts_max, amps_min,
    amps_avg, amps_max, temp_max, cell_min, cell_max)
SELECT bucket, site_id, sum(n), min(volts_min), sum(volts_avg::float8 * n) / sum(n), max(volts_max),
    min(amps_min), sum(amps_avg::float8 * n) / sum(n), max(amps_max), max(temp_max), min(cell_min),
    max(cell_max)
FROM telemetry_packrollup{width}
GROUP BY site_id, bucket
"""


def hypertable_sql(width, interval):
    return (
        f"SELECT create_hypertable('telemetry_siterollup{width}', by_range('bucket', INTERVAL '{interval}'), "
        "create_default_indexes => false);"
    )


class Migration(migrations.Migration):

    dependencies = [
        ('assets', '0007_componentevent_recorded_at'),
        ('telemetry', '0011_discrepancy_kinds_say_what_happened'),
    ]

    operations = [
        migrations.CreateModel(
            name='SiteRollup1h',
            fields=[
                ('bucket', models.DateTimeField()),
                ('n', models.IntegerField()),
                ('volts_min', telemetry.models.RealField()),
                ('volts_avg', models.FloatField()),
                ('volts_max', telemetry.models.RealField()),
                ('amps_min', telemetry.models.RealField()),
                ('amps_avg', models.FloatField()),
                ('amps_max', telemetry.models.RealField()),
                ('temp_max', telemetry.models.RealField()),
                ('cell_min', telemetry.models.RealField(help_text='Lowest cell voltage of any pack (cells flagged open left out).')),
                ('cell_max', telemetry.models.RealField(help_text='Highest cell voltage of any pack (cells flagged open left out).')),
                ('pk', models.CompositePrimaryKey('site', 'bucket', blank=True, editable=False, primary_key=True, serialize=False)),
                ('site', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='assets.site')),
            ],
            options={
                'abstract': False,
            },
        ),
        migrations.CreateModel(
            name='SiteRollup1m',
            fields=[
                ('bucket', models.DateTimeField()),
                ('n', models.IntegerField()),
                ('volts_min', telemetry.models.RealField()),
                ('volts_avg', models.FloatField()),
                ('volts_max', telemetry.models.RealField()),
                ('amps_min', telemetry.models.RealField()),
                ('amps_avg', models.FloatField()),
                ('amps_max', telemetry.models.RealField()),
                ('temp_max', telemetry.models.RealField()),
                ('cell_min', telemetry.models.RealField(help_text='Lowest cell voltage of any pack (cells flagged open left out).')),
                ('cell_max', telemetry.models.RealField(help_text='Highest cell voltage of any pack (cells flagged open left out).')),
                ('pk', models.CompositePrimaryKey('site', 'bucket', blank=True, editable=False, primary_key=True, serialize=False)),
                ('site', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='assets.site')),
            ],
            options={
                'abstract': False,
            },
        ),
        *[
            operation
            for width, interval in (("1m", "7 days"), ("1h", "30 days"))
            for operation in (
                migrations.RunSQL(hypertable_sql(width, interval), migrations.RunSQL.noop),
                migrations.RunSQL(FILL_SQL.format(width=width), migrations.RunSQL.noop),
            )
        ],
    ]
