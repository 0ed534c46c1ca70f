-- (reassign_chunk.sql, with an area) Rows that may move into or out of the areas :area_ids
-- (every version of one area code): inside any of them, or assigned to one (a nearest-grid
-- row may lie outside).
AND (t.grid_id = ANY(:area_ids) OR t.community_id = ANY(:area_ids)
     OR t.street_id = ANY(:area_ids) OR t.district_id = ANY(:area_ids)
     OR EXISTS (SELECT 1 FROM areas a WHERE a.id = ANY(:area_ids)
                AND ST_Intersects(a.geom, t.geom)))
