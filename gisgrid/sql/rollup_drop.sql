-- Undo rollup.sql (migration 0013_rollup downgrade; the tables go with the migration). The
-- repeatable step runs it before installing a changed rollup.sql.
DROP TRIGGER IF EXISTS incident_rollup_insert ON incidents;
DROP TRIGGER IF EXISTS incident_rollup_update ON incidents;
DROP TRIGGER IF EXISTS incident_rollup_delete ON incidents;
DROP TRIGGER IF EXISTS incident_rollup_truncate ON incidents;
DROP FUNCTION IF EXISTS gisgrid_rollup_apply();
DROP FUNCTION IF EXISTS gisgrid_rollup_truncate();
DROP FUNCTION IF EXISTS gisgrid_rollup_rebuild();
DROP FUNCTION IF EXISTS gisgrid_rollup_derive();
DROP FUNCTION IF EXISTS gisgrid_rollup_fill_cube();
DROP FUNCTION IF EXISTS gisgrid_rollup_grid_split(text, text, timestamptz, integer);
DROP FUNCTION IF EXISTS gisgrid_rollup_merge(gisgrid_rollup_delta[]);
DROP FUNCTION IF EXISTS gisgrid_rollup_merge(gisgrid_rollup_delta[], boolean);
DROP FUNCTION IF EXISTS gisgrid_rollup_key(bigint, timestamptz, text, text, timestamptz,
                                           timestamptz, boolean, integer);
DROP TYPE IF EXISTS gisgrid_rollup_delta;
DROP FUNCTION IF EXISTS gisgrid_rollup_due_hour(text, timestamptz);
DROP FUNCTION IF EXISTS gisgrid_rollup_open(text);
DROP FUNCTION IF EXISTS gisgrid_rollup_sensitive(text);
DROP FUNCTION IF EXISTS gisgrid_sensitive_groups();
DROP FUNCTION IF EXISTS gisgrid_city_tz();
