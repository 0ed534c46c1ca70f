"""Plans in the library: create (a copy of the parent's current grids), read, list, discard,
scope, staleness and the version gate."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, text

from gisgrid.access.auth import Caller
from gisgrid.access.scope import Scope
from gisgrid.errors import Conflict, InvalidInput, NotFound, PermissionDenied, PreconditionFailed
from gisgrid.planning import edits, plans
from tests.planning.support import (
    COMMUNITY,
    STREET,
    admin,
    assert_tiles,
    planner,
    snapshot,
)

DB = "plans_scratch"


@pytest.fixture()
def conn(store: Engine) -> Iterator[Connection]:
    """A connection whose changes are rolled back after the test."""
    with store.connect() as c:
        tx = c.begin()
        try:
            yield c
        finally:
            tx.rollback()


def _grids_under(conn: Connection, code: str) -> list[tuple[int, str, int]]:
    return [
        tuple(r)  # type: ignore[misc]
        for r in conn.execute(
            text(
                "SELECT g.id, g.code, g.parent_id FROM areas g JOIN areas c ON c.id = g.parent_id"
                " LEFT JOIN areas s ON s.id = c.parent_id"
                " WHERE g.level = 'grid' AND g.valid_to IS NULL AND (c.code = :c OR s.code = :c)"
                " ORDER BY g.code"
            ),
            {"c": code},
        ).all()
    ]


@pytest.mark.parametrize("parent", [STREET, COMMUNITY], ids=["street", "community"])
def test_create_copies_every_current_grid_below_the_parent(conn: Connection, parent: str) -> None:
    s = plans.create_plan(conn, planner(conn), parent, " Redraw ")
    assert (s.name, s.status, s.version, s.stale) == ("Redraw", "draft", 1, False)
    assert s.parent.code == parent
    grids = _grids_under(conn, parent)
    assert grids, "the parent has grids"
    rows = conn.execute(
        text(
            "SELECT replaces_area_id, code, parent_id FROM plan_areas WHERE plan_id = :p"
            " ORDER BY code"
        ),
        {"p": s.id},
    ).all()
    assert [tuple(r) for r in rows] == grids
    base, version = conn.execute(
        text("SELECT base_grid_ids, base_version FROM plans WHERE id = :p"), {"p": s.id}
    ).one()
    assert sorted(base) == sorted(g[0] for g in grids)
    newest = conn.execute(
        text("SELECT max(valid_from) FROM areas WHERE id = ANY(:ids)"), {"ids": base}
    ).scalar_one()
    assert version == newest
    assert_tiles(conn, s.id)


def test_the_parent_is_found_by_id_as_by_code(conn: Connection) -> None:
    street_id = conn.execute(
        text("SELECT id FROM areas WHERE code = :c"), {"c": STREET}
    ).scalar_one()
    s = plans.create_plan(conn, admin(conn), street_id, "by id")
    assert s.parent.code == STREET and s.parent.level == "street"


@pytest.mark.parametrize(
    ("parent", "why"),
    [
        ("230108001001001", "is a grid"),
        ("230100", "is a city"),
        ("999999", "no current area"),
        ("", "names no area"),
        (None, "names no area"),
    ],
    ids=["grid", "city", "unknown", "empty", "none"],
)
def test_a_parent_that_is_no_community_street_or_district_is_refused(
    conn: Connection, parent: object, why: str
) -> None:
    before = conn.execute(text("SELECT count(*) FROM plans")).scalar_one()
    with pytest.raises(InvalidInput) as err:
        plans.create_plan(conn, admin(conn), parent, "x")
    assert err.value.field == "parent" and why in err.value.reason
    assert conn.execute(text("SELECT count(*) FROM plans")).scalar_one() == before


def test_only_planners_and_admins_create(conn: Connection) -> None:
    for role in ("analyst", "street_centre", "grid_worker"):
        who = Caller(1, role, None, role, None, Scope.everything())
        with pytest.raises(PermissionDenied) as err:
            plans.create_plan(conn, who, STREET, "x")
        assert err.value.field == "role"


def test_a_planner_sees_and_makes_plans_only_under_their_scope(conn: Connection) -> None:
    other = "230108001002"
    mine = planner(conn, COMMUNITY)
    theirs = plans.create_plan(conn, admin(conn), other, "another community's")
    with pytest.raises(NotFound):
        plans.get_plan(conn, mine, theirs.id)
    with pytest.raises(NotFound):
        plans.plan_geojson(conn, mine, theirs.id)
    with pytest.raises(NotFound):
        plans.discard_plan(conn, mine, theirs.id, theirs.version)
    # a sibling community is not even visible: as if absent
    with pytest.raises(InvalidInput) as err:
        plans.create_plan(conn, mine, other, "x")
    assert err.value.field == "parent"
    # the street above is visible but not held
    with pytest.raises(PermissionDenied) as denied:
        plans.create_plan(conn, mine, STREET, "x")
    assert denied.value.field == "parent"
    own = plans.create_plan(conn, mine, COMMUNITY, "mine")
    assert [p.id for p in plans.list_plans(conn, mine)] == [own.id]
    assert {p.id for p in plans.list_plans(conn, admin(conn))} >= {own.id, theirs.id}
    assert [p.id for p in plans.list_plans(conn, admin(conn), parent=other)] == [theirs.id]


def test_geojson_is_a_feature_collection_with_the_plan(conn: Connection) -> None:
    s = plans.create_plan(conn, admin(conn), COMMUNITY, "gj")
    gj = plans.plan_geojson(conn, admin(conn), s.id)
    assert gj["type"] == "FeatureCollection"
    assert gj["plan"]["id"] == s.id and gj["plan"]["version"] == 1
    assert gj["plan"]["parent"]["code"] == COMMUNITY
    assert len(gj["features"]) == 7
    f = gj["features"][0]
    assert f["geometry"]["type"] == "MultiPolygon"
    assert f["id"] == f["properties"]["code"]
    lon = f["geometry"]["coordinates"][0][0][0][0]
    assert round(lon, 9) == lon


def test_an_edit_names_the_version_it_applies_to(conn: Connection) -> None:
    s = plans.create_plan(conn, admin(conn), COMMUNITY, "v")
    before = snapshot(conn, s.id)
    with pytest.raises(PreconditionFailed) as err:
        edits.rename(conn, admin(conn), s.id, s.version + 1, f"{COMMUNITY}001", "new name")
    assert "at version 1, not 2" in err.value.reason
    assert snapshot(conn, s.id) == before


def test_discard_ends_the_plan(conn: Connection) -> None:
    s = plans.create_plan(conn, admin(conn), COMMUNITY, "d")
    d = plans.discard_plan(conn, admin(conn), s.id, s.version)
    assert (d.status, d.version) == ("discarded", 2)
    assert s.id not in {p.id for p in plans.list_plans(conn, admin(conn))}
    assert [p.id for p in plans.list_plans(conn, admin(conn), status="discarded")] == [s.id]
    with pytest.raises(Conflict) as err:
        edits.rename(conn, admin(conn), s.id, d.version, f"{COMMUNITY}001", "late")
    assert err.value.field == "status"


def _redraw_one_grid(conn: Connection, code: str) -> int:
    """As a publish would: close grid ``code`` and open a new version of it, opened by a
    plan of its own. Returns that plan's id."""
    other = plans.create_plan(conn, admin(conn), COMMUNITY, "published elsewhere")
    conn.execute(
        text("UPDATE areas SET valid_to = now() WHERE code = :c AND valid_to IS NULL"),
        {"c": code},
    )
    conn.execute(
        text(
            "INSERT INTO areas (code, name, level, parent_id, geom, valid_from, plan_id)"
            " SELECT code, name, level, parent_id, geom, now(), :plan FROM areas"
            " WHERE code = :c AND valid_to = now()"
        ),
        {"c": code, "plan": other.id},
    )
    return other.id


