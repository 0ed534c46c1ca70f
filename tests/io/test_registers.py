"""Register writes from the field: visit logs and tags, in scope, checked, audited."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text

from gisgrid.errors import InvalidInput, NotFound, PermissionDenied, PreconditionFailed
from gisgrid.io import registers
from gisgrid.query import people
from tests.incidents.support import Beat, beat, caller

DB = "registers_scratch"


@pytest.fixture(scope="module")
def here(store: Engine) -> Beat:
    return beat(store)


@pytest.fixture()
def conn(store: Engine) -> Iterator[Connection]:
    with store.connect() as c:
        tx = c.begin()
        try:
            yield c
        finally:
            tx.rollback()


def household_in(conn: Connection, grid_id: int, other: bool = False) -> int:
    op = "<>" if other else "="
    return int(
        conn.execute(
            text(f"SELECT id FROM households WHERE grid_id {op} :g ORDER BY id LIMIT 1"),
            {"g": grid_id},
        ).scalar_one()
    )


def resident_in(conn: Connection, grid_id: int) -> int:
    return int(
        conn.execute(
            text("SELECT id FROM residents WHERE grid_id = :g ORDER BY id LIMIT 1"), {"g": grid_id}
        ).scalar_one()
    )


def audit(conn: Connection, table: str, row_id: int) -> list[Any]:
    return list(
        conn.execute(
            text(
                'SELECT account_id, action, detail FROM audit_log WHERE "table" = :t'
                " AND row_id = :r AND action <> 'read_household' ORDER BY id"
            ),
            {"t": table, "r": row_id},
        )
    )


def test_visit_log_at_the_households_point_and_audited(conn: Connection, here: Beat) -> None:
    me = caller(conn, here.worker)
    h = household_in(conn, here.grid_id)
    log = registers.add_visit_log(
        conn, me, h, need_category="0601", mood="worried", note="needs a ramp"
    )
    row = conn.execute(
        text(
            "SELECT v.worker_id, v.subject_type, v.subject_id, v.grid_id, v.mood,"
            " ST_Equals(v.geom, coalesce(h.geom, ST_PointOnSurface(b.geom))) AS same_point"
            " FROM visit_logs v JOIN households h ON h.id = v.subject_id"
            " LEFT JOIN buildings b ON b.id = h.building_id WHERE v.id = :id"
        ),
        {"id": log.id},
    ).one()
    assert (row.worker_id, row.subject_type, row.subject_id) == (me.account_id, "household", h)
    assert row.grid_id == here.grid_id and row.same_point and row.mood == "worried"
    [(who, action, detail)] = audit(conn, "visit_logs", log.id)
    assert (who, action) == (me.account_id, "add_visit_log")
    assert detail["before"] is None and detail["after"]["note"] == "needs a ramp"


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"mood": "ecstatic"}, "mood"),
        ({"need_category": "9999"}, "need_category"),
        ({"visited_at": "yesterday"}, "visited_at"),
        ({"note": "x" * 4001}, "note"),
    ],
    ids=["mood", "need-category", "visited-at", "long-note"],
)
def test_a_bad_visit_log_names_the_field_and_writes_nothing(
    conn: Connection, here: Beat, kw: dict[str, Any], field: str
) -> None:
    before = conn.execute(text("SELECT count(*) FROM visit_logs")).scalar_one()
    with pytest.raises(InvalidInput) as err:
        registers.add_visit_log(
            conn, caller(conn, here.worker), household_in(conn, here.grid_id), **kw
        )
    assert err.value.field == field
    assert conn.execute(text("SELECT count(*) FROM visit_logs")).scalar_one() == before


def test_outside_the_grid_is_not_found(conn: Connection, here: Beat) -> None:
    other = household_in(conn, here.grid_id, other=True)
    me = caller(conn, here.worker)
    with pytest.raises(NotFound):
        registers.add_visit_log(conn, me, other, mood="calm")
    with pytest.raises(NotFound):
        registers.set_tags(conn, me, "households", other, ["rental"], 1)


def test_an_analyst_may_not_write(conn: Connection, here: Beat) -> None:
    analyst = conn.execute(
        text("SELECT username FROM accounts WHERE role = 'analyst' LIMIT 1")
    ).scalar_one()
    with pytest.raises(PermissionDenied):
        registers.add_visit_log(
            conn, caller(conn, analyst), household_in(conn, here.grid_id), mood="calm"
        )


@pytest.mark.parametrize(
    ("table", "tags"),
    [("households", ["rental", "elderly_only"]), ("residents", ["elderly_alone", "disabled"])],
    ids=["household", "resident"],
)
def test_tags_with_version_and_audit(
    conn: Connection, here: Beat, table: str, tags: list[str]
) -> None:
    me = caller(conn, here.worker)
    row_id = (
        household_in(conn, here.grid_id)
        if table == "households"
        else resident_in(conn, here.grid_id)
    )
    old = conn.execute(
        text(f"SELECT tags, version FROM {table} WHERE id = :i"), {"i": row_id}
    ).one()
    got = registers.set_tags(conn, me, table, row_id, tags, old.version)
    assert (got.tags, got.version) == (tags, old.version + 1)
    [(who, action, detail)] = audit(conn, table, row_id)
    assert (who, action) == (me.account_id, "update_tags")
    assert detail == {
        "before": {"tags": list(old.tags), "version": old.version},
        "after": {"tags": tags, "version": old.version + 1},
    }
    with pytest.raises(PreconditionFailed):
        registers.set_tags(conn, me, table, row_id, [], old.version)
    with pytest.raises(InvalidInput) as err:
        registers.set_tags(conn, me, table, row_id, ["mansion"], got.version)
    assert err.value.field == "tags"


def test_households_list_is_scoped_and_audited(conn: Connection, here: Beat) -> None:
    me = caller(conn, here.worker)
    found = people.list_households(conn, me)
    assert found and {h.grid_id for h in found} == {here.grid_id}
    n = conn.execute(
        text("SELECT count(*) FROM audit_log WHERE action = 'read_household' AND account_id = :a"),
        {"a": me.account_id},
    ).scalar_one()
    assert n == len(found)
