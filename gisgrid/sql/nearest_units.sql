-- The :k nearest units that handle :category (or any item under it, for a top-level code),
-- optionally only available ones. Distances are geodesic on the WGS84 spheroid, in metres.
--
-- Exact, and index-assisted: KNN on the geometry index (`<->`, which ranks by degrees, so not
-- by metres at this latitude) finds some k capable units quickly; the farthest of them, in
-- geodesic metres, bounds the true k-th distance. Every capable unit within that bound (a
-- degree box for the index, then ST_DWithin on the spheroid) is measured and sorted.
WITH wanted AS (
    SELECT ARRAY(
        SELECT code FROM incident_categories WHERE code = :category OR parent_code = :category
    )::text[] AS codes
), here AS (
    SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS p
), knn AS (
    SELECT u.geom
    FROM units u, here, wanted
    WHERE u.categories && wanted.codes AND (u.available OR NOT :available_only)
    ORDER BY u.geom <-> here.p
    LIMIT :k
), bound AS (
    -- 1 cm of slack: ST_Distance's result is rounded, ST_DWithin's test is not
    SELECT r + 0.01 AS r,
           r / 110000.0 * 1.01 AS dlat,
           r / (111000.0 * cos(radians(least(abs(:lat) + r / 110000.0 * 1.01, 89.9)))) * 1.01
               AS dlon
    FROM (
        SELECT max(ST_Distance(CAST(knn.geom AS geography), CAST(here.p AS geography), true)) AS r
        FROM knn, here
    ) m
)
SELECT u.id, u.code, u.name, u.kind, u.available, u.phone, u.area_id,
       ST_X(u.geom) AS lon, ST_Y(u.geom) AS lat,
       ST_Distance(CAST(u.geom AS geography), CAST(here.p AS geography), true) AS distance_m
FROM units u, here, wanted, bound
WHERE u.categories && wanted.codes AND (u.available OR NOT :available_only)
  AND u.geom && ST_MakeEnvelope(
        :lon - bound.dlon, :lat - bound.dlat, :lon + bound.dlon, :lat + bound.dlat, 4326)
  AND ST_DWithin(CAST(u.geom AS geography), CAST(here.p AS geography), bound.r, true)
ORDER BY distance_m, u.id
LIMIT :k
