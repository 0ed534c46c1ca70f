"""The closed loop in the library: transitions, roles, holder level, scope, versions."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, text

from gisgrid import vocab
from gisgrid.assign.index import GridIndex
from gisgrid.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
)
from gisgrid.incidents import workflow
from gisgrid.incidents.lifecycle import ROLES, TRANSITIONS
from gisgrid.incidents.workflow import act, events, get_incident, report
from tests.incidents.support import CATEGORY, Beat, beat, caller, crs_twin, unit_username

DB = "workflow_scratch"


@pytest.fixture(scope="module")
def index(store: Engine) -> GridIndex:
    return GridIndex.from_areas(store)


@pytest.fixture(scope="module")
def here(store: Engine) -> Beat:
    return beat(store)


@pytest.fixture()
def conn(store: Engine) -> Iterator[Connection]:
    """A connection whose changes are rolled back after the test."""
    with store.connect() as c:
        tx = c.begin()
        try:
            yield c
        finally:
            tx.rollback()


def new_case(conn: Connection, index: GridIndex, here: Beat) -> workflow.Incident:
    return report(
        conn, caller(conn, here.worker), index, lon=here.lon, lat=here.lat, category=CATEGORY
    )


def test_the_table_speaks_the_vocabulary() -> None:
    statuses = set(vocab.INCIDENT_STATUSES)
    assert {s for s, _ in TRANSITIONS} | set(TRANSITIONS.values()) <= statuses
    assert {a for _, a in TRANSITIONS} == set(ROLES)
    assert all(set(roles) <= set(vocab.ROLES) for roles in ROLES.values())
    # nothing leaves closed or rejected
    assert not [k for k in TRANSITIONS if k[0] in ("closed", "rejected")]


def test_report_assigns_grid_hierarchy_and_due(
    conn: Connection, index: GridIndex, here: Beat
) -> None:
    inc = new_case(conn, index, here)
    assert (inc.grid_id, inc.street_id, inc.district_id) == (
        here.grid_id,
        here.street_id,
        here.district_id,
    )
    assert (inc.status, inc.version, inc.escalation_level) == ("reported", 1, "grid")
    assert inc.due_at is not None and inc.due_at > inc.reported_at
    [ev] = events(conn, caller(conn, here.worker), inc.id)
    assert (ev.from_status, ev.to_status) == (None, "reported")


def test_full_loop_writes_one_event_per_step(
    conn: Connection, index: GridIndex, here: Beat
) -> None:
    inc = new_case(conn, index, here)
    centre = caller(conn, here.street_centre)
    inc = act(conn, centre, inc.id, "accept", 1)
    inc = act(conn, centre, inc.id, "dispatch", 2)  # nearest capable available unit
    [best] = workflow.suggest_units(conn, centre, inc.id, k=1)
    assert inc.assigned_unit_id == best.id
    unit = caller(conn, unit_username(conn, best.id))
    inc = act(conn, unit, inc.id, "start", 3)
    inc = act(conn, unit, inc.id, "feedback", 4, note="cleared")
    inc = act(conn, centre, inc.id, "send_back", 5)
    inc = act(conn, unit, inc.id, "feedback", 6, note="cleared, bins washed")
    inc = act(conn, centre, inc.id, "close", 7)
    assert (inc.status, inc.version) == ("closed", 8)
    assert inc.closed_at is not None
    evs = events(conn, centre, inc.id)
    assert [(e.from_status, e.to_status) for e in evs] == [
        (None, "reported"),
        ("reported", "accepted"),
        ("accepted", "dispatched"),
        ("dispatched", "in_progress"),
        ("in_progress", "feedback"),
        ("feedback", "in_progress"),
        ("in_progress", "feedback"),
        ("feedback", "closed"),
    ]
    assert evs[2].unit_id == best.id and evs[4].note == "cleared"
    assert [e.actor_id for e in evs[3:5]] == [unit.account_id] * 2


def test_stale_version_and_wrong_status(conn: Connection, index: GridIndex, here: Beat) -> None:
    inc = new_case(conn, index, here)
    centre = caller(conn, here.street_centre)
    act(conn, centre, inc.id, "accept", 1)
    with pytest.raises(PreconditionFailed):
        act(conn, centre, inc.id, "reject", 1, note="dup")
    with pytest.raises(Conflict, match="cannot close an incident that is accepted"):
        act(conn, centre, inc.id, "close", 2)


def test_a_change_between_read_and_update_is_a_conflict(
    conn: Connection, index: GridIndex, here: Beat, monkeypatch: pytest.MonkeyPatch
) -> None:
    inc = new_case(conn, index, here)
    centre = caller(conn, here.street_centre)
    conn.execute(text("UPDATE incidents SET version = 2 WHERE id = :i"), {"i": inc.id})
    # the read still sees version 1 (as if it ran before the other writer committed)
    monkeypatch.setattr(workflow, "get_incident", lambda *a, **k: inc)
    with pytest.raises(Conflict, match="concurrently"):
        act(conn, centre, inc.id, "accept", 1)


def test_a_true_race_serialises_and_the_second_is_stale(
    store: Engine, index: GridIndex, here: Beat
) -> None:
    """Two centres act at once with the same version: the second waits on the row lock,
    then sees the first one's version."""
    with store.begin() as c:
        inc = new_case(c, index, here)
    outcome: list[Exception | workflow.Incident] = []
    with store.connect() as a, store.connect() as b:
        ta = a.begin()
        act(a, caller(a, here.street_centre), inc.id, "accept", 1)  # holds the lock

        def second() -> None:
            with b.begin():
                try:
                    outcome.append(act(b, caller(b, here.city_centre), inc.id, "accept", 1))
                except Exception as exc:  # handed to the main thread, asserted there
                    outcome.append(exc)

        t = threading.Thread(target=second)
        t.start()
        t.join(timeout=1.0)
        assert t.is_alive()  # blocked behind the first transaction
        ta.commit()
        t.join(timeout=30)
    assert len(outcome) == 1 and isinstance(outcome[0], PreconditionFailed)
    with store.connect() as c:
        now = get_incident(c, caller(c, here.street_centre), inc.id)
        assert (now.status, now.version) == ("accepted", 2)
        assert len(events(c, caller(c, here.street_centre), inc.id)) == 2


