-- gisgrid.assign.versions.open_versions: what the GridIndex of the moved rows is built from,
-- once the new versions are in: the current grids whose box meets the box of the closed and
-- opened areas (every grid that can cover a row that lay in a closed grid, so the lowest-id
-- rule sees every candidate), and every current area above grid level (no geometry: only
-- their parent links, for the hierarchy).
WITH box AS (SELECT ST_Extent(geom) AS b FROM areas WHERE id = ANY(:ids))
SELECT a.id, a.code, a.level, a.parent_id,
       CASE WHEN a.level = 'grid' THEN a.geom END AS geom
FROM areas a, box
WHERE a.valid_to IS NULL AND (a.level <> 'grid' OR a.geom && box.b)
ORDER BY a.id
