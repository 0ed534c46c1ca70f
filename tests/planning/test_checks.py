"""The checks of a plan, on the tiny city: each hard and soft check found where it is drawn,
with its area and place, and float noise left alone."""

from __future__ import annotations

from typing import Any

import pytest
import shapely
from sqlalchemy import Connection, text

from gisgrid.planning.checks import check_plan
from gisgrid.settings import Settings
from tests.planning.tables import (
    add_grid,
    area_id,
    draft,
    make_plan,
    metric,
    set_geom,
)

DB = "plan_checks_scratch"
# limits no tiny grid breaks, so that each test sees only what it draws
WIDE = Settings(
    plan_households_min=0,
    plan_households_max=100_000,
    plan_residents_min=0,
    plan_residents_max=100_000,
    plan_min_polsby_popper=0.0,
    plan_size_outlier_factor=1000.0,
    _env_file=None,
)


def _by(result: dict[str, Any], check: str) -> list[dict[str, Any]]:
    return [f for f in result["hard"] + result["soft"] if f["check"] == check]


def _edge_m(a: Any, b: Any) -> float:
    """The length of the edge two polygons share, in metres."""
    edge = shapely.intersection(a.boundary, b.boundary)
    return 0.0 if edge.is_empty else float(metric(edge)[0].length)


def _neighbours(grids: dict[str, Any]) -> tuple[str, str]:
    """Two draft grids that share an edge longer than 100 m."""
    codes = sorted(grids)
    for a in codes:
        for b in codes:
            if a < b and _edge_m(grids[a], grids[b]) > 100:
                return a, b
    raise AssertionError("no two grids share an edge")


@pytest.fixture()
def plan(conn: Connection) -> int:
    """A plan of the tiny city's first community (its grids as they are)."""
    return make_plan(conn, area_id(conn, "community"))


def _grow_into(conn: Connection, plan: int, a: str, b: str, by_m: float) -> float:
    """Grid ``a`` reaches ``by_m`` metres into ``b`` along their edge; the overlap in m^2."""
    grids = draft(conn, plan)
    ma, back = metric(grids[a])
    mb, _ = metric(grids[b])
    grown = shapely.union(ma, shapely.intersection(ma.buffer(by_m), mb))
    set_geom(conn, plan, a, back(grown))
    return float(shapely.intersection(grown, mb).area)


def test_a_copy_of_the_current_grids_passes(conn: Connection, plan: int) -> None:
    result = check_plan(conn, plan, settings=WIDE)
    # the synthetic grids part from their neighbours by float noise along their edges: none
    # of it is a gap or an overlap
    assert result == {"ok": True, "hard": [], "soft": []}


def test_a_hole_is_a_gap_with_its_area_and_place(conn: Connection, plan: int) -> None:
    grids = draft(conn, plan)
    code = sorted(grids)[0]
    m, back = metric(grids[code])
    p = shapely.point_on_surface(m)
    hole = shapely.box(p.x - 20, p.y - 20, p.x + 20, p.y + 20)
    set_geom(conn, plan, code, back(m.difference(hole)))
    result = check_plan(conn, plan, settings=WIDE)
    assert not result["ok"]
    [gap] = _by(result, "gap")
    assert gap["area_m2"] == pytest.approx(1600, abs=1)
    assert code in gap["codes"]
    w, s, e, n = gap["bbox"]
    lon, lat = back(p).x, back(p).y
    assert w < lon < e and s < lat < n
    assert w <= gap["point"][0] <= e and s <= gap["point"][1] <= n
    assert "1600" in gap["message"] and "1600" in gap["message_zh"]


def test_an_overlap_names_both_grids_and_its_area(conn: Connection, plan: int) -> None:
    a, b = _neighbours(draft(conn, plan))
    overlap = _grow_into(conn, plan, a, b, 5.0)
    result = check_plan(conn, plan, settings=WIDE)
    found = _by(result, "overlap")
    assert [f["codes"] for f in found] == [[a, b]]
    assert found[0]["area_m2"] == pytest.approx(overlap, rel=0.01)
    assert not result["ok"]


def test_a_sliver_of_noise_is_not_an_overlap(conn: Connection, plan: int) -> None:
    a, b = _neighbours(draft(conn, plan))
    overlap = _grow_into(conn, plan, a, b, 0.5)  # half a metre along the edge
    assert overlap > 1.0  # more than a square metre in all, but no one could live in it
    assert _by(check_plan(conn, plan, settings=WIDE), "overlap") == []


