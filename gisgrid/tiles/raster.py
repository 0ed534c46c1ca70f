"""The heat layer's raster tiles: Gaussian kernel density of incidents as PNG, on one fixed
colour scale.

Every function counts exactly the incidents the SQL tile functions count: the filters and the
rule that sensitive groups (03, 04) are counted only inside the caller's scope live in
``gisgrid_tile_match`` and ``gisgrid_tile_countable`` (``gisgrid/sql/tiles.sql``), which the
queries here call.

Kernel
    A Gaussian of :data:`BANDWIDTH_PX` = 8 screen pixels of a 256 px tile, up to zoom
    :data:`KERNEL_MAXZOOM` = 15, so the heatmap looks alike at every zoom. From zoom 15 up the
    bandwidth keeps its zoom-15 ground size: the density is computed on zoom-15 pixels and
    interpolated bilinearly. On the ground it is ``8 * 156543.03 / 2**z * cos(lat)`` metres
    (:func:`bandwidth_m`): at Harbin (45.75° N) 3.4 km at z8, 213 m at z12, 53 m at z14 and
    27 m from z15 up. The kernel stops at :data:`TRUNCATE` = 5 bandwidths and a tile reads the
    incidents of the tile grown by that margin, so a pixel has the same value in whichever
    tile it is drawn: tiles join without seams. Five, not the usual three: the separable
    kernel's support is a square, and at 3 bandwidths (1.1% of the peak) its edge showed as
    straight cuts on the five-decade colour scale; at 5 it is 4e-6 of the peak, below
    DENSITY_MIN for any density up to DENSITY_MAX.

Colour
    Density in incidents per km² on a fixed log scale from :data:`DENSITY_MIN` to
    :data:`DENSITY_MAX`, the same for every tile, zoom and filter: tiles join, and one colour
    means one density everywhere, so the legend (:func:`legend`) holds at every zoom. The
    ramp is matplotlib's perceptual ColorBrewer ``YlOrRd``; opacity grows from 0 at
    DENSITY_MIN to :data:`ALPHA_MAX` halfway up the scale (about 316 per km²), so the layer
    fades out where incidents are rare instead of ending at a hard edge. Five decades, 1 to
    100,000 per km², hold both a year of the whole city (about 500 per km² in town at zoom 12,
    tens of thousands on a hotspot at zoom 15) and one category in one month. The densities
    are of the incidents under the filters, over the filtered period.

Examples
--------
>>> round(bandwidth_m(12, 45.75)), round(bandwidth_m(14, 45.75)), round(bandwidth_m(18, 45.75))
(213, 53, 27)
>>> legend()["unit"]
'incidents per km²'
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, text

from gisgrid.sql import load_sql
from gisgrid.tiles.grid import check_tile

TILE_PX = 256
EARTH_R = 6378137.0
HALF = math.pi * EARTH_R  # half the width of the Web Mercator world, metres
BANDWIDTH_PX = 8.0  # kernel sigma in screen pixels of a 256 px tile
KERNEL_MAXZOOM = 15  # above it the bandwidth stays at its zoom-15 ground size
TRUNCATE = 5.0  # kernel radius and fetch margin, in bandwidths
DENSITY_MIN = 1.0  # incidents per km²: transparent below
DENSITY_MAX = 100_000.0  # incidents per km²: the top colour from here up
COLORMAP = "YlOrRd"
ALPHA_MAX = 0.8
ALPHA_RAMP = 0.5  # the fraction of the log scale over which opacity rises to ALPHA_MAX
Bounds = tuple[float, float, float, float]


def merc_x(lon: Any) -> Any:
    return EARTH_R * np.radians(lon)


def merc_y(lat: Any) -> Any:
    return EARTH_R * np.log(np.tan(np.pi / 4 + np.radians(lat) / 2))


def _lon(x: Any) -> Any:
    return np.degrees(np.asarray(x) / EARTH_R)


def _lat(y: Any) -> Any:
    return np.degrees(2 * np.arctan(np.exp(np.asarray(y) / EARTH_R)) - np.pi / 2)


def tile_res(z: int) -> float:
    """Web Mercator metres per pixel of a 256 px tile at zoom ``z``."""
    return 2 * HALF / (TILE_PX * (1 << z))


def bandwidth_px(z: int) -> float:
    """The kernel's sigma in screen pixels at zoom ``z``.

    >>> bandwidth_px(12), bandwidth_px(16)
    (8.0, 16.0)
    """
    return BANDWIDTH_PX * 2.0 ** max(0, z - KERNEL_MAXZOOM)


def bandwidth_m(z: int, lat: float) -> float:
    """The kernel's sigma in ground metres at zoom ``z`` and latitude ``lat``."""
    return bandwidth_px(z) * tile_res(z) * math.cos(math.radians(lat))


