"""Vector tiles from features held in memory: what a layer computed in Python (the hot-spot
statistics) serves, where the other layers come from an SQL function.

:class:`FrameTiles` projects a GeoDataFrame's geometries to Web Mercator once and indexes
them (shapely's STRtree: built once, queried per tile); :meth:`FrameTiles.tile` picks the
features that meet a tile, clips them to the tile and its buffer, simplifies them to a
quarter of a tile unit (as ``gisgrid/sql/tiles.sql`` does before ``ST_AsMVTGeom``), snaps
them to the tile's 4096 grid and encodes them with mapbox-vector-tile. A feature's ``id``
column becomes its MVT id; the other columns named in ``properties`` become its tags (None,
NaN and lists are left out: ST_AsMVT leaves out NULLs, and a tag holds one value).

Examples
--------
>>> import geopandas as gpd, shapely
>>> frame = gpd.GeoDataFrame({"id": [1], "kind": ["a"]},
...                          geometry=[shapely.box(126.6, 45.7, 126.7, 45.8)], crs=4326)
>>> tiles = FrameTiles(frame, "demo", ["kind"])
>>> import mapbox_vector_tile
>>> decoded = mapbox_vector_tile.decode(tiles.tile(10, 872, 365))
>>> [(f["id"], f["properties"]) for f in decoded["demo"]["features"]]
[(1, {'kind': 'a'})]
>>> tiles.tile(10, 0, 0)
b''
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gisgrid.tiles.grid import BUFFER, EXTENT, check_tile

if TYPE_CHECKING:
    import geopandas as gpd

HALF_WORLD_M = 20037508.342789244


def _mercator(geoms: Any) -> Any:
    """lon/lat geometries to EPSG:3857 by the formula (as gisgrid_merc_x/y in tiles.sql)."""
    import shapely

    def project(xy: np.ndarray) -> np.ndarray:
        lon, lat = xy[:, 0], np.clip(xy[:, 1], -85.0511287798, 85.0511287798)
        x = 6378137.0 * np.radians(lon)
        y = 6378137.0 * np.log(np.tan(np.pi / 4 + np.radians(lat) / 2))
        return np.column_stack([x, y])

    return shapely.transform(geoms, project)


def tile_envelope(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) of a tile in EPSG:3857 metres (ST_TileEnvelope).

    >>> [round(v) for v in tile_envelope(1, 1, 0)]
    [0, 0, 20037508, 20037508]
    """
    size = 2 * HALF_WORLD_M / (1 << z)
    xmin = -HALF_WORLD_M + x * size
    ymax = HALF_WORLD_M - y * size
    return xmin, ymax - size, xmin + size, ymax


class FrameTiles:
    """The features of ``frame`` (lon/lat, an ``id`` column) as tiles of one MVT layer."""

    def __init__(self, frame: gpd.GeoDataFrame, layer: str, properties: Sequence[str]) -> None:
        import shapely

        if frame.crs is not None and frame.crs.to_epsg() != 4326:
            frame = frame.to_crs(4326)
        self.layer = layer
        self.ids = np.asarray(frame["id"], dtype=np.int64)
        self.geoms = _mercator(np.asarray(frame.geometry.values))
        self.tree = shapely.STRtree(self.geoms)
        self.properties = [
            {k: _plain(v) for k, v in row.items() if _plain(v) is not None}
            for row in frame[list(properties)].to_dict("records")
        ]

    def __len__(self) -> int:
        return len(self.ids)

    def tile(self, z: int, x: int, y: int) -> bytes:
        """The MVT tile (uncompressed; empty bytes when no feature meets it)."""
        import mapbox_vector_tile
        import shapely

        check_tile(z, x, y)
        xmin, ymin, xmax, ymax = tile_envelope(z, x, y)
        unit = (xmax - xmin) / EXTENT
        pad = BUFFER * unit
        box = (xmin - pad, ymin - pad, xmax + pad, ymax + pad)
        hits = np.sort(self.tree.query(shapely.box(*box)))
        if hits.size == 0:
            return b""
        geoms = shapely.clip_by_rect(self.geoms[hits], *box)
        geoms = shapely.simplify(geoms, unit / 4, preserve_topology=True)

        def to_tile(xy: np.ndarray) -> np.ndarray:
            # tile units, y down, snapped to the integer grid as ST_AsMVTGeom does
            return np.column_stack(
                [np.round((xy[:, 0] - xmin) / unit), np.round((ymax - xy[:, 1]) / unit)]
            )

        geoms = shapely.make_valid(shapely.transform(geoms, to_tile))
        features = []
        for i, g in zip(hits, geoms, strict=True):
            g = _polygonal(g)
            if g is None:
                continue
            features.append(
                {"id": int(self.ids[i]), "geometry": g, "properties": self.properties[i]}
            )
        if not features:
            return b""
        body: bytes = mapbox_vector_tile.encode(
            [{"name": self.layer, "features": features}],
            default_options={"extents": EXTENT, "y_coord_down": True},
        )
        return body


def _polygonal(g: Any) -> Any:
    """The polygons of a clipped, snapped geometry; None when nothing of area is left."""
    import shapely

    if g is None or g.is_empty:
        return None
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g if g.area > 0 else None
    parts = [p for p in getattr(g, "geoms", []) if p.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        return None
    out = shapely.union_all(parts)
    return out if out.area > 0 else None


def _plain(v: Any) -> Any:
    """A tag value MVT can hold: str, bool, int or float; None for missing values."""
    if v is None:
        return None
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        return None if math.isnan(v) else float(v)
    if isinstance(v, str):
        return v
    return None  # lists and the like: a tag holds one value
