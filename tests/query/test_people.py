"""gisgrid.query.people: residents in scope only, never the hash, every row read audited; stats."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.access.auth import Caller
from gisgrid.access.scope import Scope
from gisgrid.errors import InvalidInput, NotFound, PermissionDenied
from gisgrid.query import people
from gisgrid.store import models as m
from tests.store.test_models import INNER, POINT, SQUARE, insert

OTHER = (
    "SRID=4326;MULTIPOLYGON(((126.63 45.71,126.64 45.71,126.64 45.72,126.63 45.72,126.63 45.71)))"
)


@pytest.fixture()
def town(db: Session) -> dict[str, Any]:
    city = insert(db, m.Area(code="230100", name="city", level="city", geom=SQUARE))
    g1 = insert(db, m.Area(code="g1", name="g1", level="grid", parent_id=city.id, geom=INNER))
    g2 = insert(db, m.Area(code="g2", name="g2", level="grid", parent_id=city.id, geom=OTHER))
    hh = insert(db, m.Household(address="a", geom=POINT))
    # g1: five elderly living alone born 1940, two disabled born 1990; g2: three people
    ours = [
        insert(
            db,
            m.Resident(
                household_id=hh.id,
                name=f"r{i}",
                id_hash=f"{i:064x}",
                birth_year=1940 if i < 5 else 1990,
                tags=["elderly_alone"] if i < 5 else ["disabled"],
                grid_id=g1.id,
            ),
        ).id
        for i in range(7)
    ]
    theirs = [
        insert(db, m.Resident(household_id=hh.id, name=f"s{i}", grid_id=g2.id)).id for i in range(3)
    ]
    accounts = {
        role: insert(db, m.Account(username=role, role=role, scope_area_id=g1.id))
        for role in ("grid_worker", "analyst", "planner")
    }
    callers = {
        role: Caller(a.id, role, None, role, None, Scope(level="grid", area_id=g1.id))
        for role, a in accounts.items()
    }
    return {"g1": g1, "g2": g2, "ours": ours, "theirs": theirs, "callers": callers}


def _audited(db: Session, caller: Caller) -> list[int]:
    return list(
        db.execute(
            text(
                "SELECT row_id FROM audit_log WHERE account_id = :a AND action = 'read_resident'"
                " AND \"table\" = 'residents' ORDER BY row_id"
            ),
            {"a": caller.account_id},
        ).scalars()
    )


def test_a_worker_reads_their_grid_and_every_row_is_audited(
    db: Session, town: dict[str, Any]
) -> None:
    worker = town["callers"]["grid_worker"]
    found = people.list_residents(db, worker)
    assert [r.id for r in found] == town["ours"]
    assert not any(hasattr(r, "id_hash") or hasattr(r, "phone_hash") for r in found)
    assert _audited(db, worker) == town["ours"]
    tagged = people.list_residents(db, worker, tag="disabled", grid_code="g1", limit=1)
    assert [r.id for r in tagged] == town["ours"][5:6]
    assert people.list_residents(db, worker, grid_code="g2") == []
    assert _audited(db, worker) == sorted([*town["ours"], town["ours"][5]])


def test_outside_the_scope_is_absent_and_not_audited(db: Session, town: dict[str, Any]) -> None:
    worker = town["callers"]["grid_worker"]
    with pytest.raises(NotFound):
        people.get_resident(db, worker, town["theirs"][0])
    with pytest.raises(NotFound):
        people.get_resident(db, worker, 10**15)
    assert _audited(db, worker) == []
    assert people.get_resident(db, worker, town["ours"][0]).name == "r0"
    assert _audited(db, worker) == town["ours"][:1]


@pytest.mark.parametrize("role", ["analyst", "planner"])
def test_other_roles_read_no_rows(db: Session, town: dict[str, Any], role: str) -> None:
    with pytest.raises(PermissionDenied):
        people.list_residents(db, town["callers"][role])
    with pytest.raises(PermissionDenied):
        people.get_resident(db, town["callers"][role], town["ours"][0])


def test_stats_by_hand(db: Session, town: dict[str, Any]) -> None:
    s = people.resident_stats(db, town["callers"]["analyst"], year=2026)
    assert s.total == 7
    assert s.by_tag["elderly_alone"] == 5
    assert s.by_tag["disabled"] is None  # 2 < 5
    assert s.by_tag["low_income"] == 0
    # 80+ is 5 and 18-59 is 2: hiding only 18-59 would leave it as 7 - 5, so both go
    assert s.by_age_band == {"0-17": 0, "18-59": None, "60-79": 0, "80+": None, "unknown": 0}
    with pytest.raises(PermissionDenied):
        people.resident_stats(db, town["callers"]["planner"])


def test_bad_input_names_the_field(db: Session, town: dict[str, Any]) -> None:
    worker = town["callers"]["grid_worker"]
    with pytest.raises(InvalidInput, match="tag"):
        people.list_residents(db, worker, tag="vip")
    with pytest.raises(InvalidInput) as err:
        people.list_residents(db, worker, limit=0)
    assert err.value.field == "limit"
