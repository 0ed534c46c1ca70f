-- Incidents reported in the 12 months up to :as_of inside the communities :community_ids
-- (gisgrid.planning.cells), as lon/lat; the cells they fall in are found in Python. Driven
-- from the communities, so the incidents' spatial index is used (one probe per community,
-- not one per incident); an incident on a shared edge is listed once.
SELECT DISTINCT ON (i.id) ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat
FROM areas c JOIN incidents i ON i.geom && c.geom AND ST_Intersects(c.geom, i.geom)
WHERE c.id = ANY(CAST(:community_ids AS bigint[]))
  AND i.reported_at > CAST(:as_of AS timestamptz) - interval '12 months'
  AND i.reported_at <= CAST(:as_of AS timestamptz)
ORDER BY i.id
