-- The communities a plan's parent holds (gisgrid.planning.cells): the current areas one level
-- above grid under :parent (the parent itself when it is one), with their outlines as WKB.
-- The parent's level decides: a community is its own; a street or district is walked down
-- parent_id through current rows to the areas that have current grids under them.
WITH RECURSIVE down(id, level) AS (
    SELECT id, level FROM areas WHERE id = :parent AND valid_to IS NULL
    UNION ALL
    SELECT a.id, a.level FROM areas a JOIN down d ON a.parent_id = d.id
    WHERE a.valid_to IS NULL AND d.level <> 'grid'
),
holders AS (
    SELECT DISTINCT g.parent_id AS id FROM areas g JOIN down d ON g.id = d.id
    WHERE g.level = 'grid' AND g.valid_to IS NULL
    UNION
    SELECT id FROM down WHERE level = 'community'
)
SELECT c.id, c.code, c.name, ST_AsBinary(c.geom) AS wkb
FROM areas c JOIN holders h ON h.id = c.id
WHERE c.valid_to IS NULL AND c.level <> 'grid'
ORDER BY c.code, c.id
