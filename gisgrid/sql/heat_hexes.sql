-- Hexagon bins of the countable incidents in the lon/lat box :w, :s, :e, :n, side :size
-- metres of EPSG:3857, for gisgrid.analysis.heat.hex_bins: the hex tiles' own function
-- (gisgrid_incident_hexes, tiles.sql) in WGS84, most incidents first. :qp is query_params.
SELECT h.i, h.j, h.count, h.open, h.overdue, h.cell_m,
       ST_AsBinary(ST_Transform(h.geom, 4326)) AS geom
FROM gisgrid_incident_hexes(ST_Transform(ST_MakeEnvelope(:w, :s, :e, :n, 4326), 3857),
                            :size, CAST(:qp AS json)) h
ORDER BY h.count DESC, h.i, h.j
