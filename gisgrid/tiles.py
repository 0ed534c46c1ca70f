"""Tiles: the layer registry, the query-string filters, and rendering with data versions.

Every vector layer is one SQL function in ``gisgrid/sql/tiles.sql`` with the signature
``(z, x, y, query_params json) -> bytea`` (Martin could serve it unchanged). The raster heat
layer is :func:`gisgrid.heat.render_tile`, which takes the same ``query_params``. This module
validates what a caller asks for (:class:`TileFilters`), adds the caller's scope to the
parameters (:func:`query_params`) and renders a tile together with the versions of the tables
it read, in one snapshot (:func:`render`), so a cache keyed on those versions never serves a
tile older than the data.

Examples
--------
>>> f = TileFilters.parse({"status": "reported,closed"}, known_categories={"0101"})
>>> f.statuses
('closed', 'reported')
>>> query_params(f, None)
{'status': ['closed', 'reported']}
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, text

from gisgrid import vocab
from gisgrid.errors import InvalidInput
from gisgrid.scope import Scope

CITY_ZONE = ZoneInfo("Asia/Shanghai")
MAX_ZOOM = 22
EXTENT = 4096
BUFFER = 64
FILTER_PARAMS = ("category", "status", "from", "to")

_AREA_FIELDS = {
    "id": "Number",
    "code": "String",
    "name": "String",
    "level": "String",
    "households": "Number",
    "population": "Number",
    "incidents": "Number: incidents under the filters (sensitive groups only in scope)",
    "open": "Number: of those, still open",
    "overdue": "Number: of those, open and past due_at",
}


@dataclass(frozen=True)
class Layer:
    """One tile layer: what it shows, where it comes from and who may read it."""

    id: str
    title: str
    description: str
    kind: str  # "vector" | "raster"
    # what changes its tiles: tables (a write bumps their version) and "overdue", the latest
    # due time passed by an open incident (time alone turns cases overdue)
    tables: tuple[str, ...]
    minzoom: int = 0
    maxzoom: int = 16
    public: bool = True
    filtered: bool = False  # takes the incident filters
    geometry: str = "polygon"
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def function(self) -> str:
        return f"gisgrid_tile_{self.id}"


def _area(level: str, layer: str, title: str, minzoom: int) -> Layer:
    return Layer(
        id=layer,
        title=title,
        description=(
            f"Current {level} boundaries with households, population and incident counts "
            "(all, open, overdue) under the category, status and time filters."
        ),
        kind="vector",
        tables=("areas", "incidents", "overdue"),
        minzoom=minzoom,
        filtered=True,
        fields=_AREA_FIELDS,
    )


LAYERS: dict[str, Layer] = {
    layer.id: layer
    for layer in (
        _area("district", "districts", "Districts", 0),
        _area("street", "streets", "Streets", 8),
        _area("community", "communities", "Communities", 10),
        _area("grid", "grids", "Grids", 11),
        Layer(
            id="buildings",
            title="Buildings",
            description="Building footprints in the caller's scope.",
            kind="vector",
            tables=("buildings",),
            minzoom=14,
            public=False,
            fields={
                "id": "Number",
                "code": "String",
                "address": "String",
                "floors": "Number",
                "household_count": "Number",
                "use": "String",
                "grid_id": "Number",
            },
        ),
        Layer(
            id="places",
            title="Places",
            description="Shops, hydrants, cameras and hazards in the caller's scope.",
            kind="vector",
            tables=("places",),
            minzoom=13,
            public=False,
            geometry="point",
            fields={
                "id": "Number",
                "code": "String",
                "kind": "String",
                "name": "String",
                "address": "String",
                "grid_id": "Number",
            },
        ),
        Layer(
            id="units",
            title="Responsible units",
            description="Police and fire stations, sanitation and the other responsible units.",
            kind="vector",
            tables=("units",),
            geometry="point",
            fields={
                "id": "Number",
                "code": "String",
                "name": "String",
                "kind": "String",
                "categories": "String: comma-separated category codes",
                "available": "Boolean",
            },
        ),
        Layer(
            id="incidents",
            title="Incidents",
            description=(
                "From zoom 14, for a signed-in caller, the incidents of their scope as points; "
                "below zoom 14 and for anonymous callers, clusters on an 8 x 8 grid of cells "
                "per tile (cluster=true, point_count, open, overdue)."
            ),
            kind="vector",
            tables=("incidents", "overdue"),
            filtered=True,
            geometry="point",
            fields={
                "id": "Number",
                "code": "String",
                "category": "String",
                "category_name": "String",
                "category_name_en": "String",
                "status": "String",
                "priority": "String",
                "reported_at": "String: ISO 8601 UTC",
                "due_at": "String: ISO 8601 UTC",
                "overdue": "Boolean (a point) or Number (a cluster): open and past due_at",
                "grid_id": "Number",
                "grid_code": "String",
                "cluster": "Boolean: a cluster of incidents, not one",
                "point_count": "Number: incidents in the cluster",
                "open": "Number: of a cluster's incidents, those still open",
            },
        ),
        Layer(
            id="hex",
            title="Incident density (hexagons)",
            description=(
                "Incidents counted in flat-topped hexagons of side 1/24 of the tile (about 11 "
                "px on a 256 px tile), on ST_HexagonGrid's lattice in EPSG:3857; cell_m is the "
                "side on the ground."
            ),
            kind="vector",
            tables=("incidents", "overdue"),
            filtered=True,
            fields={
                "count": "Number",
                "open": "Number",
                "overdue": "Number",
                "cell_m": "Number: hexagon side in ground metres",
            },
        ),
        Layer(
            id="heat",
            title="Incident heatmap (kernel density)",
            description=(
                "Gaussian kernel density of incidents as 256 px PNG tiles; the bandwidth "
                "follows the zoom (see gisgrid.heat)."
            ),
            kind="raster",
            tables=("incidents",),
            filtered=True,
        ),
    )
}


def layer_of(layer_id: str) -> Layer:
    try:
        return LAYERS[layer_id]
    except KeyError:
        raise InvalidInput(
            f"{layer_id!r} is not a tile layer; expected one of {sorted(LAYERS)}", field="layer"
        ) from None


def check_tile(z: int, x: int, y: int) -> None:
    """Refuse coordinates outside the tile matrix, naming the bad one."""
    if not 0 <= z <= MAX_ZOOM:
        raise InvalidInput(f"z={z}; expected 0..{MAX_ZOOM}", field="z")
    n = 1 << z
    if not 0 <= x < n:
        raise InvalidInput(f"x={x}; expected 0..{n - 1} at zoom {z}", field="x")
    if not 0 <= y < n:
        raise InvalidInput(f"y={y}; expected 0..{n - 1} at zoom {z}", field="y")


def check_bbox(bbox: Sequence[Any]) -> tuple[float, float, float, float]:
    """A lon/lat box (west, south, east, north) inside Web Mercator's world, as floats;
    InvalidInput naming ``bbox`` otherwise.

    >>> check_bbox((126.5, 45.6, 126.8, 45.9))
    (126.5, 45.6, 126.8, 45.9)
    """
    try:
        w, s, e, n = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"bbox={bbox!r}; expected four numbers (west, south, east, north)", field="bbox"
        ) from None
    box = f"bbox=({w:g}, {s:g}, {e:g}, {n:g})"
    if not all(map(math.isfinite, (w, s, e, n))):
        raise InvalidInput(f"{box} holds a value that is not finite", field="bbox")
    if not (-180 <= w < e <= 180 and -85.05 <= s < n <= 85.05):
        raise InvalidInput(
            f"{box}; expected west < east in [-180, 180] and south < north in "
            "[-85.05, 85.05] (Web Mercator)",
            field="bbox",
        )
    return w, s, e, n


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


def _instant(value: str, name: str) -> datetime:
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{value!r} is not an ISO 8601 date or date-time", field=name) from None
    if len(value) == 10:  # a date: the start of that day in the city
        t = datetime.combine(t.date(), time(), CITY_ZONE)
    return t if t.tzinfo else t.replace(tzinfo=CITY_ZONE)


def _list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


@dataclass(frozen=True)
class TileFilters:
    """The incident filters of a tile request: categories (leaf or group codes), statuses and
    a half-open time range on ``reported_at``."""

    categories: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def parse(cls, params: Mapping[str, str], known_categories: Iterable[str]) -> TileFilters:
        """From a query string; a bad value raises InvalidInput naming the parameter."""
        known = set(known_categories)
        cats = _list(params.get("category", ""))
        for c in cats:
            if c not in known:
                raise InvalidInput(
                    f"{c!r} is not a category or category group code", field="category"
                )
        statuses = _list(params.get("status", ""))
        for s in statuses:
            if s not in vocab.INCIDENT_STATUSES:
                raise InvalidInput(
                    f"{s!r}; expected one of {list(vocab.INCIDENT_STATUSES)}", field="status"
                )
        since = _instant(params["from"], "from") if params.get("from") else None
        until = _instant(params["to"], "to") if params.get("to") else None
        if since and until and until <= since:
            raise InvalidInput(
                f"to={params['to']!r} is not after from={params['from']!r}", field="to"
            )
        return cls(tuple(sorted(set(cats))), tuple(sorted(set(statuses))), since, until)

    def as_params(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.categories:
            out["category"] = list(self.categories)
        if self.statuses:
            out["status"] = list(self.statuses)
        if self.since:
            out["from"] = self.since.isoformat()
        if self.until:
            out["to"] = self.until.isoformat()
        return out

    def query_string(self) -> dict[str, str]:
        """The filters as query-string values (for TileJSON tile URLs)."""
        return {k: ",".join(v) if isinstance(v, list) else v for k, v in self.as_params().items()}


def scope_params(scope: Scope | None) -> dict[str, Any]:
    """The scope keys of query_params: none for an anonymous caller."""
    if scope is None:
        return {}
    if scope.unlimited:
        return {"scope_level": "all"}
    return {"scope_level": scope.level, "scope_area_id": scope.area_id}


def query_params(filters: TileFilters, scope: Scope | None) -> dict[str, Any]:
    return {**filters.as_params(), **scope_params(scope)}


def known_categories(conn: Connection) -> set[str]:
    """Every leaf code and every group code in the store."""
    rows = conn.execute(text("SELECT code, parent_code FROM incident_categories")).all()
    return {r.code for r in rows} | {r.parent_code for r in rows if r.parent_code}


def versions(conn: Connection, tables: Iterable[str]) -> tuple[int, ...]:
    """The data versions of these tables, in the order given."""
    names = list(tables)
    got: dict[str, int] = dict(
        conn.execute(
            text("SELECT layer, version FROM gisgrid_tile_versions() WHERE layer = ANY(:t)"),
            {"t": names},
        ).all()
    )
    return tuple(int(got.get(t, 0)) for t in names)


_ALL_VERSIONS = "(SELECT json_object_agg(layer, version) FROM gisgrid_tile_versions())"


def render(
    conn: Connection, layer: Layer, z: int, x: int, y: int, qp: dict[str, Any]
) -> tuple[bytes, tuple[int, ...]]:
    """The tile (empty bytes for an empty tile) and the versions of ``layer.tables`` it
    shows, read in one snapshot: a vector tile and the versions in one statement (a STABLE
    function sees its calling statement's snapshot), the heat raster in a REPEATABLE READ
    transaction. Below the layer's minzoom: empty."""
    check_tile(z, x, y)
    if conn.in_transaction():
        conn.commit()
    if z < layer.minzoom:
        return b"", versions(conn, layer.tables)
    if layer.kind == "vector":
        row = conn.execute(
            text(f"SELECT {layer.function}(:z, :x, :y, CAST(:qp AS json)), {_ALL_VERSIONS}"),
            {"z": z, "x": x, "y": y, "qp": json.dumps(qp)},
        ).one()
        if conn.in_transaction():
            conn.commit()
        got = row[1] or {}
        return bytes(row[0] or b""), tuple(int(got.get(t, 0)) for t in layer.tables)
    from gisgrid.heat import render_tile  # the one raster layer

    rr = conn.execution_options(isolation_level="REPEATABLE READ")
    with rr.begin():
        seen = versions(rr, layer.tables)
        body = render_tile(rr, z, x, y, qp)
    conn.execution_options(isolation_level="READ COMMITTED")
    return body, seen
