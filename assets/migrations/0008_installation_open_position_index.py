"""What a position holds now, read from an index alone: the open installations by position, covering the
component (assets.selectors.installed_case_counts, the fleet page's installed cases per site)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("assets", "0007_componentevent_recorded_at")]

    operations = [
        migrations.AddIndex(
            model_name="installation",
            index=models.Index(
                condition=models.Q(("removed_at__isnull", True)),
                fields=["position"],
                include=("component",),
                name="install_open_position_idx",
            ),
        ),
    ]
