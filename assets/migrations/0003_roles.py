"""The custom status permission and the three roles: Warehouse, Field engineer, Manager.

The roles' permissions are defined once, in assets.permissions.ROLE_PERMISSIONS.
"""

from django.db import migrations

from assets.permissions import ROLE_PERMISSIONS, sync_roles


def create_roles(apps, schema_editor):
    sync_roles(apps=apps, using=schema_editor.connection.alias)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("assets", "0002_database_rules"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="component",
            options={
                "ordering": ["kind", "serial"],
                "permissions": [("set_component_status", "Can set the status of a component")],
            },
        ),
        migrations.RunPython(create_roles, remove_roles),
    ]
