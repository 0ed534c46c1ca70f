"""Edits of a plan's draft grids: split, merge, move buildings, reshape, rename; each keeps
the draft tiled, and each refusal names its field and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import shapely
from shapely.geometry import mapping
from sqlalchemy import Connection, Engine, text

from gisgrid.errors import InvalidInput
from gisgrid.planning import edits, plans
from gisgrid.planning.plans import PlanSummary
from tests.planning.support import (
    COMMUNITY,
    M2_PER_DEG2,
    assert_tiles,
    buildings_of,
    codes,
    draft,
    neighbours,
    planner,
    refused,
    snapshot,
    vertical,
)

DB = "edits_scratch"
FIRST = f"{COMMUNITY}001"
OTHER_COMMUNITY_GRID = "230108001002001"


@pytest.fixture()
def conn(store: Engine) -> Iterator[Connection]:
    with store.connect() as c:
        tx = c.begin()
        try:
            yield c
        finally:
            tx.rollback()


@pytest.fixture()
def plan(conn: Connection) -> PlanSummary:
    """A plan of the tiny city's one street (its 23 grids in 4 communities)."""
    return plans.create_plan(conn, planner(conn), "230108001", "edits")


# -- split ---------------------------------------------------------------------------------------


def test_split_by_a_line_gives_two_grids_and_a_new_code(
    conn: Connection, plan: PlanSummary
) -> None:
    g = draft(conn, plan.id, FIRST)
    r = edits.split(conn, planner(conn), plan.id, plan.version, FIRST, vertical(g, 0.5))
    assert r.plan.version == plan.version + 1 and r.plan.status == "draft"
    # the tiny city's first community has grids 001..007: the new one is 008
    assert r.changed == [FIRST, f"{COMMUNITY}008"]
    a, b = draft(conn, plan.id, FIRST), draft(conn, plan.id, f"{COMMUNITY}008")
    assert a.area >= b.area and abs(a.area + b.area - g.area) * M2_PER_DEG2 < 1.0
    src = conn.execute(
        text(
            "SELECT replaces_area_id, parent_id, name FROM plan_areas WHERE plan_id = :p"
            " AND code = ANY(:c) ORDER BY code"
        ),
        {"p": plan.id, "c": r.changed},
    ).all()
    assert src[0].replaces_area_id == src[1].replaces_area_id is not None
    assert src[0].parent_id == src[1].parent_id
    assert src[1].name.endswith("第8网格")
    assert_tiles(conn, plan.id)


def test_split_by_a_polygon_gives_outside_and_inside(conn: Connection, plan: PlanSummary) -> None:
    g = draft(conn, plan.id, FIRST)
    c = g.centroid
    minx, miny, maxx, maxy = g.bounds
    box = shapely.box(c.x - (maxx - minx) / 8, c.y - (maxy - miny) / 8, c.x, c.y)
    assert g.contains(box)
    r = edits.split(conn, planner(conn), plan.id, plan.version, FIRST, mapping(box))
    assert len(r.changed) == 2
    inner = draft(conn, plan.id, r.changed[1])
    assert abs(inner.area - box.area) * M2_PER_DEG2 < 1.0
    assert_tiles(conn, plan.id)


def test_a_cut_through_a_building_goes_around_it(conn: Connection, plan: PlanSummary) -> None:
    g = draft(conn, plan.id, FIRST)
    cx = g.centroid.x
    rows = conn.execute(
        text(
            "SELECT b.id, ST_X(ST_Centroid(b.geom)) AS x FROM buildings b JOIN plan_areas pa"
            " ON pa.plan_id = :p AND pa.code = :c AND ST_Contains(pa.geom, b.geom)"
        ),
        {"p": plan.id, "c": FIRST},
    ).all()
    b = min(rows, key=lambda r: abs(r.x - cx))
    r = edits.split(conn, planner(conn), plan.id, plan.version, FIRST, vertical(g, x=b.x))
    holders = conn.execute(
        text(
            "SELECT pa.code, ST_Area(ST_Intersection(pa.geom, bd.geom)) / ST_Area(bd.geom) AS s"
            " FROM plan_areas pa, buildings bd WHERE pa.plan_id = :p AND bd.id = :b"
            " AND ST_Intersects(pa.geom, bd.geom)"
        ),
        {"p": plan.id, "b": b.id},
    ).all()
    # all of it but what snapping to the drafts' 1e-9 degree grid moves (a hundredth of a m^2)
    assert len([h for h in holders if h.s > 1e-4]) == 1, holders
    assert abs(max(h.s for h in holders) - 1.0) < 1e-4
    assert len(r.changed) == 2
    assert_tiles(conn, plan.id)


