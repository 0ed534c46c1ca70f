"""Geometry of plan edits: reading a drawn GeoJSON geometry, lon/lat <-> metres, cleaning an
overlay's result onto the drafts' precision grid, and the rules a new grid's shape must meet.

Topology is worked in lon/lat, so a grid's untouched edges keep their very coordinates;
areas, compactness and distances in the city's metric CRS (:func:`gisgrid.crs.metric_crs`).

Examples
--------
>>> parse_geometry({"type": "Point", "coordinates": [126.6, 45.7]}, "cut", LINE_OR_POLYGON)
Traceback (most recent call last):
...
gisgrid.errors.InvalidInput: cut: a Point given; expected one of ['LineString', 'Polygon']
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from functools import cache

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from gisgrid.crs import metric_crs
from gisgrid.errors import InvalidInput
from gisgrid.numbers import shown
from gisgrid.planning.plans import PRECISION_DEG

MIN_GRID_M2 = 2_000.0
"""A piece smaller than this is a sliver, not a grid."""
MIN_POLSBY_POPPER = 0.05
"""4 pi A / P^2 below this is a thin strip (a square is 0.785, a 20:1 strip about 0.14)."""
EDGE_TOLERANCE_M2 = 1.0
"""How much of a drawn polygon may stray outside its community (float noise, snapping)."""

LINE_OR_POLYGON = ("LineString", "Polygon")
POLYGON = ("Polygon", "MultiPolygon")  # a MultiPolygon of one part: a grid as served


# -- input ---------------------------------------------------------------------------------------


def parse_geometry(value: object, field: str, kinds: Sequence[str]) -> BaseGeometry:
    """A GeoJSON geometry (a mapping or its JSON text) of one of ``kinds``, lon/lat in range,
    finite, not empty, and for a polygon valid (the reason otherwise).

    Examples
    --------
    >>> bow = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    >>> parse_geometry(bow, "polygon", POLYGON)
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: polygon: is not a valid Polygon: Self-intersection[0.5 0.5]
    """
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise InvalidInput(f"is not GeoJSON: {exc}", field=field) from None
    if not isinstance(value, dict) or "type" not in value:
        raise InvalidInput(f"{shown(value)} is not a GeoJSON geometry", field=field)
    kind = value.get("type")
    if kind not in kinds:
        raise InvalidInput(
            f"a {shown(kind)[1:-1]} given; expected one of {list(kinds)}", field=field
        )
    try:
        geom = shape(value)
    except Exception as exc:  # shapely's errors for bad coordinates are of several kinds
        raise InvalidInput(f"is not a valid {kind}: {exc}", field=field) from None
    if geom.is_empty:
        raise InvalidInput(f"is an empty {kind}", field=field)
    xy = shapely.get_coordinates(geom)
    if not np.isfinite(xy).all():
        raise InvalidInput("has a coordinate that is not a finite number", field=field)
    if (np.abs(xy[:, 0]) > 180).any() or (np.abs(xy[:, 1]) > 90).any():
        raise InvalidInput(
            "has a coordinate out of range: lon must be in [-180, 180] and lat in [-90, 90]",
            field=field,
        )
    if not geom.is_valid:
        raise InvalidInput(f"is not a valid {kind}: {shapely.is_valid_reason(geom)}", field=field)
    if isinstance(geom, shapely.MultiPolygon):
        if len(geom.geoms) != 1:
            raise InvalidInput(
                f"is a MultiPolygon of {len(geom.geoms)} parts; draw one polygon", field=field
            )
        geom = geom.geoms[0]
    return geom


def check_code(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{shown(value)} is not a grid code", field=field)
    return value.strip()


# -- geometry helpers ----------------------------------------------------------------------------


@cache
def _transformers(epsg: int) -> tuple[Transformer, Transformer]:
    # made once per zone: building a pyproj Transformer costs milliseconds, an edit's budget
    return (
        Transformer.from_crs(4326, epsg, always_xy=True),
        Transformer.from_crs(epsg, 4326, always_xy=True),
    )


class Metric:
    """Lon/lat <-> the metric CRS around a place, for areas, lengths and the Voronoi."""

    def __init__(self, geom: BaseGeometry) -> None:
        c = geom.centroid
        self._fwd, self._back = _transformers(int(metric_crs(c.x, c.y).to_epsg() or 0))

    @staticmethod
    def _apply(tr: Transformer, geom: BaseGeometry) -> BaseGeometry:
        def f(xy: np.ndarray) -> np.ndarray:
            x, y = tr.transform(xy[:, 0], xy[:, 1])
            return np.column_stack([x, y])

        return shapely.transform(geom, f)

    def to_m(self, geom: BaseGeometry) -> BaseGeometry:
        return self._apply(self._fwd, geom)

    def to_lonlat(self, geom: BaseGeometry) -> BaseGeometry:
        return self._apply(self._back, geom)

    def area(self, geom: BaseGeometry) -> float:
        return float(self.to_m(geom).area)

    def polsby_popper(self, geom: BaseGeometry) -> float:
        g = self.to_m(geom)
        return float(4 * math.pi * g.area / g.length**2) if g.length else 0.0


def polygonal(geom: BaseGeometry) -> BaseGeometry:
    """The polygons of ``geom`` (a collection's lines and points dropped), without the
    crumbs (< 1e-13 square degrees, about 1 mm^2) that float noise leaves, snapped to the
    drafts' grid (:data:`gisgrid.planning.plans.PRECISION_DEG`)."""
    geom = shapely.set_precision(geom, PRECISION_DEG)
    parts = [p for p in shapely.get_parts(geom) if isinstance(p, shapely.Polygon)]
    parts += [
        q
        for p in shapely.get_parts(geom)
        if isinstance(p, shapely.MultiPolygon | shapely.GeometryCollection)
        for q in shapely.get_parts(p)
        if isinstance(q, shapely.Polygon)
    ]
    keep = []
    for p in parts:
        if p.area < 1e-13:
            continue
        holes = [h for h in p.interiors if shapely.Polygon(h).area >= 1e-13]
        keep.append(shapely.Polygon(p.exterior, holes))
    if not keep:
        return shapely.Polygon()
    return keep[0] if len(keep) == 1 else shapely.MultiPolygon(keep)


def pieces_of(geom: BaseGeometry) -> list[BaseGeometry]:
    g = polygonal(geom)
    return [] if g.is_empty else list(shapely.get_parts(g))


def shared_length(a: BaseGeometry, b: BaseGeometry) -> float:
    """The length (degrees; for comparing only) of the edge two polygons share."""
    return float(shapely.intersection(a.boundary, b.boundary).length)


# -- checks on pieces ----------------------------------------------------------------------------


def check_piece(m: Metric, geom: BaseGeometry, field: str, what: str) -> None:
    area = m.area(geom)
    if area < MIN_GRID_M2:
        raise InvalidInput(
            f"{what} would be a sliver of {area:,.0f} m^2 (at least {MIN_GRID_M2:,.0f} m^2)",
            field=field,
        )
    pp = m.polsby_popper(geom)
    if pp < MIN_POLSBY_POPPER:
        raise InvalidInput(
            f"{what} would be a thin strip (Polsby-Popper {pp:.3f}, at least {MIN_POLSBY_POPPER})",
            field=field,
        )


def one_polygon(geom: BaseGeometry) -> bool:
    return isinstance(geom, shapely.Polygon) and not geom.is_empty
