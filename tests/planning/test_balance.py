"""Auto-balance on the tiny city: the proposal meets the limits it is given, each grid is one
polygon inside one community, no building is cut, the grids tile the parent, a seed gives one
answer; limits no community can meet are named; balance_plan writes the proposal into a plan
with kept and fresh codes and a new version."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pytest
import shapely
from sqlalchemy import Connection, Engine, text

from gisgrid.errors import Conflict, InvalidInput, PreconditionFailed
from gisgrid.planning.balance import (
    Limits,
    Proposal,
    auto_balance,
    balance_plan,
    workload_weights,
)
from gisgrid.planning.cells import building_cells

DB = "planning_balance_scratch"
TIGHT = Limits(households_min=100, households_max=200, residents_min=200, residents_max=600)


@pytest.fixture(scope="module")
def street(store: Engine) -> int:
    with store.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT id FROM areas WHERE level = 'street' AND valid_to IS NULL"
                    " ORDER BY code LIMIT 1"
                )
            ).scalar_one()
        )


@pytest.fixture(scope="module")
def cells(store: Engine, street: int) -> gpd.GeoDataFrame:
    return building_cells(store, street)


@pytest.fixture(scope="module")
def tight(store: Engine, street: int, cells: gpd.GeoDataFrame) -> Proposal:
    return auto_balance(store, street, limits=TIGHT, seed=7, cells=cells)


def _outlines(store: Engine, sql: str, crs: object, **params: object) -> dict[int, object]:
    with store.connect() as conn:
        rows = conn.execute(text(sql), params).all()
    geoms = gpd.GeoSeries(shapely.from_wkb([r[1] for r in rows]), crs=4326).to_crs(crs)
    return dict(zip([int(r[0]) for r in rows], geoms, strict=True))


def test_every_grid_meets_the_limits_it_is_given(tight: Proposal) -> None:
    g = tight.grids
    assert tight.unmet == []
    assert g["meets"].all()
    assert g["households"].between(TIGHT.households_min, TIGHT.households_max).all()
    assert g["residents"].between(TIGHT.residents_min, TIGHT.residents_max).all()
    # the sums are the cells' sums: nothing lost, nothing counted twice
    assert g["households"].sum() == tight.cells["households"].sum()
    assert g["workload"].sum() == pytest.approx(tight.cells["workload"].sum())


def test_grids_are_one_polygon_each_inside_one_community(
    store: Engine, street: int, tight: Proposal
) -> None:
    g = tight.grids
    assert (g.geometry.geom_type == "Polygon").all() and g.geometry.is_valid.all()
    comms = _outlines(
        store,
        "SELECT id, ST_AsBinary(geom) FROM areas WHERE parent_id = :s AND level = 'community'",
        g.crs,
        s=street,
    )
    for cid, geom in zip(g["community_id"], g.geometry, strict=True):
        assert geom.difference(comms[cid]).area < 0.01
    parent = _outlines(
        store, "SELECT id, ST_AsBinary(geom) FROM areas WHERE id = :s", g.crs, s=street
    )[street]
    geoms = g.geometry.to_numpy()
    assert abs(shapely.area(geoms).sum() - parent.area) < 1.0
    assert shapely.symmetric_difference(shapely.union_all(geoms), parent).area < 1.0


def test_no_building_is_cut(store: Engine, tight: Proposal) -> None:
    fps = _outlines(
        store,
        "SELECT id, ST_AsBinary(geom) FROM buildings WHERE id = ANY(:ids)",
        tight.grids.crs,
        ids=[int(b) for b in tight.cells["building_id"].dropna()],
    )
    tree = shapely.STRtree(tight.grids.geometry.to_numpy())
    for bid, fp in fps.items():
        hit = [k for k in tree.query(fp, predicate="intersects")
               if tight.grids.geometry.iat[k].intersection(fp).area > 1e-6]  # fmt: skip
        assert len(hit) == 1, f"building {bid} lies in grids {hit}"
        assert bid in tight.grids["buildings"].iat[hit[0]]


def test_a_seed_gives_one_answer(store: Engine, street: int, cells: gpd.GeoDataFrame) -> None:
    a = auto_balance(store, street, limits=TIGHT, seed=7, cells=cells)
    b = auto_balance(store, street, limits=TIGHT, seed=7, cells=cells)
    assert np.array_equal(a.cells["grid"].to_numpy(), b.cells["grid"].to_numpy())
    assert a.grids["workload"].tolist() == b.grids["workload"].tolist()


def test_balance_evens_out_the_workload(store: Engine, street: int, tight: Proposal) -> None:
    # the tiny city's grids are cut by households only; balanced on workload, the spread of
    # workload shrinks
    with store.connect() as conn:
        now = conn.execute(
            text(
                "SELECT count(*) FROM areas g JOIN areas c ON c.id = g.parent_id"
                " WHERE c.parent_id = :s AND g.level = 'grid' AND g.valid_to IS NULL"
            ),
            {"s": street},
        ).scalar_one()
    cv = tight.spread()["workload"]["cv"]
    assert cv < 0.2
    assert len(tight.grids) >= now - 2  # about as many grids as workers, not one per community


def test_limits_no_community_can_meet_are_named(
    store: Engine, street: int, cells: gpd.GeoDataFrame
) -> None:
    impossible = Limits(households_min=5000, households_max=6000)
    p = auto_balance(store, street, limits=impossible, cells=cells)
    assert {u["community_id"] for u in p.unmet} == set(cells["community_id"])
    assert all("households" in u["reason"] and u["code"] for u in p.unmet)
    assert not p.grids["meets"].any()


@pytest.mark.parametrize(
    "limits",
    [
        dict(households_min=300, households_max=100),
        dict(residents_min=-1),
        dict(households_max=float("nan")),
    ],
    ids=["min-over-max", "negative", "nan"],
)
def test_bad_limits_are_refused(limits: dict[str, float]) -> None:
    with pytest.raises(InvalidInput) as e:
        Limits(**limits)
    assert e.value.field == "limits"


@pytest.fixture()
def conn(store: Engine) -> Iterator[Connection]:
    with store.connect() as c:
        tx = c.begin()
        try:
            yield c
        finally:
            tx.rollback()


def _plan(conn: Connection, parent: int, status: str = "draft") -> int:
    return int(
        conn.execute(
            text(
                "INSERT INTO plans (name, parent_area_id, status, published_at, base_grid_ids)"
                " SELECT 'test', :p, CAST(:s AS text), CASE WHEN CAST(:s AS text) = 'published'"
                " THEN now() END,"
                " array_agg(g.id ORDER BY g.id) FROM areas g JOIN areas c ON c.id = g.parent_id"
                " WHERE c.parent_id = :p AND g.level = 'grid' AND g.valid_to IS NULL"
                " RETURNING id"
            ),
            {"p": parent, "s": status},
        ).scalar_one()
    )


def test_balance_plan_writes_the_proposal(conn: Connection, street: int) -> None:
    plan = _plan(conn, street)
    out = balance_plan(conn, plan, limits=TIGHT, seed=7, version=1)
    assert out["version"] == 2 and out["unmet"] == []
    rows = (
        conn.execute(
            text(
                "SELECT p.code, p.parent_id, p.replaces_area_id, c.code AS ccode, r.code AS rcode,"
                " ST_NumGeometries(p.geom) AS parts, ST_IsValid(p.geom) AS valid"
                " FROM plan_areas p JOIN areas c ON c.id = p.parent_id"
                " LEFT JOIN areas r ON r.id = p.replaces_area_id WHERE p.plan_id = :p"
            ),
            {"p": plan},
        )
        .mappings()
        .all()
    )
    assert sorted(r["code"] for r in rows) == sorted(out["codes"])
    assert all(r["parts"] == 1 and r["valid"] for r in rows)
    assert all(r["code"].startswith(r["ccode"]) and len(r["code"]) == len(r["ccode"]) + 3
               for r in rows)  # fmt: skip
    kept = [r for r in rows if r["code"] in out["kept"]]
    assert kept and all(r["rcode"] == r["code"] for r in kept)
    fresh = [r for r in rows if r["code"] in out["new"]]
    used = set(conn.execute(text("SELECT code FROM areas")).scalars())
    assert all(r["code"] not in used for r in fresh)
    assert all(r["replaces_area_id"] is not None for r in fresh)  # each is cut from an old grid
    row = conn.execute(
        text("SELECT version, weights, checks FROM plans WHERE id = :p"), {"p": plan}
    ).one()
    assert row.version == 2 and row.weights["residents"] == 0.3 and row.checks == {}
    # again: the same proposal, one version up, the codes it now keeps are its own
    again = balance_plan(conn, plan, limits=TIGHT, seed=7)
    assert again["version"] == 3 and sorted(again["codes"]) == sorted(out["codes"])


def test_balance_plan_refuses_and_keeps_the_plan(conn: Connection, street: int) -> None:
    plan = _plan(conn, street)
    with pytest.raises(InvalidInput, match="community") as e:
        balance_plan(conn, plan, limits=Limits(households_min=5000, households_max=6000))
    assert e.value.field == "limits"
    with pytest.raises(PreconditionFailed):
        balance_plan(conn, plan, limits=TIGHT, version=5)
    n, version = conn.execute(
        text(
            "SELECT (SELECT count(*) FROM plan_areas WHERE plan_id = :p), version FROM plans"
            " WHERE id = :p"
        ),
        {"p": plan},
    ).one()
    assert (n, version) == (0, 1)
    published = _plan(conn, street, status="published")
    with pytest.raises(Conflict) as c:
        balance_plan(conn, published, limits=TIGHT)
    assert c.value.field == "status"


def test_limits_and_weights_come_from_the_settings_names() -> None:
    # the names gisgrid.settings gives the rule and the weights (shared with the checks)
    s = SimpleNamespace(
        plan_households_min=10, plan_households_max=20, plan_residents_min=30,
        plan_residents_max=40, plan_weight_households=2.0, plan_weight_residents=0.0,
        plan_weight_incidents=0.5,
    )  # fmt: skip
    assert Limits.from_settings(s) == Limits(10, 20, 30, 40)  # type: ignore[arg-type]
    assert workload_weights(None, s) == {  # type: ignore[arg-type]
        "households": 2.0,
        "residents": 0.0,
        "incidents_12m": 0.5,
    }
    assert workload_weights({"residents": 1}, s)["residents"] == 1.0  # type: ignore[arg-type]
    assert Limits.from_settings(None) == Limits()
