"""Vector and raster tiles: tile maths, filters, layers, render, raster, cache, clock,
offline export."""
