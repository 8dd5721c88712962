import django.utils.timezone
from django.db import migrations, models


def recorded_when_it_happened(apps, schema_editor):
    """Earlier entries did not keep when they were entered: their own time is the best there is."""
    ComponentEvent = apps.get_model("assets", "ComponentEvent")
    ComponentEvent.objects.update(recorded_at=models.F("occurred_at"))


class Migration(migrations.Migration):
    dependencies = [("assets", "0006_part_catalogue")]

    operations = [
        migrations.AddField(
            model_name="componentevent",
            name="recorded_at",
            field=models.DateTimeField(default=django.utils.timezone.now, help_text="When it was entered."),
        ),
        migrations.AlterField(
            model_name="componentevent",
            name="occurred_at",
            field=models.DateTimeField(help_text="When it happened: the time the change was recorded for."),
        ),
        migrations.RunPython(recorded_when_it_happened, migrations.RunPython.noop),
    ]
