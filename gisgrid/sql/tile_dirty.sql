-- Per-tile invalidation: where each incident write landed, and what changed since a counter.
--
-- tiles.sql's statement trigger tile_version_bump adds one to tile_versions('incidents') for
-- every statement that writes incidents, holding that row's lock until the writer commits.
-- The triggers here fire after it (triggers of one kind fire in the order of their names,
-- and 'tile_version_bump' < 'tile_version_dirty_*'), read the counter it set and log, under
-- that counter, the point and the grid of every row the statement touched, old and new. The
-- row lock makes commits happen in counter order, so whatever a reader sees of the log is a
-- prefix of it: "every row with seq > N" never skips one that commits later.
--
-- gisgrid.tiles.clock.VersionClock reads gisgrid_dirty_changes(N, t) in its batched read and
-- dirties only the tiles those points and areas reach (gisgrid.tiles.dirty).
--
-- A repeatable step (gisgrid.store.functions), installed after tiles.sql; the table is
-- migration 0012_invalidate's.

-- Past this many rows a statement logs one row that dirties everything (a bulk load, a
-- reassignment of a district): cheaper for the writer and for every reader.
CREATE OR REPLACE FUNCTION gisgrid_dirty_max_rows() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT 500 $$;

-- How many counter values of log are kept: a reader further behind starts over (every tile
-- dirty once). Pruned every 1000th counter value, in the writer's transaction.
CREATE OR REPLACE FUNCTION gisgrid_dirty_keep() RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT 20000::bigint $$;

CREATE OR REPLACE FUNCTION gisgrid_dirty_incidents() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_seq bigint;
    n bigint;
BEGIN
    -- our own statement's bump (tile_version_bump fired first): this row is locked by us
    SELECT v.version INTO v_seq FROM tile_versions v WHERE v.layer = 'incidents';
    IF TG_OP = 'TRUNCATE' THEN
        INSERT INTO tile_dirty (seq, everything) VALUES (v_seq, true);
    ELSE
        -- a plpgsql statement is planned when first run: each branch names only the
        -- transition tables its trigger has
        IF TG_OP = 'INSERT' THEN
            SELECT count(*) INTO n FROM new_rows;
        ELSIF TG_OP = 'DELETE' THEN
            SELECT count(*) INTO n FROM old_rows;
        ELSE
            SELECT count(*) * 2 INTO n FROM new_rows;
        END IF;
        IF n > gisgrid_dirty_max_rows() THEN
            INSERT INTO tile_dirty (seq, everything) VALUES (v_seq, true);
        ELSIF TG_OP = 'INSERT' THEN
            INSERT INTO tile_dirty (seq, lon, lat, grid_id)
            SELECT DISTINCT v_seq, ST_X(r.geom), ST_Y(r.geom), r.grid_id FROM new_rows r;
        ELSIF TG_OP = 'DELETE' THEN
            INSERT INTO tile_dirty (seq, lon, lat, grid_id)
            SELECT DISTINCT v_seq, ST_X(r.geom), ST_Y(r.geom), r.grid_id FROM old_rows r;
        ELSE
            INSERT INTO tile_dirty (seq, lon, lat, grid_id)
            SELECT DISTINCT v_seq, ST_X(r.geom), ST_Y(r.geom), r.grid_id
            FROM (SELECT geom, grid_id FROM old_rows UNION ALL
                  SELECT geom, grid_id FROM new_rows) r;
        END IF;
    END IF;
    IF v_seq % 1000 = 0 AND v_seq > gisgrid_dirty_keep() THEN
        DELETE FROM tile_dirty d WHERE d.seq <= v_seq - gisgrid_dirty_keep();
        UPDATE tile_versions SET version = v_seq - gisgrid_dirty_keep()
        WHERE layer = 'incidents_log';
    END IF;
    RETURN NULL;
END
$$;

INSERT INTO tile_versions (layer) VALUES ('incidents_log') ON CONFLICT (layer) DO NOTHING;

