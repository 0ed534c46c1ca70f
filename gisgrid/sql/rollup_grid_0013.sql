-- incident_rollup_grid as migration 0013 made it (grid x sensitive x due hour: n, open), filled
-- from the cube: 0013's fill, and 0014's downgrade back to that shape. The sensitive rule is
-- written out: rollup.sql's functions may be gone.
INSERT INTO incident_rollup_grid (grid_id, sensitive, due_hour, n, open)
SELECT grid_id, left(category, 2) = ANY('{03,04}'::text[]), due_hour, sum(n),
       COALESCE(sum(n) FILTER (WHERE status NOT IN ('closed', 'rejected')), 0)
FROM incident_rollup
GROUP BY 1, 2, 3
