"""Files in and out: read, check, load, export (pyogrio); the one reader of grid files."""