def test_roles_and_notes(conn: Connection, index: GridIndex, here: Beat) -> None:
    inc = new_case(conn, index, here)
    with pytest.raises(PermissionDenied):
        act(conn, caller(conn, here.worker), inc.id, "accept", 1)
    with pytest.raises(PermissionDenied):
        report(
            conn,
            caller(conn, here.street_centre),
            index,
            lon=here.lon,
            lat=here.lat,
            category=CATEGORY,
        )
    with pytest.raises(InvalidInput, match="reject needs a note") as info:
        act(conn, caller(conn, here.street_centre), inc.id, "reject", 1)
    assert info.value.field == "note"
    with pytest.raises(InvalidInput) as info:
        act(conn, caller(conn, here.street_centre), inc.id, "fly", 1)
    assert info.value.field == "action"


def test_scope_hides_other_grids(conn: Connection, index: GridIndex, here: Beat) -> None:
    inc = new_case(conn, index, here)
    other = caller(conn, here.outsider)
    with pytest.raises(NotFound):
        get_incident(conn, other, inc.id)
    with pytest.raises(NotFound):
        act(conn, other, inc.id, "accept", 1)
    assert inc.id not in [i.id for i in workflow.list_incidents(conn, other)]


def test_report_outside_scope_or_grids(conn: Connection, index: GridIndex, here: Beat) -> None:
    worker = caller(conn, here.worker)
    far = conn.execute(
        text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM areas"
            " WHERE level = 'grid' AND id <> :g ORDER BY id LIMIT 1) s"
        ),
        {"g": here.grid_id},
    ).one()
    with pytest.raises(PermissionDenied):
        report(conn, worker, index, lon=far[0], lat=far[1], category=CATEGORY)
    with pytest.raises(InvalidInput, match="outside every grid"):
        report(conn, worker, index, lon=0.0, lat=0.0, category=CATEGORY)
    with pytest.raises(InvalidInput) as info:
        report(conn, worker, index, lon=here.lon, lat=here.lat, category="9999")
    assert info.value.field == "category"


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_report_takes_gcj02_and_bd09(
    conn: Connection, index: GridIndex, store: Engine, crs: str
) -> None:
    """A point given in a Chinese map's system lands in the grid of its WGS84 twin, and is
    stored (and returned) in WGS84."""
    twin = crs_twin(store, index)
    worker = caller(conn, twin.worker)
    x, y = getattr(twin, crs)
    inc = report(conn, worker, index, lon=x, lat=y, category=CATEGORY, crs=crs)
    assert inc.grid_id == twin.grid_id
    assert inc.lon == pytest.approx(twin.lon, abs=1e-7)
    assert inc.lat == pytest.approx(twin.lat, abs=1e-7)
    # the same numbers read as WGS84 lie outside the worker's grid
    with pytest.raises((PermissionDenied, InvalidInput)):
        report(conn, worker, index, lon=x, lat=y, category=CATEGORY)
    with pytest.raises(InvalidInput) as info:
        report(conn, worker, index, lon=x, lat=y, category=CATEGORY, crs="gcj")
    assert info.value.field == "crs"


