"""The roles' procurement permissions: the warehouse edits and receives, every role views."""

from django.db import migrations

from stock.permissions import grant_roles


def create_roles(apps, schema_editor):
    grant_roles(apps=apps, using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("stock", "0001_procurement"),
        ("assets", "0003_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
