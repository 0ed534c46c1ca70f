"""Edits of a plan's draft grids: split, merge, reshape, rename (moving buildings is
:mod:`gisgrid.planning.moves`).

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

from dataclasses import replace

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry
from shapely.ops import split as shapely_split
from sqlalchemy import Engine, text

from gisgrid.access.auth import Caller
from gisgrid.errors import InvalidInput
from gisgrid.numbers import shown
from gisgrid.planning.drafts import (
    Building,
    Draft,
    Edit,
    buildings_in,
    load_grid,
    new_codes,
    run_edit,
    siblings,
    write,
)
from gisgrid.planning.plans import Conn, bump, check_name
from gisgrid.planning.shapes import (
    EDGE_TOLERANCE_M2,
    LINE_OR_POLYGON,
    MIN_GRID_M2,
    POLYGON,
    Metric,
    check_code,
    check_piece,
    one_polygon,
    parse_geometry,
    pieces_of,
    polygonal,
    shared_length,
)


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
    grid_code = check_code(code, "code")
    cut_geom = parse_geometry(cut, "cut", LINE_OR_POLYGON)

    def work(c: Conn) -> list[str]:
        g = load_grid(c, plan_id, grid_code, "code")
        pieces = _split_pieces(g, cut_geom, buildings_in(c, g.geom), "cut")
        return _write_split(c, plan_id, g, pieces)

    return run_edit(conn, caller, plan_id, expected_version, work)


def _split_pieces(
    g: Draft, cut: BaseGeometry, buildings: list[Building], field: str
) -> list[BaseGeometry]:
    """The pieces ``cut`` makes of grid ``g``, every building whole, biggest first; refused
    (naming ``field``) when the cut fails or leaves a sliver."""
    m = Metric(g.geom)
    pieces = _keep_buildings_whole(g.geom, _cut(g.geom, cut, field), buildings, field)
    for i, p in enumerate(pieces):
        check_piece(m, p, field, f"piece {i + 1} of grid {g.code}")
    return sorted(pieces, key=m.area, reverse=True)


def _write_split(c: Conn, plan_id: int, g: Draft, pieces: list[BaseGeometry]) -> list[str]:
    """The biggest piece keeps the grid's code; the others get new codes."""
    named = new_codes(c, plan_id, g.parent_id, len(pieces) - 1)
    new = [
        Draft(code_, name, g.parent_id, g.replaces_area_id, p)
        for (code_, name), p in zip(named, pieces[1:], strict=True)
    ]
    write(c, plan_id, changed=[replace(g, geom=pieces[0])], new=new)
    return [g.code, *(d.code for d in new)]


AUTOSPLIT_TRIES = 12


def autosplit(
    conn: Conn | Engine, caller: Caller, plan_id: int, expected_version: int, code: object
) -> Edit:
    """Split grid ``code`` in two with about half its households on each side: a straight
    cut across its longer axis (that of its minimum rotated rectangle), between two
    buildings, at the first of the positions nearest the half-way household that leaves no
    sliver and cuts no building. The caller picks the grid (one over the limits, say)."""
    grid_code = check_code(code, "code")

    def work(c: Conn) -> list[str]:
        g = load_grid(c, plan_id, grid_code, "code")
        buildings = buildings_in(c, g.geom)
        for line in _balanced_cuts(g, buildings):
            try:
                pieces = _split_pieces(g, line, buildings, "code")
            except InvalidInput:
                continue
            return _write_split(c, plan_id, g, pieces)
        raise InvalidInput(
            f"found no straight cut across grid {grid_code} that halves its households"
            " without a sliver or a cut building; draw one",
            field="code",
        )

    return run_edit(conn, caller, plan_id, expected_version, work)


def _balanced_cuts(g: Draft, buildings: list[Building]) -> list[BaseGeometry]:
    """Lines (lon/lat) across the grid's longer axis, between consecutive buildings along
    it, the most even split of households first."""
    inside = [b for b in buildings if g.geom.contains(b.geom.point_on_surface())]
    if len([b for b in inside if b.households > 0]) < 2:
        raise InvalidInput(
            f"grid {g.code} has fewer than two buildings with households to share", field="code"
        )
    m = Metric(g.geom)
    gm = m.to_m(g.geom)
    ring = np.asarray(gm.minimum_rotated_rectangle.exterior.coords)
    edges = np.diff(ring[:3], axis=0)
    axis = max(edges, key=lambda e: float(np.hypot(*e)))
    u = axis / np.hypot(*axis)
    origin = np.asarray(gm.centroid.coords[0])
    at = np.array([np.dot(np.asarray(m.to_m(b.geom).centroid.coords[0]) - origin, u)
                   for b in inside])  # fmt: skip
    hh = np.array([b.households for b in inside], dtype=float)
    order = np.argsort(at)
    at, hh = at[order], hh[order]
    before = np.cumsum(hh)[:-1]  # households on the low side of each gap
    gaps = (at[:-1] + at[1:]) / 2
    best = np.argsort(np.abs(before - hh.sum() / 2), kind="stable")[:AUTOSPLIT_TRIES]
    reach = gm.length
    normal = np.array([-u[1], u[0]])
    lines = []
    for k in best:
        p = origin + gaps[k] * u
        line = shapely.LineString([p - reach * normal, p + reach * normal])
        lines.append(m.to_lonlat(line))
    return lines


