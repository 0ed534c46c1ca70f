-- The incidents in a lon/lat box that the tile functions count (gisgrid.tiles.raster's heat
-- tiles and gisgrid.analysis.heat): the box :w, :s, :e, :n; the filters and the caller's
-- scope in :qp (query_params json, gisgrid_tile_parse). One bytea of big-endian float8
-- (lon, lat) pairs: one value instead of a row per incident makes the transfer ~10x cheaper.
WITH p AS MATERIALIZED (SELECT gisgrid_tile_parse(CAST(:qp AS json)) AS p)
SELECT string_agg(float8send(ST_X(i.geom)) || float8send(ST_Y(i.geom)), ''::bytea)
FROM incidents i CROSS JOIN p
WHERE i.geom && ST_MakeEnvelope(:w, :s, :e, :n, 4326)
  AND gisgrid_tile_match(p.p, i.category, i.status, i.reported_at)
  AND gisgrid_tile_countable(p.p, i.category, i.grid_id, i.community_id, i.street_id,
                             i.district_id)
