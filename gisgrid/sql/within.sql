-- What lies inside a region, within the caller's scope: counts by layer, incidents by
-- category, and the incidents themselves (newest first, at most :limit).
-- The region is a polygon (:geojson) or a circle (:lon, :lat, :radius_m, geodesic metres);
-- :xmin.. :ymax is a box around it that lets the GiST indexes do the first cut.
-- {scope_i}, {scope_p}, {scope_b}: the caller's scope on each alias (gisgrid.scope).
WITH region AS (
    SELECT ST_SetSRID(ST_GeomFromGeoJSON(CAST(:geojson AS text)), 4326) AS poly,
           CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography) AS centre,
           CAST(:radius_m AS float8) AS radius_m,
           ST_MakeEnvelope(:xmin, :ymin, :xmax, :ymax, 4326) AS box
), inc AS (
    SELECT i.id, i.code, i.category, i.status, i.priority, i.reported_at, i.grid_id,
           ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat
    FROM incidents i, region r
    WHERE i.geom && r.box
      AND CASE WHEN r.poly IS NOT NULL THEN ST_Intersects(i.geom, r.poly)
               ELSE ST_DWithin(CAST(i.geom AS geography), r.centre, r.radius_m, true) END
      AND {scope_i}
)
SELECT 'count' AS part, 'incidents' AS key, count(*) AS n, NULL::jsonb AS item FROM inc
UNION ALL
SELECT 'count', 'places', count(*), NULL
FROM places p, region r
WHERE p.geom && r.box
  AND CASE WHEN r.poly IS NOT NULL THEN ST_Intersects(p.geom, r.poly)
           ELSE ST_DWithin(CAST(p.geom AS geography), r.centre, r.radius_m, true) END
  AND {scope_p}
UNION ALL
SELECT 'count', 'buildings', count(*), NULL
FROM buildings b, region r
WHERE b.geom && r.box
  AND CASE WHEN r.poly IS NOT NULL THEN ST_Intersects(b.geom, r.poly)
           ELSE ST_DWithin(CAST(b.geom AS geography), r.centre, r.radius_m, true) END
  AND {scope_b}
UNION ALL
SELECT 'category', category, count(*), NULL FROM inc GROUP BY category
UNION ALL
(SELECT 'item', NULL, NULL, to_jsonb(inc) FROM inc ORDER BY reported_at DESC, id LIMIT :limit)