@pytest.mark.parametrize(
    ("cut", "why"),
    [
        ("half", "does not cross the grid from edge to edge"),
        ("away", "does not cross the grid from edge to edge"),
        ("edge", "sliver"),
        ("point", "a Point given"),
        ("bow", "Self-intersection"),
        ("notjson", "is not GeoJSON"),
        ("lat", "out of range"),
        ("cover", "covers the whole grid"),
    ],
)
def test_split_refusals(conn: Connection, plan: PlanSummary, cut: str, why: str) -> None:
    g = draft(conn, plan.id, FIRST)
    minx, miny, maxx, maxy = g.bounds
    c = g.centroid
    drawn: Any = {
        "half": mapping(shapely.LineString([(c.x, miny - 0.01), (c.x, c.y)])),
        "away": mapping(shapely.LineString([(maxx + 1, miny), (maxx + 1, maxy)])),
        "edge": vertical(g, x=minx + (maxx - minx) * 0.0005),
        "point": {"type": "Point", "coordinates": [c.x, c.y]},
        "bow": {
            "type": "Polygon",
            "coordinates": [[[minx, miny], [maxx, maxy], [maxx, miny], [minx, maxy], [minx, miny]]],
        },
        "notjson": "{not json",
        "lat": {"type": "LineString", "coordinates": [[c.x, -91], [c.x, 91]]},
        "cover": mapping(g.envelope.buffer(0.01)),
    }[cut]
    assert why in refused(conn, plan, "cut", edits.split, FIRST, drawn)


def test_split_of_an_unknown_code_names_the_code(conn: Connection, plan: PlanSummary) -> None:
    g = draft(conn, plan.id, FIRST)
    assert "has no grid" in refused(conn, plan, "code", edits.split, "nope", vertical(g))


def test_a_retired_code_is_never_issued_again(conn: Connection, plan: PlanSummary) -> None:
    g = draft(conn, plan.id, FIRST)
    who = planner(conn)
    r = edits.split(conn, who, plan.id, plan.version, FIRST, vertical(g, 0.5))
    new = f"{COMMUNITY}008"
    assert new in r.changed
    r = edits.merge(conn, who, plan.id, r.plan.version, [FIRST, new])
    assert new not in codes(conn, plan.id)
    r = edits.split(conn, who, plan.id, r.plan.version, FIRST, vertical(g, 0.5))
    assert r.changed == [FIRST, f"{COMMUNITY}009"]
    assert_tiles(conn, plan.id)


# -- merge ---------------------------------------------------------------------------------------


def test_merge_keeps_the_biggest_code(conn: Connection, plan: PlanSummary) -> None:
    other = neighbours(conn, plan.id, FIRST)[0]
    a, b = draft(conn, plan.id, FIRST), draft(conn, plan.id, other)
    big, small = (FIRST, other) if a.area >= b.area else (other, FIRST)
    r = edits.merge(conn, planner(conn), plan.id, plan.version, [small, big])
    assert r.changed == [big, small]
    assert small not in codes(conn, plan.id)
    merged = draft(conn, plan.id, big)
    assert len(shapely.get_parts(merged)) == 1
    assert abs(merged.area - a.area - b.area) * M2_PER_DEG2 < 1.0
    assert_tiles(conn, plan.id)


def test_merge_refusals(conn: Connection, plan: PlanSummary) -> None:
    near = set(neighbours(conn, plan.id, FIRST))
    apart = next(
        c for c in codes(conn, plan.id) if c.startswith(COMMUNITY) and c not in near | {FIRST}
    )
    assert "do not make one piece" in refused(conn, plan, "codes", edits.merge, [FIRST, apart])
    assert "different communities" in refused(
        conn, plan, "codes", edits.merge, [FIRST, OTHER_COMMUNITY_GRID]
    )
    assert "two or more" in refused(conn, plan, "codes", edits.merge, [FIRST])
    assert "twice" in refused(conn, plan, "codes", edits.merge, [FIRST, FIRST])
    assert "has no grid" in refused(conn, plan, "codes", edits.merge, [FIRST, "nope"])


def test_grids_touching_at_a_point_do_not_merge(conn: Connection, plan: PlanSummary) -> None:
    # cut the first grid into four quarters; two diagonal quarters touch at one point only
    g = draft(conn, plan.id, FIRST)
    c = g.centroid
    minx, _, maxx, _ = g.bounds
    who = planner(conn)
    r = edits.split(conn, who, plan.id, plan.version, FIRST, vertical(g, x=c.x))
    horizontal = mapping(shapely.LineString([(minx - 0.01, c.y), (maxx + 0.01, c.y)]))
    pieces = r.changed
    version = r.plan.version
    for code in pieces:
        try:
            version = edits.split(conn, who, plan.id, version, code, horizontal).plan.version
        except InvalidInput:
            pytest.skip("the grid's shape leaves a sliver for a quarter")
    quarter = {
        code: draft(conn, plan.id, code)
        for code in codes(conn, plan.id)
        if code.startswith(COMMUNITY)
        and draft(conn, plan.id, code).intersects(shapely.Point(c.x, c.y).buffer(1e-9))
    }
    diagonal = [
        (a, b)
        for a in quarter
        for b in quarter
        if a < b
        and quarter[a].touches(quarter[b])
        and quarter[a].intersection(quarter[b]).length == 0
    ]
    assert diagonal, "two quarters meet at the centre only"
    now = plans.get_plan(conn, who, plan.id)
    before = snapshot(conn, plan.id)
    with pytest.raises(InvalidInput) as err:
        edits.merge(conn, who, plan.id, now.version, list(diagonal[0]))
    assert err.value.field == "codes" and "along a line" in err.value.reason
    assert snapshot(conn, plan.id) == before


