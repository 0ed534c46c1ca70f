-- Undo assign_store.sql (migration 0002's downgrade): the triggers, then the functions. The
-- repeatable step also runs it before installing a changed assign_store.sql, so it drops what
-- any released text made: when a signature changes, keep the old one here beside the new.
DROP TRIGGER IF EXISTS gisgrid_assign_insert ON incidents;
DROP TRIGGER IF EXISTS gisgrid_assign_update ON incidents;
DROP TRIGGER IF EXISTS gisgrid_assign_insert ON visit_logs;
DROP TRIGGER IF EXISTS gisgrid_assign_update ON visit_logs;
DROP TRIGGER IF EXISTS gisgrid_assign_insert ON places;
DROP TRIGGER IF EXISTS gisgrid_assign_update ON places;
DROP TRIGGER IF EXISTS gisgrid_assign_insert ON buildings;
DROP TRIGGER IF EXISTS gisgrid_assign_update ON buildings;
DROP TRIGGER IF EXISTS gisgrid_assign_insert ON households;
DROP TRIGGER IF EXISTS gisgrid_assign_update ON households;
DROP FUNCTION IF EXISTS gisgrid_assign_row();
DROP FUNCTION IF EXISTS gisgrid_assign_point_ids(geometry, timestamptz);
DROP FUNCTION IF EXISTS gisgrid_area_above(bigint);
DROP FUNCTION IF EXISTS gisgrid_assign_point(geometry, timestamptz);
