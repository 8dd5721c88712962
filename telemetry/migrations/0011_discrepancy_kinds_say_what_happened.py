from django.db import migrations, models

# The old kinds, split by what the records said: "wrong_pms" with no recorded site was a case recorded
# nowhere. Open discrepancies get their exact kind again at their next sighting or installation change.
FORWARD = [
    ("dock_mismatch", {}, "other_dock"),
    ("wrong_pms", {"recorded_site__isnull": True}, "not_installed"),
    ("wrong_pms", {}, "other_site"),
]


def rename_kinds(apps, schema_editor):
    Discrepancy = apps.get_model("telemetry", "Discrepancy")
    for old, condition, new in FORWARD:
        Discrepancy.objects.filter(kind=old, **condition).update(kind=new)


def restore_kinds(apps, schema_editor):
    Discrepancy = apps.get_model("telemetry", "Discrepancy")
    Discrepancy.objects.filter(kind__in=["other_case", "other_dock", "unknown_dock"]).update(
        kind="dock_mismatch"
    )
    Discrepancy.objects.filter(kind__in=["other_site", "not_installed"]).update(kind="wrong_pms")


class Migration(migrations.Migration):
    dependencies = [("telemetry", "0010_packrollup_charge_discharge")]

    operations = [
        migrations.AlterField(
            model_name="discrepancy",
            name="kind",
            field=models.CharField(
                choices=[
                    ("other_case", "Another case is recorded at this dock"),
                    ("other_site", "This case is recorded at another site"),
                    ("not_installed", "This case is recorded as in stock, faulty or retired"),
                    ("unknown_dock", "The dock is not on this PMS's busbars"),
                    ("other_dock", "This case is recorded at another dock of this site"),
                ],
                max_length=16,
            ),
        ),
        migrations.RunPython(rename_kinds, restore_kinds),
    ]
