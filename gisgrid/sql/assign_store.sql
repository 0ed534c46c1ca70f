-- The PostGIS twin of gisgrid.assign.GridIndex, and the triggers that use it as a safety net.
--
-- Semantics, exactly as in gisgrid/assign.py:
--   * among the grids (level = 'grid') valid at the time (valid_from <= at < valid_to, an open
--     valid_to meaning "still valid") that ST_Covers the point, the lowest id wins;
--   * no such grid: NULL (the nearest-grid fallback is the Python engine's, on request only);
--   * at NULL means "no time": the current grids, which is what 'infinity' selects.
-- The hierarchy is read by walking parent_id from the grid's parent, at most four steps, and
-- keeping the first area met at each level (GridIndex.from_frame walks the same way).
--
-- The loader and the synthetic city assign in bulk in Python and write the ids themselves, so
-- the triggers are there for the rows nobody assigned: a plain INSERT without grid_id, or an
-- UPDATE that moves a row. Their WHEN clauses run without entering PL/pgSQL, which keeps a
-- COPY with grid_id given nearly as cheap as without the triggers. A transaction that writes
-- the ids itself (including nearest-grid ones the function cannot reproduce) turns them off
-- with SELECT set_config('gisgrid.assign_trigger', 'off', true).
--
-- A repeatable step (gisgrid.store.functions): after every upgrade to head (`gisgrid db up`)
-- the store runs assign_store_drop.sql and then this file again when this text changed.
-- Migration 0002 ran it first; edit it here, never in a migration.

CREATE OR REPLACE FUNCTION gisgrid_assign_point(geom geometry, at timestamptz DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
DECLARE
    t timestamptz := coalesce(gisgrid_assign_point.at, 'infinity');
BEGIN
    IF gisgrid_assign_point.geom IS NULL OR ST_IsEmpty(gisgrid_assign_point.geom) THEN
        RETURN NULL;
    END IF;
    -- min(id) is the tie rule for a point on an edge or vertex shared by grids. The
    -- candidates come from the GiST index alone (bbox contains the point, as ST_Covers would
    -- ask); left to itself the generic plan also reads the level/validity index of every
    -- grid and ANDs the bitmaps, which costs more than the few rechecks it saves.
    RETURN (
        WITH c AS MATERIALIZED (
            SELECT a.id, a.level, a.valid_from, a.valid_to, a.geom
            FROM areas a
            WHERE a.geom ~ gisgrid_assign_point.geom
        )
        SELECT min(c.id)
        FROM c
        WHERE c.level = 'grid'
          AND c.valid_from <= t
          AND (c.valid_to IS NULL OR t < c.valid_to)
          AND ST_Covers(c.geom, gisgrid_assign_point.geom)
    );
END
$$;

COMMENT ON FUNCTION gisgrid_assign_point(geometry, timestamptz) IS
    'The grid (areas.id, level grid) covering the point at the time, lowest id on ties; '
    'NULL when none. at NULL: the current grids. Twin of gisgrid.assign.GridIndex.';

CREATE OR REPLACE FUNCTION gisgrid_area_above(
    grid bigint,
    OUT community_id bigint,
    OUT street_id bigint,
    OUT district_id bigint
)
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
DECLARE
    cur bigint;
    lvl text;
    nxt bigint;
BEGIN
    SELECT a.parent_id INTO cur FROM areas a WHERE a.id = grid;
    FOR i IN 1..4 LOOP
        EXIT WHEN cur IS NULL;
        SELECT a.level, a.parent_id INTO lvl, nxt FROM areas a WHERE a.id = cur;
        IF lvl = 'community' AND community_id IS NULL THEN
            community_id := cur;
        ELSIF lvl = 'street' AND street_id IS NULL THEN
            street_id := cur;
        ELSIF lvl = 'district' AND district_id IS NULL THEN
            district_id := cur;
        END IF;
        cur := nxt;
    END LOOP;
END
$$;

COMMENT ON FUNCTION gisgrid_area_above(bigint) IS
    'The community, street and district above an area: the first of each level met walking '
    'parent_id up from its parent, at most four steps.';

CREATE OR REPLACE FUNCTION gisgrid_assign_point_ids(
    geom geometry,
    at timestamptz DEFAULT NULL,
    OUT grid_id bigint,
    OUT community_id bigint,
    OUT street_id bigint,
    OUT district_id bigint
)
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
    grid_id := gisgrid_assign_point(gisgrid_assign_point_ids.geom, gisgrid_assign_point_ids.at);
    IF grid_id IS NOT NULL THEN
        SELECT u.community_id, u.street_id, u.district_id
        INTO community_id, street_id, district_id
        FROM gisgrid_area_above(grid_id) u;
    END IF;
END
$$;

COMMENT ON FUNCTION gisgrid_assign_point_ids(geometry, timestamptz) IS
    'gisgrid_assign_point with the community, street and district above the grid.';

-- One trigger function for every assigned table: which point and which time depend on the
-- table (a building by a point on its footprint; incidents and visit logs at their own time,
-- the rest by the current grids).
CREATE OR REPLACE FUNCTION gisgrid_assign_row()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    pt geometry;
    t timestamptz;
    ids record;
    -- the table's name, given by the trigger where the row is in a partition of it
    tbl text := COALESCE(TG_ARGV[0], TG_TABLE_NAME);
BEGIN
    IF NEW.geom IS NULL THEN
        RETURN NEW;  -- a household without a location keeps the ids it was given
    END IF;
    IF tbl = 'buildings' THEN
        pt := ST_PointOnSurface(NEW.geom);
    ELSE
        pt := NEW.geom;
    END IF;
    IF tbl = 'incidents' THEN
        t := NEW.reported_at;
    ELSIF tbl = 'visit_logs' THEN
        t := NEW.visited_at;
    END IF;
    SELECT * INTO ids FROM gisgrid_assign_point_ids(pt, t);
    NEW.grid_id := ids.grid_id;
    NEW.community_id := ids.community_id;
    NEW.street_id := ids.street_id;
    NEW.district_id := ids.district_id;
    IF tbl = 'incidents' THEN
        NEW.unassigned := ids.grid_id IS NULL;
    END IF;
    RETURN NEW;
END
$$;

-- Per table: fill on INSERT when grid_id is not given; re-assign on UPDATE when the point (or
-- the time that chooses the boundary version) changes. The points are compared as bytea
-- (their EWKB): IS DISTINCT FROM cannot name the schema of PostGIS's = operator, so
-- pg_restore, which runs with an empty search_path, could not re-create a trigger that
-- compared geometries directly ("operator is not unique: geometry = geometry").
DROP TRIGGER IF EXISTS gisgrid_assign_insert ON incidents;
CREATE TRIGGER gisgrid_assign_insert BEFORE INSERT ON incidents FOR EACH ROW
    WHEN (NEW.grid_id IS NULL
          AND current_setting('gisgrid.assign_trigger', true) IS DISTINCT FROM 'off')
    EXECUTE FUNCTION gisgrid_assign_row('incidents');
DROP TRIGGER IF EXISTS gisgrid_assign_update ON incidents;
CREATE TRIGGER gisgrid_assign_update BEFORE UPDATE OF geom, reported_at ON incidents
    FOR EACH ROW
    WHEN ((OLD.geom::bytea IS DISTINCT FROM NEW.geom::bytea OR OLD.reported_at IS DISTINCT FROM NEW.reported_at)
          AND current_setting('gisgrid.assign_trigger', true) IS DISTINCT FROM 'off')
    EXECUTE FUNCTION gisgrid_assign_row('incidents');

DROP TRIGGER IF EXISTS gisgrid_assign_insert ON visit_logs;
CREATE TRIGGER gisgrid_assign_insert BEFORE INSERT ON visit_logs FOR EACH ROW
    WHEN (NEW.grid_id IS NULL
          AND current_setting('gisgrid.assign_trigger', true) IS DISTINCT FROM 'off')
    EXECUTE FUNCTION gisgrid_assign_row();
DROP TRIGGER IF EXISTS gisgrid_assign_update ON visit_logs;
CREATE TRIGGER gisgrid_assign_update BEFORE UPDATE OF geom, visited_at ON visit_logs
    FOR EACH ROW
    WHEN ((OLD.geom::bytea IS DISTINCT FROM NEW.geom::bytea OR OLD.visited_at IS DISTINCT FROM NEW.visited_at)
          AND current_setting('gisgrid.assign_trigger', true) IS DISTINCT FROM 'off')
    EXECUTE FUNCTION gisgrid_assign_row();

DROP TRIGGER IF EXISTS gisgrid_assign_insert ON places;
CREATE TRIGGER gisgrid_assign_insert BEFORE INSERT ON places FOR EACH ROW
    WHEN (NEW.grid_id IS NULL
          AND current_setting('gisgrid.assign_trigger', true) IS DISTINCT FROM 'off')
    EXECUTE FUNCTION gisgrid_assign_row();
DROP TRIGGER IF EXISTS gisgrid_assign_update ON places;
CREATE TRIGGER gisgrid_assign_update BEFORE UPDATE OF geom ON places FOR EACH ROW
    WHEN (OLD.geom::bytea IS DISTINCT FROM NEW.geom::bytea
          AND current_setting('gisgrid.assign_trigger', true) IS DISTINCT FROM 'off')
    EXECUTE FUNCTION gisgrid_assign_row();

DROP TRIGGER IF EXISTS gisgrid_assign_insert ON buildings;
CREATE TRIGGER gisgrid_assign_insert BEFORE INSERT ON buildings FOR EACH ROW
    WHEN (NEW.grid_id IS NULL
          AND current_setting('gisgrid.assign_trigger', true) IS DISTINCT FROM 'off')
    EXECUTE FUNCTION gisgrid_assign_row();
DROP TRIGGER IF EXISTS gisgrid_assign_update ON buildings;
CREATE TRIGGER gisgrid_assign_update BEFORE UPDATE OF geom ON buildings FOR EACH ROW
    WHEN (OLD.geom::bytea IS DISTINCT FROM NEW.geom::bytea
          AND current_setting('gisgrid.assign_trigger', true) IS DISTINCT FROM 'off')
    EXECUTE FUNCTION gisgrid_assign_row();

DROP TRIGGER IF EXISTS gisgrid_assign_insert ON households;
CREATE TRIGGER gisgrid_assign_insert BEFORE INSERT ON households FOR EACH ROW
    WHEN (NEW.grid_id IS NULL AND NEW.geom IS NOT NULL
          AND current_setting('gisgrid.assign_trigger', true) IS DISTINCT FROM 'off')
    EXECUTE FUNCTION gisgrid_assign_row();
DROP TRIGGER IF EXISTS gisgrid_assign_update ON households;
CREATE TRIGGER gisgrid_assign_update BEFORE UPDATE OF geom ON households FOR EACH ROW
    WHEN (OLD.geom::bytea IS DISTINCT FROM NEW.geom::bytea AND NEW.geom IS NOT NULL
          AND current_setting('gisgrid.assign_trigger', true) IS DISTINCT FROM 'off')
    EXECUTE FUNCTION gisgrid_assign_row();