@dataclass(frozen=True)
class PixelGrid:
    """A block of the global Web Mercator pixel lattice of resolution ``res`` (metres per
    pixel): columns ``col0 ..`` counted east from 180° W, rows ``row0 ..`` south from the
    top of the world. Tiles are blocks of it, so neighbouring blocks share pixel edges.

    >>> g = PixelGrid.for_tile(1, 1, 0)
    >>> g.col0, g.row0, g.ncols, [round(v, 6) for v in g.bounds]
    (256, 0, 256, [0.0, 0.0, 180.0, 85.051129])
    """

    res: float
    col0: int
    row0: int
    ncols: int
    nrows: int

    @classmethod
    def for_tile(cls, z: int, x: int, y: int) -> PixelGrid:
        return cls(tile_res(z), x * TILE_PX, y * TILE_PX, TILE_PX, TILE_PX)

    @classmethod
    def around(cls, bbox: Bounds, pixel_m: float) -> PixelGrid:
        """The pixels covering ``bbox`` (lon/lat), ``pixel_m`` ground metres a side at the
        latitude of its centre."""
        w, s, e, n = bbox
        res = pixel_m / math.cos(math.radians((s + n) / 2))
        c0 = math.floor((merc_x(w) + HALF) / res)
        c1 = math.ceil((merc_x(e) + HALF) / res)
        r0 = math.floor((HALF - merc_y(n)) / res)
        r1 = math.ceil((HALF - merc_y(s)) / res)
        return cls(res, c0, r0, max(c1 - c0, 1), max(r1 - r0, 1))

    def grown(self, pad: int) -> PixelGrid:
        return PixelGrid(
            self.res, self.col0 - pad, self.row0 - pad, self.ncols + 2 * pad, self.nrows + 2 * pad
        )

    @property
    def merc_bounds(self) -> Bounds:
        """(xmin, ymin, xmax, ymax) in EPSG:3857."""
        return (
            self.col0 * self.res - HALF,
            HALF - (self.row0 + self.nrows) * self.res,
            (self.col0 + self.ncols) * self.res - HALF,
            HALF - self.row0 * self.res,
        )

    @property
    def bounds(self) -> Bounds:
        """(west, south, east, north) in degrees."""
        x0, y0, x1, y1 = self.merc_bounds
        return float(_lon(x0)), float(_lat(y0)), float(_lon(x1)), float(_lat(y1))

    def pixel_km2(self) -> NDArray[np.float64]:
        """Ground area of a pixel in each row (Mercator stretches both sides by 1/cos)."""
        y = HALF - (self.row0 + np.arange(self.nrows) + 0.5) * self.res
        side_m = self.res * np.cos(np.radians(_lat(y)))
        return np.asarray(side_m**2 / 1e6, dtype=np.float64)


_POINTS_SQL = text(load_sql("heat_points"))
_ROLLUP_POINTS_SQL = text(load_sql("heat_rollup_points"))
_FROM_ROLLUP_SQL = text(
    "SELECT CAST(:z AS integer) < gisgrid_rollup_raw_minzoom()"
    " AND gisgrid_rollup_answers(gisgrid_tile_parse(CAST(:qp AS json)))"
)


def box_points(conn: Connection, bbox: Bounds, qp: dict[str, Any]) -> NDArray[np.float64]:
    """(n, 2) lon/lat of the incidents in ``bbox`` that the SQL tile functions count."""
    w, s, e, n = bbox
    eps = 1e-9  # the box is widened by a hair; callers cut exactly in pixel space
    raw = conn.execute(
        _POINTS_SQL,
        {"qp": json.dumps(qp), "w": w - eps, "s": s - eps, "e": e + eps, "n": n + eps},
    ).scalar()
    if not raw:
        return np.empty((0, 2))
    return np.frombuffer(bytes(raw), dtype=">f8").astype(np.float64).reshape(-1, 2)


