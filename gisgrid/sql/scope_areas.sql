-- The areas a scope sees (gisgrid.access.scope.Scope.areas_sql), as a condition on the
-- alias that str.format fills in: the scope area :scope_area_id, every area under it (down
-- parent_id) and every area above it (up parent_id), so a grid worker sees the outlines of
-- their own street and district but nothing of a sibling's.
({a}.id IN (WITH RECURSIVE down(id) AS (
     SELECT CAST(:scope_area_id AS bigint)
     UNION ALL SELECT c.id FROM areas c JOIN down d ON c.parent_id = d.id)
  SELECT id FROM down)
 OR {a}.id IN (WITH RECURSIVE up(id, parent_id) AS (
     SELECT id, parent_id FROM areas WHERE id = :scope_area_id
     UNION ALL SELECT p.id, p.parent_id FROM areas p JOIN up u ON p.id = u.parent_id)
  SELECT id FROM up))
