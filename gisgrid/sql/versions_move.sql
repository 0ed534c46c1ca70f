-- gisgrid.assign.versions.open_versions: give one assigned table's rows that lay in the
-- closed grids (or in no grid, inside a new one) the ids of the boundaries in force for them
-- now. Filled in by str.format (so no braces in these comments): the table, quoted; the point
-- that stands for a row; the row's time column, or NULL where the current grids count; which
-- rows move (open incidents, rows of the table's time at or after at); and for incidents the
-- unassigned flag. closed are the closed grid ids, opened the new grid ids, old_ids ->
-- new_ids each closed area's successor (same code).
--
-- A row's time decides the boundaries: a row at or after at takes the version in force at
-- its time (a backdated at), any other (a register, an open incident) the current ones, as
-- the assign trigger does with a NULL time. Among the covering grids the lowest id wins
-- (GridIndex's rule). A row no grid covers that did not lie in its old grid either was given
-- the nearest grid on purpose: it keeps the successor of that grid.
WITH succ AS (
    SELECT * FROM unnest(CAST(:old_ids AS bigint[]), CAST(:new_ids AS bigint[])) AS s(old, new)
),
cand AS (
    SELECT t.id, t.grid_id AS old_grid, {point} AS pt,
           coalesce(CASE WHEN {time} >= :at THEN {time} END, 'infinity') AS tt
    FROM {table} t
    WHERE t.geom IS NOT NULL AND t.grid_id = ANY(:closed) AND ({moves})
    UNION ALL
    SELECT t.id, NULL, {point},
           coalesce(CASE WHEN {time} >= :at THEN {time} END, 'infinity')
    FROM {table} t
    WHERE t.geom IS NOT NULL AND t.grid_id IS NULL AND ({moves})
      AND EXISTS (SELECT 1 FROM areas n
                  WHERE n.id = ANY(:opened) AND n.geom && t.geom AND ST_Intersects(n.geom, t.geom))
),
hit AS (
    SELECT c.id, coalesce(
        (SELECT min(a.id) FROM areas a
         WHERE a.geom ~ c.pt AND a.level = 'grid'
           AND a.valid_from <= c.tt AND (a.valid_to IS NULL OR c.tt < a.valid_to)
           AND ST_Covers(a.geom, c.pt)),
        (SELECT s.new FROM succ s JOIN areas o ON o.id = s.old
         WHERE s.old = c.old_grid AND NOT ST_Covers(o.geom, c.pt))
    ) AS grid_id
    FROM cand c
),
ids AS (
    SELECT h.id, h.grid_id, u.community_id, u.street_id, u.district_id
    FROM hit h LEFT JOIN LATERAL gisgrid_area_above(h.grid_id) u ON h.grid_id IS NOT NULL
)
UPDATE {table} t
SET grid_id = ids.grid_id, community_id = ids.community_id, street_id = ids.street_id,
    district_id = ids.district_id{unassigned}
FROM ids
WHERE t.id = ids.id
  AND (t.grid_id, t.community_id, t.street_id, t.district_id)
      IS DISTINCT FROM (ids.grid_id, ids.community_id, ids.street_id, ids.district_id)
RETURNING t.id
