-- Vector tiles: one function per layer with the signature a tile server such as Martin serves
-- unchanged, (z integer, x integer, y integer, query_params json) -> bytea (an MVT tile, or
-- an empty bytea for an empty tile).
--
-- query_params keys (each optional):
--   category    JSON array or comma-separated string of leaf codes ("0101") or group codes
--               ("01", matching every leaf of the group)
--   status      JSON array or comma-separated string of incident statuses
--   from, to    ISO 8601 instants with a zone; from <= reported_at <= to, both included (the
--               caller, gisgrid.tiles.filters, has already turned a bare date into its city
--               day: a bare `to` date is sent as that day's 23:59:59.999999+08:00)
--   rollup      false: read raw incident rows at every zoom (settings.tile_rollup off);
--               absent or true: counts come from the rollup (rollup.sql) where it can answer
--               the filters, and the low-zoom incident layers from it below zoom 13
--   at          ISO 8601 instant with a zone: the boundary layers draw the versions in force
--               then (valid_from <= at < valid_to); absent, the current ones. The incident
--               layers do not read it (from/to choose their incidents).
--   scope_level, scope_area_id
--               the caller's scope, set by the server from the caller's token: 'all' (admin,
--               city), or grid|community|street|district with the area id. Without them the
--               caller is anonymous. A server in front of these functions must never copy
--               them from the client's query string.
--
-- Who sees what: raw rows (incident points, buildings, places) only inside the caller's scope;
-- aggregates (area counts, incident clusters, hexagons) count every incident inside the scope
-- and, outside it, only the non-sensitive groups (03 public security, 04 disputes are not
-- public: the same rule as Open311). Units and area outlines are public.
--
-- A repeatable step (gisgrid.store.functions): after every upgrade to head (`gisgrid db up`)
-- the store runs tiles_drop.sql and then this file again when this text changed. Edit it
-- here; never in a migration.

-- Migration 0004 runs this file too, before 0013 made the rollup's tables, columns and
-- rollup.sql's functions that the rollup readers here use: bodies are checked when called,
-- not when made (what pg_dump does).
SET LOCAL check_function_bodies = off;

DROP TYPE IF EXISTS gisgrid_tile_params CASCADE;
CREATE TYPE gisgrid_tile_params AS (
    categories text[],
    statuses text[],
    since timestamptz,
    until timestamptz,
    scope_level text,
    scope_area_id bigint,
    at timestamptz,
    rollup boolean
);

-- A list given as a JSON array or as a comma-separated string; NULL when absent or empty.
CREATE OR REPLACE FUNCTION gisgrid_qp_list(qp json, key text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT NULLIF(CASE json_typeof(qp -> key)
        WHEN 'array' THEN ARRAY(SELECT json_array_elements_text(qp -> key))
        WHEN 'string' THEN string_to_array(qp ->> key, ',')
        ELSE NULL END, '{}'::text[])
$$;

CREATE OR REPLACE FUNCTION gisgrid_tile_parse(qp json) RETURNS gisgrid_tile_params
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT ROW(
        gisgrid_qp_list(qp, 'category'),
        gisgrid_qp_list(qp, 'status'),
        (qp ->> 'from')::timestamptz,
        (qp ->> 'to')::timestamptz,
        qp ->> 'scope_level',
        (qp ->> 'scope_area_id')::bigint,
        (qp ->> 'at')::timestamptz,
        COALESCE((qp ->> 'rollup')::boolean, true)
    )::gisgrid_tile_params
$$;

-- The incident filters of the query string.
CREATE OR REPLACE FUNCTION gisgrid_tile_match(
    p gisgrid_tile_params, category text, status text, reported_at timestamptz
) RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (p.categories IS NULL OR category = ANY(p.categories)
                OR left(category, 2) = ANY(p.categories))
       AND (p.statuses IS NULL OR status = ANY(p.statuses))
       AND (p.since IS NULL OR reported_at >= p.since)
       AND (p.until IS NULL OR reported_at <= p.until)
$$;

-- Whether a row assigned to these areas lies in the caller's scope (gisgrid.scope in SQL).
CREATE OR REPLACE FUNCTION gisgrid_tile_in_scope(
    p gisgrid_tile_params, grid_id bigint, community_id bigint, street_id bigint,
    district_id bigint
) RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT COALESCE(CASE p.scope_level
        WHEN 'all' THEN true
        WHEN 'grid' THEN grid_id = p.scope_area_id
        WHEN 'community' THEN community_id = p.scope_area_id
        WHEN 'street' THEN street_id = p.scope_area_id
        WHEN 'district' THEN district_id = p.scope_area_id
        ELSE false END, false)
$$;

-- gisgrid_sensitive_groups(): the groups that are never counted outside a caller's scope,
-- in rollup.sql (the rollup keeps them apart).

CREATE OR REPLACE FUNCTION gisgrid_tile_countable(
    p gisgrid_tile_params, category text, grid_id bigint, community_id bigint,
    street_id bigint, district_id bigint
) RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT left(category, 2) <> ALL(gisgrid_sensitive_groups())
        OR gisgrid_tile_in_scope(p, grid_id, community_id, street_id, district_id)
$$;

CREATE OR REPLACE FUNCTION gisgrid_tile_open(status text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT status NOT IN ('closed', 'rejected') $$;

-- Web Mercator from lon/lat by the formula (cheaper than ST_Transform for many points).
CREATE OR REPLACE FUNCTION gisgrid_merc_x(lon float8) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT 6378137.0 * radians(lon) $$;
CREATE OR REPLACE FUNCTION gisgrid_merc_y(lat float8) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT 6378137.0 * ln(tan(pi() / 4 + radians(lat) / 2))
$$;

CREATE OR REPLACE FUNCTION gisgrid_iso(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;

-- ---------------------------------------------------------------- the rollup

-- Whether the rollup (rollup.sql) can answer these filters: it is not turned off, and from
-- and to fall on whole city days (a bare date always does; another instant reads raw rows).
CREATE OR REPLACE FUNCTION gisgrid_rollup_answers(p gisgrid_tile_params) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT p.rollup
       AND (p.since IS NULL OR (p.since AT TIME ZONE gisgrid_city_tz())::time = '00:00')
       AND (p.until IS NULL OR ((p.until + interval '1 microsecond')
                                AT TIME ZONE gisgrid_city_tz())::time = '00:00')
$$;

-- Below this zoom the incident layers (clusters, hexagons) read the rollup and put a grid's
-- incidents at its label point; from it up, raw rows.
CREATE OR REPLACE FUNCTION gisgrid_rollup_raw_minzoom() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT 13 $$;

-- The grids a scoped caller's scope holds, by their lineage (none for an anonymous caller or
-- one who sees everything).
CREATE OR REPLACE FUNCTION gisgrid_tile_scoped_grids(p gisgrid_tile_params) RETURNS SETOF bigint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT l.grid_id FROM gisgrid_grid_lineage l
    WHERE p.scope_level IS NOT NULL AND p.scope_level <> 'all'
      AND gisgrid_tile_in_scope(p, l.grid_id, l.community_id, l.street_id, l.district_id)
$$;

-- The open cases under p's filters whose due time has passed within this hour (from `hour`
-- to now()), per grid (0: none) and sensitive or not: what the rollup cannot know, since it
-- counts a case under its due hour (ix_incidents_open_due). grids: only these (NULL: all).
CREATE OR REPLACE FUNCTION gisgrid_tile_due_this_hour(
    p gisgrid_tile_params, grids bigint[], hour timestamptz
) RETURNS TABLE (grid_id bigint, sensitive boolean, n integer)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT COALESCE(i.grid_id, 0), gisgrid_rollup_sensitive(i.category), count(*)::integer
    FROM incidents i
    WHERE i.status NOT IN ('closed', 'rejected') AND i.due_at >= hour AND i.due_at < now()
      AND (grids IS NULL OR COALESCE(i.grid_id, 0) IN (SELECT unnest(grids)))
      AND gisgrid_tile_match(p, i.category, i.status, i.reported_at)
    GROUP BY 1, 2
$$;

-- Per grid (0: outside every grid), the incidents the tiles count under p, from the rollup:
-- all, open and overdue. grids: only these (NULL: every grid). The counting rules are the
-- raw layers': the filters of gisgrid_tile_match, sensitive groups only in the caller's
-- scope (by the grid's lineage, as the area layers count), open = not closed or rejected,
-- overdue = open and due_at < now(): the due hours that have passed from the rollup, the
-- current hour's cases from incidents (ix_incidents_open_due), so a due time passing needs
-- no write. p must be one gisgrid_rollup_answers accepts.
CREATE OR REPLACE FUNCTION gisgrid_rollup_grids(p gisgrid_tile_params, grids bigint[])
RETURNS TABLE (grid_id bigint, n bigint, open bigint, overdue bigint)
LANGUAGE plpgsql STABLE PARALLEL SAFE ROWS 5000
-- planned for each call's arguments: a generic plan holds every branch (plain, filtered,
-- a list of grids or every grid) and was seen to stay on the worse one
SET plan_cache_mode = force_custom_plan AS $$
#variable_conflict use_column
DECLARE
    hour timestamptz := date_trunc('hour', now(), 'UTC');
    d0 date := (p.since AT TIME ZONE gisgrid_city_tz())::date;
    d1 date := (p.until AT TIME ZONE gisgrid_city_tz())::date;
    plain boolean := p.categories IS NULL AND p.statuses IS NULL AND p.since IS NULL
                     AND p.until IS NULL;
BEGIN
    IF plain THEN
        -- each grid's row, the sensitive counts where the caller's scope holds the grid; its
        -- overdue the open cases with a due time less those whose due hour has not passed
        -- (the front of incident_rollup_due's key) plus this hour's that have
        RETURN QUERY
        WITH fix AS (
            SELECT d.grid_id, d.sensitive, -d.open AS n
            FROM incident_rollup_due d
            WHERE d.due_hour >= hour
              AND (grids IS NULL OR d.grid_id IN (SELECT unnest(grids)))
            UNION ALL
            SELECT h.grid_id, h.sensitive, h.n FROM gisgrid_tile_due_this_hour(p, grids, hour) h
        ), fixes AS (
            SELECT f.grid_id, COALESCE(sum(f.n) FILTER (WHERE NOT f.sensitive), 0) AS pub,
                   COALESCE(sum(f.n) FILTER (WHERE f.sensitive), 0) AS sens
            FROM fix f GROUP BY 1
        )
        SELECT g.grid_id,
               (g.n + CASE WHEN a.ok THEN g.n_sensitive ELSE 0 END)::bigint,
               (g.open + CASE WHEN a.ok THEN g.open_sensitive ELSE 0 END)::bigint,
               (g.open_due + COALESCE(x.pub, 0)
                + CASE WHEN a.ok THEN g.open_due_sensitive + COALESCE(x.sens, 0) ELSE 0 END)
                   ::bigint
        FROM incident_rollup_grid g
        LEFT JOIN fixes x ON x.grid_id = g.grid_id
        CROSS JOIN LATERAL (
            SELECT COALESCE(p.scope_level = 'all'
                            OR (p.scope_level IS NOT NULL
                                AND g.grid_id IN (SELECT gisgrid_tile_scoped_grids(p))),
                            false) AS ok
        ) a
        WHERE grids IS NULL OR g.grid_id IN (SELECT unnest(grids));
        RETURN;
    END IF;
    -- filtered: the cube, where a due hour other than 'infinity' holds open cases only
    RETURN QUERY
    WITH r AS (
        SELECT c.grid_id, gisgrid_rollup_sensitive(c.category) AS sensitive, c.n,
               CASE WHEN gisgrid_tile_open(c.status) THEN c.n ELSE 0 END AS open,
               CASE WHEN c.due_hour < hour THEN c.n ELSE 0 END AS overdue
        FROM incident_rollup c
        WHERE (grids IS NULL OR c.grid_id IN (SELECT unnest(grids)))
          AND (p.categories IS NULL OR c.category = ANY(p.categories)
               OR left(c.category, 2) = ANY(p.categories))
          AND (p.statuses IS NULL OR c.status = ANY(p.statuses))
          AND (d0 IS NULL OR c.day >= d0) AND (d1 IS NULL OR c.day <= d1)
    )
    -- integer counts, so the sums are int8 arithmetic, not numeric
    SELECT x.grid_id, sum(x.n), sum(x.open), sum(x.overdue)
    FROM (
        SELECT r.grid_id, r.sensitive, r.n, r.open, r.overdue FROM r
        UNION ALL
        SELECT h.grid_id, h.sensitive, 0, 0, h.n FROM gisgrid_tile_due_this_hour(p, grids, hour) h
    ) x
    WHERE NOT x.sensitive
       OR p.scope_level = 'all'
       OR x.grid_id IN (SELECT gisgrid_tile_scoped_grids(p))
    GROUP BY x.grid_id;
END
$$;

-- The grid ids to pass to gisgrid_rollup_grids: these (looked up in a hash of them, so the
-- rows of other grids are skipped), or NULL (every grid, cheaper than the look-ups) when they
-- are a good part of the city: more than a quarter of the per-grid table's rows (one a grid)
-- by the planner's estimate of its size.
CREATE OR REPLACE FUNCTION gisgrid_rollup_some(ids bigint[]) RETURNS bigint[]
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN cardinality(ids) > 1000 AND cardinality(ids) > (
                    SELECT c.reltuples / 4 FROM pg_class c
                    WHERE c.oid = 'incident_rollup_grid'::regclass)
                THEN NULL ELSE COALESCE(ids, '{}') END
$$;

-- ---------------------------------------------------------------- areas

-- Every grid with the community, street and district above it (through parent_id, so past
-- versions of a grid keep their place). Counting a grid's incidents by grid_id and summing
-- up this lineage needs only ix_incidents_grid_time, whatever the level.
CREATE OR REPLACE VIEW gisgrid_grid_lineage AS
SELECT g.id AS grid_id, c.id AS community_id, s.id AS street_id, d.id AS district_id
FROM areas g
LEFT JOIN areas c ON c.id = g.parent_id
LEFT JOIN areas s ON s.id = c.parent_id
LEFT JOIN areas d ON d.id = s.parent_id
WHERE g.level = 'grid';


-- Boundaries of one level (current, or in force at query_params' at) with their counts: households, population, and incidents
-- under the filters (all, open, overdue). Polygons are simplified to a quarter of a tile
-- pixel (extent 4096) before clipping; ST_AsMVTGeom snaps and orients the rings.
CREATE OR REPLACE FUNCTION gisgrid_tile_areas(
    lvl text, layer text, z integer, x integer, y integer, query_params json
) RETURNS bytea LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    p gisgrid_tile_params := gisgrid_tile_parse(query_params);
    env geometry := ST_TileEnvelope(z, x, y);
    box4326 geometry := ST_Transform(ST_TileEnvelope(z, x, y, margin => 64.0 / 4096), 4326);
    px float8 := (ST_XMax(env) - ST_XMin(env)) / 4096;
    col text := CASE lvl WHEN 'grid' THEN 'grid_id' ELSE lvl || '_id' END;
    tile bytea;
BEGIN
    EXECUTE format($q$
        WITH a AS (
            SELECT a.id, a.code, a.name, a.level, a.households, a.population,
                   ST_AsMVTGeom(ST_Simplify(ST_Transform(a.geom, 3857), $3 / 4, true),
                                $2, 4096, 64, true) AS geom
            FROM areas a
            WHERE a.level = $4 AND a.geom && $1
              AND a.valid_from <= COALESCE(($5).at, 'infinity')
              AND (a.valid_to IS NULL OR a.valid_to > COALESCE(($5).at, 'infinity'))
        ), g AS (
            -- every grid (current or past version) under the tile's areas, with its lineage
            SELECT l.%1$I AS area_id, l.grid_id,
                   gisgrid_tile_in_scope($5, l.grid_id, l.community_id, l.street_id,
                                         l.district_id) AS in_scope
            FROM gisgrid_grid_lineage l
            WHERE l.%1$I IN (SELECT id FROM a WHERE geom IS NOT NULL)
        ), c AS (
            -- from the rollup where it answers the filters
            SELECT g.area_id, sum(r.n)::bigint AS n, sum(r.open)::bigint AS open,
                   sum(r.overdue)::bigint AS overdue
            FROM g JOIN gisgrid_rollup_grids(
                $5, gisgrid_rollup_some(ARRAY(SELECT g2.grid_id FROM g g2))) r
                ON r.grid_id = g.grid_id
            WHERE gisgrid_rollup_answers($5)
            GROUP BY 1
            UNION ALL
            -- else counted per grid from ix_incidents_grid_time alone (grid_id, reported_at
            -- INCLUDE category, status, due_at): an index-only scan
            SELECT g.area_id, count(*) AS n,
                   count(*) FILTER (WHERE gisgrid_tile_open(i.status)) AS open,
                   count(*) FILTER (WHERE gisgrid_tile_open(i.status) AND i.due_at < now())
                       AS overdue
            FROM g JOIN incidents i ON i.grid_id = g.grid_id
            WHERE NOT gisgrid_rollup_answers($5)
              AND gisgrid_tile_match($5, i.category, i.status, i.reported_at)
              AND (g.in_scope OR left(i.category, 2) <> ALL(gisgrid_sensitive_groups()))
            GROUP BY 1
        )
        SELECT ST_AsMVT(t, $6, 4096, 'geom', 'id') FROM (
            SELECT a.id, a.code, a.name, a.level, a.households, a.population,
                   COALESCE(c.n, 0) AS incidents, COALESCE(c.open, 0) AS open,
                   COALESCE(c.overdue, 0) AS overdue, a.geom
            FROM a LEFT JOIN c ON c.area_id = a.id
            WHERE a.geom IS NOT NULL
        ) t
    $q$, col)
    INTO tile
    USING box4326, env, px, lvl, p, layer;
    RETURN COALESCE(tile, ''::bytea);
END
$$;

CREATE OR REPLACE FUNCTION gisgrid_tile_districts(z integer, x integer, y integer,
    query_params json) RETURNS bytea LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT gisgrid_tile_areas('district', 'districts', z, x, y, query_params)
$$;
CREATE OR REPLACE FUNCTION gisgrid_tile_streets(z integer, x integer, y integer,
    query_params json) RETURNS bytea LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT gisgrid_tile_areas('street', 'streets', z, x, y, query_params)
$$;
CREATE OR REPLACE FUNCTION gisgrid_tile_communities(z integer, x integer, y integer,
    query_params json) RETURNS bytea LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT gisgrid_tile_areas('community', 'communities', z, x, y, query_params)
$$;
CREATE OR REPLACE FUNCTION gisgrid_tile_grids(z integer, x integer, y integer,
    query_params json) RETURNS bytea LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT gisgrid_tile_areas('grid', 'grids', z, x, y, query_params)
$$;

-- ---------------------------------------------------------------- registers

-- Buildings inside the caller's scope (none for an anonymous caller).
CREATE OR REPLACE FUNCTION gisgrid_tile_buildings(z integer, x integer, y integer,
    query_params json) RETURNS bytea LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    p gisgrid_tile_params := gisgrid_tile_parse(query_params);
    env geometry := ST_TileEnvelope(z, x, y);
    box4326 geometry := ST_Transform(ST_TileEnvelope(z, x, y, margin => 64.0 / 4096), 4326);
    tile bytea;
BEGIN
    SELECT ST_AsMVT(t, 'buildings', 4096, 'geom', 'id') INTO tile FROM (
        SELECT b.id, b.code, b.address, b.floors, b.household_count, b.use, b.grid_id,
               ST_AsMVTGeom(ST_Transform(b.geom, 3857), env, 4096, 64, true) AS geom
        FROM buildings b
        WHERE b.geom && box4326
          AND gisgrid_tile_in_scope(p, b.grid_id, b.community_id, b.street_id, b.district_id)
    ) t WHERE t.geom IS NOT NULL;
    RETURN COALESCE(tile, ''::bytea);
END
$$;

-- Places inside the caller's scope (none for an anonymous caller).
CREATE OR REPLACE FUNCTION gisgrid_tile_places(z integer, x integer, y integer,
    query_params json) RETURNS bytea LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    p gisgrid_tile_params := gisgrid_tile_parse(query_params);
    env geometry := ST_TileEnvelope(z, x, y);
    box4326 geometry := ST_Transform(ST_TileEnvelope(z, x, y, margin => 64.0 / 4096), 4326);
    tile bytea;
BEGIN
    SELECT ST_AsMVT(t, 'places', 4096, 'geom', 'id') INTO tile FROM (
        SELECT pl.id, pl.code, pl.kind, pl.name, pl.address, pl.grid_id,
               ST_AsMVTGeom(ST_Transform(pl.geom, 3857), env, 4096, 64, true) AS geom
        FROM places pl
        WHERE pl.geom && box4326
          AND gisgrid_tile_in_scope(p, pl.grid_id, pl.community_id, pl.street_id,
                                    pl.district_id)
    ) t WHERE t.geom IS NOT NULL;
    RETURN COALESCE(tile, ''::bytea);
END
$$;

-- Responsible units: public, as in the features API.
CREATE OR REPLACE FUNCTION gisgrid_tile_units(z integer, x integer, y integer,
    query_params json) RETURNS bytea LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    env geometry := ST_TileEnvelope(z, x, y);
    box4326 geometry := ST_Transform(ST_TileEnvelope(z, x, y, margin => 64.0 / 4096), 4326);
    tile bytea;
BEGIN
    SELECT ST_AsMVT(t, 'units', 4096, 'geom', 'id') INTO tile FROM (
        SELECT u.id, u.code, u.name, u.kind, array_to_string(u.categories, ',') AS categories,
               u.available,
               ST_AsMVTGeom(ST_Transform(u.geom, 3857), env, 4096, 64, true) AS geom
        FROM units u
        WHERE u.geom && box4326
    ) t WHERE t.geom IS NOT NULL;
    RETURN COALESCE(tile, ''::bytea);
END
$$;

-- ---------------------------------------------------------------- incidents

-- Every grid (current or past version: incidents keep the grid in force when reported) whose
-- label point lies in a Web Mercator box.
CREATE OR REPLACE FUNCTION gisgrid_tile_label_grids(box geometry)
RETURNS TABLE (id bigint, label_x float8, label_y float8)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT a.id, a.label_x, a.label_y FROM areas a
    WHERE a.level = 'grid'
      AND a.label_x >= ST_XMin(box) AND a.label_x < ST_XMax(box)
      AND a.label_y >= ST_YMin(box) AND a.label_y < ST_YMax(box)
$$;

-- From zoom raw_minzoom (query_params, default 14) up, a signed-in caller gets the incidents
-- of their scope as points; below it, and always for an anonymous caller, clusters: the
-- countable incidents snapped to an 8 x 8 grid of cells per tile (cells align across
-- tiles), one point per cell at the mean position with point_count, open and overdue.
CREATE OR REPLACE FUNCTION gisgrid_tile_incidents(z integer, x integer, y integer,
    query_params json) RETURNS bytea LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    p gisgrid_tile_params := gisgrid_tile_parse(query_params);
    env geometry := ST_TileEnvelope(z, x, y);
    raw_minzoom integer := COALESCE((query_params ->> 'raw_minzoom')::integer, 14);
    half float8 := 20037508.342789244;
    cell float8;
    tile bytea;
BEGIN
    IF z >= raw_minzoom AND p.scope_level IS NOT NULL THEN
        SELECT ST_AsMVT(t, 'incidents', 4096, 'geom', 'id') INTO tile FROM (
            SELECT i.id, i.code, i.category, c.name_zh AS category_name,
                   c.name_en AS category_name_en, i.status, i.priority,
                   gisgrid_iso(i.reported_at) AS reported_at, gisgrid_iso(i.due_at) AS due_at,
                   (gisgrid_tile_open(i.status) AND i.due_at < now()) AS overdue,
                   i.grid_id, g.code AS grid_code,
                   ST_AsMVTGeom(ST_Transform(i.geom, 3857), env, 4096, 64, true) AS geom
            FROM incidents i
            JOIN incident_categories c ON c.code = i.category
            LEFT JOIN areas g ON g.id = i.grid_id
            WHERE i.geom && ST_Transform(ST_TileEnvelope(z, x, y, margin => 64.0 / 4096), 4326)
              AND gisgrid_tile_match(p, i.category, i.status, i.reported_at)
              AND gisgrid_tile_in_scope(p, i.grid_id, i.community_id, i.street_id,
                                        i.district_id)
        ) t WHERE t.geom IS NOT NULL;
        RETURN COALESCE(tile, ''::bytea);
    END IF;
    cell := (ST_XMax(env) - ST_XMin(env)) / 8;
    IF z < gisgrid_rollup_raw_minzoom() AND gisgrid_rollup_answers(p) THEN
        -- from the rollup: each grid's incidents at its label point, cells at their
        -- count-weighted mean
        SELECT ST_AsMVT(t, 'incidents', 4096, 'geom', 'id') INTO tile FROM (
            SELECT row_number() OVER (ORDER BY cx, cy) AS id, true AS cluster,
                   n AS point_count, open, overdue,
                   ST_AsMVTGeom(ST_SetSRID(ST_MakePoint(mx, my), 3857), env, 4096, 64, true)
                       AS geom
            FROM (
                SELECT floor((a.label_x + half) / cell) AS cx,
                       floor((a.label_y + half) / cell) AS cy,
                       sum(r.n)::bigint AS n, sum(a.label_x * r.n) / sum(r.n) AS mx,
                       sum(a.label_y * r.n) / sum(r.n) AS my,
                       sum(r.open)::bigint AS open, sum(r.overdue)::bigint AS overdue
                FROM gisgrid_tile_label_grids(env) a
                JOIN gisgrid_rollup_grids(p, gisgrid_rollup_some(ARRAY(
                         SELECT b.id FROM gisgrid_tile_label_grids(env) b))) r
                    ON r.grid_id = a.id
                WHERE r.n > 0
                GROUP BY 1, 2
            ) cells
        ) t WHERE t.geom IS NOT NULL;
        RETURN COALESCE(tile, ''::bytea);
    END IF;
    SELECT ST_AsMVT(t, 'incidents', 4096, 'geom', 'id') INTO tile FROM (
        SELECT row_number() OVER (ORDER BY cx, cy) AS id, true AS cluster,
               n AS point_count, open, overdue,
               ST_AsMVTGeom(ST_SetSRID(ST_MakePoint(mx, my), 3857), env, 4096, 64, true)
                   AS geom
        FROM (
            SELECT floor((m.mx + half) / cell) AS cx, floor((m.my + half) / cell) AS cy,
                   count(*) AS n, avg(m.mx) AS mx, avg(m.my) AS my,
                   count(*) FILTER (WHERE m.open) AS open,
                   count(*) FILTER (WHERE m.open AND m.due_at < now()) AS overdue
            FROM (
                SELECT gisgrid_merc_x(ST_X(i.geom)) AS mx, gisgrid_merc_y(ST_Y(i.geom)) AS my,
                       gisgrid_tile_open(i.status) AS open, i.due_at
                FROM incidents i
                WHERE i.geom && ST_Transform(env, 4326)
                  AND gisgrid_tile_match(p, i.category, i.status, i.reported_at)
                  AND gisgrid_tile_countable(p, i.category, i.grid_id, i.community_id,
                                             i.street_id, i.district_id)
            ) m
            GROUP BY 1, 2
        ) cells
    ) t WHERE t.geom IS NOT NULL;
    RETURN COALESCE(tile, ''::bytea);
END
$$;

-- Hexagon bins of the countable incidents in a Web Mercator box: flat-topped hexagons of
-- side `size` (metres of EPSG:3857) on the lattice of ST_HexagonGrid / ST_Hexagon (cell
-- (0, 0) centred on the origin), found by cube rounding instead of a spatial join, so a
-- hexagon has the same count in every tile it touches. q, r are axial coordinates; i, j the
-- ST_Hexagon cell. cell_m is the side in ground metres at the hexagon's latitude.
CREATE OR REPLACE FUNCTION gisgrid_incident_hexes(bounds geometry, size float8,
    query_params json)
RETURNS TABLE (i bigint, j bigint, count bigint, open bigint, overdue bigint, cell_m float8,
               geom geometry)
LANGUAGE plpgsql STABLE PARALLEL SAFE
-- planned for each call: after a raw-rows call, a generic plan kept the raw branch's shape
-- for the rollup's (63 ms became 166 ms for a zoom-6 tile of the 1M twin)
SET plan_cache_mode = force_custom_plan AS $$
#variable_conflict use_column
DECLARE
    p gisgrid_tile_params := gisgrid_tile_parse(query_params);
    wide geometry := ST_Expand(bounds, 2 * size);
    -- hexagons of a zoom-12 tile's side (407.7 m) and larger read the rollup
    from_rollup boolean := size > 400 AND gisgrid_rollup_answers(p);
BEGIN
    RETURN QUERY
    SELECT h.q AS i, h.r + floor(h.q / 2.0)::bigint AS j, h.n, h.open, h.overdue,
           size * cos(2 * atan(exp(h.cy / 6378137.0)) - pi() / 2),
           ST_SetSRID(ST_Hexagon(size, h.q::integer, (h.r + floor(h.q / 2.0))::integer),
                      3857)
    FROM (
        SELECT c.q, c.r, sum(c.n)::bigint AS n, sum(c.open)::bigint AS open,
               sum(c.overdue)::bigint AS overdue,
               size * sqrt(3) * (c.r + c.q / 2.0) AS cy
        FROM (
            -- OFFSET 0 keeps each step a subquery of its own: flattened, the planner would
            -- copy the projection into every use and compute it some twenty times a row.
            SELECT CASE WHEN dq > dr AND dq > ds THEN -rr - rs ELSE rq END::bigint AS q,
                   CASE WHEN dq > dr AND dq > ds THEN rr
                        WHEN dr > ds THEN -rq - rs ELSE rr END::bigint AS r,
                   n, open, overdue
            FROM (
                SELECT rq, rr, rs, abs(rq - qf) AS dq, abs(rr - rf) AS dr,
                       abs(rs + qf + rf) AS ds, n, open, overdue
                FROM (
                    SELECT qf, rf, round(qf) AS rq, round(rf) AS rr, round(-qf - rf) AS rs,
                           n, open, overdue
                    FROM (
                        SELECT (2.0 / 3) * mx / size AS qf,
                               ((-1.0 / 3) * mx + (sqrt(3.0) / 3) * my) / size AS rf,
                               n, open, overdue
                        FROM (
                            SELECT gisgrid_merc_x(ST_X(ie.geom)) AS mx,
                                   gisgrid_merc_y(ST_Y(ie.geom)) AS my, 1 AS n,
                                   gisgrid_tile_open(ie.status)::integer AS open,
                                   (gisgrid_tile_open(ie.status) AND ie.due_at < now())::integer
                                       AS overdue
                            FROM incidents ie
                            WHERE NOT from_rollup
                              AND ie.geom && ST_Transform(wide, 4326)
                              AND gisgrid_tile_match(p, ie.category, ie.status, ie.reported_at)
                              AND gisgrid_tile_countable(p, ie.category, ie.grid_id,
                                      ie.community_id, ie.street_id, ie.district_id)
                            UNION ALL
                            -- from the rollup: each grid's incidents at its label point
                            SELECT a.label_x, a.label_y, r.n::integer, r.open::integer,
                                   r.overdue::integer
                            FROM gisgrid_tile_label_grids(wide) a
                            JOIN gisgrid_rollup_grids(p, gisgrid_rollup_some(ARRAY(
                                     SELECT b.id FROM gisgrid_tile_label_grids(wide) b
                                     WHERE from_rollup))) r ON r.grid_id = a.id
                            WHERE from_rollup AND r.n > 0
                            OFFSET 0
                        ) merc
                        OFFSET 0
                    ) pts
                    OFFSET 0
                ) rounded
                OFFSET 0
            ) diffs
        ) c
        GROUP BY c.q, c.r
        -- and the hexagon test below once a hexagon, not pushed down to once an incident
        OFFSET 0
    ) h
    WHERE ST_Intersects(ST_Hexagon(size, h.q::integer, (h.r + floor(h.q / 2.0))::integer),
                        ST_SetSRID(bounds, 0));
END
$$;

-- Hexagon density tiles: side = 1/24 of the tile (about 10.7 px on a 256 px tile, 21 px on
-- 512), so the cell follows the zoom; cell_m says how large it is on the ground.
CREATE OR REPLACE FUNCTION gisgrid_tile_hex(z integer, x integer, y integer,
    query_params json) RETURNS bytea LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    env geometry := ST_TileEnvelope(z, x, y);
    size float8 := (ST_XMax(ST_TileEnvelope(z, x, y)) - ST_XMin(ST_TileEnvelope(z, x, y))) / 24;
    tile bytea;
BEGIN
    SELECT ST_AsMVT(t, 'hex', 4096, 'geom', 'id') INTO tile FROM (
        SELECT (h.i * 4294967296 + h.j) AS id, h.count, h.open, h.overdue,
               round(h.cell_m::numeric, 1)::float8 AS cell_m,
               ST_AsMVTGeom(h.geom, env, 4096, 64, true) AS geom
        FROM gisgrid_incident_hexes(env, size, query_params) h
    ) t WHERE t.geom IS NOT NULL;
    RETURN COALESCE(tile, ''::bytea);
END
$$;

-- ---------------------------------------------------------------- data versions

-- What a tile cache keys on: the tables' write counters, and 'overdue', which moves when time
-- alone changes a tile: the latest due_at of an open incident that has passed (microseconds
-- since 1970). An open case turning overdue is no write, yet it changes area counts, cluster
-- and hexagon counts and an incident's overdue flag. Read from ix_incidents_open_due (one
-- row, backwards); now() is the calling statement's, as the tile's own overdue test.
CREATE OR REPLACE FUNCTION gisgrid_tile_versions() RETURNS TABLE (layer text, version bigint)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT v.layer::text, v.version FROM tile_versions v
    UNION ALL
    SELECT 'overdue', COALESCE((SELECT (extract(epoch FROM max(i.due_at)) * 1e6)::bigint
                                FROM incidents i
                                WHERE i.status NOT IN ('closed', 'rejected')
                                  AND i.due_at <= now()), 0)
$$;

-- Every statement that writes a tiled table bumps its row in tile_versions (in the writer's
-- transaction, so the bump is visible exactly when the data is).
CREATE OR REPLACE FUNCTION gisgrid_bump_tile_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tile_versions SET version = version + 1 WHERE layer = TG_TABLE_NAME;
    RETURN NULL;
END
$$;

INSERT INTO tile_versions (layer)
VALUES ('areas'), ('buildings'), ('places'), ('units'), ('incidents'),
       ('incident_categories')
ON CONFLICT (layer) DO NOTHING;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['areas', 'buildings', 'places', 'units', 'incidents', 'incident_categories'] LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS tile_version_bump ON %I', t);
        EXECUTE format(
            'CREATE TRIGGER tile_version_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE'
            ' ON %I FOR EACH STATEMENT EXECUTE FUNCTION gisgrid_bump_tile_version()', t);
    END LOOP;
END
$$;
