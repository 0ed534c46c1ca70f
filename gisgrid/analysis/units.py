"""Units of analysis with their values: the input of every hot-spot statistic.

A unit is a current grid, community or street (``areas`` with ``valid_to IS NULL``), or a
hexagon of a lattice over the current grids. Its count is the number of incidents under the
filters, counted exactly as the tiles count them (:func:`gisgrid.analysis.heat.area_counts`,
:func:`gisgrid.analysis.heat.hex_bins`: an anonymous caller, ``scope=None``, and the part of
the study area outside a caller's scope count only the non-sensitive groups).

The value is the count, or a rate: incidents per 1,000 residents or per household, smoothed
by global empirical Bayes (:func:`empirical_bayes`) so that a grid of 12 residents with one
incident does not top the map. Rates exist for areas only (the base is the area's
``population`` or ``households``); hexagons have no base.

Examples
--------
>>> import numpy as np
>>> empirical_bayes(np.array([1.0, 10, 0]), np.array([10.0, 1000, 100])).round(4).tolist()
[0.0147, 0.01, 0.0064]
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, text

from gisgrid.access.scope import Scope
from gisgrid.analysis.heat import Bind, _connection, area_counts, hex_bins
from gisgrid.errors import InvalidInput
from gisgrid.sql import load_sql
from gisgrid.tiles.filters import TileFilters
from gisgrid.tiles.raster import merc_x, merc_y

if TYPE_CHECKING:
    import geopandas as gpd

LEVELS = ("grid", "community", "street", "hex")
VALUES = ("count", "per_1000_residents", "per_household")
MAX_HEX_UNITS = 250_000
_BASE = {"per_1000_residents": ("population", 1000.0), "per_household": ("households", 1.0)}
COLUMNS = ("id", "code", "name", "count", "base", "value")


def empirical_bayes(events: NDArray[np.float64], base: NDArray[np.float64]) -> NDArray[np.float64]:
    """Global empirical-Bayes smoothed rates (Marshall 1991, esda's ``Empirical_Bayes``).

    Each raw rate r_i = e_i / b_i is pulled towards the overall rate m = sum(e) / sum(b) by
    w_i = A / (A + m / b_i), where A = sum(b (r - m)^2) / sum(b) - m / mean(b) is the
    variance of the true rates (floored at 0, where esda would go negative and flip the
    weights): a unit with a large base keeps its own rate, one with a small base moves
    towards m, and one with no base (b = 0) gets m.
    """
    e = np.asarray(events, dtype=np.float64)
    b = np.asarray(base, dtype=np.float64)
    if b.sum() <= 0:
        raise InvalidInput(
            "no unit has a base (residents or households) to divide by", field="value"
        )
    m = e.sum() / b.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(b > 0, e / b, m)
    a = max(float((b * (r - m) ** 2).sum() / b.sum() - m / b.mean()), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(b > 0, a / (a + m / b), 0.0)
    if a == 0.0:
        w = np.zeros_like(b)
    return w * r + (1.0 - w) * m


def check_choice(name: str, value: object, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidInput(f"{name}={value!r}; expected one of {allowed}", field=name)
    return str(value)


def check_cell_m(cell_m: object) -> float:
    if not (isinstance(cell_m, int | float) and math.isfinite(cell_m) and cell_m > 0):
        raise InvalidInput(f"cell_m={cell_m!r}; expected metres > 0", field="cell_m")
    return float(cell_m)


def unit_values(
    bind: Bind,
    level: str = "grid",
    filters: TileFilters = TileFilters(),
    scope: Scope | None = None,
    at: datetime | None = None,
    value: str = "count",
    cell_m: float = 250.0,
    within: int | None = None,
) -> gpd.GeoDataFrame:
    """The units of ``level`` ("grid", "community", "street" or "hex" for hexagons of side
    ``cell_m`` metres over the current grids) with id, code, name, count (incidents under the
    filters, as ``scope`` may count them), base (population or households for a rate, else
    the count), value and geometry (WGS84), in code order (hexagons: by i, j). ``within``
    limits them to the units under one area (hexagons: those touching it).

    ``value`` is "count", "per_1000_residents" or "per_household" (empirical-Bayes smoothed,
    areas only). ``at`` (boundaries as at a date) is not supported yet. ``attrs`` holds the
    level, the value and ``boundary_key``, what the weights cache keys on.

    >>> unit_values(None, level="block")
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: level: level='block'; expected one of \
('grid', 'community', 'street', 'hex')
    """
    check_choice("level", level, LEVELS)
    check_choice("value", value, VALUES)
    if at is not None:
        raise InvalidInput(
            "boundaries as at a date are not supported yet: incidents are counted by the "
            "area they were assigned to, and only the current boundaries are analysed",
            field="at",
        )
    if level == "hex":
        cell_m = check_cell_m(cell_m)
        if value != "count":
            raise InvalidInput(
                f"value={value!r} needs a base that hexagons do not have; use value='count' "
                "or an area level",
                field="value",
            )
    if within is not None and (not isinstance(within, int) or isinstance(within, bool)):
        raise InvalidInput(f"within={within!r}; expected an area id", field="within")
    with _connection(bind) as conn:
        if level == "hex":
            frame = _hexagons(conn, cell_m, filters, scope, within)
        else:
            frame = _areas(conn, level, filters, scope, within)
    if value == "count":
        frame["base"] = frame["count"].astype(np.float64)
        frame["value"] = frame["count"].astype(np.float64)
    else:
        column, per = _BASE[value]
        frame["base"] = frame[column].astype(np.float64)
        frame["value"] = per * empirical_bayes(frame["count"].to_numpy(float), frame["base"])
    out = frame[[*COLUMNS, "geometry"]].reset_index(drop=True)
    out.attrs.update(frame.attrs)
    out.attrs.update({"level": level, "value": value})
    return out


_BASE_SQL = text(
    """
SELECT a.id, a.population, a.households, a.valid_from
FROM areas a
WHERE a.level = :level AND a.valid_to IS NULL
ORDER BY a.id
"""
)

_UNDER_SQL = text(
    """
WITH RECURSIVE down(id) AS (
    SELECT id FROM areas WHERE id = :within
    UNION ALL
    SELECT c.id FROM areas c JOIN down d ON c.parent_id = d.id
)
SELECT id FROM down
"""
)


def _under(conn: Connection, within: int) -> set[int]:
    ids = {int(i) for i in conn.execute(_UNDER_SQL, {"within": within}).scalars()}
    if not ids:
        raise InvalidInput(f"within={within}: no such area", field="within")
    return ids


def _extent(conn: Connection, within: int | None) -> tuple[float, float, float, float]:
    """The box of the current grids, or of area ``within``."""
    box = conn.execute(_EXTENT_SQL, {"within": within}).one()
    if box[0] is None:
        if within is not None:
            raise InvalidInput(f"within={within}: no such current area", field="within")
        raise InvalidInput("the store has no current grids", field="level")
    w, s, e, n = (float(v) for v in box)
    return w, s, e, n


def _digest(*arrays: NDArray[Any]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _areas(
    conn: Connection, level: str, filters: TileFilters, scope: Scope | None, within: int | None
) -> gpd.GeoDataFrame:
    import pandas as pd

    if within is None:
        counts = area_counts(conn, level, filters, scope)
    else:
        # only the areas touching the study area's box are read (and counted)
        counts = area_counts(conn, level, filters, scope, bbox=_extent(conn, within))
    rows = conn.execute(_BASE_SQL, {"level": level}).mappings().all()
    base = pd.DataFrame(
        {
            "id": np.array([r["id"] for r in rows], dtype=np.int64),
            "population": np.array([r["population"] or 0 for r in rows], dtype=np.int64),
            "households": np.array([r["households"] or 0 for r in rows], dtype=np.int64),
            "valid_from": [r["valid_from"].timestamp() for r in rows],
        }
    )
    frame = counts.merge(base, on="id", how="inner")
    if within is not None:
        frame = frame[frame["id"].isin(_under(conn, within))]
    frame = frame.sort_values("code", kind="stable").reset_index(drop=True)
    # the same ids with the same valid_from are the same polygons: a new boundary version is
    # a new row, so this is what the weights cache may key on
    ids = frame["id"].to_numpy(np.int64)
    since = frame["valid_from"].to_numpy(np.float64)
    frame.attrs["boundary_key"] = f"{level}:{_digest(ids, since)}"
    return frame


_EXTENT_SQL = text(
    """
SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (
    SELECT ST_Extent(geom) AS e FROM areas
    WHERE valid_to IS NULL AND (CASE WHEN CAST(:within AS bigint) IS NULL THEN level = 'grid'
                                     ELSE id = CAST(:within AS bigint) END)
) s
"""
)


def _hexagons(
    conn: Connection, cell_m: float, filters: TileFilters, scope: Scope | None, within: int | None
) -> gpd.GeoDataFrame:
    import geopandas as gpd
    import shapely

    w, s, e, n = _extent(conn, within)
    # the same lattice as hex_bins for this box: side cell_m at the box's middle latitude
    size = cell_m / math.cos(math.radians((s + n) / 2))
    cells = (merc_x(e) - merc_x(w)) * (merc_y(n) - merc_y(s)) / (2.6 * size**2)
    if cells > MAX_HEX_UNITS:
        raise InvalidInput(
            f"cell_m={cell_m:g} cuts the study area into ~{cells:,.0f} hexagons; at most "
            f"{MAX_HEX_UNITS:,}: use larger hexagons or a smaller area (within=)",
            field="cell_m",
        )
    params = {"size": size, "w": w, "s": s, "e": e, "n": n, "within": within}
    rows = conn.execute(text(load_sql("hex_lattice")), params).all()
    counts = hex_bins(conn, (w, s, e, n), cell_m, filters, scope)
    got = {
        (int(i), int(j)): int(c)
        for i, j, c in zip(counts["i"], counts["j"], counts["count"], strict=True)
    }
    i = np.array([r.i for r in rows], dtype=np.int64)
    j = np.array([r.j for r in rows], dtype=np.int64)
    frame = gpd.GeoDataFrame(
        {
            # a stable id from the lattice cell: i and j fit in 32 bits each
            "id": (i << 32) + (j & 0xFFFFFFFF),
            "code": [f"hex:{a}:{b}" for a, b in zip(i, j, strict=True)],
            "name": [f"hexagon {a},{b}" for a, b in zip(i, j, strict=True)],
            "count": np.array(
                [got.get((a, b), 0) for a, b in zip(i, j, strict=True)], dtype=np.int64
            ),
        },
        geometry=shapely.from_wkb([bytes(r.geom) for r in rows]),
        crs="EPSG:4326",
    )
    frame.attrs["boundary_key"] = f"hex:{size!r}:{_digest(i, j)}"
    frame.attrs["cell_m"] = cell_m
    return frame
