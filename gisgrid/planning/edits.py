"""Edits of a plan's draft grids: split, merge, move buildings, reshape, rename.

Every edit is one front over the same steps: read and check the input (InvalidInput naming
the field: ``cut``, ``codes``, ``code``, ``polygon``, ``to``, ``lasso``, ``building_ids``,
``name``), then the gate of :func:`gisgrid.planning.plans.open_for_edit` (the plan row
locked, the version, a draft, not stale), the geometry, then the writes and a new version.
Nothing is written before every check has passed, so a refused edit changes nothing.

Topology is worked in lon/lat, so a grid's untouched edges keep their very coordinates and
neighbours stay tiled exactly; areas, compactness and the Voronoi of building footprints
are worked in the city's metric CRS (:func:`gisgrid.crs.metric_crs`).

The rules:

- split: a line must cross the grid from edge to edge (two or more pieces), a polygon cuts
  the grid into what lies outside and inside it. A building the cut crosses goes wholly to
  the piece holding most of its footprint (the cut moves around it). Every piece must be at
  least :data:`MIN_GRID_M2` and not a sliver (Polsby-Popper at least
  :data:`MIN_POLSBY_POPPER`). The biggest piece keeps the grid's code; the others get new
  codes.
- merge: two or more grids of one community that make one polygon (touching along a line,
  not at a point); the biggest keeps its code, the others are retired.
- move: buildings (ids, or those whose footprint centre lies in a lasso) of one grid go to a
  grid of the same community touching it along a line; the boundary follows: the region of
  the source grid nearer to the moved footprints than to its other buildings (a Voronoi of
  footprints) goes to the target. Refused when the source would be empty or fall in two.
- reshape: the grid's new polygon, inside its community; its neighbours give up what it
  takes, and each piece it gives up goes to the neighbour sharing the longest edge with it.
- new codes: the community's code and the next 3-digit sequence never used by any version of
  ``areas`` nor ever issued by this plan.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import split as shapely_split
from sqlalchemy import Engine, text

from gisgrid.access.auth import Caller
from gisgrid.crs import metric_crs
from gisgrid.errors import InvalidInput
from gisgrid.numbers import as_id, shown
from gisgrid.planning.plans import (
    PRECISION_DEG,
    Conn,
    PlanSummary,
    bump,
    check_name,
    get_plan,
    open_for_edit,
    transaction,
)

MIN_GRID_M2 = 2_000.0
"""A piece smaller than this is a sliver, not a grid."""
MIN_POLSBY_POPPER = 0.05
"""4 pi A / P^2 below this is a thin strip (a square is 0.785, a 20:1 strip about 0.14)."""
EDGE_TOLERANCE_M2 = 1.0
"""How much of a drawn polygon may stray outside its community (float noise, snapping)."""
VORONOI_STEP_M = 5.0
"""Footprint outlines are sampled every this many metres for the Voronoi of a move."""
MAX_SEQUENCE = 999

LINE_OR_POLYGON = ("LineString", "Polygon")
POLYGON = ("Polygon", "MultiPolygon")  # a MultiPolygon of one part: a grid as served


@dataclass(frozen=True)
class Edit:
    """What an edit returns: the plan after it (its new version) and the codes it changed
    (reshaped, split, new, merged or retired)."""

    plan: PlanSummary
    changed: list[str]


@dataclass(frozen=True)
class Draft:
    """One draft grid of a plan (lon/lat)."""

    code: str
    name: str
    parent_id: int | None
    replaces_area_id: int | None
    geom: BaseGeometry


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


def _code(value: object, field: str) -> str:
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


class _Metric:
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


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
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


def _pieces(geom: BaseGeometry) -> list[BaseGeometry]:
    g = _polygonal(geom)
    return [] if g.is_empty else list(shapely.get_parts(g))


def _shared_length(a: BaseGeometry, b: BaseGeometry) -> float:
    """The length (degrees; for comparing only) of the edge two polygons share."""
    return float(shapely.intersection(a.boundary, b.boundary).length)


# -- the store -----------------------------------------------------------------------------------


def _draft_of(row: Any) -> Draft:
    return Draft(
        str(row.code),
        str(row.name),
        row.parent_id,
        row.replaces_area_id,
        shapely.from_wkb(bytes(row.wkb)),
    )


_DRAFT_COLUMNS = "code, name, parent_id, replaces_area_id, ST_AsBinary(geom) AS wkb"


def _grid(conn: Conn, plan_id: int, code: str, field: str) -> Draft:
    row = conn.execute(
        text(f"SELECT {_DRAFT_COLUMNS} FROM plan_areas WHERE plan_id = :p AND code = :c"),
        {"p": plan_id, "c": code},
    ).one_or_none()
    if row is None:
        raise InvalidInput(f"plan {plan_id} has no grid {shown(code)}", field=field)
    d = _draft_of(row)
    return replace(d, geom=_polygonal(d.geom))


def _siblings(conn: Conn, plan_id: int, parent_id: int | None) -> list[Draft]:
    rows = conn.execute(
        text(
            f"SELECT {_DRAFT_COLUMNS} FROM plan_areas WHERE plan_id = :p"
            " AND parent_id IS NOT DISTINCT FROM :parent ORDER BY code"
        ),
        {"p": plan_id, "parent": parent_id},
    ).all()
    return [replace(d, geom=_polygonal(d.geom)) for d in map(_draft_of, rows)]


@dataclass(frozen=True)
class _Building:
    id: int
    geom: BaseGeometry


def _buildings_in(conn: Conn, geom: BaseGeometry) -> list[_Building]:
    """Buildings whose footprint meets ``geom`` (the GiST index on buildings finds them)."""
    rows = conn.execute(
        text(
            "SELECT id, ST_AsBinary(geom) AS wkb FROM buildings"
            " WHERE ST_Intersects(geom, ST_GeomFromWKB(:g, 4326)) ORDER BY id"
        ),
        {"g": shapely.to_wkb(geom)},
    ).all()
    return [_Building(int(r.id), shapely.from_wkb(bytes(r.wkb))) for r in rows]


def _write(
    conn: Conn,
    plan_id: int,
    changed: Sequence[Draft] = (),
    new: Sequence[Draft] = (),
    retired: Sequence[str] = (),
) -> None:
    for d in [*changed, *new]:
        if not d.geom.is_valid:  # a bug here, not the caller's input: say what went wrong
            raise InvalidInput(
                f"the edit would make grid {d.code} invalid: {shapely.is_valid_reason(d.geom)}",
                field="geom",
            )
    with conn.begin_nested():
        if retired:
            conn.execute(
                text("DELETE FROM plan_areas WHERE plan_id = :p AND code = ANY(:codes)"),
                {"p": plan_id, "codes": list(retired)},
            )
        for d in changed:
            conn.execute(
                text(
                    "UPDATE plan_areas SET geom = ST_Multi(ST_GeomFromWKB(:g, 4326)), name = :n"
                    " WHERE plan_id = :p AND code = :c"
                ),
                {"g": shapely.to_wkb(d.geom), "n": d.name, "p": plan_id, "c": d.code},
            )
        for d in new:
            conn.execute(
                text(
                    "INSERT INTO plan_areas"
                    " (plan_id, code, name, parent_id, replaces_area_id, geom)"
                    " VALUES (:p, :c, :n, :parent, :r, ST_Multi(ST_GeomFromWKB(:g, 4326)))"
                ),
                {
                    "p": plan_id,
                    "c": d.code,
                    "n": d.name,
                    "parent": d.parent_id,
                    "r": d.replaces_area_id,
                    "g": shapely.to_wkb(d.geom),
                },
            )
        bump(conn, plan_id, [d.code for d in new])


def new_codes(conn: Conn, plan_id: int, parent_id: int | None, n: int) -> list[tuple[str, str]]:
    """``n`` new (code, name) pairs under the community ``parent_id``: its code and the next
    3-digit sequences after every code any version of ``areas``, this plan's grids and the
    codes this plan ever issued have used."""
    parent = conn.execute(
        text("SELECT code, name FROM areas WHERE id = :i"), {"i": parent_id}
    ).one_or_none()
    if parent is None:
        raise InvalidInput("the grid has no parent area to number it under", field="code")
    pattern = f"^{parent.code}[0-9]{{3}}$"
    top = conn.execute(
        text(
            "SELECT max(CAST(right(c, 3) AS int)) FROM ("
            " SELECT code AS c FROM areas WHERE code ~ :pat"
            " UNION ALL SELECT code FROM plan_areas WHERE plan_id = :p AND code ~ :pat"
            " UNION ALL SELECT c FROM plans, unnest(issued_codes) c WHERE id = :p AND c ~ :pat"
            ") s"
        ),
        {"pat": pattern, "p": plan_id},
    ).scalar_one()
    start = int(top or 0) + 1
    if start + n - 1 > MAX_SEQUENCE:
        raise InvalidInput(
            f"community {parent.code} has no free grid code left (up to {MAX_SEQUENCE})",
            field="code",
        )
    return [(f"{parent.code}{s:03d}", f"{parent.name}第{s}网格") for s in range(start, start + n)]


# -- checks on pieces ----------------------------------------------------------------------------


def _check_piece(m: _Metric, geom: BaseGeometry, field: str, what: str) -> None:
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


def _one_polygon(geom: BaseGeometry) -> bool:
    return isinstance(geom, shapely.Polygon) and not geom.is_empty


# -- the edits -----------------------------------------------------------------------------------


def _run(
    conn: Conn | Engine,
    caller: Caller,
    plan_id: int,
    expected_version: int,
    work: Callable[[Conn], list[str]],
) -> Edit:
    with transaction(conn) as c:
        open_for_edit(c, caller, plan_id, expected_version)
        changed = work(c)
        return Edit(get_plan(c, caller, plan_id, fresh=True), changed)


def split(
    conn: Conn | Engine,
    caller: Caller,
    plan_id: int,
    expected_version: int,
    code: object,
    cut: object,
) -> Edit:
    """Split grid ``code`` by ``cut`` (a GeoJSON LineString crossing it edge to edge, or a
    Polygon: the grid outside it and inside it)."""
    grid_code = _code(code, "code")
    cut_geom = parse_geometry(cut, "cut", LINE_OR_POLYGON)

    def work(c: Conn) -> list[str]:
        g = _grid(c, plan_id, grid_code, "code")
        m = _Metric(g.geom)
        pieces = _cut(g.geom, cut_geom)
        pieces = _keep_buildings_whole(g.geom, pieces, _buildings_in(c, g.geom))
        for i, p in enumerate(pieces):
            _check_piece(m, p, "cut", f"piece {i + 1} of grid {grid_code}")
        pieces.sort(key=m.area, reverse=True)
        named = new_codes(c, plan_id, g.parent_id, len(pieces) - 1)
        kept = replace(g, geom=pieces[0])
        new = [
            Draft(code_, name, g.parent_id, g.replaces_area_id, p)
            for (code_, name), p in zip(named, pieces[1:], strict=True)
        ]
        _write(c, plan_id, changed=[kept], new=new)
        return [grid_code, *(d.code for d in new)]

    return _run(conn, caller, plan_id, expected_version, work)


def _cut(grid: BaseGeometry, cut: BaseGeometry) -> list[BaseGeometry]:
    if isinstance(cut, shapely.LineString):
        pieces = _pieces(shapely_split(grid, cut))
        if len(pieces) < 2:
            raise InvalidInput(
                "the line does not cross the grid from edge to edge: draw it past the grid's"
                " boundary on both sides",
                field="cut",
            )
        return pieces
    inside = _pieces(shapely.intersection(grid, cut))
    outside = _pieces(shapely.difference(grid, cut))
    if not inside:
        raise InvalidInput("the polygon does not overlap the grid", field="cut")
    if not outside:
        raise InvalidInput("the polygon covers the whole grid: nothing is left", field="cut")
    return [*outside, *inside]


def _keep_buildings_whole(
    grid: BaseGeometry, pieces: list[BaseGeometry], buildings: list[_Building]
) -> list[BaseGeometry]:
    """Move the cut around every building it crosses: the building goes wholly to the piece
    that holds most of its footprint. Refused (naming the buildings) when that leaves a piece
    empty or in parts."""
    moved: list[int] = []
    for b in buildings:
        shares = [shapely.intersection(p, b.geom).area for p in pieces]
        total = b.geom.area or 1.0
        if sum(s > 1e-6 * total for s in shares) < 2:
            continue
        win = int(np.argmax(shares))
        moved.append(b.id)
        part = shapely.intersection(b.geom, grid)
        for i, p in enumerate(pieces):
            if i == win:
                pieces[i] = _polygonal(shapely.union(p, part))
            else:
                pieces[i] = _polygonal(shapely.difference(p, b.geom))
    if moved and not all(_one_polygon(p) for p in pieces):
        raise InvalidInput(
            f"the cut crosses buildings {moved}; keeping each whole would break a piece in"
            " parts: draw the cut between buildings",
            field="cut",
        )
    return pieces


def merge(
    conn: Conn | Engine, caller: Caller, plan_id: int, expected_version: int, codes: object
) -> Edit:
    """Merge two or more grids of one community that touch along a line into one; the
    biggest keeps its code, the others are retired."""
    if not isinstance(codes, list | tuple) or len(codes) < 2:
        raise InvalidInput(f"{shown(codes)}: give a list of two or more codes", field="codes")
    names = [_code(c, "codes") for c in codes]
    if len(set(names)) != len(names):
        raise InvalidInput(f"{names} names a grid twice", field="codes")

    def work(c: Conn) -> list[str]:
        grids = [_grid(c, plan_id, n, "codes") for n in names]
        if len({g.parent_id for g in grids}) > 1:
            raise InvalidInput(
                f"grids {names} lie in different communities; merge within one", field="codes"
            )
        merged = _polygonal(shapely.union_all([g.geom for g in grids]))
        if not _one_polygon(merged):
            apart = _apart(grids)
            raise InvalidInput(
                f"grids {names} do not make one piece: {apart} touch(es) none of the others"
                " along a line",
                field="codes",
            )
        m = _Metric(merged)
        keeper = max(grids, key=lambda g: m.area(g.geom))
        retired = [g.code for g in grids if g.code != keeper.code]
        _write(c, plan_id, changed=[replace(keeper, geom=merged)], retired=retired)
        return [keeper.code, *retired]

    return _run(conn, caller, plan_id, expected_version, work)


def _apart(grids: list[Draft]) -> list[str]:
    """The codes not in the biggest group of grids that touch each other along lines."""
    n = len(grids)
    link = {
        (i, j)
        for i in range(n)
        for j in range(n)
        if i != j and _shared_length(grids[i].geom, grids[j].geom) > 0
    }
    seen = {0}
    todo = [0]
    while todo:
        i = todo.pop()
        for j in range(n):
            if (i, j) in link and j not in seen:
                seen.add(j)
                todo.append(j)
    rest = [g.code for k, g in enumerate(grids) if k not in seen]
    return rest if len(rest) <= n / 2 else [g.code for k, g in enumerate(grids) if k in seen]


def rename(
    conn: Conn | Engine,
    caller: Caller,
    plan_id: int,
    expected_version: int,
    code: object,
    name: object,
) -> Edit:
    """Give grid ``code`` a new name (its code stays)."""
    grid_code = _code(code, "code")
    new_name = check_name(name)

    def work(c: Conn) -> list[str]:
        g = _grid(c, plan_id, grid_code, "code")
        with c.begin_nested():
            c.execute(
                text("UPDATE plan_areas SET name = :n WHERE plan_id = :p AND code = :c"),
                {"n": new_name, "p": plan_id, "c": g.code},
            )
            bump(c, plan_id)
        return [g.code]

    return _run(conn, caller, plan_id, expected_version, work)


def reshape(
    conn: Conn | Engine,
    caller: Caller,
    plan_id: int,
    expected_version: int,
    code: object,
    polygon: object,
) -> Edit:
    """Give grid ``code`` the new outline ``polygon`` (inside its community): the neighbours
    give up what it takes, and receive what it gives up (each piece to the neighbour sharing
    the longest edge with it), so the community stays tiled."""
    grid_code = _code(code, "code")
    target = parse_geometry(polygon, "polygon", POLYGON)

    def work(c: Conn) -> list[str]:
        g = _grid(c, plan_id, grid_code, "code")
        siblings = _siblings(c, plan_id, g.parent_id)
        domain = shapely.union_all([s.geom for s in siblings])
        m = _Metric(domain)
        stray = m.area(shapely.difference(target, domain))
        if stray > EDGE_TOLERANCE_M2:
            raise InvalidInput(
                f"the polygon leaves the grid's community by {stray:,.0f} m^2", field="polygon"
            )
        new_g = _polygonal(shapely.intersection(target, domain))
        if not _one_polygon(new_g):
            raise InvalidInput(
                "the polygon would make the grid more than one piece", field="polygon"
            )
        _check_piece(m, new_g, "polygon", f"grid {grid_code}")
        others = {s.code: s for s in siblings if s.code != grid_code}
        after: dict[str, BaseGeometry] = {}
        for code_, s in others.items():
            if not shapely.intersects(s.geom, new_g):
                continue
            rest = _polygonal(shapely.difference(s.geom, new_g))
            if rest.is_empty or m.area(rest) < MIN_GRID_M2:
                raise InvalidInput(
                    f"the polygon would swallow grid {code_}: merge them instead", field="polygon"
                )
            if not _one_polygon(rest):
                raise InvalidInput(f"the polygon would cut grid {code_} in two", field="polygon")
            after[code_] = rest
        for piece in _pieces(shapely.difference(g.geom, new_g)):
            here = {k: after.get(k, s.geom) for k, s in others.items()}
            best = max(here, key=lambda k: _shared_length(piece, here[k]), default=None)
            if best is None or _shared_length(piece, here[best]) <= 0:
                raise InvalidInput(
                    f"the grid would give up {m.area(piece):,.0f} m^2 that borders no other grid"
                    " of its community (a gap)",
                    field="polygon",
                )
            grown = _polygonal(shapely.union(here[best], piece))
            if not _one_polygon(grown):
                raise InvalidInput(
                    f"what grid {grid_code} gives up would leave grid {best} in parts",
                    field="polygon",
                )
            after[best] = grown
        changed = [replace(g, geom=new_g)] + [replace(others[k], geom=v) for k, v in after.items()]
        _write(c, plan_id, changed=changed)
        return [d.code for d in changed]

    return _run(conn, caller, plan_id, expected_version, work)


def move_buildings(
    conn: Conn | Engine,
    caller: Caller,
    plan_id: int,
    expected_version: int,
    to: object,
    building_ids: object = None,
    lasso: object = None,
) -> Edit:
    """Move buildings (``building_ids``, or those whose footprint centre lies in ``lasso``)
    from their grid to the grid ``to``, which must touch it along a line; the boundary
    follows (the source's region nearer to the moved footprints than to its other buildings
    goes to ``to``)."""
    to_code = _code(to, "to")
    if (building_ids is None) == (lasso is None):
        raise InvalidInput("give building_ids or a lasso (one of them)", field="building_ids")
    ids: list[int] = []
    lasso_geom = None
    if building_ids is not None:
        if not isinstance(building_ids, list | tuple) or not building_ids:
            raise InvalidInput(f"{shown(building_ids)}: give a list of ids", field="building_ids")
        for b in building_ids:
            k = as_id(b)
            if k is None:
                raise InvalidInput(f"{shown(b)} is not a building id", field="building_ids")
            ids.append(k)
    else:
        lasso_geom = parse_geometry(lasso, "lasso", POLYGON)

    def work(c: Conn) -> list[str]:
        target = _grid(c, plan_id, to_code, "to")
        field = "building_ids" if lasso_geom is None else "lasso"
        moving = _moving(c, plan_id, ids, lasso_geom)
        sources = {r.code for r in moving}
        if len(sources) > 1:
            by = {s: sorted(r.id for r in moving if r.code == s) for s in sorted(sources)}
            raise InvalidInput(
                f"the buildings lie in more than one grid ({by}); move from one grid at a time",
                field=field,
            )
        source = _grid(c, plan_id, sources.pop(), field)
        if source.code == target.code:
            raise InvalidInput(f"the buildings already lie in grid {to_code}", field="to")
        if source.parent_id != target.parent_id:
            raise InvalidInput(
                f"grid {to_code} lies in another community than grid {source.code}", field="to"
            )
        if _shared_length(source.geom, target.geom) <= 0:
            raise InvalidInput(
                f"grid {to_code} does not touch grid {source.code} along a line", field="to"
            )
        moved_ids = {r.id for r in moving}
        everyone = [b for b in _buildings_in(c, source.geom) if _centre_in(b.geom, source.geom)]
        staying = [b for b in everyone if b.id not in moved_ids]
        if not staying:
            raise InvalidInput(
                f"grid {source.code} would be left without buildings: merge it instead",
                field=field,
            )
        going = [b for b in everyone if b.id in moved_ids]
        m = _Metric(source.geom)
        region = _nearer_region(m, source.geom, going, staying)
        new_source = _polygonal(shapely.difference(source.geom, region))
        new_target = _polygonal(shapely.union(target.geom, region))
        if not _one_polygon(new_source):
            raise InvalidInput(
                f"grid {source.code} would fall in two pieces: move buildings along its edge"
                f" with grid {to_code}",
                field=field,
            )
        if not _one_polygon(new_target):
            raise InvalidInput(
                f"the buildings' region does not border grid {to_code}: move buildings next to it",
                field="to",
            )
        _check_piece(m, new_source, field, f"grid {source.code}")
        _write(
            c,
            plan_id,
            changed=[replace(source, geom=new_source), replace(target, geom=new_target)],
        )
        return [source.code, target.code]

    return _run(conn, caller, plan_id, expected_version, work)


@dataclass(frozen=True)
class _Moving:
    id: int
    code: str


def _moving(conn: Conn, plan_id: int, ids: list[int], lasso: BaseGeometry | None) -> list[_Moving]:
    """The buildings to move and the draft grid each lies in (by its footprint's centre)."""
    if lasso is not None:
        outside = conn.execute(
            text(
                "SELECT ST_Area(ST_Difference(l, u)::geography) FROM"
                " (SELECT ST_GeomFromWKB(:l, 4326) AS l) a,"
                " (SELECT ST_Union(geom) AS u FROM plan_areas WHERE plan_id = :p) b"
            ),
            {"l": shapely.to_wkb(lasso), "p": plan_id},
        ).scalar_one()
        if float(outside or 0) > EDGE_TOLERANCE_M2:
            raise InvalidInput(
                f"the lasso crosses the edge of the plan's area ({float(outside):,.0f} m^2"
                " outside it)",
                field="lasso",
            )
        where, params = (
            "ST_Within(ST_PointOnSurface(b.geom), ST_GeomFromWKB(:l, 4326))",
            {"l": shapely.to_wkb(lasso)},
        )
        field = "lasso"
    else:
        where, params, field = "b.id = ANY(:ids)", {"ids": ids}, "building_ids"
    rows = conn.execute(
        text(
            "SELECT b.id, pa.code FROM buildings b LEFT JOIN plan_areas pa ON pa.plan_id = :p"
            f" AND ST_Contains(pa.geom, ST_PointOnSurface(b.geom)) WHERE {where} ORDER BY b.id"
        ),
        {**params, "p": plan_id},
    ).all()
    if lasso is None:
        unknown = sorted(set(ids) - {r.id for r in rows})
        if unknown:
            raise InvalidInput(f"no buildings {unknown}", field=field)
    elif not rows:
        raise InvalidInput("the lasso holds no building", field=field)
    outside_plan = sorted(r.id for r in rows if r.code is None)
    if outside_plan:
        raise InvalidInput(f"buildings {outside_plan} lie outside the plan's grids", field=field)
    return [_Moving(int(r.id), str(r.code)) for r in rows]


def _centre_in(footprint: BaseGeometry, grid: BaseGeometry) -> bool:
    return bool(grid.contains(footprint.point_on_surface()))


def _nearer_region(
    m: _Metric, grid: BaseGeometry, going: list[_Building], staying: list[_Building]
) -> BaseGeometry:
    """The part of ``grid`` nearer to the ``going`` footprints than to the ``staying`` ones:
    the Voronoi cells of points sampled along every footprint's outline, those of the going
    buildings joined (in metres), then clipped to the grid in lon/lat."""
    pts: list[np.ndarray] = []
    tags: list[np.ndarray] = []
    for flag, group in ((True, going), (False, staying)):
        for b in group:
            outline = shapely.segmentize(m.to_m(b.geom).boundary, VORONOI_STEP_M)
            xy = shapely.get_coordinates(outline)
            pts.append(xy)
            tags.append(np.full(len(xy), flag))
    xy = np.concatenate(pts)
    tag = np.concatenate(tags)
    xy, first = np.unique(np.round(xy, 3), axis=0, return_index=True)
    tag = tag[first]
    grid_m = m.to_m(grid)
    frame = grid_m.envelope.buffer(grid_m.length)
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=frame, ordered=True)
    )
    region_m = shapely.union_all(cells[tag])
    region = m.to_lonlat(region_m)
    # the moved footprints themselves go whole, whatever the sampling did at their corners
    region = shapely.union_all([region, *(b.geom for b in going)])
    region = shapely.difference(region, shapely.union_all([b.geom for b in staying]))
    return _polygonal(shapely.intersection(grid, region))
