-- hotspot_cube.sql from the rollup (rollup.sql's incident_rollup): the same counts, read from
-- one row per grid x day x category x state instead of one per incident. For a period of
-- whole city days (:since and :until at midnight in the city) and filters the rollup answers
-- (gisgrid_rollup_answers); areas above a grid are found by the grid's lineage, as the area
-- tiles count them.
--
-- Parameters as hotspot_cube.sql's. A day d of [since, until) lies `back` steps from the end:
-- weeks, (last day - d) / 7 (the 7-day windows ending at :until); months, the calendar months
-- between d and the last day.
WITH p AS MATERIALIZED (SELECT gisgrid_tile_parse(CAST(:qp AS json)) AS p),
-- each grid's area of the level and whether it lies in the caller's scope: 33k rows, hashed
g AS MATERIALIZED (
    SELECT l.grid_id,
           CASE CAST(:level AS text)
               WHEN 'grid' THEN l.grid_id
               WHEN 'community' THEN l.community_id
               WHEN 'street' THEN l.street_id
           END AS area_id,
           gisgrid_tile_in_scope(p.p, l.grid_id, l.community_id, l.street_id, l.district_id)
               AS in_scope
    FROM gisgrid_grid_lineage l CROSS JOIN p
)
SELECT g.area_id, c.back, sum(c.n)::bigint AS n
FROM (
    SELECT r.grid_id, gisgrid_rollup_sensitive(r.category) AS sensitive,
           CASE CAST(:step AS text)
               WHEN 'week' THEN (d.d1 - r.day) / 7
               ELSE ((extract(year FROM d.d1) - extract(year FROM r.day)) * 12
                     + extract(month FROM d.d1) - extract(month FROM r.day))::integer
           END AS back,
           r.n
    FROM incident_rollup r
    CROSS JOIN p
    CROSS JOIN (
        SELECT ((CAST(:until AS timestamptz) - interval '1 microsecond')
                   AT TIME ZONE CAST(:tz AS text))::date AS d1
    ) d
    -- the period's days written out here, not in a CTE, so the planner sees how many rows
    -- they hold (a year: all of them, read in one sequential pass)
    WHERE r.day >= (CAST(:since AS timestamptz) AT TIME ZONE CAST(:tz AS text))::date
      AND r.day <= ((CAST(:until AS timestamptz) - interval '1 microsecond')
                       AT TIME ZONE CAST(:tz AS text))::date
      AND ((p.p).since IS NULL OR r.day >= ((p.p).since AT TIME ZONE CAST(:tz AS text))::date)
      AND ((p.p).until IS NULL OR r.day <= ((p.p).until AT TIME ZONE CAST(:tz AS text))::date)
      AND ((p.p).categories IS NULL OR r.category = ANY((p.p).categories)
           OR left(r.category, 2) = ANY((p.p).categories))
      AND ((p.p).statuses IS NULL OR r.status = ANY((p.p).statuses))
) c
JOIN g ON g.grid_id = c.grid_id
WHERE g.area_id IS NOT NULL AND (NOT c.sensitive OR g.in_scope)
GROUP BY g.area_id, c.back