DROP TRIGGER IF EXISTS tile_version_dirty_insert ON incidents;
DROP TRIGGER IF EXISTS tile_version_dirty_update ON incidents;
DROP TRIGGER IF EXISTS tile_version_dirty_delete ON incidents;
DROP TRIGGER IF EXISTS tile_version_dirty_truncate ON incidents;
CREATE TRIGGER tile_version_dirty_insert AFTER INSERT ON incidents
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gisgrid_dirty_incidents();
CREATE TRIGGER tile_version_dirty_update AFTER UPDATE ON incidents
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gisgrid_dirty_incidents();
CREATE TRIGGER tile_version_dirty_delete AFTER DELETE ON incidents
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gisgrid_dirty_incidents();
CREATE TRIGGER tile_version_dirty_truncate AFTER TRUNCATE ON incidents
    FOR EACH STATEMENT EXECUTE FUNCTION gisgrid_dirty_incidents();

-- A point and the boxes of the areas it counts into: its grid and the grid's community,
-- street and district (through parent_id, as the area tiles count them), one row each.
CREATE OR REPLACE FUNCTION gisgrid_dirty_reach(lon float8, lat float8, grid bigint)
RETURNS TABLE (kind text, x0 float8, y0 float8, x1 float8, y1 float8)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT 'point', lon, lat, lon, lat WHERE lon IS NOT NULL
    UNION ALL
    SELECT a.level::text, ST_XMin(a.geom), ST_YMin(a.geom), ST_XMax(a.geom), ST_YMax(a.geom)
    FROM gisgrid_grid_lineage l
    JOIN areas a ON a.id IN (l.grid_id, l.community_id, l.street_id, l.district_id)
    WHERE l.grid_id = grid AND a.geom IS NOT NULL
$$;

-- What a tile server reads, in one round trip: every table's version (gisgrid_tile_versions,
-- with 'incidents_log', the counter up to which the log was pruned), 'now' (microseconds
-- since 1970, the statement's now()), and, for a reader that has seen the log up to `since`
-- and the due times up to `due_since`:
--   'dirty' rows (version = the write's counter): the reach of every logged point and grid;
--           kind 'all' for a statement that dirtied everything
--   'due'   rows (version = due_at in microseconds): the reach of every open case whose due
--           time passed in (due_since, now()], which turns it overdue without any write
-- At most max_rows + 1 rows of each: a reader that gets more starts over.
CREATE OR REPLACE FUNCTION gisgrid_dirty_changes(since bigint, due_since bigint,
    max_rows integer)
RETURNS TABLE (layer text, version bigint, kind text, x0 float8, y0 float8, x1 float8,
               y1 float8)
-- Most reads find nothing new (reads outnumber writes by far): the join that finds an
-- entry's areas costs ~1 ms to plan, so it runs only after a cheap test found an entry.
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT v.layer, v.version, NULL::text, NULL::float8, NULL::float8, NULL::float8,
           NULL::float8
    FROM gisgrid_tile_versions() v
    UNION ALL
    SELECT 'now', (extract(epoch FROM now()) * 1e6)::bigint, NULL, NULL, NULL, NULL, NULL;
    IF since IS NOT NULL AND EXISTS (SELECT 1 FROM tile_dirty d WHERE d.seq > since) THEN
        RETURN QUERY
        SELECT 'dirty'::text, d.seq, COALESCE(r.kind, 'all'), r.x0, r.y0, r.x1, r.y1
        FROM tile_dirty d
        LEFT JOIN LATERAL gisgrid_dirty_reach(d.lon, d.lat, d.grid_id) r ON NOT d.everything
        WHERE d.seq > since
        LIMIT max_rows + 1;
    END IF;
    IF due_since IS NOT NULL AND EXISTS (
        SELECT 1 FROM incidents i
        WHERE i.status NOT IN ('closed', 'rejected')
          AND i.due_at > to_timestamp(due_since / 1e6) AND i.due_at <= now()
    ) THEN
        RETURN QUERY
        SELECT 'due'::text, (extract(epoch FROM i.due_at) * 1e6)::bigint, r.kind, r.x0, r.y0,
               r.x1, r.y1
        FROM incidents i
        CROSS JOIN LATERAL gisgrid_dirty_reach(ST_X(i.geom), ST_Y(i.geom), i.grid_id) r
        WHERE i.status NOT IN ('closed', 'rejected')
          AND i.due_at > to_timestamp(due_since / 1e6) AND i.due_at <= now()
        LIMIT max_rows + 1;
    END IF;
END
$$;
