-- The areas a located point falls in (grid and the levels above it), and the grid's workers.
-- :ids is the array of area ids; :grid_id the grid.
SELECT 'area' AS kind, a.id, a.code, a.name, a.level, NULL AS username, NULL AS display_name
FROM areas a
WHERE a.id = ANY(CAST(:ids AS bigint[]))
UNION ALL
SELECT 'worker', w.id, NULL, NULL, NULL, w.username, w.display_name
FROM accounts w
WHERE w.role = 'grid_worker' AND w.active AND w.scope_area_id = :grid_id
ORDER BY kind, id
