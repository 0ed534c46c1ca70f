-- gisgrid.assign.versions.open_versions: the rows of one assigned table that may move, locked:
-- those in a closed grid, or (with the second condition) in no grid. Filled in by str.format
-- (so no braces in these comments): the table, quoted; the point that stands for a row; which
-- rows move (open incidents; rows whose own time is at or after the change); and which grid
-- condition. Each row: id, the point, the ids it holds now, and xmin (reassign_update.sql).
SELECT t.id, ST_X({point}), ST_Y({point}), t.grid_id, t.community_id, t.street_id,
       t.district_id, t.xmin::text
FROM {table} t
WHERE t.geom IS NOT NULL AND ({moves}) AND {which}
FOR UPDATE OF t
