-- Undo tile_dirty.sql (migration 0012_invalidate's downgrade, and before installing a changed
-- tile_dirty.sql); the table goes with the migration.
DROP TRIGGER IF EXISTS tile_version_dirty_insert ON incidents;
DROP TRIGGER IF EXISTS tile_version_dirty_update ON incidents;
DROP TRIGGER IF EXISTS tile_version_dirty_delete ON incidents;
DROP TRIGGER IF EXISTS tile_version_dirty_truncate ON incidents;
DROP FUNCTION IF EXISTS gisgrid_dirty_changes(bigint, bigint, integer);
DROP FUNCTION IF EXISTS gisgrid_dirty_reach(float8, float8, bigint);
DROP FUNCTION IF EXISTS gisgrid_dirty_incidents();
DROP FUNCTION IF EXISTS gisgrid_dirty_keep();
DROP FUNCTION IF EXISTS gisgrid_dirty_max_rows();
