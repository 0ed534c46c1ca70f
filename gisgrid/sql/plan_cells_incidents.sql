-- Incidents reported in the 12 months up to :as_of inside the communities :community_ids
-- (gisgrid.planning.cells), as lon/lat; the cells they fall in are found in Python.
SELECT ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat
FROM incidents i
WHERE i.reported_at > CAST(:as_of AS timestamptz) - interval '12 months'
  AND i.reported_at <= CAST(:as_of AS timestamptz)
  AND EXISTS (SELECT 1 FROM areas c WHERE c.id = ANY(CAST(:community_ids AS bigint[]))
              AND c.geom && i.geom AND ST_Intersects(c.geom, i.geom))
