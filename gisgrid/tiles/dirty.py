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

Points are kept down to zoom 16 (the layers' maxzoom), an area's box down to a zoom of its
level (:data:`FAMILIES`): a district spans thousands of zoom-16 tiles. A tile deeper than
that zoom takes the version of its ancestor there, which holds every change whose box meets
the ancestor (a few more tiles dirtied than needed, never fewer). Up to
:data:`GRID_POINT_MAXZOOM` a write also dirties the point layers' tiles its grid's box reaches,
for layers that draw a grid's counts at a point of the grid (a rollup by grid).

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
# a touch past this many kept tiles starts the map over (every tile dirty once): ~100 MB
MAX_TILES = 1_000_000
# The layers' maxzoom: a deeper tile takes its zoom-16 ancestor's version. The heat kernel
# keeps its zoom-15 ground size above zoom 15, so the ancestor's margin covers its reach.
POINT_KEEP_ZOOM = 16
# Up to this zoom an incident-point layer may draw a grid's counts at a point of the grid
# rather than at the incidents' own points (a rollup by grid): there a write also dirties
# the point layers' tiles its grid's box reaches.
GRID_POINT_MAXZOOM = 13


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

    def reached_by(self, kind: str) -> int:
        """The deepest zoom at which a change of ``kind`` reaches this family (-1: none)."""
        if kind == self.kind:
            return self.keep_zoom
        if kind == "grid" and self.kind == "point":
            return min(GRID_POINT_MAXZOOM, self.keep_zoom)
        return -1


FAMILIES: dict[str, Family] = {
    "incidents": Family("point", _buffer, POINT_KEEP_ZOOM),
    "hex": Family("point", _hex, POINT_KEEP_ZOOM),
    "heat": Family("point", _heat, POINT_KEEP_ZOOM),
    "grids": Family("grid", _buffer, 16),
    "communities": Family("community", _buffer, 15),
    "streets": Family("street", _buffer, 13),
    "districts": Family("district", _buffer, 11),
}
# the tile layers whose incident-derived content each family versions
LAYER_FAMILY: dict[str, str] = {name: name for name in FAMILIES}


_MARGINS = {name: [fam.margin(z) for z in range(MAX_ZOOM + 1)] for name, fam in FAMILIES.items()}


def _world_xy(lon: float, lat: float) -> tuple[float, float]:
    """A point's place on the Web Mercator world as fractions of its width (y southwards)."""
    lat = max(min(lat, MAX_LAT), -MAX_LAT)
    r = math.radians(lat)
    return (lon + 180) / 360, (1 - math.asinh(math.tan(r)) / math.pi) / 2


class DirtyMap:
    """The latest change (a counter value) that reached each tile, per layer family."""

    def __init__(self, floor: int) -> None:
        self.floor = floor
        # per family, (z << 56 | x << 28 | y) -> the latest change that reached that tile
        self._tiles: dict[str, dict[int, int]] = {f: {} for f in FAMILIES}
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
        wx0, wy1 = _world_xy(x0, y0)  # y grows southwards
        wx1, wy0 = _world_xy(x1, y1)
        for name, fam in FAMILIES.items():
            tiles = self._tiles[name]
            margins = _MARGINS[name]
            for z in range(fam.reached_by(kind) + 1):
                n, m = 1 << z, margins[z]
                xs = range(max(0, math.floor(wx0 * n - m)), min(n - 1, math.floor(wx1 * n + m)) + 1)
                ys = range(max(0, math.floor(wy0 * n - m)), min(n - 1, math.floor(wy1 * n + m)) + 1)
                for tx in xs:
                    for ty in ys:
                        key = z << 56 | tx << 28 | ty
                        old = tiles.get(key)
                        if old is None:
                            self.size += 1
                            tiles[key] = value
                        elif old < value:
                            tiles[key] = value
        if self.size > MAX_TILES:
            self.restart(value)

    def version(self, layer: str, z: int, x: int, y: int) -> int:
        """The latest change that reached this tile of the layer, or the floor."""
        fam = FAMILIES[LAYER_FAMILY[layer]]
        if z > fam.keep_zoom:
            shift = z - fam.keep_zoom
            z, x, y = fam.keep_zoom, x >> shift, y >> shift
        return max(self.floor, self._tiles[LAYER_FAMILY[layer]].get(z << 56 | x << 28 | y, 0))
