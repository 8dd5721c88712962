"""Rules Django cannot declare: composite foreign keys and the dock-count trigger.

* (installation.component_id, component_kind) -> component(id, kind) and
  (installation.position_id, position_kind) -> position(id, kind): with the CHECK that both kinds are equal,
  a component can only be installed in a position made for its kind.
* (position.parent_id, parent_kind) -> component(id, kind): with the placement CHECK, a dock can only be on a
  busbar, a cell block only in a case, and so on.
* A dock number may not exceed its busbar's dock_count, and a busbar's dock_count may not drop below the
  docks it already has.
"""

from django.db import migrations

FORWARD = """
ALTER TABLE assets_installation
    ADD CONSTRAINT installation_component_kind_fk FOREIGN KEY (component_id, component_kind)
        REFERENCES assets_component (id, kind) ON UPDATE RESTRICT,
    ADD CONSTRAINT installation_position_kind_fk FOREIGN KEY (position_id, position_kind)
        REFERENCES assets_position (id, kind);
ALTER TABLE assets_position
    ADD CONSTRAINT position_parent_kind_fk FOREIGN KEY (parent_id, parent_kind)
        REFERENCES assets_component (id, kind) ON UPDATE RESTRICT;

CREATE FUNCTION assets_dock_within_busbar() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    docks smallint;
    serial text;
BEGIN
    IF NEW.kind = 'case' THEN
        SELECT c.dock_count, c.serial INTO docks, serial FROM assets_component c WHERE c.id = NEW.parent_id;
        IF NEW.number > docks THEN
            RAISE EXCEPTION 'Dock % does not exist: busbar % has % docks', NEW.number, serial, docks
                USING ERRCODE = 'check_violation', CONSTRAINT = 'position_dock_within_busbar';
        END IF;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER position_dock_within_busbar BEFORE INSERT OR UPDATE ON assets_position
    FOR EACH ROW EXECUTE FUNCTION assets_dock_within_busbar();

CREATE FUNCTION assets_busbar_keeps_its_docks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind = 'busbar' AND EXISTS (
        SELECT 1 FROM assets_position p WHERE p.parent_id = NEW.id AND p.kind = 'case' AND p.number > NEW.dock_count
    ) THEN
        RAISE EXCEPTION 'Busbar % has docks above %', NEW.serial, NEW.dock_count
            USING ERRCODE = 'check_violation', CONSTRAINT = 'busbar_keeps_its_docks';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER busbar_keeps_its_docks BEFORE UPDATE OF dock_count ON assets_component
    FOR EACH ROW EXECUTE FUNCTION assets_busbar_keeps_its_docks();
"""

BACKWARD = """
DROP TRIGGER busbar_keeps_its_docks ON assets_component;
DROP FUNCTION assets_busbar_keeps_its_docks();
DROP TRIGGER position_dock_within_busbar ON assets_position;
DROP FUNCTION assets_dock_within_busbar();
ALTER TABLE assets_position DROP CONSTRAINT position_parent_kind_fk;
ALTER TABLE assets_installation DROP CONSTRAINT installation_position_kind_fk,
    DROP CONSTRAINT installation_component_kind_fk;
"""


class Migration(migrations.Migration):
    dependencies = [("assets", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
