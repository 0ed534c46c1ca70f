-- Undo tiles.sql (migration 0004 downgrade); the table goes with the migration. The
-- repeatable step also runs it before installing a changed tiles.sql, so it drops what any
-- released text made (functions by name pattern, whatever their signature).
DO $$
DECLARE
    t text;
    f regprocedure;
BEGIN
    FOREACH t IN ARRAY ARRAY['areas', 'buildings', 'places', 'units', 'incidents',
                             'incident_categories'] LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS tile_version_bump ON %I', t);
    END LOOP;
    -- every function tiles.sql makes: the tile layers, their helpers and the trigger's
    FOR f IN
        SELECT p.oid::regprocedure FROM pg_proc p
        WHERE p.proname LIKE 'gisgrid\_tile\_%'
           OR p.proname IN ('gisgrid_rollup_answers', 'gisgrid_rollup_raw_minzoom',
                            'gisgrid_rollup_grids', 'gisgrid_rollup_some')
           OR p.proname IN ('gisgrid_bump_tile_version', 'gisgrid_incident_hexes',
                            'gisgrid_tile_versions',
                            'gisgrid_qp_list', 'gisgrid_merc_x',
                            'gisgrid_merc_y', 'gisgrid_iso')
    LOOP
        EXECUTE 'DROP FUNCTION ' || f;
    END LOOP;
END
$$;
DROP TYPE IF EXISTS gisgrid_tile_params;
DROP VIEW IF EXISTS gisgrid_grid_lineage;
