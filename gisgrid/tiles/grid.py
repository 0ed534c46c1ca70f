"""Tile maths: the XYZ tile matrix, a tile's bounds, the tiles over a box.

>>> tile_of(126.63, 45.75, 12)
(3488, 1461)
"""

from __future__ import annotations

import math

from gisgrid.errors import InvalidInput

MAX_ZOOM = 22


EXTENT = 4096


BUFFER = 64


def check_tile(z: int, x: int, y: int) -> None:
    """Refuse coordinates outside the tile matrix, naming the bad one."""
    if not 0 <= z <= MAX_ZOOM:
        raise InvalidInput(f"z={z}; expected 0..{MAX_ZOOM}", field="z")
    n = 1 << z
    if not 0 <= x < n:
        raise InvalidInput(f"x={x}; expected 0..{n - 1} at zoom {z}", field="x")
    if not 0 <= y < n:
        raise InvalidInput(f"y={y}; expected 0..{n - 1} at zoom {z}", field="y")


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """(west, south, east, north) of a Web Mercator tile in degrees.

    >>> tile_bounds(0, 0, 0)[0], round(tile_bounds(0, 0, 0)[3], 4)
    (-180.0, 85.0511)
    """
    n = 1 << z

    def lat(row: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return (x / n * 360 - 180, lat(y + 1), (x + 1) / n * 360 - 180, lat(y))


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The (x, y) of the zoom-z tile holding a point.

    >>> tile_of(126.63, 45.76, 12)
    (3488, 1461)
    """
    n = 1 << z
    lat = max(min(lat, 85.0511287798), -85.0511287798)
    x = int((lon + 180) / 360 * n)
    r = math.radians(lat)
    y = int((1 - math.asinh(math.tan(r)) / math.pi) / 2 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def tiles_in_bbox(bbox: tuple[float, float, float, float], z: int) -> list[tuple[int, int, int]]:
    """Every zoom-z tile that meets a lon/lat box (west, south, east, north).

    >>> tiles_in_bbox((126.60, 45.74, 126.66, 45.78), 12)
    [(12, 3488, 1460), (12, 3488, 1461), (12, 3489, 1460), (12, 3489, 1461)]
    """
    w, s, e, n = bbox
    x0, y0 = tile_of(w, n, z)
    x1, y1 = tile_of(e, s, z)
    return [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
