-- What gisgrid.assign.index.GridIndex.from_areas builds from: every version of every area
-- (closed ones too, so a point is assigned by the boundaries in force at its time), with the
-- parent links it walks for the hierarchy.
SELECT id, code, level, parent_id, valid_from, valid_to, geom FROM areas ORDER BY id
