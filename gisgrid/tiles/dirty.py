"""Which tiles an incident write or a passing due time touched: a per-tile version.

The store logs where every incident write landed (``gisgrid/sql/tile_dirty.sql``): its
point and the areas it counts into (its grid and that grid's community, street and district),
under the incidents counter the write set. :class:`VersionClock` hands each change to
:meth:`DirtyMap.touch`, which records, for every layer family that shows incidents and every
zoom, the tiles the change reaches: the tiles holding the point grown by what the layer reads
around a tile (the clusters' 64/4096 buffer, the hexagons' two cells, the heat kernel's
5 bandwidths), and for an area, the area layer's tiles its box meets. A tile's version
(:meth:`DirtyMap.version`) is the latest change that reached it, or the floor: the counter
when this map started (or last started over), below which it knows nothing and so treats
every tile as changed then.

Points are kept at every zoom. An area's box is kept down to a zoom of its level
(:data:`FAMILIES`): a district spans thousands of zoom-16 tiles; a tile deeper than that zoom
takes the version of its ancestor there, which holds every change whose box meets the
ancestor (a few more tiles dirtied than needed, never fewer).

Examples
--------
>>> m = DirtyMap(floor=10)
>>> m.touch(11, "point", 126.63, 45.76, 126.63, 45.76)
>>> m.version("incidents", 12, 3488, 1461), m.version("incidents", 12, 3000, 1461)
(11, 10)
>>> m.version("incidents", 0, 0, 0), m.version("hex", 16, 55820, 23377)
(11, 11)
>>> m.touch(12, "district", 126.0, 45.0, 127.0, 46.0)
>>> m.version("districts", 16, 55820, 23377), m.version("grids", 16, 55820, 23377)
(12, 10)
>>> m.touch(13, "all", 0, 0, 0, 0)
>>> m.version("grids", 3, 1, 1)
13
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from gisgrid.tiles.grid import BUFFER, EXTENT, MAX_ZOOM
from gisgrid.tiles.raster import KERNEL_MAXZOOM, TILE_PX, TRUNCATE, bandwidth_px

MAX_LAT = 85.0511287798
# a touch past this many kept tiles starts the map over (every tile dirty once)
MAX_TILES = 2_000_000


def _buffer(z: int) -> float:
    """The clusters', points' and areas' read margin: BUFFER of EXTENT, and a hair for a
    point on the tile's edge (both tiles read it)."""
    return BUFFER / EXTENT + 1e-6


def _hex(z: int) -> float:
    """Hexagons of side 1/24 of the tile, counted from points 2 sides around the tile; a
    hexagon drawn in the tile reaches one side further out."""
    return 3 / 24 + 1e-6


def _heat(z: int) -> float:
    """The kernel's reach (TRUNCATE bandwidths) around a 256 px tile; above KERNEL_MAXZOOM a
    tile is interpolated from the coarse lattice, one coarse pixel further."""
    coarse_px = 2.0 ** max(0, z - KERNEL_MAXZOOM)
    return (TRUNCATE * bandwidth_px(z) + 2 * coarse_px) / TILE_PX + 1e-6


@dataclass(frozen=True)
class Family:
    """Layers that a change of one kind reaches alike: the margin (in tiles) a tile reads
    around itself at zoom z, and the deepest zoom at which the map keeps its tiles."""

    kind: str  # "point" or an area level
    margin: Callable[[int], float]
    keep_zoom: int


FAMILIES: dict[str, Family] = {
    "incidents": Family("point", _buffer, MAX_ZOOM),
    "hex": Family("point", _hex, MAX_ZOOM),
    "heat": Family("point", _heat, MAX_ZOOM),
    "grids": Family("grid", _buffer, 16),
    "communities": Family("community", _buffer, 15),
    "streets": Family("street", _buffer, 13),
    "districts": Family("district", _buffer, 11),
}
# the tile layers whose incident-derived content each family versions
LAYER_FAMILY: dict[str, str] = {name: name for name in FAMILIES}


def _tile_xy(lon: float, lat: float, n: int) -> tuple[float, float]:
    """Fractional tile coordinates of a point at a zoom with n tiles a side."""
    lat = max(min(lat, MAX_LAT), -MAX_LAT)
    r = math.radians(lat)
    return (lon + 180) / 360 * n, (1 - math.asinh(math.tan(r)) / math.pi) / 2 * n


class DirtyMap:
    """The latest change (a counter value) that reached each tile, per layer family."""

    def __init__(self, floor: int) -> None:
        self.floor = floor
        self._tiles: dict[str, dict[tuple[int, int, int], int]] = {f: {} for f in FAMILIES}
        self.size = 0

    def restart(self, floor: int) -> None:
        """Forget every change: each tile's version is ``floor`` from now on."""
        self.floor = max(self.floor, floor)
        for tiles in self._tiles.values():
            tiles.clear()
        self.size = 0

    def touch(self, value: int, kind: str, x0: float, y0: float, x1: float, y1: float) -> None:
        """A change at ``value`` to a point (kind "point", x0 = x1, y0 = y1) or to the counts
        of an area (kind its level, the box its bounds), in lon/lat; kind "all": every tile."""
        if kind == "all":
            self.restart(value)
            return
        for name, fam in FAMILIES.items():
            if fam.kind != kind:
                continue
            tiles = self._tiles[name]
            for z in range(fam.keep_zoom + 1):
                n = 1 << z
                m = fam.margin(z)
                fx0, fy1 = _tile_xy(x0, y0, n)  # y grows southwards
                fx1, fy0 = _tile_xy(x1, y1, n)
                for tx in range(max(0, math.floor(fx0 - m)), min(n - 1, math.floor(fx1 + m)) + 1):
                    for ty in range(
                        max(0, math.floor(fy0 - m)), min(n - 1, math.floor(fy1 + m)) + 1
                    ):
                        key = (z, tx, ty)
                        old = tiles.get(key)
                        if old is None:
                            self.size += 1
                        if old is None or old < value:
                            tiles[key] = value
        if self.size > MAX_TILES:
            self.restart(value)

    def version(self, layer: str, z: int, x: int, y: int) -> int:
        """The latest change that reached this tile of the layer, or the floor."""
        fam = FAMILIES[LAYER_FAMILY[layer]]
        if z > fam.keep_zoom:
            shift = z - fam.keep_zoom
            z, x, y = fam.keep_zoom, x >> shift, y >> shift
        return max(self.floor, self._tiles[LAYER_FAMILY[layer]].get((z, x, y), self.floor))
