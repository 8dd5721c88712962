import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("assets", "0005_master_data_version"),
        ("telemetry", "0004_packrollup_cell_volts_avg"),
    ]

    operations = [
        migrations.AddField(
            model_name="discrepancy",
            name="resolved_with",
            field=models.ForeignKey(
                blank=True,
                help_text="The install or swap recorded to resolve it, when it was resolved that way.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="resolved_discrepancies",
                to="assets.installation",
            ),
        ),
    ]
