-- The grid :grid_id and the areas above it (walking parent_id), and the grid's workers.
WITH RECURSIVE up AS (
    SELECT id, code, name, level, parent_id FROM areas WHERE id = :grid_id
    UNION ALL
    SELECT p.id, p.code, p.name, p.level, p.parent_id FROM areas p JOIN up ON p.id = up.parent_id
)
SELECT 'area' AS kind, up.id, up.code, up.name, up.level,
       NULL AS username, NULL AS display_name
FROM up
UNION ALL
SELECT 'worker', w.id, NULL, NULL, NULL, w.username, w.display_name
FROM accounts w
WHERE w.role = 'grid_worker' AND w.active AND w.scope_area_id = :grid_id
ORDER BY kind, id
