-- One id range [:lo, :hi) of an assigned table as gisgrid.assign.store.reassign reads it:
-- each located row's id, the point that stands for it, its time, the ids it holds now, and
-- xmin (reassign_update.sql writes only rows nobody wrote since). Filled in by _chunk_sql
-- (str.format, so no braces in these comments): the table, quoted; the point (t.geom, or a
-- point on the footprint for buildings); the time column, or NULL where the current grids
-- count; incidents' unassigned flag, or NULL; the optional time condition; and, for an
-- area, reassign_area.sql.
SELECT t.id, ST_X({point}), ST_Y({point}), {time},
       t.grid_id, t.community_id, t.street_id, t.district_id,
       {unassigned}, t.xmin::text
FROM {table} t
WHERE t.id >= :lo AND t.id < :hi AND t.geom IS NOT NULL
  {since}
  {area}
