-- The space-time cube of emerging hot spots: countable incidents per area of one level and
-- time step, under the tile filters and scope of query_params (the rule of tiles.sql: the
-- sensitive groups count only inside the caller's scope).
--
-- Parameters: :qp (query_params json), :level (grid|community|street), :step (week|month),
-- :since, :until (timestamptz, half-open), :tz (the city's time zone). `back` counts steps
-- back from the end: weeks are 7-day windows ending at :until (so only the oldest may be
-- partial; a window holds its first instant, so an incident at until - 7 days is in the
-- last week), months are calendar months in the city's zone. hotspot_cube_rollup.sql reads
-- the same counts from the rollup.
WITH p AS MATERIALIZED (SELECT gisgrid_tile_parse(CAST(:qp AS json)) AS p)
SELECT c.area_id, c.back, count(*) AS n
FROM (
    SELECT CASE CAST(:level AS text)
               WHEN 'grid' THEN i.grid_id
               WHEN 'community' THEN i.community_id
               WHEN 'street' THEN i.street_id
           END AS area_id,
           CASE CAST(:step AS text)
               WHEN 'week' THEN ceil(extract(epoch FROM (CAST(:until AS timestamptz)
                                                         - i.reported_at)) / 604800)::integer - 1
               ELSE ((extract(year FROM l.last) - extract(year FROM l.here)) * 12
                     + extract(month FROM l.last) - extract(month FROM l.here))::integer
           END AS back
    FROM incidents i
    CROSS JOIN p
    CROSS JOIN LATERAL (
        SELECT i.reported_at AT TIME ZONE CAST(:tz AS text) AS here,
               (CAST(:until AS timestamptz) - interval '1 microsecond')
                   AT TIME ZONE CAST(:tz AS text) AS last
    ) l
    WHERE i.reported_at >= CAST(:since AS timestamptz)
      AND i.reported_at < CAST(:until AS timestamptz)
      AND gisgrid_tile_match(p.p, i.category, i.status, i.reported_at)
      AND gisgrid_tile_countable(p.p, i.category, i.grid_id, i.community_id, i.street_id,
                                 i.district_id)
) c
WHERE c.area_id IS NOT NULL
GROUP BY c.area_id, c.back