def weighted_points(
    conn: Connection, bbox: Bounds, qp: dict[str, Any], z: int
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    """(n, 2) lon/lat and their weights (``None``: one each). Below zoom 13, where the rollup
    answers the filters (the tile functions' rule, ``gisgrid_rollup_answers``), each grid's
    incidents at its label point, weighted by their number; else :func:`box_points`."""
    qp_json = json.dumps(qp)
    if not conn.execute(_FROM_ROLLUP_SQL, {"z": z, "qp": qp_json}).scalar():
        return box_points(conn, bbox, qp), None
    w, s, e, n = bbox
    raw = conn.execute(_ROLLUP_POINTS_SQL, {"qp": qp_json, "w": w, "s": s, "e": e, "n": n}).scalar()
    if not raw:
        return np.empty((0, 2)), np.empty(0)
    triples = np.frombuffer(bytes(raw), dtype=">f8").astype(np.float64).reshape(-1, 3)
    return triples[:, :2], triples[:, 2]


def kernel_radius(sigma_px: float) -> int:
    return int(TRUNCATE * sigma_px + 0.5)  # scipy.ndimage's own rule for the kernel radius


def density(
    conn: Connection, grid: PixelGrid, sigma_px: float, qp: dict[str, Any]
) -> NDArray[np.float64] | None:
    """Gaussian kernel density on ``grid`` in incidents per km², rows north to south, or
    ``None`` when no incident lies within the kernel's reach of the grid.

    The incidents of the grid grown by the kernel radius are counted per pixel and smoothed
    with a Gaussian of ``sigma_px`` pixels cut at the same radius, so every pixel sees all
    the incidents that reach it and none other: any block of the lattice gives the same
    values as the blocks it is made of.
    """
    from scipy.ndimage import gaussian_filter

    pad = kernel_radius(sigma_px)
    big = grid.grown(pad)
    z = round(math.log2(tile_res(0) / grid.res))
    lonlat, weights = weighted_points(conn, big.bounds, qp, z)
    if not len(lonlat):
        return None
    col = np.floor((merc_x(lonlat[:, 0]) + HALF) / big.res).astype(np.int64) - big.col0
    row = np.floor((HALF - merc_y(lonlat[:, 1])) / big.res).astype(np.int64) - big.row0
    inside = (col >= 0) & (col < big.ncols) & (row >= 0) & (row < big.nrows)
    if not inside.any():
        return None
    # np.bincount on the flat pixel index: a 2-d histogram without histogram2d's searchsorted
    counts = np.bincount(
        row[inside] * big.ncols + col[inside],
        weights=None if weights is None else weights[inside],
        minlength=big.ncols * big.nrows,
    )
    smooth = gaussian_filter(
        counts.reshape(big.nrows, big.ncols).astype(np.float64),
        sigma_px,
        mode="constant",
        truncate=TRUNCATE,
    )
    inner = smooth[pad : pad + grid.nrows, pad : pad + grid.ncols]
    return np.asarray(inner / grid.pixel_km2()[:, None], dtype=np.float64)


def tile_density(conn: Connection, z: int, x: int, y: int, qp: dict[str, Any]) -> Any:
    """The 256 x 256 density of tile z/x/y in incidents per km² (``None``: no incidents in
    reach). Above :data:`KERNEL_MAXZOOM`, bilinear from the zoom-15 pixel lattice."""
    if z <= KERNEL_MAXZOOM:
        return density(conn, PixelGrid.for_tile(z, x, y), BANDWIDTH_PX, qp)
    from scipy.ndimage import map_coordinates

    f = 1 << (z - KERNEL_MAXZOOM)
    # fine pixel centres in coarse pixel units, where coarse pixel k has its centre at k
    fine = (np.arange(TILE_PX) + 0.5) / f - 0.5
    cols, rows = x * TILE_PX / f + fine, y * TILE_PX / f + fine
    c0, r0 = math.floor(cols[0]), math.floor(rows[0])
    n_c, n_r = math.floor(cols[-1]) + 2 - c0, math.floor(rows[-1]) + 2 - r0
    coarse = density(conn, PixelGrid(tile_res(KERNEL_MAXZOOM), c0, r0, n_c, n_r), BANDWIDTH_PX, qp)
    if coarse is None:
        return None
    rr, cc = np.meshgrid(rows - r0, cols - c0, indexing="ij")
    return map_coordinates(coarse, [rr, cc], order=1, mode="nearest")


@cache
def _lut() -> NDArray[np.uint8]:
    """256 RGBA entries: 0 is transparent, 1..255 run up the log scale."""
    import matplotlib

    t = np.linspace(0, 1, 255)
    rgba = matplotlib.colormaps[COLORMAP](t)
    lut = np.zeros((256, 4), dtype=np.uint8)
    lut[1:, :3] = np.round(rgba[:, :3] * 255)
    lut[1:, 3] = np.round(255 * ALPHA_MAX * np.clip(t / ALPHA_RAMP, 0, 1))
    return lut


def levels(values: Any) -> NDArray[np.uint8]:
    """Index into the colour table of each density (incidents per km²): 0 below
    DENSITY_MIN, 1..255 on the log scale up to DENSITY_MAX.

    >>> levels([0.5, DENSITY_MIN, DENSITY_MAX, 1e9]).tolist()
    [0, 1, 255, 255]
    """
    d = np.asarray(values, dtype=np.float64)
    lo, hi = math.log10(DENSITY_MIN), math.log10(DENSITY_MAX)
    t = (np.log10(np.maximum(d, DENSITY_MIN)) - lo) / (hi - lo)
    idx = 1 + np.round(np.clip(t, 0, 1) * 254)
    return np.where(d >= DENSITY_MIN, idx, 0).astype(np.uint8)


def colorize(values: Any) -> NDArray[np.uint8]:
    """RGBA (..., 4) uint8 for densities in incidents per km²."""
    return _lut()[levels(values)]


def encode_png(rgba: NDArray[np.uint8]) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    # level 1: a fifth of the default's time for a tile a few per cent larger
    Image.fromarray(rgba).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _hex(rgb: Any) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(v) for v in rgb[:3]))


