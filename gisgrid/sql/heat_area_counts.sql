-- The current areas of level :level touching the box :w, :s, :e, :n, with the incidents
-- assigned to each under the filters (count, open, overdue) as the area tiles count them,
-- for gisgrid.analysis.heat.area_counts; outlines simplified by :tol degrees when > 0.
-- The incidents' column of that level (grid_id ... district_id) is filled in by str.format.
WITH p AS MATERIALIZED (SELECT gisgrid_tile_parse(CAST(:qp AS json)) AS p),
a AS (
    SELECT a.id, a.code, a.name, a.geom FROM areas a
    WHERE a.level = :level AND a.valid_to IS NULL
      AND a.geom && ST_MakeEnvelope(:w, :s, :e, :n, 4326)
),
c AS (
    SELECT i.{col} AS area_id, count(*) AS n,
           count(*) FILTER (WHERE gisgrid_tile_open(i.status)) AS open,
           count(*) FILTER (WHERE gisgrid_tile_open(i.status) AND i.due_at < now()) AS overdue
    FROM incidents i CROSS JOIN p
    WHERE i.{col} IN (SELECT id FROM a)
      AND gisgrid_tile_match(p.p, i.category, i.status, i.reported_at)
      AND gisgrid_tile_countable(p.p, i.category, i.grid_id, i.community_id, i.street_id,
                                 i.district_id)
    GROUP BY 1
)
SELECT a.id, a.code, a.name, COALESCE(c.n, 0) AS count, COALESCE(c.open, 0) AS open,
       COALESCE(c.overdue, 0) AS overdue,
       ST_AsBinary(CASE WHEN :tol > 0 THEN ST_SimplifyPreserveTopology(a.geom, :tol)
                        ELSE a.geom END) AS geom
FROM a LEFT JOIN c ON c.area_id = a.id
ORDER BY a.code