def test_dispatch_checks_the_unit(conn: Connection, index: GridIndex, here: Beat) -> None:
    inc = new_case(conn, index, here)
    centre = caller(conn, here.street_centre)
    act(conn, centre, inc.id, "accept", 1)
    police = conn.execute(
        text("SELECT id FROM units WHERE kind = 'police' ORDER BY id LIMIT 1")
    ).scalar_one()
    with pytest.raises(InvalidInput, match="does not handle") as info:
        act(conn, centre, inc.id, "dispatch", 2, unit_id=police)
    assert info.value.field == "unit_id"
    idle = conn.execute(
        text(
            "UPDATE units SET available = false WHERE id = (SELECT id FROM units"
            " WHERE :c = ANY(categories) ORDER BY id LIMIT 1) RETURNING id"
        ),
        {"c": CATEGORY},
    ).scalar_one()
    with pytest.raises(InvalidInput, match="not available"):
        act(conn, centre, inc.id, "dispatch", 2, unit_id=idle)
    with pytest.raises(InvalidInput, match="no unit"):
        act(conn, centre, inc.id, "dispatch", 2, unit_id=10**9)


def test_return_goes_back_to_the_centre(conn: Connection, index: GridIndex, here: Beat) -> None:
    inc = new_case(conn, index, here)
    centre = caller(conn, here.street_centre)
    act(conn, centre, inc.id, "accept", 1)
    inc = act(conn, centre, inc.id, "dispatch", 2)
    first = inc.assigned_unit_id
    assert first is not None
    unit = caller(conn, unit_username(conn, first))
    other = conn.execute(
        text(
            "INSERT INTO units (name, kind, categories, area_id, geom)"
            " VALUES ('spare crew', 'sanitation', ARRAY[:c], :d,"
            " ST_SetSRID(ST_MakePoint(:x, :y), 4326)) RETURNING id"
        ),
        {"c": CATEGORY, "d": here.district_id, "x": here.lon, "y": here.lat},
    ).scalar_one()
    conn.execute(
        text(
            "INSERT INTO accounts (username, role, unit_id, scope_area_id)"
            " VALUES ('unit_spare', 'unit', :u, :d)"
        ),
        {"u": other, "d": here.district_id},
    )
    with pytest.raises(PermissionDenied):  # only the unit it is dispatched to
        act(conn, caller(conn, "unit_spare"), inc.id, "start", 3)
    inc = act(conn, unit, inc.id, "return", 3, note="not ours: private land")
    assert (inc.status, inc.assigned_unit_id) == ("returned", None)
    with pytest.raises((PermissionDenied, NotFound)):  # no longer its case
        act(conn, unit, inc.id, "start", 4)
    inc = act(conn, centre, inc.id, "dispatch", 4, unit_id=other)
    assert (inc.status, inc.assigned_unit_id) == ("dispatched", other)
    evs = events(conn, centre, inc.id)
    assert (evs[3].to_status, evs[3].unit_id, evs[3].note) == (
        "returned",
        first,
        "not ours: private land",
    )


def test_escalation_climbs_to_the_city_and_stops(
    conn: Connection, index: GridIndex, here: Beat
) -> None:
    inc = new_case(conn, index, here)
    street = caller(conn, here.street_centre)
    district = caller(conn, here.district_centre)
    city = caller(conn, here.city_centre)
    inc = act(conn, street, inc.id, "escalate", 1, note="needs the district")
    assert (inc.status, inc.escalation_level) == ("escalated", "district")
    with pytest.raises(PermissionDenied, match="district centre"):
        act(conn, street, inc.id, "accept", 2)
    inc = act(conn, district, inc.id, "escalate", 2, note="needs the city")
    assert inc.escalation_level == "city"
    with pytest.raises(PermissionDenied):
        act(conn, district, inc.id, "accept", 3)
    with pytest.raises(Conflict, match="cannot be escalated further"):
        act(conn, city, inc.id, "escalate", 3, note="higher?")
    inc = act(conn, city, inc.id, "accept", 3)
    assert (inc.status, inc.escalation_level, inc.version) == ("accepted", "city", 4)
