"""Points to grids: GridIndex and the strip engine, the in-store twin, reassign,
dask scale-out, locate."""
