"""Spatial queries: nearest units, within, OGC feature collections, residents."""
