-- The heat tiles' incidents from the rollup, for gisgrid.tiles.raster below zoom
-- gisgrid_rollup_raw_minzoom() where gisgrid_rollup_answers(query_params) (else
-- heat_points.sql): each grid whose label point lies in the lon/lat box :w, :s, :e, :n, at
-- that point, weighted by its incidents under :qp (gisgrid_rollup_grids: the same filters and
-- scope rule). One bytea of big-endian float8 (lon, lat, weight) triples.
WITH p AS MATERIALIZED (SELECT gisgrid_tile_parse(CAST(:qp AS json)) AS p),
a AS MATERIALIZED (
    SELECT a.id, a.label_x, a.label_y
    FROM gisgrid_tile_label_grids(ST_Transform(ST_MakeEnvelope(:w, :s, :e, :n, 4326), 3857)) a
),
g AS (
    SELECT g.grid_id, g.n
    FROM p, gisgrid_rollup_grids(p.p, gisgrid_rollup_some(ARRAY(SELECT id FROM a))) g
)
SELECT string_agg(float8send(degrees(a.label_x / 6378137.0))
                  || float8send(degrees(2 * atan(exp(a.label_y / 6378137.0)) - pi() / 2))
                  || float8send(g.n::float8), ''::bytea)
FROM a JOIN g ON g.grid_id = a.id
WHERE g.n > 0
