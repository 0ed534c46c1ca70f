"""The media types gisgrid reads and writes, named once (a module without imports, so a served
process can name them without loading what makes the files)."""

GEOJSON = "application/geo+json"  # RFC 7946
GPKG = "application/geopackage+sqlite3"  # OGC GeoPackage