def test_a_grid_reaching_outside_the_parent(conn: Connection, plan: int) -> None:
    grids = draft(conn, plan)
    parent = shapely.union_all(list(grids.values()))
    mp, _ = metric(parent)
    for code, g in sorted(grids.items()):  # noqa: B007 (the grid found is used after)
        m, back = metric(g)
        out = m.buffer(25).difference(mp.buffer(0.5))
        if out.area > 1000:
            break
    set_geom(conn, plan, code, back(m.union(out)))
    [f] = _by(check_plan(conn, plan, settings=WIDE), "outside_parent")
    assert f["codes"] == [code]
    assert f["area_m2"] == pytest.approx(out.area, rel=0.02)


def test_a_grid_in_two_parts(conn: Connection, plan: int) -> None:
    a, b = sorted(draft(conn, plan))[:2]
    grids = draft(conn, plan)
    mb, back = metric(grids[b])
    p = shapely.point_on_surface(mb)
    island = shapely.box(p.x - 10, p.y - 10, p.x + 10, p.y + 10)
    set_geom(conn, plan, b, back(mb.difference(island)))
    set_geom(conn, plan, a, shapely.union(grids[a], back(island)))
    result = check_plan(conn, plan, settings=WIDE)
    assert [f["codes"] for f in result["hard"]] == [[a]]
    assert result["hard"][0]["check"] == "multipart"


def _building_in(conn: Connection, plan: int, code: str) -> tuple[int, Any]:
    bid, wkb = conn.execute(
        text(
            "SELECT b.id, ST_AsBinary(b.geom) FROM buildings b JOIN plan_areas p"
            " ON ST_Within(b.geom, p.geom) WHERE p.plan_id = :p AND p.code = :c"
            " ORDER BY ST_Area(b.geom) DESC LIMIT 1"
        ),
        {"p": plan, "c": code},
    ).one()
    return int(bid), shapely.from_wkb(bytes(wkb))


@pytest.mark.parametrize(("share", "cut"), [(0.5, True), (0.005, False)], ids=["half", "corner"])
def test_a_building_cut_by_an_edge(conn: Connection, plan: int, share: float, cut: bool) -> None:
    grids = draft(conn, plan)
    a, b = _neighbours(grids)
    bid, footprint = _building_in(conn, plan, a)
    # give b a piece of the building (and the strip that joins it to b, so b stays whole)
    mf, back = metric(footprint)
    x0, y0, x1, y1 = mf.bounds
    piece = shapely.box(x0 - 1, y0 - 1, x0 + (x1 - x0) * share, y1 + 1)
    ma, _ = metric(grids[a])
    mb, _ = metric(grids[b])
    link = shapely.shortest_line(piece, mb).buffer(0.5)
    moved = shapely.intersection(ma, shapely.union(piece, link))
    set_geom(conn, plan, a, back(shapely.difference(ma, moved)))
    set_geom(conn, plan, b, back(shapely.union(mb, moved)))
    found = _by(check_plan(conn, plan, settings=WIDE), "cut_building")
    if cut:
        assert any(bid in f["building_ids"] and f["codes"] == sorted([a, b]) for f in found)
    else:
        assert not any(bid in f["building_ids"] for f in found)


def test_household_and_resident_limits(conn: Connection, plan: int) -> None:
    grids = sorted(draft(conn, plan))
    households: dict[str, int] = dict(
        conn.execute(
            text(
                "SELECT p.code, count(*) FROM plan_areas p JOIN households h"
                " ON ST_Intersects(h.geom, p.geom) WHERE p.plan_id = :p GROUP BY 1"
            ),
            {"p": plan},
        ).all()
    )
    most = max(households.values())
    fewest = min(households.values())
    s = WIDE.model_copy(update={"plan_households_max": most - 1, "plan_households_min": fewest + 1})
    result = check_plan(conn, plan, settings=s)
    over = _by(result, "households_over")
    under = _by(result, "households_under")
    assert [f["codes"][0] for f in over] == [c for c in grids if households.get(c, 0) == most]
    assert [f["codes"][0] for f in under] == [c for c in grids if households.get(c, 0) == fewest]
    assert f"{most} households; at most {most - 1}" in over[0]["message"]
    s = WIDE.model_copy(update={"plan_residents_max": 0})
    assert len(_by(check_plan(conn, plan, settings=s), "residents_over")) == len(grids)


