"""Publishing a plan: the old versions closed at T, the new opened from T, rows moved (closed
incidents keep their grid), accounts re-scoped, the plan's checks kept; refusals change
nothing; two publishes on one parent: one wins, the other is 409; the locate index and the
tiles follow at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text

from gisgrid.access.auth import Caller, caller_of
from gisgrid.access.scope import Scope
from gisgrid.assign.locate import GridIndexCache
from gisgrid.errors import (
    ChecksFailed,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
)
from gisgrid.planning import edits, plans
from gisgrid.planning.publish import publish
from gisgrid.settings import Settings
from tests.planning.support import COMMUNITY, draft, planner, vertical

DB = "publish_scratch"
FIRST = f"{COMMUNITY}001"
WIDE = Settings(
    plan_households_min=0,
    plan_households_max=100_000,
    plan_residents_min=0,
    plan_residents_max=100_000,
    plan_min_polsby_popper=0.0,
    plan_size_outlier_factor=1000.0,
    _env_file=None,
)


@pytest.fixture()
def conn(store: Engine) -> Iterator[Connection]:
    with store.connect() as c:
        tx = c.begin()
        try:
            yield c
        finally:
            tx.rollback()


def centre(conn: Connection, role: str = "street_centre") -> Caller:
    name = conn.execute(
        text("SELECT username FROM accounts WHERE role = :r ORDER BY id LIMIT 1"), {"r": role}
    ).scalar_one()
    return caller_of(conn, name)


def current_id(conn: Connection, code: str) -> int:
    return int(
        conn.execute(
            text("SELECT id FROM areas WHERE code = :c AND valid_to IS NULL"), {"c": code}
        ).scalar_one()
    )


def split_plan(conn: Connection) -> tuple[plans.PlanSummary, list[str]]:
    """A plan of the first community with grid FIRST split in two; (plan, [kept, new code])."""
    plan = plans.create_plan(conn, planner(conn), COMMUNITY, "publish")
    cut = vertical(draft(conn, plan.id, FIRST), 0.5)
    r = edits.split(conn, planner(conn), plan.id, plan.version, FIRST, cut)
    return r.plan, r.changed


def incident(conn: Connection, where_sql: str, status: str, reported_at: datetime) -> int:
    """An incident at the point ``where_sql`` (SQL naming a point), assigned by the store."""
    return int(
        conn.execute(
            text(
                "INSERT INTO incidents (category, reported_at, status, geom)"
                f" VALUES ('0101', :t, :s, ({where_sql})) RETURNING id"
            ),
            {"t": reported_at, "s": status},
        ).scalar_one()
    )


def grid_of(conn: Connection, incident_id: int) -> int:
    return int(
        conn.execute(
            text("SELECT grid_id FROM incidents WHERE id = :i"), {"i": incident_id}
        ).scalar_one()
    )


def in_draft(plan_id: int, code: str) -> str:
    return (
        "SELECT ST_PointOnSurface(geom) FROM plan_areas"
        f" WHERE plan_id = {int(plan_id)} AND code = '{code}'"
    )


def test_publish_closes_opens_and_moves(conn: Connection) -> None:
    plan, (kept, new) = split_plan(conn)
    old_id = current_id(conn, FIRST)
    others = {
        c: i
        for c, i in conn.execute(
            text(
                "SELECT code, id FROM areas WHERE parent_id = :p AND valid_to IS NULL"
                " AND code <> :c"
            ),
            {"p": current_id(conn, COMMUNITY), "c": FIRST},
        ).all()
    }
    day_ago = datetime.now(UTC) - timedelta(days=1)
    closed = incident(conn, in_draft(plan.id, new), "closed", day_ago)
    still_open = incident(conn, in_draft(plan.id, new), "reported", day_ago)
    assert grid_of(conn, closed) == grid_of(conn, still_open) == old_id
    at = datetime.now(UTC).replace(microsecond=0)

    out = publish(conn, centre(conn), plan.id, plan.version, at, settings=WIDE)

    assert out.plan.status == "published" and out.plan.published_at == at
    assert out.plan.version == plan.version + 1
    assert set(out.opened) == {kept, new} and out.closed == [old_id]
    # history kept: the old version ends at T, the new ones begin at T, opened by the plan
    valid_to = conn.execute(text("SELECT valid_to FROM areas WHERE id = :i"), {"i": old_id})
    assert valid_to.scalar_one() == at
    rows = conn.execute(
        text("SELECT code, valid_from, plan_id FROM areas WHERE id = ANY(:ids)"),
        {"ids": list(out.opened.values())},
    ).all()
    assert {(r.code, r.valid_from, r.plan_id) for r in rows} == {
        (kept, at, plan.id),
        (new, at, plan.id),
    }
    # the grids the plan keeps as they are are untouched (same id, still current)
    assert {c: current_id(conn, c) for c in others} == others
    assert sorted(out.kept) == sorted(others)
    # a closed incident keeps its old grid; an open one moves to its new grid
    assert grid_of(conn, closed) == old_id
    assert grid_of(conn, still_open) == out.opened[new]
    # one reported after T gets the new grid
    later = incident(conn, in_draft(plan.id, new), "reported", at + timedelta(minutes=1))
    assert grid_of(conn, later) == out.opened[new]
    # the plan keeps its checks, stats and diff
    kept_json = conn.execute(
        text("SELECT checks, stats, diff FROM plans WHERE id = :p"), {"p": plan.id}
    ).one()
    assert kept_json.checks["ok"] is True
    assert {g["code"] for g in kept_json.stats["grids"]} >= {kept, new}
    assert kept_json.diff["new"] == [new]


def test_accounts_of_a_retired_grid_follow_the_plan_or_are_listed(conn: Connection) -> None:
    plan = plans.create_plan(conn, planner(conn), COMMUNITY, "merge")
    grids = sorted(draft_codes(conn, plan.id))
    a, b = _touching(conn, plan.id, grids)
    r = edits.merge(conn, planner(conn), plan.id, plan.version, [a, b])
    keeper, retired = r.changed[0], r.changed[1]
    retired_id = current_id(conn, retired)
    worker = conn.execute(
        text(
            "INSERT INTO accounts (username, role, scope_area_id, active)"
            " VALUES ('retired_worker', 'grid_worker', :g, true) RETURNING id"
        ),
        {"g": retired_id},
    ).scalar_one()
    out = publish(conn, centre(conn), plan.id, r.plan.version, settings=WIDE)
    assert retired in out.retired
    assert {"account_id": worker, "username": "retired_worker", "role": "grid_worker",
            "from": retired} in out.unmapped_accounts  # fmt: skip
    # mapped: a draft grid naming the retired grid in replaces_area_id takes its workers
    plan2 = plans.create_plan(conn, planner(conn), COMMUNITY, "merge again")
    grids2 = sorted(draft_codes(conn, plan2.id))
    c, d = _touching(conn, plan2.id, grids2)
    r2 = edits.merge(conn, planner(conn), plan2.id, plan2.version, [c, d])
    keeper2, retired2 = r2.changed[0], r2.changed[1]
    conn.execute(
        text("UPDATE plan_areas SET replaces_area_id = :r WHERE plan_id = :p AND code = :c"),
        {"r": current_id(conn, retired2), "p": plan2.id, "c": keeper2},
    )
    conn.execute(
        text("UPDATE accounts SET scope_area_id = :g WHERE id = :w"),
        {"g": current_id(conn, retired2), "w": worker},
    )
    out2 = publish(conn, centre(conn), plan2.id, r2.plan.version, settings=WIDE)
    assert worker not in [u["account_id"] for u in out2.unmapped_accounts]
    now_scope = conn.execute(
        text("SELECT scope_area_id FROM accounts WHERE id = :w"), {"w": worker}
    ).scalar_one()
    assert now_scope == out2.opened[keeper2]
    assert keeper  # the first merge kept its keeper's code


def draft_codes(conn: Connection, plan_id: int) -> list[str]:
    return list(
        conn.execute(
            text("SELECT code FROM plan_areas WHERE plan_id = :p"), {"p": plan_id}
        ).scalars()
    )


def _touching(conn: Connection, plan_id: int, codes: list[str]) -> tuple[str, str]:
    row = conn.execute(
        text(
            "SELECT a.code, b.code FROM plan_areas a JOIN plan_areas b ON b.plan_id = a.plan_id"
            " AND a.code < b.code AND a.parent_id = b.parent_id"
            " WHERE a.plan_id = :p"
            " AND ST_Length(ST_Intersection(ST_Boundary(a.geom), ST_Boundary(b.geom))) > 0.001"
            " ORDER BY a.code, b.code LIMIT 1"
        ),
        {"p": plan_id},
    ).one()
    return str(row[0]), str(row[1])


def _state(conn: Connection, plan_id: int) -> tuple[Any, ...]:
    areas = conn.execute(
        text("SELECT id, valid_to FROM areas WHERE level = 'grid' ORDER BY id")
    ).all()
    plan = conn.execute(
        text("SELECT status, version, published_at FROM plans WHERE id = :p"), {"p": plan_id}
    ).one()
    return tuple(areas), tuple(plan)


def test_failing_hard_checks_are_422_and_change_nothing(conn: Connection) -> None:
    plan, _ = split_plan(conn)
    tight = WIDE.model_copy(update={"plan_households_min": 10_000})
    before = _state(conn, plan.id)
    with pytest.raises(ChecksFailed) as err:
        publish(conn, centre(conn), plan.id, plan.version, settings=tight)
    assert err.value.field == "checks"
    assert {f["check"] for f in err.value.failures} == {"households_under"}
    assert _state(conn, plan.id) == before


@pytest.mark.parametrize("role", ["planner", "grid_worker", "analyst", "community"])
def test_a_role_that_is_not_a_centre_is_refused(conn: Connection, role: str) -> None:
    plan, _ = split_plan(conn)
    before = _state(conn, plan.id)
    with pytest.raises(PermissionDenied):
        publish(conn, centre(conn, role), plan.id, plan.version, settings=WIDE)
    assert _state(conn, plan.id) == before


def test_a_centre_outside_the_parent_sees_no_plan(conn: Connection) -> None:
    plan, _ = split_plan(conn)
    other = conn.execute(
        text("SELECT id FROM areas WHERE level = 'community' AND code <> :c LIMIT 1"),
        {"c": COMMUNITY},
    ).scalar_one()
    c = centre(conn)
    with pytest.raises(NotFound):
        publish(conn, replace(c, scope=Scope("community", int(other))), plan.id, plan.version)


def test_a_stale_version_or_plan_is_refused(conn: Connection) -> None:
    plan, _ = split_plan(conn)
    with pytest.raises(PreconditionFailed):
        publish(conn, centre(conn), plan.id, plan.version - 1, settings=WIDE)
    rival, _ = split_plan(conn)
    publish(conn, centre(conn), rival.id, rival.version, settings=WIDE)
    before = _state(conn, plan.id)
    with pytest.raises(Conflict) as err:
        publish(conn, centre(conn), plan.id, plan.version, settings=WIDE)
    assert err.value.field == "plan" and f"by plan {rival.id}" in err.value.reason
    assert _state(conn, plan.id) == before
    # a published plan cannot be published again
    with pytest.raises(Conflict):
        publish(conn, centre(conn), rival.id, rival.version + 1, settings=WIDE)


def test_publishing_before_the_versions_it_redraws_is_refused(conn: Connection) -> None:
    plan, _ = split_plan(conn)
    before = _state(conn, plan.id)
    with pytest.raises(InvalidInput) as err:
        publish(conn, centre(conn), plan.id, plan.version, "2000-01-01", settings=WIDE)
    assert err.value.field == "at" and "2000-01-01" in err.value.reason
    assert _state(conn, plan.id) == before


# -- committed: these change the module's store; they come last ----------------------------------


def test_two_publishes_on_one_parent_one_wins(store: Engine) -> None:
    with store.begin() as c:
        first, _ = split_plan(c)
        second, _ = split_plan(c)
        who = centre(c)
    outcome: dict[str, BaseException | None] = {}
    c1 = store.connect()
    tx = c1.begin()
    publish(c1, who, first.id, first.version, settings=WIDE)  # holds the parent's lock

    def rival() -> None:
        try:
            publish(store, who, second.id, second.version, settings=WIDE)
            outcome["second"] = None
        except BaseException as exc:  # handed to the test thread
            outcome["second"] = exc

    t = threading.Thread(target=rival)
    t.start()
    t.join(timeout=1.0)
    assert t.is_alive(), "the second publish should wait for the first"
    tx.commit()
    c1.close()
    t.join(timeout=30)
    assert isinstance(outcome["second"], Conflict), outcome
    assert f"by plan {first.id}" in str(outcome["second"])
    with store.connect() as c:
        status = dict(
            c.execute(
                text("SELECT id, status FROM plans WHERE id = ANY(:ids)"),
                {"ids": [first.id, second.id]},
            ).all()
        )
    assert status == {first.id: "published", second.id: "draft"}


def test_the_locate_index_and_the_tiles_follow_at_once(store: Engine) -> None:
    cache = GridIndexCache(store)
    with store.begin() as c:
        plan, (_, new) = split_plan(c)
        x, y = c.execute(
            text(f"SELECT ST_X(p), ST_Y(p) FROM ({in_draft(plan.id, new)}) s(p)")
        ).one()
        old_id = current_id(c, FIRST)
        tiles_before = c.execute(
            text("SELECT version FROM tile_versions WHERE layer = 'areas'")
        ).scalar_one()
        who = centre(c)
    with store.connect() as c:
        assert int(cache.get(c).assign([x], [y]).grid_id[0]) == old_id
    out = publish(store, who, plan.id, plan.version, settings=WIDE)
    with store.connect() as c:
        assert int(cache.get(c).assign([x], [y]).grid_id[0]) == out.opened[new]
        tiles_after = c.execute(
            text("SELECT version FROM tile_versions WHERE layer = 'areas'")
        ).scalar_one()
    assert cache.builds == 2
    assert tiles_after > tiles_before
