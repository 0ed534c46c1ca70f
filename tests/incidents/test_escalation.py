"""Automatic escalation: the policy on the working calendar, the statuses it may touch, and a
sweep that is idempotent and escalates each case once however many sweepers run."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from gisgrid.assign.index import GridIndex
from gisgrid.errors import InvalidInput, PermissionDenied
from gisgrid.incidents.escalation import ESCALATABLE, EscalationPolicy, sweep
from gisgrid.incidents.lifecycle import OPEN_STATUSES, TRANSITIONS, levels_held_by
from gisgrid.incidents.workflow import act, get_incident, report
from gisgrid.times import CITY_TZ
from tests.incidents.support import CATEGORY, Beat, beat, caller

DB = "escalation_scratch"  # its own copy of the tiny city (the sweep commits)
FRIDAY = datetime(2026, 11, 27, 10, 0, tzinfo=CITY_TZ)
MONDAY = date(2026, 11, 30)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A time in the city in the week of :data:`FRIDAY` (day of the month, Nov/Dec 2026)."""
    if day > 30:
        return datetime(2026, 12, day - 30, hour, minute, tzinfo=CITY_TZ)
    return datetime(2026, 11, day, hour, minute, tzinfo=CITY_TZ)


@pytest.fixture(scope="module")
def index(store: Engine) -> GridIndex:
    return GridIndex.from_areas(store)


@pytest.fixture(scope="module")
def here(store: Engine) -> Beat:
    return beat(store)


@pytest.fixture(autouse=True)
def _no_other_cases(store: Engine) -> Iterator[None]:
    """The sweep commits and sweeps the whole store (this module's copy of the tiny city):
    each test starts and ends with no incidents but its own (events cascade)."""

    def clear() -> None:
        with store.begin() as conn:
            conn.execute(text("DELETE FROM incidents"))

    clear()
    yield
    clear()


def new_case(
    store: Engine,
    index: GridIndex,
    here: Beat,
    due: datetime = FRIDAY,
    *,
    priority: str = "normal",
    status: str = "reported",
    level: str = "grid",
) -> int:
    """A case reported by the worker, then set to be due at ``due`` in ``status``/``level``."""
    with store.begin() as conn:
        inc = report(
            conn,
            caller(conn, here.worker),
            index,
            lon=here.lon,
            lat=here.lat,
            category=CATEGORY,
            priority=priority,
            reported_at=due - timedelta(days=3),
        )
        conn.execute(
            text(
                "UPDATE incidents SET due_at = :due, status = :status, escalation_level = :level"
                " WHERE id = :id"
            ),
            {"due": due, "status": status, "level": level, "id": inc.id},
        )
    return inc.id


def state(store: Engine, incident_id: int) -> tuple[str, str, int]:
    with store.connect() as conn:
        r = conn.execute(
            text("SELECT status, escalation_level, version FROM incidents WHERE id = :id"),
            {"id": incident_id},
        ).one()
    return r.status, r.escalation_level, r.version


def escalation_events(store: Engine, incident_id: int) -> list[tuple[int | None, str, str]]:
    with store.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT actor_id, from_status, note FROM incident_events"
                " WHERE incident_id = :id AND to_status = 'escalated' ORDER BY at, id"
            ),
            {"id": incident_id},
        ).all()
    return [(r.actor_id, r.from_status, r.note) for r in rows]


