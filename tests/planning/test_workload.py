"""The live workload of a plan on the tiny city: per-grid counts that match the store, after
an edit too, the weights, and the spread beside the current boundaries'."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
import shapely
from sqlalchemy import Connection, text

from gisgrid.errors import InvalidInput, NotFound
from gisgrid.planning.workload import current_stats, plan_stats, spread
from gisgrid.settings import Settings
from tests.planning.tables import area_id, draft, make_plan, metric, set_geom

DB = "plan_workload_scratch"
NOW = datetime(2026, 11, 1, tzinfo=UTC)  # the synthetic city's "now"
S = Settings(_env_file=None)

# per draft grid, straight from the store: the points in each polygon (a resident through
# its household; a point on a shared edge may count twice here, so the tests avoid them)
TRUTH = {
    "households": "SELECT count(*) FROM households h WHERE ST_Intersects(h.geom, g.geom)",
    "residents": "SELECT count(*) FROM residents r JOIN households h ON h.id = r.household_id"
    " WHERE ST_Intersects(h.geom, g.geom)",
    "places": "SELECT count(*) FROM places p WHERE ST_Intersects(p.geom, g.geom)",
    "incidents_12m": "SELECT count(*) FROM incidents i WHERE ST_Intersects(i.geom, g.geom)"
    " AND i.reported_at >= :since AND i.reported_at < :now",
    "open_incidents": "SELECT count(*) FROM incidents i WHERE ST_Intersects(i.geom, g.geom)"
    " AND i.status NOT IN ('closed', 'rejected')",
    "visit_logs": "SELECT count(*) FROM visit_logs v WHERE ST_Intersects(v.geom, g.geom)"
    " AND v.visited_at >= :since AND v.visited_at < :now",
    "buildings": "SELECT count(*) FROM buildings b WHERE ST_Area(ST_Intersection(b.geom, g.geom))"
    " > ST_Area(b.geom) / 2",
}


def _truth(conn: Connection, plan: int) -> dict[str, dict[str, int]]:
    cols = ", ".join(f"({sql}) AS {name}" for name, sql in TRUTH.items())
    rows = conn.execute(
        text(f"SELECT g.code, {cols} FROM plan_areas g WHERE g.plan_id = :p ORDER BY g.code"),
        {"p": plan, "since": NOW - timedelta(days=365), "now": NOW},
    ).mappings()
    return {r["code"]: {k: int(r[k]) for k in TRUTH} for r in rows}


def _grids(stats: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["code"]: g for g in stats["grids"]}


@pytest.fixture()
def plan(conn: Connection) -> int:
    return make_plan(conn, area_id(conn, "community"))


def test_a_copy_counts_what_the_store_holds(conn: Connection, plan: int) -> None:
    stats = plan_stats(conn, plan, settings=S, now=NOW)
    truth = _truth(conn, plan)
    got = _grids(stats)
    assert sorted(got) == sorted(truth)
    for code, want in truth.items():
        assert {k: got[code][k] for k in TRUTH} == want, code
        assert got[code]["workers"] == 1
    assert stats["spread"] == stats["current"]["spread"]
    assert stats["current"]["grids"] == len(truth)
    assert stats["limits"]["households_max"] == S.plan_households_max


def test_counts_follow_an_edit(conn: Connection, plan: int) -> None:
    grids = draft(conn, plan)
    before = _grids(plan_stats(conn, plan, settings=S, now=NOW))
    # the first grid gives the second a band along the side that faces it, deep enough to
    # hold households
    a, b = sorted(grids)[:2]
    ma, back = metric(grids[a])
    mb, _ = metric(grids[b])
    for depth_m in (100, 200, 400, 800, 1600):
        band = shapely.intersection(ma, mb.buffer(depth_m))
        held = conn.execute(
            text(
                "SELECT count(*) FROM households"
                " WHERE ST_Intersects(geom, ST_GeomFromWKB(:g, 4326))"
            ),
            {"g": shapely.to_wkb(back(band))},
        ).scalar_one()
        if held:
            break
    assert 0 < band.area < ma.area * 0.9
    set_geom(conn, plan, a, back(ma.difference(band)))
    set_geom(conn, plan, b, back(mb.union(band)))
    stats = plan_stats(conn, plan, settings=S, now=NOW)
    got, truth = _grids(stats), _truth(conn, plan)
    for code in (a, b):
        assert {k: got[code][k] for k in TRUTH} == truth[code], code
    # what a lost, b won; the current figures did not move
    for k in ("households", "residents", "places", "incidents_12m", "open_incidents"):
        assert got[a][k] + got[b][k] == before[a][k] + before[b][k], k
    assert got[b]["households"] > before[b]["households"]
    assert (
        stats["current"]["spread"]
        == plan_stats(conn, plan, settings=S, now=NOW)["current"]["spread"]
    )


def test_workload_weights(conn: Connection, plan: int) -> None:
    g = _grids(plan_stats(conn, plan, settings=S, now=NOW))
    one = next(iter(g.values()))
    assert one["workload"] == pytest.approx(
        one["households"] * 1.0 + one["residents"] * 0.3 + one["incidents_12m"] * 1.0, abs=0.1
    )
    conn.execute(
        text('UPDATE plans SET weights = \'{"residents": 0, "incidents": 2}\' WHERE id = :p'),
        {"p": plan},
    )
    stats = plan_stats(conn, plan, settings=S, now=NOW)
    assert stats["weights"] == {"households": 1.0, "residents": 0.0, "incidents": 2.0}
    one = _grids(stats)[one["code"]]
    assert one["workload"] == pytest.approx(one["households"] + 2 * one["incidents_12m"])
    # the caller's weights win over the plan's
    stats = plan_stats(conn, plan, {"households": 0, "incidents": 0}, settings=S, now=NOW)
    assert all(row["workload"] == 0 for row in stats["grids"])
    with pytest.raises(InvalidInput, match=r"weights\.households=-1"):
        plan_stats(conn, plan, {"households": -1}, settings=S, now=NOW)


def test_spread_by_hand() -> None:
    s = spread(np.array([100.0, 100.0, 400.0]))
    assert s["min"] == 100 and s["max"] == 400 and s["max_min_ratio"] == 4.0
    assert s["cv"] == pytest.approx(np.std([100, 100, 400]) / 200, abs=1e-3)
    assert spread(np.array([0.0, 10.0]))["max_min_ratio"] is None


def test_current_stats_of_an_area(conn: Connection, plan: int) -> None:
    community = area_id(conn, "community")
    stats = current_stats(conn, community, settings=S, now=NOW)
    assert stats["spread"] == plan_stats(conn, plan, settings=S, now=NOW)["current"]["spread"]
    assert (
        sum(g["households"] for g in stats["grids"])
        == conn.execute(
            text("SELECT count(*) FROM households WHERE community_id = :c"), {"c": community}
        ).scalar_one()
    )
    assert all(g["workers"] == 1 for g in stats["grids"])
    with pytest.raises(NotFound):
        current_stats(conn, 999_999, settings=S)


def test_checks_and_stats_from_one_read_answer_the_same(conn: Connection, plan: int) -> None:
    from gisgrid.planning.checks import check_plan
    from gisgrid.planning.reports import checks_and_stats

    checks, stats = checks_and_stats(conn, plan, S, now=NOW)
    assert checks == check_plan(conn, plan, settings=S, now=NOW)
    assert stats == plan_stats(conn, plan, settings=S, now=NOW)
