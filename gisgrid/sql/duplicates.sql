-- Open cases of one category near a point, reported since :since, nearest first: the
-- duplicate warning of a report about to be sent (gisgrid.incidents.duplicates).
-- :xmin.. :ymax is a box around the circle that lets the GiST index do the first cut; the
-- distance is geodesic (metres on the spheroid). {scope}: the caller's visibility on i.
WITH here AS (
    SELECT CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography) AS centre
)
SELECT i.id, i.category, i.status, i.description, i.reported_at, i.version,
       ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat,
       ST_Distance(CAST(i.geom AS geography), h.centre, true) AS distance_m,
       (SELECT count(*) FROM incident_events e
         WHERE e.incident_id = i.id AND e.kind = 'support') AS supporters
FROM incidents i, here h
WHERE i.geom && ST_MakeEnvelope(:xmin, :ymin, :xmax, :ymax, 4326)
  AND ST_DWithin(CAST(i.geom AS geography), h.centre, :radius_m, true)
  AND i.category = :category
  AND i.status = ANY(:open)
  AND i.reported_at >= :since
  AND {scope}
ORDER BY distance_m, i.id
LIMIT :limit
