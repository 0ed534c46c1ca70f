-- Undo tiles.sql (migration 0004 downgrade); the table goes with the migration.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['areas', 'buildings', 'places', 'units', 'incidents', 'incident_categories'] LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS tile_version_bump ON %I', t);
    END LOOP;
END
$$;
DROP FUNCTION IF EXISTS gisgrid_bump_tile_version();
DROP VIEW IF EXISTS gisgrid_grid_lineage;
DROP TYPE IF EXISTS gisgrid_tile_params CASCADE;
DROP FUNCTION IF EXISTS gisgrid_tile_districts(integer, integer, integer, json);
DROP FUNCTION IF EXISTS gisgrid_tile_streets(integer, integer, integer, json);
DROP FUNCTION IF EXISTS gisgrid_tile_communities(integer, integer, integer, json);
DROP FUNCTION IF EXISTS gisgrid_tile_grids(integer, integer, integer, json);
DROP FUNCTION IF EXISTS gisgrid_tile_units(integer, integer, integer, json);
DROP FUNCTION IF EXISTS gisgrid_tile_hex(integer, integer, integer, json);
DROP FUNCTION IF EXISTS gisgrid_qp_list(json, text);
DROP FUNCTION IF EXISTS gisgrid_sensitive_groups();
DROP FUNCTION IF EXISTS gisgrid_tile_open(text);
DROP FUNCTION IF EXISTS gisgrid_merc_x(float8);
DROP FUNCTION IF EXISTS gisgrid_merc_y(float8);
DROP FUNCTION IF EXISTS gisgrid_iso(timestamptz);
