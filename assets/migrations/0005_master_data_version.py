"""A version of the master data telemetry resolves identities against, for caches of it to check.

Every statement that writes sites, positions, components or installations sets the one row's version to a
fresh number from a sequence. A new number, never an increment: a rolled-back transaction may have cached
what it saw under its own number, and no later commit may reuse that number. The row lock it takes is held
until the writing transaction ends, so a reader sees a new version no earlier than the data it stands for;
the asset services lock their positions and components before their first write, so this lock is the last
one they take.
"""

from django.db import migrations

TABLES = ["assets_site", "assets_position", "assets_component", "assets_installation"]

FORWARD = """
CREATE SEQUENCE assets_master_data_version_seq;
CREATE TABLE assets_master_data_version (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    version bigint NOT NULL
);
INSERT INTO assets_master_data_version (version) VALUES (nextval('assets_master_data_version_seq'));

CREATE FUNCTION assets_master_data_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE assets_master_data_version SET version = nextval('assets_master_data_version_seq');
    RETURN NULL;
END $$;
""" + "".join(
    f"CREATE TRIGGER {table}_master_data_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}\n"
    "    FOR EACH STATEMENT EXECUTE FUNCTION assets_master_data_changed();\n"
    for table in TABLES
)

BACKWARD = (
    "".join(f"DROP TRIGGER {table}_master_data_changed ON {table};\n" for table in TABLES)
    + """
DROP FUNCTION assets_master_data_changed();
DROP TABLE assets_master_data_version;
DROP SEQUENCE assets_master_data_version_seq;
"""
)


class Migration(migrations.Migration):
    dependencies = [("assets", "0004_busbar_dock_count_required")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