def _cut(grid: BaseGeometry, cut: BaseGeometry, field: str) -> list[BaseGeometry]:
    if isinstance(cut, shapely.LineString):
        pieces = pieces_of(shapely_split(grid, cut))
        if len(pieces) < 2:
            raise InvalidInput(
                "the line does not cross the grid from edge to edge: draw it past the grid's"
                " boundary on both sides",
                field=field,
            )
        return pieces
    inside = pieces_of(shapely.intersection(grid, cut))
    outside = pieces_of(shapely.difference(grid, cut))
    if not inside:
        raise InvalidInput("the polygon does not overlap the grid", field=field)
    if not outside:
        raise InvalidInput("the polygon covers the whole grid: nothing is left", field=field)
    return [*outside, *inside]


def _keep_buildings_whole(
    grid: BaseGeometry, pieces: list[BaseGeometry], buildings: list[Building], field: str
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
                pieces[i] = polygonal(shapely.union(p, part))
            else:
                pieces[i] = polygonal(shapely.difference(p, b.geom))
    if moved and not all(one_polygon(p) for p in pieces):
        raise InvalidInput(
            f"the cut crosses buildings {moved}; keeping each whole would break a piece in"
            " parts: draw the cut between buildings",
            field=field,
        )
    return pieces


def merge(
    conn: Conn | Engine, caller: Caller, plan_id: int, expected_version: int, codes: object
) -> Edit:
    """Merge two or more grids of one community that touch along a line into one; the
    biggest keeps its code, the others are retired."""
    if not isinstance(codes, list | tuple) or len(codes) < 2:
        raise InvalidInput(f"{shown(codes)}: give a list of two or more codes", field="codes")
    names = [check_code(c, "codes") for c in codes]
    if len(set(names)) != len(names):
        raise InvalidInput(f"{names} names a grid twice", field="codes")

    def work(c: Conn) -> list[str]:
        grids = [load_grid(c, plan_id, n, "codes") for n in names]
        if len({g.parent_id for g in grids}) > 1:
            raise InvalidInput(
                f"grids {names} lie in different communities; merge within one", field="codes"
            )
        merged = polygonal(shapely.union_all([g.geom for g in grids]))
        if not one_polygon(merged):
            apart = _apart(grids)
            raise InvalidInput(
                f"grids {names} do not make one piece: {apart} touch(es) none of the others"
                " along a line",
                field="codes",
            )
        m = Metric(merged)
        keeper = max(grids, key=lambda g: m.area(g.geom))
        retired = [g.code for g in grids if g.code != keeper.code]
        write(c, plan_id, changed=[replace(keeper, geom=merged)], retired=retired)
        return [keeper.code, *retired]

    return run_edit(conn, caller, plan_id, expected_version, work)


def _apart(grids: list[Draft]) -> list[str]:
    """The codes not in the biggest group of grids that touch each other along lines."""
    n = len(grids)
    link = {
        (i, j)
        for i in range(n)
        for j in range(n)
        if i != j and shared_length(grids[i].geom, grids[j].geom) > 0
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
    grid_code = check_code(code, "code")
    new_name = check_name(name)

    def work(c: Conn) -> list[str]:
        g = load_grid(c, plan_id, grid_code, "code")
        with c.begin_nested():
            c.execute(
                text("UPDATE plan_areas SET name = :n WHERE plan_id = :p AND code = :c"),
                {"n": new_name, "p": plan_id, "c": g.code},
            )
            bump(c, plan_id)
        return [g.code]

    return run_edit(conn, caller, plan_id, expected_version, work)


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
    grid_code = check_code(code, "code")
    target = parse_geometry(polygon, "polygon", POLYGON)

    def work(c: Conn) -> list[str]:
        g = load_grid(c, plan_id, grid_code, "code")
        kin = siblings(c, plan_id, g.parent_id)
        domain = shapely.union_all([s.geom for s in kin])
        m = Metric(domain)
        stray = m.area(shapely.difference(target, domain))
        if stray > EDGE_TOLERANCE_M2:
            raise InvalidInput(
                f"the polygon leaves the grid's community by {stray:,.0f} m^2", field="polygon"
            )
        new_g = polygonal(shapely.intersection(target, domain))
        if not one_polygon(new_g):
            raise InvalidInput(
                "the polygon would make the grid more than one piece", field="polygon"
            )
        check_piece(m, new_g, "polygon", f"grid {grid_code}")
        others = {s.code: s for s in kin if s.code != grid_code}
        after: dict[str, BaseGeometry] = {}
        for code_, s in others.items():
            if not shapely.intersects(s.geom, new_g):
                continue
            rest = polygonal(shapely.difference(s.geom, new_g))
            if rest.is_empty or m.area(rest) < MIN_GRID_M2:
                raise InvalidInput(
                    f"the polygon would swallow grid {code_}: merge them instead", field="polygon"
                )
            if not one_polygon(rest):
                raise InvalidInput(f"the polygon would cut grid {code_} in two", field="polygon")
            after[code_] = rest
        for piece in pieces_of(shapely.difference(g.geom, new_g)):
            here = {k: after.get(k, s.geom) for k, s in others.items()}
            best = max(here, key=lambda k: shared_length(piece, here[k]), default=None)
            if best is None or shared_length(piece, here[best]) <= 0:
                raise InvalidInput(
                    f"the grid would give up {m.area(piece):,.0f} m^2 that borders no other grid"
                    " of its community (a gap)",
                    field="polygon",
                )
            grown = polygonal(shapely.union(here[best], piece))
            if not one_polygon(grown):
                raise InvalidInput(
                    f"what grid {grid_code} gives up would leave grid {best} in parts",
                    field="polygon",
                )
            after[best] = grown
        changed = [replace(g, geom=new_g)] + [replace(others[k], geom=v) for k, v in after.items()]
        write(c, plan_id, changed=changed)
        return [d.code for d in changed]

    return run_edit(conn, caller, plan_id, expected_version, work)