def test_compactness_and_size_outliers_are_soft(conn: Connection, plan: int) -> None:
    grids = draft(conn, plan)
    pp = {
        c: 4 * 3.14159265 * metric(g)[0].area / metric(g)[0].length ** 2 for c, g in grids.items()
    }
    worst = min(pp, key=pp.__getitem__)
    s = WIDE.model_copy(update={"plan_min_polsby_popper": pp[worst] + 1e-3})
    result = check_plan(conn, plan, settings=s)
    assert result["ok"] and [f["codes"] for f in result["soft"]] == [[worst]]
    assert result["soft"][0]["check"] == "compactness"
    areas = {c: metric(g)[0].area for c, g in grids.items()}
    biggest = max(areas, key=areas.__getitem__)
    ratio = areas[biggest] / sorted(areas.values())[len(areas) // 2]
    s = WIDE.model_copy(update={"plan_size_outlier_factor": ratio * 0.99})
    found = _by(check_plan(conn, plan, settings=s), "size_outlier")
    assert biggest in [f["codes"][0] for f in found]


def test_a_split_off_piece_and_a_new_grid_have_no_worker(conn: Connection, plan: int) -> None:
    grids = draft(conn, plan)
    code = sorted(grids)[0]
    replaced = conn.execute(
        text("SELECT replaces_area_id FROM plan_areas WHERE plan_id = :p AND code = :c"),
        {"p": plan, "c": code},
    ).scalar_one()
    m, back = metric(grids[code])
    x0, y0, x1, y1 = m.bounds
    small = shapely.intersection(m, shapely.box(x0, y0, x0 + (x1 - x0) * 0.3, y1))
    set_geom(conn, plan, code, back(shapely.difference(m, small)))
    add_grid(conn, plan, "X001", back(small), replaces=replaced)
    result = check_plan(conn, plan, settings=WIDE)
    assert [f["codes"] for f in _by(result, "no_worker")] == [["X001"]]
    conn.execute(
        text("UPDATE plan_areas SET replaces_area_id = NULL WHERE plan_id = :p AND code = :c"),
        {"p": plan, "c": code},
    )
    # now the small piece is the only one descending from the old grid: it keeps the worker
    result = check_plan(conn, plan, settings=WIDE)
    assert [f["codes"] for f in _by(result, "no_worker")] == [[code]]


def test_a_grid_crossing_a_community_line(conn: Connection) -> None:
    street = area_id(conn, "street")
    plan = make_plan(conn, street)
    grids = draft(conn, plan)
    community: dict[str, int] = dict(
        conn.execute(
            text("SELECT code, parent_id FROM plan_areas WHERE plan_id = :p"), {"p": plan}
        ).all()
    )
    a, b = next(
        (a, b)
        for a in sorted(grids)
        for b in sorted(grids)
        if community[a] != community[b] and _edge_m(grids[a], grids[b]) > 100
    )
    assert _by(check_plan(conn, plan, settings=WIDE), "crosses_community") == []
    ma, back = metric(grids[a])
    mb, _ = metric(grids[b])
    taken = shapely.intersection(ma.buffer(30), mb)
    set_geom(conn, plan, a, back(shapely.union(ma, taken)))
    set_geom(conn, plan, b, back(shapely.difference(mb, taken)))
    [f] = _by(check_plan(conn, plan, settings=WIDE), "crosses_community")
    assert f["codes"] == [a] and f["area_m2"] == pytest.approx(taken.area, rel=0.02)
    assert f in check_plan(conn, plan, settings=WIDE)["soft"]


def test_no_such_plan(conn: Connection) -> None:
    from gisgrid.errors import NotFound

    with pytest.raises(NotFound, match="no plan 999999"):
        check_plan(conn, 999_999)


def test_a_plan_with_no_grids_is_one_gap(conn: Connection, plan: int) -> None:
    parent_m2 = conn.execute(
        text(
            "SELECT ST_Area(a.geom::geography) FROM plans p JOIN areas a"
            " ON a.id = p.parent_area_id WHERE p.id = :p"
        ),
        {"p": plan},
    ).scalar_one()
    conn.execute(text("DELETE FROM plan_areas WHERE plan_id = :p"), {"p": plan})
    result = check_plan(conn, plan, settings=WIDE)
    [gap] = result["hard"]
    assert gap["check"] == "gap" and gap["codes"] == []
    assert gap["area_m2"] == pytest.approx(parent_m2, rel=0.01)
    from gisgrid.planning.diff import plan_diff
    from gisgrid.planning.workload import plan_stats

    assert plan_stats(conn, plan, settings=WIDE)["grids"] == []
    assert plan_diff(conn, plan)["kept"] == []
