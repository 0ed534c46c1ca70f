-- The buildings of the communities :community_ids (gisgrid.planning.cells): each in the one
-- community that holds a point on its surface (the lowest id when the point is on a shared
-- edge), with its households and residents counted from their rows, not from the building's
-- own household_count.
WITH comm AS (
    SELECT id, geom FROM areas WHERE id = ANY(CAST(:community_ids AS bigint[]))
),
placed AS (
    SELECT DISTINCT ON (b.id) b.id, c.id AS community_id, b.geom
    FROM buildings b JOIN comm c
      ON c.geom && b.geom AND ST_Intersects(c.geom, ST_PointOnSurface(b.geom))
    ORDER BY b.id, c.id
),
hh AS (
    SELECT h.building_id, count(*) AS n FROM households h JOIN placed p ON p.id = h.building_id
    GROUP BY h.building_id
),
res AS (
    SELECT h.building_id, count(*) AS n
    FROM residents r JOIN households h ON h.id = r.household_id
    JOIN placed p ON p.id = h.building_id
    GROUP BY h.building_id
)
SELECT p.id, p.community_id, coalesce(hh.n, 0) AS households, coalesce(res.n, 0) AS residents,
       ST_AsBinary(p.geom) AS wkb
FROM placed p LEFT JOIN hh ON hh.building_id = p.id LEFT JOIN res ON res.building_id = p.id
ORDER BY p.id