# -- the policy on the calendar -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("holidays", "to_district", "to_city"),
    [
        ((), at(30, 10), at(31, 10)),  # Friday 10:00 -> Monday 10:00 -> Tuesday 10:00
        ((MONDAY,), at(31, 10), at(32, 10)),  # Monday a holiday: one day later each
    ],
    ids=["friday-due", "friday-due-monday-holiday"],
)
def test_a_friday_case_moves_up_one_centre_per_working_day_overdue(
    store: Engine,
    index: GridIndex,
    here: Beat,
    holidays: tuple[date, ...],
    to_district: datetime,
    to_city: datetime,
) -> None:
    policy = EscalationPolicy(holidays=frozenset(holidays))
    case = new_case(store, index, here)
    minute = timedelta(minutes=1)
    # the weekend (and the holiday) do not count: not yet one working day overdue
    assert sweep(store, to_district - minute, policy).escalated == []
    assert state(store, case)[:2] == ("reported", "grid")

    first = sweep(store, to_district, policy)
    assert first.ids == [case] and first.by_level == {"district": 1}
    assert state(store, case)[:2] == ("escalated", "district")
    assert sweep(store, to_city - minute, policy).escalated == []

    second = sweep(store, to_city, policy)
    assert second.by_level == {"city": 1}
    assert state(store, case)[:2] == ("escalated", "city")
    assert escalation_events(store, case) == [
        (
            None,
            "reported",
            "automatic: 1 working day overdue (due 2026-11-27 10:00),"
            " escalated to the district centre",
        ),
        (
            None,
            "escalated",
            "automatic: 2 working days overdue (due 2026-11-27 10:00),"
            " escalated to the city centre",
        ),
    ]
    # the city centre is the top: a case there stays, however late
    assert sweep(store, to_city + timedelta(days=30), policy).escalated == []


def test_urgent_cases_move_up_by_clock_hours_weekend_included(
    store: Engine, index: GridIndex, here: Beat
) -> None:
    saturday = at(28, 10)
    case = new_case(store, index, here, saturday, priority="urgent")
    policy = EscalationPolicy(urgent_step_h=2)
    assert sweep(store, at(28, 11, 59), policy).escalated == []
    assert sweep(store, at(28, 12), policy).by_level == {"district": 1}
    assert sweep(store, at(28, 14), policy).by_level == {"city": 1}
    assert escalation_events(store, case)[-1][2].startswith("automatic: urgent, 4 hours overdue")


def test_a_late_sweep_goes_straight_to_the_centre_due_in_one_event(
    store: Engine, index: GridIndex, here: Beat
) -> None:
    # the server was down all week: the case reaches the city centre at once, one step
    case = new_case(store, index, here)
    result = sweep(store, at(33, 9))
    assert result.by_level == {"city": 1}
    assert state(store, case) == ("escalated", "city", 2)
    assert len(escalation_events(store, case)) == 1


def test_a_case_escalated_by_hand_is_not_escalated_again_for_the_same_step(
    store: Engine, index: GridIndex, here: Beat
) -> None:
    case = new_case(store, index, here, status="escalated", level="district")
    assert sweep(store, at(30, 10)).escalated == []  # one day overdue: district is due
    assert sweep(store, at(31, 10)).by_level == {"city": 1}
    assert [e[1] for e in escalation_events(store, case)] == ["escalated"]


def test_the_policy_refuses_a_step_of_nothing() -> None:
    with pytest.raises(InvalidInput) as err:
        EscalationPolicy(step_days=0)
    assert err.value.field == "step_days"


# -- which cases ---------------------------------------------------------------------------------


def test_the_sweep_escalates_what_a_centre_may_escalate() -> None:
    assert set(ESCALATABLE) == {s for s, a in TRANSITIONS if a == "escalate"}
    assert set(ESCALATABLE) == {"reported", "accepted", "returned", "escalated"}


@pytest.mark.parametrize(
    ("status", "moves"),
    [(s, s in ESCALATABLE) for s in (*OPEN_STATUSES, "closed", "rejected")],
    ids=lambda v: str(v),
)
def test_statuses_the_sweep_may_not_touch_are_skipped(
    store: Engine, index: GridIndex, here: Beat, status: str, moves: bool
) -> None:
    case = new_case(store, index, here, status=status)
    before = state(store, case)
    result = sweep(store, at(30, 10))
    if moves:
        assert result.ids == [case]
        assert state(store, case) == ("escalated", "district", before[2] + 1)
        assert [e[1] for e in escalation_events(store, case)] == [status]
    else:
        assert result.escalated == []
        assert state(store, case) == before
        assert escalation_events(store, case) == []


