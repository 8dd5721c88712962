"""Global Li-ion alarm thresholds, and who may see and acknowledge alarms (see alarms/defaults.py)."""

from django.db import migrations

from alarms.defaults import LI_ION_DEFAULTS, ROLES, ensure_defaults


def create_defaults_and_roles(apps, schema_editor):
    ensure_defaults(apps=apps, using=schema_editor.connection.alias)


def remove_defaults(apps, schema_editor):
    apps.get_model("alarms", "AlarmThreshold").objects.filter(site=None, kind__in=LI_ION_DEFAULTS).delete()


def remove_defaults_and_roles(apps, schema_editor):
    remove_defaults(apps, schema_editor)
    Permission = apps.get_model("auth", "Permission")
    for group in apps.get_model("auth", "Group").objects.filter(name__in=ROLES):
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="alarms"))


class Migration(migrations.Migration):
    dependencies = [
        ("alarms", "0001_initial"),
        ("assets", "0003_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(create_defaults_and_roles, remove_defaults_and_roles),
    ]
