"""Vector tiles from a GeoDataFrame: positions on the tile's 4096 grid, clipping to the buffer,
MVT winding order, ids and tags; decoded with mapbox-vector-tile."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import mapbox_vector_tile
import numpy as np
import pytest
import shapely

from gisgrid.tiles.frames import FrameTiles, tile_envelope
from gisgrid.tiles.grid import BUFFER, EXTENT

Z, X, Y = 12, 3488, 1461  # over Harbin


def decode(body: bytes) -> list[dict[str, Any]]:
    out = mapbox_vector_tile.decode(body, default_options={"y_coord_down": True, "geojson": False})
    return out["t"]["features"]


def ring_area(ring: list[list[float]]) -> float:
    """Shoelace area: positive for a ring clockwise on the screen (y down)."""
    return sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(ring, ring[1:] + ring[:1], strict=True))


def frame(geoms: list[Any], **columns: list[Any]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"id": range(1, len(geoms) + 1), **columns}, geometry=geoms, crs=4326)


def lonlat_box(fx0: float, fy0: float, fx1: float, fy1: float) -> Any:
    """A lon/lat box from fractions of the tile (x right, y down), by the Mercator corners."""
    # Mercator y is not linear in latitude: go through the tile's own metres
    xmin, ymin, xmax, ymax = tile_envelope(Z, X, Y)
    xs = [xmin + f * (xmax - xmin) for f in (fx0, fx1)]
    ys = [ymax - f * (ymax - ymin) for f in (fy0, fy1)]
    lon = [np.degrees(x / 6378137.0) for x in xs]
    lat = [np.degrees(2 * np.arctan(np.exp(y / 6378137.0)) - np.pi / 2) for y in ys]
    return shapely.box(lon[0], lat[1], lon[1], lat[0])


def test_a_box_lands_on_its_tile_units() -> None:
    tiles = FrameTiles(frame([lonlat_box(0.25, 0.25, 0.5, 0.75)]), "t", [])
    (f,) = decode(tiles.tile(Z, X, Y))
    assert f["id"] == 1 and f["geometry"]["type"] == "Polygon"
    ring = f["geometry"]["coordinates"][0]
    xs, ys = {p[0] for p in ring}, {p[1] for p in ring}
    assert xs == {1024, 2048} and ys == {1024, 3072}
    assert ring_area(ring) > 0, "MVT 2.1: exterior rings clockwise (y down)"


def test_a_polygon_is_clipped_to_the_buffer() -> None:
    big = lonlat_box(-1.0, -1.0, 0.5, 0.5)  # reaches far into the tiles above and left
    (f,) = decode(FrameTiles(frame([big]), "t", []).tile(Z, X, Y))
    pts = f["geometry"]["coordinates"][0]
    assert min(p[0] for p in pts) == -BUFFER and min(p[1] for p in pts) == -BUFFER
    assert max(p[0] for p in pts) == EXTENT // 2


def test_holes_wind_the_other_way() -> None:
    outer = lonlat_box(0.1, 0.1, 0.9, 0.9)
    hole = lonlat_box(0.4, 0.4, 0.6, 0.6)
    donut = shapely.Polygon(outer.exterior.coords, [hole.exterior.coords])
    (f,) = decode(FrameTiles(frame([donut]), "t", []).tile(Z, X, Y))
    outer_ring, inner_ring = f["geometry"]["coordinates"]
    assert ring_area(outer_ring) > 0 > ring_area(inner_ring)


def test_tags_ids_and_what_is_left_out() -> None:
    geoms = [lonlat_box(0.1, 0.1, 0.2, 0.2), lonlat_box(0.3, 0.3, 0.4, 0.4)]
    data = frame(
        geoms,
        cls=["hot_99", "not_significant"],
        z=[np.float64(3.2), np.nan],
        n=[np.int64(7), np.int64(0)],
        counts=[[1, 2], [3]],
        flag=[np.True_, np.False_],
    )
    feats = decode(FrameTiles(data, "t", ["cls", "z", "n", "counts", "flag"]).tile(Z, X, Y))
    props = {f["id"]: f["properties"] for f in feats}
    assert props[1] == {"cls": "hot_99", "z": 3.2, "n": 7, "flag": True}
    assert props[2] == {"cls": "not_significant", "n": 0, "flag": False}  # NaN left out


def test_nothing_in_the_tile_is_empty_bytes_and_slivers_are_dropped() -> None:
    tiles = FrameTiles(frame([lonlat_box(0.1, 0.1, 0.2, 0.2)]), "t", [])
    assert tiles.tile(Z, X + 2, Y) == b""
    # on the world's one tile the box is a tenth of a tile unit: nothing of area is left
    assert tiles.tile(0, 0, 0) == b""


def test_a_bad_tile_is_refused() -> None:
    tiles = FrameTiles(frame([lonlat_box(0.1, 0.1, 0.2, 0.2)]), "t", [])
    with pytest.raises(Exception, match="y=") as e:
        tiles.tile(3, 0, 8)
    assert getattr(e.value, "field", None) == "y"