def legend(stops: int = 6) -> dict[str, Any]:
    """The colour scale for a legend: ``stops`` densities evenly spaced on the log scale,
    each with its colour and opacity, and the kernel rule.

    >>> lg = legend()
    >>> [s["value"] for s in lg["stops"]]
    [1.0, 10.0, 100.0, 1000.0, 10000.0, 100000.0]
    >>> lg["stops"][-1]["color"], lg["stops"][0]["opacity"]
    ('#800026', 0.0)
    """
    lut = _lut()
    values = np.logspace(math.log10(DENSITY_MIN), math.log10(DENSITY_MAX), stops)
    return {
        "title": "Incident density",
        "unit": "incidents per km²",
        "scale": "log10",
        "colormap": COLORMAP,
        "min": DENSITY_MIN,
        "max": DENSITY_MAX,
        "stops": [
            {
                "value": float(round(v, 6)),
                "color": _hex(lut[lv]),
                "opacity": round(int(lut[lv][3]) / 255, 3),
            }
            for v, lv in zip(values, levels(values), strict=True)
        ],
        "bandwidth": {
            "px": BANDWIDTH_PX,
            "maxzoom": KERNEL_MAXZOOM,
            "truncate": TRUNCATE,
            "rule": (
                f"Gaussian kernel, sigma {BANDWIDTH_PX:g} px of a 256 px tile up to zoom "
                f"{KERNEL_MAXZOOM}, then fixed on the ground: "
                f"{BANDWIDTH_PX:g} * 156543.03 / 2^min(z, {KERNEL_MAXZOOM}) * cos(lat) metres"
            ),
        },
    }


def render_tile(conn: Connection, z: int, x: int, y: int, qp: dict[str, Any]) -> bytes:
    """The heat layer's 256 x 256 RGBA PNG for tile z/x/y, or ``b""`` when no incident
    lies within the kernel's reach (or every pixel is below DENSITY_MIN).

    ``qp`` is the tile functions' query_params (category, status, from, to, scope_level,
    scope_area_id). Runs in the caller's transaction on ``conn``: it neither begins nor
    commits.
    """
    check_tile(z, x, y)
    d = tile_density(conn, z, x, y, qp)
    if d is None:
        return b""
    rgba = colorize(d)
    if not rgba[..., 3].any():
        return b""
    return encode_png(rgba)
