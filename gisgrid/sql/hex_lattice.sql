-- The hexagons of side :size (metres of EPSG:3857) of the lattice of ST_HexagonGrid (the one
-- gisgrid_incident_hexes counts in, so i, j match hex_bins) over a lon/lat box, kept where
-- they touch a current grid, or area :within when given: the units of a hexagon analysis.
SELECT h.i, h.j, ST_AsBinary(ST_Transform(h.geom, 4326)) AS geom
FROM ST_HexagonGrid(CAST(:size AS float8),
                    ST_Transform(ST_MakeEnvelope(:w, :s, :e, :n, 4326), 3857)) h
WHERE EXISTS (
    SELECT 1 FROM areas a
    WHERE a.valid_to IS NULL
      AND (CASE WHEN CAST(:within AS bigint) IS NULL THEN a.level = 'grid'
                ELSE a.id = CAST(:within AS bigint) END)
      AND ST_Intersects(a.geom, ST_Transform(h.geom, 4326))
)
ORDER BY h.i, h.j