# -- idempotent, and once however many sweep ----------------------------------------------------


def test_a_second_sweep_at_the_same_time_escalates_nothing(
    store: Engine, index: GridIndex, here: Beat
) -> None:
    cases = [new_case(store, index, here) for _ in range(3)]
    now = at(30, 12)
    assert sorted(sweep(store, now).ids) == cases
    versions = [state(store, c)[2] for c in cases]
    assert sweep(store, now).escalated == []
    assert [state(store, c)[2] for c in cases] == versions
    assert all(len(escalation_events(store, c)) == 1 for c in cases)


def test_two_sweepers_at_once_escalate_each_case_once(
    store: Engine, index: GridIndex, here: Beat
) -> None:
    cases = [new_case(store, index, here) for _ in range(24)]
    now = at(30, 12)
    start = threading.Barrier(2)
    results = []

    def run() -> None:
        start.wait()
        # small batches, so the two sweepers interleave batch by batch
        results.append(sweep(store, now, batch=2))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 2
    ids = results[0].ids + results[1].ids
    assert sorted(ids) == cases  # every case, none twice
    assert all(len(escalation_events(store, c)) == 1 for c in cases)
    assert all(state(store, c) == ("escalated", "district", 2) for c in cases)


def test_a_case_another_transaction_holds_is_skipped_not_waited_for(
    store: Engine, index: GridIndex, here: Beat
) -> None:
    held, free = new_case(store, index, here), new_case(store, index, here)
    now = at(30, 12)
    results = []
    with store.connect() as other, other.begin():
        other.execute(text("SELECT 1 FROM incidents WHERE id = :id FOR UPDATE"), {"id": held})
        # in a thread: a sweep that waited for the lock would fail the test, not hang it
        sweeper = threading.Thread(target=lambda: results.append(sweep(store, now)))
        sweeper.start()
        sweeper.join(timeout=10)
        waited = sweeper.is_alive()
    sweeper.join()
    assert not waited, "the sweep waited for a row another transaction holds"
    assert results[0].ids == [free] and results[0].skipped_busy == 1
    assert sweep(store, now).ids == [held]  # the next sweep takes it


def test_the_escalated_case_is_the_district_centres_to_accept(
    store: Engine, index: GridIndex, here: Beat
) -> None:
    case = new_case(store, index, here)
    with store.connect() as conn:
        versions = conn.execute(
            text("SELECT version FROM tile_versions WHERE layer = 'incidents'")
        ).scalar_one()
    sweep(store, at(30, 10))
    with store.begin() as conn:
        # tiles keyed on the incidents' version are not served stale after a sweep
        moved = conn.execute(
            text("SELECT version FROM tile_versions WHERE layer = 'incidents'")
        ).scalar_one()
        assert moved > versions
        inc = get_incident(conn, caller(conn, here.district_centre), case)
        after = act(conn, caller(conn, here.district_centre), case, "accept", inc.version)
    assert (after.status, after.escalation_level) == ("accepted", "district")


def test_an_escalated_case_is_held_by_the_centre_it_went_to(
    store: Engine, index: GridIndex, here: Beat
) -> None:
    # "escalated to me": the case is at a level the district centre holds, and the street
    # centre, which held it before, may no longer act on it
    case = new_case(store, index, here)
    sweep(store, at(30, 10))
    with store.begin() as conn:
        inc = get_incident(conn, caller(conn, here.district_centre), case)
        assert inc.escalation_level in levels_held_by("district_centre")
        assert inc.escalation_level not in levels_held_by("street_centre")
        with pytest.raises(PermissionDenied):
            act(conn, caller(conn, here.street_centre), case, "accept", inc.version)


def test_now_must_carry_its_zone(store: Engine) -> None:
    with pytest.raises(InvalidInput) as err:
        sweep(store, datetime(2026, 11, 30, 10, 0))
    assert err.value.field == "now"
