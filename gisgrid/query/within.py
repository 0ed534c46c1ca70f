"""What lies inside a polygon or a circle: counts by layer and the incidents, in scope.

Every count and every row is limited to the caller's :class:`gisgrid.access.scope.Scope`, so a grid
worker drawing a circle over three grids sees only their own grid's incidents, places and
buildings.

Examples
--------
>>> r = parse_region(point=[126.6, 45.7], radius_m=500)
>>> r.kind, r.radius_m, r.box[0] < 126.6 < r.box[2]
('circle', 500.0, True)
>>> parse_region(point=[126.6, 45.7], radius_m=-1)
Traceback (most recent call last):
...
gisgrid.errors.InvalidInput: radius_m: must be a positive number of metres (-1 given)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import shapely
from shapely.geometry import mapping, shape
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from gisgrid.access.scope import Scope
from gisgrid.assign.locate import check_crs, check_lonlat, degree_box, from_wgs84, to_wgs84
from gisgrid.crs import convert_geometry
from gisgrid.errors import InvalidInput
from gisgrid.numbers import parse_float
from gisgrid.sql import load_sql

MAX_RADIUS_M = 100_000.0
MAX_VERTICES = 20_000
MAX_ITEMS = 10_000
LAYERS = ("incidents", "places", "buildings")


@dataclass(frozen=True)
class Region:
    """A polygon (GeoJSON text, WGS84) or a circle; ``box`` encloses it (lon/lat)."""

    kind: str
    box: tuple[float, float, float, float]
    geojson: str | None = None
    lon: float | None = None
    lat: float | None = None
    radius_m: float | None = None

    def params(self) -> dict[str, Any]:
        xmin, ymin, xmax, ymax = self.box
        return {
            "geojson": self.geojson,
            "lon": self.lon,
            "lat": self.lat,
            "radius_m": self.radius_m,
            "xmin": xmin,
            "ymin": ymin,
            "xmax": xmax,
            "ymax": ymax,
        }


def parse_region(
    geometry: Any = None, point: Any = None, radius_m: Any = None, crs: str = "wgs84"
) -> Region:
    """A :class:`Region` from a GeoJSON (Multi)Polygon, or a point ([lon, lat] or a GeoJSON
    Point) with ``radius_m``; coordinates in ``crs``. Bad input names the field."""
    crs = check_crs(crs)
    if (geometry is None) == (point is None):
        raise InvalidInput("give either geometry, or point and radius_m", field="geometry")
    if geometry is not None:
        if radius_m is not None:
            raise InvalidInput("radius_m goes with point, not with geometry", field="radius_m")
        return _polygon(geometry, crs)
    return _circle(point, radius_m, crs)


def _polygon(geometry: Any, crs: str) -> Region:
    if isinstance(geometry, dict) and geometry.get("type") == "Feature":
        geometry = geometry.get("geometry")
    if not isinstance(geometry, dict):
        raise InvalidInput("must be a GeoJSON Polygon or MultiPolygon object", field="geometry")
    kind = geometry.get("type")
    if kind not in ("Polygon", "MultiPolygon"):
        raise InvalidInput(
            f"type={kind!r}; expected one of ('Polygon', 'MultiPolygon')", field="geometry.type"
        )
    try:
        geom = shape(geometry)
    except Exception as exc:  # shapely raises several types for malformed coordinates
        raise InvalidInput(
            f"malformed {kind} coordinates: {exc}", field="geometry.coordinates"
        ) from None
    if geom.is_empty:
        raise InvalidInput(f"empty {kind}", field="geometry.coordinates")
    coords = shapely.get_coordinates(geom)
    if len(coords) > MAX_VERTICES:
        raise InvalidInput(
            f"{len(coords)} vertices; at most {MAX_VERTICES}", field="geometry.coordinates"
        )
    bad = ~((abs(coords[:, 0]) <= 180) & (abs(coords[:, 1]) <= 90))  # NaN is bad too
    if bad.any():
        x, y = coords[bad.argmax()]
        raise InvalidInput(
            f"coordinate ({x}, {y}) out of range or not a number; lon in [-180, 180], lat in"
            " [-90, 90]",
            field="geometry.coordinates",
        )
    if crs != "wgs84":
        geom = convert_geometry(geom, crs, "wgs84")
    if not geom.is_valid:
        raise InvalidInput(
            f"invalid {kind}: {shapely.is_valid_reason(geom)}", field="geometry.coordinates"
        )
    box = tuple(float(v) for v in geom.bounds)
    return Region(kind="polygon", box=box, geojson=json.dumps(mapping(geom)))  # type: ignore[arg-type]


def _circle(point: Any, radius_m: Any, crs: str) -> Region:
    if isinstance(point, dict):
        if point.get("type") != "Point":
            raise InvalidInput("must be [lon, lat] or a GeoJSON Point", field="point")
        point = point.get("coordinates")
    if not isinstance(point, list | tuple) or len(point) != 2:
        raise InvalidInput("must be [lon, lat] or a GeoJSON Point", field="point")
    lon, lat = check_lonlat(point[0], point[1], "point.lon", "point.lat")
    if radius_m is None:
        raise InvalidInput("is required with point", field="radius_m")
    r = parse_float(radius_m, "radius_m")
    if not r > 0:
        raise InvalidInput(
            f"must be a positive number of metres ({radius_m} given)", field="radius_m"
        )
    if r > MAX_RADIUS_M:
        raise InvalidInput(f"at most {MAX_RADIUS_M:.0f} m ({r} given)", field="radius_m")
    lon, lat = to_wgs84(lon, lat, crs)
    box = degree_box(lon, lat, r)
    return Region(kind="circle", box=box, lon=lon, lat=lat, radius_m=r)


@dataclass
class WithinResult:
    """Counts by layer and incident category, and the newest incidents (all in scope)."""

    counts: dict[str, int] = field(default_factory=dict)
    incident_categories: dict[str, int] = field(default_factory=dict)
    incidents: list[dict[str, Any]] = field(default_factory=list)

    @property
    def truncated(self) -> bool:
        return len(self.incidents) < self.counts.get("incidents", 0)


def within(
    conn: Connection | Session,
    region: Region,
    scope: Scope,
    limit: int = 1000,
    crs: str = "wgs84",
) -> WithinResult:
    """Count incidents, places and buildings in a region and list its incidents, all within
    ``scope``; incident coordinates are returned in ``crs``."""
    crs = check_crs(crs)
    if not 0 <= limit <= MAX_ITEMS:
        raise InvalidInput(f"must be between 0 and {MAX_ITEMS} ({limit} given)", field="limit")
    parts: dict[str, str] = {}
    params: dict[str, Any] = {**region.params(), "limit": limit}
    for alias in ("i", "p", "b"):
        sql, p = scope.rows_sql(alias)
        parts[f"scope_{alias}"] = sql
        params.update(p)
    rows = conn.execute(text(load_sql("within").format(**parts)), params).all()
    out = WithinResult(counts=dict.fromkeys(LAYERS, 0))
    for part, key, n, item in rows:
        if part == "count":
            out.counts[key] = int(n)
        elif part == "category":
            out.incident_categories[key] = int(n)
        else:
            out.incidents.append(_item(item, crs))
    out.incident_categories = dict(sorted(out.incident_categories.items()))
    return out


def _item(item: dict[str, Any], crs: str) -> dict[str, Any]:
    lon, lat = from_wgs84(float(item.pop("lon")), float(item.pop("lat")), crs)
    reported = item.get("reported_at")
    if isinstance(reported, str):  # to_jsonb writes ISO 8601 with the offset
        item["reported_at"] = datetime.fromisoformat(reported).isoformat()
    return {**item, "lon": lon, "lat": lat}
