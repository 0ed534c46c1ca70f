"""Moving buildings between draft grids: the boundary follows (a Voronoi of footprints), the
draft stays tiled, and each refusal names its field and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import shapely
from shapely.geometry import mapping
from sqlalchemy import Connection, Engine, text

from gisgrid.planning import plans
from gisgrid.planning.moves import move_buildings
from gisgrid.planning.plans import PlanSummary
from tests.planning.support import (
    COMMUNITY,
    assert_tiles,
    buildings_of,
    codes,
    neighbours,
    planner,
    refused,
)

DB = "moves_scratch"
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
    return plans.create_plan(conn, planner(conn), "230108001", "moves")


# -- move buildings ------------------------------------------------------------------------------


def _nearest_building(conn: Connection, plan: PlanSummary, source: str, to: str) -> int:
    return int(
        conn.execute(
            text(
                "SELECT b.id FROM buildings b JOIN plan_areas s ON s.plan_id = :p AND s.code = :s"
                " AND ST_Contains(s.geom, ST_PointOnSurface(b.geom))"
                " JOIN plan_areas t ON t.plan_id = :p AND t.code = :t"
                " ORDER BY ST_Distance(b.geom, t.geom) LIMIT 1"
            ),
            {"p": plan.id, "s": source, "t": to},
        ).scalar_one()
    )


def test_move_a_building_and_the_boundary_follows(conn: Connection, plan: PlanSummary) -> None:
    to = neighbours(conn, plan.id, FIRST)[0]
    b = _nearest_building(conn, plan, FIRST, to)
    stay = [x for x in buildings_of(conn, plan.id, FIRST) if x != b]
    r = move_buildings(conn, planner(conn), plan.id, plan.version, to, building_ids=[b])
    assert r.changed == [FIRST, to]
    assert b in buildings_of(conn, plan.id, to)
    assert sorted(buildings_of(conn, plan.id, FIRST)) == sorted(stay)
    # the moved footprint lies wholly in its new grid
    whole = conn.execute(
        text(
            "SELECT ST_Area(ST_Intersection(pa.geom, b.geom)) / ST_Area(b.geom) > 1 - 1e-4"
            " FROM plan_areas pa, buildings b"
            " WHERE pa.plan_id = :p AND pa.code = :t AND b.id = :b"
        ),
        {"p": plan.id, "t": to, "b": b},
    ).scalar_one()
    assert whole
    assert_tiles(conn, plan.id)


def test_move_by_a_lasso(conn: Connection, plan: PlanSummary) -> None:
    to = neighbours(conn, plan.id, FIRST)[0]
    b = _nearest_building(conn, plan, FIRST, to)
    fp = shapely.from_wkb(
        bytes(
            conn.execute(
                text("SELECT ST_AsBinary(geom) FROM buildings WHERE id = :b"), {"b": b}
            ).scalar_one()
        )
    )
    lasso = fp.envelope.buffer(0.00005)
    r = move_buildings(conn, planner(conn), plan.id, plan.version, to, lasso=mapping(lasso))
    assert b in buildings_of(conn, plan.id, to) and r.changed == [FIRST, to]
    assert_tiles(conn, plan.id)


def test_move_refusals(conn: Connection, plan: PlanSummary) -> None:
    near = neighbours(conn, plan.id, FIRST)
    to = near[0]
    mine = buildings_of(conn, plan.id, FIRST)
    theirs = buildings_of(conn, plan.id, to)
    far = next(
        c for c in codes(conn, plan.id) if c.startswith(COMMUNITY) and c not in near and c != FIRST
    )
    mv = move_buildings
    assert "more than one grid" in refused(
        conn, plan, "building_ids", mv, far, building_ids=[mine[0], theirs[0]]
    )
    assert "does not touch" in refused(conn, plan, "to", mv, far, building_ids=[mine[0]])
    assert "without buildings" in refused(conn, plan, "building_ids", mv, to, building_ids=mine)
    assert "already lie in" in refused(conn, plan, "to", mv, to, building_ids=[theirs[0]])
    assert "no buildings [999999999]" in refused(
        conn, plan, "building_ids", mv, to, building_ids=[999999999]
    )
    assert "another community" in refused(
        conn, plan, "to", mv, OTHER_COMMUNITY_GRID, building_ids=[mine[0]]
    )
    assert "has no grid" in refused(conn, plan, "to", mv, "nope", building_ids=[mine[0]])
    assert "one of them" in refused(conn, plan, "building_ids", mv, to)
    # a lasso reaching out of the street
    street = conn.execute(
        text("SELECT ST_AsBinary(geom) FROM areas WHERE code = '230108001'")
    ).scalar_one()
    outside = shapely.from_wkb(bytes(street)).envelope.buffer(0.01)
    assert "crosses the edge" in refused(conn, plan, "lasso", mv, to, lasso=mapping(outside))
