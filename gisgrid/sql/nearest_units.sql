-- The :k nearest units that handle :category (or any item under it, for a top-level code),
-- optionally only available ones. Distances are geodesic on the WGS84 spheroid, in metres.
-- Units are a small table (hundreds per city), so every capable unit is measured exactly
-- rather than ranked by the spherical `<->` first: the order then matches the geodesic one.
WITH wanted AS (
    SELECT code FROM incident_categories WHERE code = :category OR parent_code = :category
), here AS (
    SELECT CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography) AS g
)
SELECT u.id, u.code, u.name, u.kind, u.available, u.phone, u.area_id,
       ST_X(u.geom) AS lon, ST_Y(u.geom) AS lat,
       ST_Distance(CAST(u.geom AS geography), here.g, true) AS distance_m
FROM units u, here
WHERE u.categories && ARRAY(SELECT code FROM wanted)::text[]
  AND (u.available OR NOT :available_only)
ORDER BY distance_m, u.id
LIMIT :k
