"""Incident density for analysts: kernel density over any box, hexagon bins and per-area
counts, in the heat tiles' units and colours (:mod:`gisgrid.tiles.raster`).

Every function counts exactly the incidents the SQL tile functions count (the filters and
the rule that sensitive groups are counted only inside the caller's scope live in
``gisgrid/sql/tiles.sql``).

Examples
--------
>>> kde(None, (126.6, 45.7, 126.7, 45.8), pixel_m=-1)
Traceback (most recent call last):
...
gisgrid.errors.InvalidInput: pixel_m: pixel_m=-1; expected > 0
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import text

from gisgrid.access.scope import Scope
from gisgrid.bbox import parse_bbox
from gisgrid.errors import InvalidInput
from gisgrid.sql import load_sql
from gisgrid.store.engine import Bind, connection
from gisgrid.tiles.filters import TileFilters, query_params
from gisgrid.tiles.raster import (
    Bounds,
    PixelGrid,
    box_points,
    density,
    kernel_radius,
    merc_x,
    merc_y,
)

if TYPE_CHECKING:
    import geopandas as gpd

MAX_PIXELS = 4096 * 4096
MAX_HEXAGONS = 1_000_000
LEVELS = ("district", "street", "community", "grid")


def incident_points(
    bind: Bind,
    bbox: Bounds,
    filters: TileFilters = TileFilters(),
    scope: Scope | None = None,
) -> NDArray[np.float64]:
    """(n, 2) lon/lat of the incidents in ``bbox`` under the filters that ``scope`` may count
    (``None``: an anonymous caller, who does not count sensitive groups)."""
    bbox = parse_bbox(bbox, mercator=True)
    # raw rows throughout: an analyst's own cell size and bandwidth need each incident's
    # position, not its grid's label point (the tiles' rollup, gisgrid/sql/rollup.sql)
    with connection(bind) as conn:
        return box_points(conn, bbox, query_params(filters, scope, rollup=False))


# ----------------------------------------------------------------------- kernel density


# ----------------------------------------------------------------------- colour


def kde(
    bind: Bind,
    bbox: Bounds,
    bandwidth_m: float = 200.0,
    pixel_m: float = 50.0,
    filters: TileFilters = TileFilters(),
    scope: Scope | None = None,
) -> tuple[NDArray[np.float64], Bounds]:
    """Kernel density of the incidents in ``bbox`` (lon/lat) in incidents per km²: a
    Gaussian of ``bandwidth_m`` ground metres on square pixels of ``pixel_m`` ground metres
    (both at the latitude of the bbox centre), on the Web Mercator pixel lattice. Returns the
    array (rows north to south) and its (west, south, east, north); ``scope=None`` counts as
    an anonymous caller (no sensitive groups). :func:`colorize` colours it as the tiles do.

    Examples
    --------
    >>> kde(None, (126.6, 45.7, 126.7, 45.8), bandwidth_m=0)
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: bandwidth_m: bandwidth_m=0; expected > 0
    """
    bbox = parse_bbox(bbox, mercator=True)
    for name, value in (("bandwidth_m", bandwidth_m), ("pixel_m", pixel_m)):
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise InvalidInput(f"{name}={value!r}; expected > 0", field=name)
    grid = PixelGrid.around(bbox, pixel_m)
    sigma = bandwidth_m / pixel_m
    big = grid.grown(kernel_radius(sigma))
    if big.ncols * big.nrows > MAX_PIXELS:
        raise InvalidInput(
            f"pixel_m={pixel_m} over this bbox and bandwidth needs more than {MAX_PIXELS} "
            "pixels; use larger pixels or a smaller bbox",
            field="pixel_m",
        )
    with connection(bind) as conn:
        d = density(conn, grid, sigma, query_params(filters, scope, rollup=False))
    if d is None:
        d = np.zeros((grid.nrows, grid.ncols))
    return d, grid.bounds


# ----------------------------------------------------------------------- bins and areas

_HEX_SQL = text(load_sql("heat_hexes"))


def hex_bins(
    bind: Bind,
    bbox: Bounds,
    cell_m: float = 250.0,
    filters: TileFilters = TileFilters(),
    scope: Scope | None = None,
) -> gpd.GeoDataFrame:
    """Incidents counted in flat-topped hexagons of side ``cell_m`` ground metres (at the
    bbox centre's latitude; the SQL lattice is in EPSG:3857, where the side is
    ``cell_m / cos(lat)``): WGS84 hexagons with i, j (ST_HexagonGrid's cell), count, open,
    overdue and cell_m (the side at the hexagon's own latitude), most incidents first. Only
    hexagons that hold incidents and touch the bbox; ``scope=None`` counts as an anonymous
    caller (no sensitive groups)."""
    import geopandas as gpd
    import shapely

    w, s, e, n = parse_bbox(bbox, mercator=True)
    if not (isinstance(cell_m, int | float) and math.isfinite(cell_m) and cell_m > 0):
        raise InvalidInput(f"cell_m={cell_m!r}; expected > 0", field="cell_m")
    size = cell_m / math.cos(math.radians((s + n) / 2))
    cells = (merc_x(e) - merc_x(w)) * (merc_y(n) - merc_y(s)) / (2.6 * size**2)
    if cells > MAX_HEXAGONS:
        raise InvalidInput(
            f"cell_m={cell_m} cuts this bbox into ~{cells:.0f} hexagons; at most {MAX_HEXAGONS}",
            field="cell_m",
        )
    params: dict[str, Any] = {"w": w, "s": s, "e": e, "n": n, "size": size}
    params["qp"] = json.dumps(query_params(filters, scope, rollup=False))
    with connection(bind) as conn:
        rows = conn.execute(_HEX_SQL, params).all()
    cols = ["i", "j", "count", "open", "overdue", "cell_m"]
    frame = gpd.GeoDataFrame(
        {c: np.array([r[k] for r in rows], dtype=float if c == "cell_m" else np.int64)
         for k, c in enumerate(cols)},
        geometry=shapely.from_wkb([bytes(r.geom) for r in rows]),
        crs="EPSG:4326",
    )  # fmt: skip
    return frame


def area_counts(
    bind: Bind,
    level: str = "grid",
    filters: TileFilters = TileFilters(),
    scope: Scope | None = None,
    bbox: Bounds = (-180.0, -85.05, 180.0, 85.05),
    simplify_m: float = 0.0,
) -> gpd.GeoDataFrame:
    """The current areas of ``level`` touching ``bbox`` with their incidents under the
    filters (count, open, overdue), counted by the area each incident was assigned to, as
    the area tiles count them; ``simplify_m`` > 0 simplifies the outlines for drawing.

    >>> area_counts(None, level="block")
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: level: level='block'; expected one of \
('district', 'street', 'community', 'grid')
    """
    import geopandas as gpd
    import shapely

    if level not in LEVELS:
        raise InvalidInput(f"level={level!r}; expected one of {LEVELS}", field="level")
    w, s, e, n = parse_bbox(bbox, mercator=True)
    sql = text(load_sql("heat_area_counts").format(col=f"{level}_id"))  # level is in LEVELS
    params: dict[str, Any] = {"level": level, "w": w, "s": s, "e": e, "n": n}
    params["tol"] = simplify_m / 111_320  # metres to degrees, near enough for drawing
    params["qp"] = json.dumps(query_params(filters, scope, rollup=False))
    with connection(bind) as conn:
        rows = conn.execute(sql, params).mappings().all()
    ints = ("id", "count", "open", "overdue")
    return gpd.GeoDataFrame(
        {
            c: np.array([r[c] for r in rows], dtype=np.int64) if c in ints else [r[c] for r in rows]
            for c in ("id", "code", "name", "count", "open", "overdue")
        },
        geometry=shapely.from_wkb([bytes(r["geom"]) for r in rows]),
        crs="EPSG:4326",
    )