def test_a_plan_whose_parent_was_redrawn_is_stale(conn: Connection) -> None:
    s = plans.create_plan(conn, admin(conn), STREET, "old")
    assert not plans.is_stale(conn, s.id)
    newer = _redraw_one_grid(conn, f"{COMMUNITY}003")
    assert plans.is_stale(conn, s.id)
    assert plans.get_plan(conn, admin(conn), s.id).stale
    before = snapshot(conn, s.id)
    with pytest.raises(Conflict) as err:
        edits.rename(conn, admin(conn), s.id, s.version, f"{COMMUNITY}001", "too late")
    assert err.value.field == "plan"
    assert f"by plan {newer}" in err.value.reason and "newer boundary version" in err.value.reason
    assert snapshot(conn, s.id) == before
    # a plan of another community is not touched by it
    fresh = plans.create_plan(conn, admin(conn), "230108001002", "elsewhere")
    assert not fresh.stale


def test_two_edits_at_one_version_one_wins(store: Engine) -> None:
    """The gate locks the plan row: the second editor waits, then finds the version moved
    on (PreconditionFailed), and the first one's edit stands."""
    with store.begin() as c:
        s = plans.create_plan(c, admin(c), COMMUNITY, "race")
    code = f"{COMMUNITY}001"
    outcome: dict[str, object] = {}

    def second() -> None:
        with store.connect() as b:
            try:
                with b.begin():
                    edits.rename(b, admin(b), s.id, s.version, code, "second")
                outcome["second"] = "applied"
            except PreconditionFailed as exc:
                outcome["second"] = exc

    with store.connect() as a:
        tx = a.begin()
        edits.rename(a, admin(a), s.id, s.version, code, "first")
        t = threading.Thread(target=second)
        t.start()
        t.join(1.0)
        assert t.is_alive(), "the second editor waits for the first one's lock"
        tx.commit()
    t.join(30)
    assert isinstance(outcome["second"], PreconditionFailed), outcome
    with store.connect() as c:
        name, version = c.execute(
            text(
                "SELECT pa.name, p.version FROM plan_areas pa JOIN plans p ON p.id = pa.plan_id"
                " WHERE pa.plan_id = :p AND pa.code = :c"
            ),
            {"p": s.id, "c": code},
        ).one()
    assert (name, version) == ("first", s.version + 1)
