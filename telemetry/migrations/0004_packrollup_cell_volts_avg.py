"""Per-cell averages in the pack rollups, for the per-cell chart over a case's life.

The column is added empty: a rollup computed before it keeps NULL until ``manage.py refresh_rollups``
re-computes its range (while the raw readings are kept); the charts skip such rows.
"""

import django.contrib.postgres.fields
from django.db import migrations

import telemetry.models

CELL_VOLTS_AVG = django.contrib.postgres.fields.ArrayField(
    base_field=telemetry.models.RealField(),
    help_text="Average voltage of each cell, 1-14. Empty in rollups computed before it was added: "
    "refresh_rollups over their range fills it while the raw readings are kept.",
    null=True,
    size=14,
)


class Migration(migrations.Migration):
    dependencies = [("telemetry", "0003_hypertables")]

    operations = [
        *[
            migrations.AddField(model_name=model, name="cell_volts_avg", field=CELL_VOLTS_AVG.clone())
            for model in ("packrollup1m", "packrollup1h")
        ],
        *[
            migrations.AlterField(
                model_name=model,
                name=f"cell_{stat}",
                field=telemetry.models.RealField(
                    help_text=f"{label} cell voltage in the bucket (cells flagged open left out)."
                ),
            )
            for model in ("packrollup1m", "packrollup1h")
            for stat, label in (("min", "Lowest"), ("max", "Highest"))
        ],
    ]
