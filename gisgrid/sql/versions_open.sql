-- gisgrid.assign.versions.open_versions: the staged rows (_gisgrid_new_areas) as new versions
-- valid from the given instant. Parent links to a closed version are pointed at its successor
-- afterwards, once every new id exists.
INSERT INTO areas (code, name, level, parent_id, responsible, households, population, plan_id,
                   valid_from, geom)
SELECT s.code, s.name, s.level, s.parent_id, s.responsible, s.households, s.population,
       s.plan_id, :at, ST_Multi(s.geom)
FROM _gisgrid_new_areas s
ORDER BY s.level = 'grid', s.code
RETURNING id, code, level
