-- The grid nearest to a point, within :max_m geodesic metres (ties: lower id), among the
-- current grids, or those in force at :at when it is not NULL.
-- :xmin.. :ymax is a lon/lat box around the circle, so the GiST index does the first cut.
WITH here AS (
    SELECT CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography) AS g
)
SELECT a.id, ST_Distance(CAST(a.geom AS geography), here.g, true) AS distance_m
FROM areas a, here
WHERE a.level = 'grid'
  AND a.valid_from <= coalesce(CAST(:at AS timestamptz), 'infinity')
  AND (a.valid_to IS NULL OR a.valid_to > coalesce(CAST(:at AS timestamptz), 'infinity'))
  AND a.geom && ST_MakeEnvelope(:xmin, :ymin, :xmax, :ymax, 4326)
  AND ST_DWithin(CAST(a.geom AS geography), here.g, :max_m, true)
ORDER BY distance_m, a.id
LIMIT 1