# -- rename --------------------------------------------------------------------------------------


def test_rename(conn: Connection, plan: PlanSummary) -> None:
    r = edits.rename(conn, planner(conn), plan.id, plan.version, FIRST, " 北春一格 ")
    assert r.changed == [FIRST] and r.plan.version == plan.version + 1
    name = conn.execute(
        text("SELECT name FROM plan_areas WHERE plan_id = :p AND code = :c"),
        {"p": plan.id, "c": FIRST},
    ).scalar_one()
    assert name == "北春一格"
    assert "must not be empty" in refused(conn, r.plan, "name", edits.rename, FIRST, "  ")
    assert "has no grid" in refused(conn, r.plan, "code", edits.rename, "nope", "x")


# -- reshape -------------------------------------------------------------------------------------


def test_reshape_takes_from_and_gives_to_neighbours(conn: Connection, plan: PlanSummary) -> None:
    g = draft(conn, plan.id, FIRST)
    other = neighbours(conn, plan.id, FIRST)[0]
    n = draft(conn, plan.id, other)
    # take a bite of the neighbour along the shared edge, and give up a corner elsewhere
    edge = g.boundary.intersection(n.boundary)
    bite = edge.buffer(0.0008).intersection(n)
    grown = shapely.union(g, bite)
    grown = grown if isinstance(grown, shapely.Polygon) else max(grown.geoms, key=lambda p: p.area)
    r = edits.reshape(conn, planner(conn), plan.id, plan.version, FIRST, mapping(grown))
    assert FIRST in r.changed and other in r.changed
    assert draft(conn, plan.id, FIRST).area > g.area
    assert draft(conn, plan.id, other).area < n.area
    assert_tiles(conn, plan.id)
    # and back: shrink to the old outline; the bite returns to a neighbour
    r = edits.reshape(
        conn,
        planner(conn),
        plan.id,
        r.plan.version,
        FIRST,
        mapping(shapely.get_parts(g)[0]),
    )
    assert abs(draft(conn, plan.id, FIRST).area - g.area) * M2_PER_DEG2 < 1.0
    assert_tiles(conn, plan.id)


def test_reshape_refusals(conn: Connection, plan: PlanSummary) -> None:
    g = draft(conn, plan.id, FIRST)
    out = g.envelope.buffer(0.05)
    assert "leaves the grid's community" in refused(
        conn, plan, "polygon", edits.reshape, FIRST, mapping(out)
    )
    line = {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}
    assert "expected one of ['Polygon', 'MultiPolygon']" in refused(
        conn, plan, "polygon", edits.reshape, FIRST, line
    )
    minx, miny, maxx, maxy = g.bounds
    bow = {
        "type": "Polygon",
        "coordinates": [[[minx, miny], [maxx, maxy], [maxx, miny], [minx, maxy], [minx, miny]]],
    }
    assert "Self-intersection" in refused(conn, plan, "polygon", edits.reshape, FIRST, bow)
    two = mapping(
        shapely.MultiPolygon(
            [g.buffer(-0.001), g.envelope.buffer(0.1).difference(g.envelope.buffer(0.09))]
        )
    )
    assert "of 2 parts" in refused(conn, plan, "polygon", edits.reshape, FIRST, two)


# -- autosplit -----------------------------------------------------------------------------------


def _households(conn: Connection, plan_id: int, code: str) -> int:
    n = conn.execute(
        text(
            "SELECT coalesce(sum(b.household_count), 0) FROM buildings b JOIN plan_areas pa"
            " ON pa.plan_id = :p AND pa.code = :c"
            " AND ST_Contains(pa.geom, ST_PointOnSurface(b.geom))"
        ),
        {"p": plan_id, "c": code},
    ).scalar_one()
    return int(n)


def test_autosplit_halves_the_households(conn: Connection, plan: PlanSummary) -> None:
    code = f"{COMMUNITY}007"  # the tiny city's fullest grid (270 households)
    total = _households(conn, plan.id, code)
    r = edits.autosplit(conn, planner(conn), plan.id, plan.version, code)
    assert len(r.changed) == 2 and r.changed[0] == code
    a, b = (_households(conn, plan.id, c) for c in r.changed)
    assert a + b == total
    # as even as the buildings allow: no side holds more than the bigger half plus a building
    biggest = conn.execute(text("SELECT max(household_count) FROM buildings")).scalar_one()
    assert abs(a - b) <= biggest, (a, b)
    assert_tiles(conn, plan.id)


def test_autosplit_refuses_a_grid_with_one_household_building(
    conn: Connection, plan: PlanSummary
) -> None:
    code = f"{COMMUNITY}007"
    ids = buildings_of(conn, plan.id, code)
    conn.execute(  # rolled back with the test
        text("UPDATE buildings SET household_count = 0 WHERE id = ANY(:ids)"), {"ids": ids[1:]}
    )
    assert "fewer than two" in refused(conn, plan, "code", edits.autosplit, code)
    assert "has no grid" in refused(conn, plan, "code", edits.autosplit, "nope")
