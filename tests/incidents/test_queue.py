"""The console's queue, its ETag, today's figures and the actions a caller may take now."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine, text

from gisgrid.access.auth import Caller
from gisgrid.assign.index import GridIndex
from gisgrid.errors import GisgridError, InvalidInput
from gisgrid.incidents import figures, workflow
from gisgrid.incidents.actions import allowed_actions
from gisgrid.incidents.lifecycle import ACTIONS
from gisgrid.incidents.queue import check_filters, queue_etag, queue_page
from gisgrid.paging import encode_cursor
from tests.incidents.support import CATEGORY, Beat, beat, caller, unit_username

DB = "queue_scratch"
NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def index(store: Engine) -> GridIndex:
    return GridIndex.from_areas(store)


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


def new_case(conn: Connection, index: GridIndex, here: Beat, due_in_h: float | None) -> int:
    inc = workflow.report(
        conn, caller(conn, here.worker), index, lon=here.lon, lat=here.lat, category=CATEGORY
    )
    due = None if due_in_h is None else NOW + timedelta(hours=due_in_h)
    # due_at must follow reported_at (a check constraint): a case due in the past was
    # reported a minute before it was due
    conn.execute(
        text(
            "UPDATE incidents SET due_at = CAST(:d AS timestamptz),"
            " reported_at = LEAST(reported_at, CAST(:d AS timestamptz) - interval '1 minute')"
            " WHERE id = :i"
        ),
        {"d": due, "i": inc.id},
    )
    return inc.id


def whole_queue(conn: Connection, who: Caller, limit: int = 1000, **filters: object) -> list[int]:
    f = check_filters(**filters)  # type: ignore[arg-type]
    ids: list[int] = []
    cursor = None
    while True:
        page = queue_page(conn, who, f, limit=limit, cursor=cursor)
        ids += [i.id for i in page.incidents]
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor


def expected(conn: Connection, where: str, params: dict[str, object]) -> list[int]:
    """The queue's order computed in Python from the raw rows: open, due time (none last), id."""
    rows = conn.execute(
        text(f"SELECT id, due_at, status FROM incidents WHERE {where}"), params
    ).all()
    open_ = [r for r in rows if r.status not in ("closed", "rejected")]
    far = datetime.max.replace(tzinfo=UTC)
    return [r.id for r in sorted(open_, key=lambda r: (r.due_at or far, r.id))]


def test_order_is_time_left_overdue_first_none_last(
    conn: Connection, index: GridIndex, here: Beat
) -> None:
    late = new_case(conn, index, here, -30)
    later = new_case(conn, index, here, -2)
    soon = new_case(conn, index, here, 1)
    tie_a = new_case(conn, index, here, 5)
    conn.execute(
        text(
            "UPDATE incidents SET due_at = (SELECT due_at FROM incidents WHERE id = :a)"
            " WHERE id = :b"
        ),
        {"a": tie_a, "b": (tie_b := new_case(conn, index, here, 9))},
    )
    never = new_case(conn, index, here, None)
    centre = caller(conn, here.street_centre)
    got = whole_queue(conn, centre, limit=7)
    assert got == expected(conn, "street_id = :s", {"s": here.street_id})
    mine = [i for i in got if i in {late, later, soon, tie_a, tie_b, never}]
    assert mine == [late, later, soon, tie_a, tie_b, never]


def test_filters(conn: Connection, index: GridIndex, here: Beat) -> None:
    centre = caller(conn, here.street_centre)
    a = new_case(conn, index, here, -3)
    b = new_case(conn, index, here, 4)
    workflow.act(conn, centre, b, "accept", 1)
    code = conn.execute(text("SELECT code FROM areas WHERE id = :g"), {"g": here.grid_id}).scalar()
    group = conn.execute(
        text("SELECT parent_code FROM incident_categories WHERE code = :c"), {"c": CATEGORY}
    ).scalar()
    in_street = {"s": here.street_id}
    assert whole_queue(conn, centre, status="accepted") == expected(
        conn, "street_id = :s AND status = 'accepted'", in_street
    )
    assert b in whole_queue(conn, centre, status="accepted")
    by_grid = expected(conn, "grid_id = :g", {"g": here.grid_id})
    assert whole_queue(conn, centre, grid=here.grid_id) == by_grid
    assert whole_queue(conn, centre, grid=code) == by_grid
    assert whole_queue(conn, centre, category=CATEGORY) == expected(
        conn, "street_id = :s AND category = :c", {**in_street, "c": CATEGORY}
    )
    assert set(whole_queue(conn, centre, category=group)) >= set(
        whole_queue(conn, centre, category=CATEGORY)
    )
    overdue = whole_queue(conn, centre, overdue=True)
    assert a in overdue and b not in overdue
    assert overdue == expected(conn, "street_id = :s AND due_at < now()", in_street)


def test_escalated_to_me_and_a_units_queue(conn: Connection, index: GridIndex, here: Beat) -> None:
    street = caller(conn, here.street_centre)
    district = caller(conn, here.district_centre)
    up = new_case(conn, index, here, 2)
    workflow.act(conn, street, up, "escalate", 1, note="too big for the street")
    assert up in whole_queue(conn, district, escalated=True)
    assert up not in whole_queue(conn, street, escalated=True)
    assert all(
        i.escalation_level == "district"
        for i in queue_page(conn, district, check_filters(escalated=True)).incidents
    )
    sent = new_case(conn, index, here, 6)
    workflow.act(conn, street, sent, "accept", 1)
    inc = workflow.act(conn, street, sent, "dispatch", 2)
    assert inc.assigned_unit_id is not None
    unit = caller(conn, unit_username(conn, inc.assigned_unit_id))
    mine = whole_queue(conn, unit)
    assert sent in mine and up not in mine
    assert mine == expected(conn, "assigned_unit_id = :u", {"u": inc.assigned_unit_id})
    assert whole_queue(conn, street, unit_id=inc.assigned_unit_id) == [
        i for i in mine if i in whole_queue(conn, street)
    ]
    with pytest.raises(InvalidInput) as e:
        whole_queue(conn, unit, unit_id=inc.assigned_unit_id + 1)
    assert e.value.field == "unit_id"
    with pytest.raises(InvalidInput) as e:
        whole_queue(conn, unit, escalated=True)
    assert e.value.field == "escalated"


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"status": "closed"}, "status"),
        ({"status": "lost"}, "status"),
        ({"category": "9999"}, "category"),
        ({"grid": "no-such-grid"}, "grid"),
        ({"grid": ""}, "grid"),
        ({"grid": 10**30}, "grid"),
    ],
    ids=["closed-status", "unknown-status", "category", "grid-code", "empty-grid", "huge-grid"],
)
def test_bad_filters_name_the_field(
    conn: Connection, here: Beat, filters: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as e:
        whole_queue(conn, caller(conn, here.street_centre), **filters)
    assert e.value.field == field


@pytest.mark.parametrize(
    "cursor",
    ["x", encode_cursor("yesterday", 3), encode_cursor("2026-03-01T00:00:00", 3)],
    ids=["garbage", "no-time", "naive-time"],
)
def test_a_foreign_cursor_is_refused(conn: Connection, here: Beat, cursor: str) -> None:
    with pytest.raises(InvalidInput) as e:
        queue_page(conn, caller(conn, here.street_centre), cursor=cursor)
    assert e.value.field == "cursor"


def test_paging_has_no_gaps_or_repeats_while_cases_change(
    conn: Connection, index: GridIndex, here: Beat
) -> None:
    centre = caller(conn, here.street_centre)
    for h in range(-6, 6):
        new_case(conn, index, here, h * 1.5)
    new_case(conn, index, here, None)
    before = whole_queue(conn, centre)
    seen: list[int] = []
    closed: set[int] = set()
    page = queue_page(conn, centre, limit=3)
    while True:
        seen += [i.id for i in page.incidents]
        # between pages: one case already seen and one still ahead leave the queue, and a
        # case ahead is worked on (status and version change, its due time does not)
        ahead = [i for i in before if i not in seen and i not in closed]
        for gone in [seen[-1], *ahead[1:2]]:
            conn.execute(
                text("UPDATE incidents SET status = 'rejected' WHERE id = :i"), {"i": gone}
            )
            closed.add(gone)
        if ahead:
            inc = workflow.get_incident(conn, centre, ahead[0])
            if inc.status == "reported":
                workflow.act(conn, centre, inc.id, "accept", inc.version)
        if page.next_cursor is None:
            break
        page = queue_page(conn, centre, limit=3, cursor=page.next_cursor)
    assert len(seen) == len(set(seen))  # no repeats
    stayed = [i for i in before if i not in closed]
    assert [i for i in seen if i in stayed] == stayed  # no gaps, in order


def test_nobody_sees_rows_outside_their_scope(
    conn: Connection, index: GridIndex, here: Beat
) -> None:
    mine = new_case(conn, index, here, 1)
    outsider = caller(conn, here.outsider)
    assert mine not in whole_queue(conn, outsider)
    for username in (here.worker, here.outsider, here.street_centre, here.district_centre):
        who = caller(conn, username)
        where, params = who.scope.rows_sql("incidents")
        assert whole_queue(conn, who) == expected(conn, where, params), username
    other_street = conn.execute(
        text(
            "SELECT username FROM accounts WHERE role = 'street_centre'"
            " AND scope_area_id <> :s ORDER BY id LIMIT 1"
        ),
        {"s": here.street_id},
    ).scalar()
    if other_street is not None:
        assert mine not in whole_queue(conn, caller(conn, other_street))


def test_the_etag_moves_with_writes_and_the_filters(
    conn: Connection, index: GridIndex, here: Beat
) -> None:
    centre = caller(conn, here.street_centre)
    tag = queue_etag(conn, centre)
    assert queue_etag(conn, centre) == tag
    assert queue_etag(conn, centre, check_filters(overdue=True)) != tag
    assert queue_etag(conn, caller(conn, here.district_centre)) != tag
    assert queue_etag(conn, centre, extra="cursor=x") != tag
    case = new_case(conn, index, here, 3)
    moved = queue_etag(conn, centre)
    assert moved != tag
    workflow.act(conn, centre, case, "accept", 1)
    assert queue_etag(conn, centre) != moved


def test_todays_figures(conn: Connection, index: GridIndex, here: Beat) -> None:
    centre = caller(conn, here.street_centre)
    before = figures.today(conn, centre)
    late = new_case(conn, index, here, -0.05)  # reported today, unless just after midnight
    ok = new_case(conn, index, here, 10)
    escalated = new_case(conn, index, here, 10)
    workflow.act(conn, centre, escalated, "escalate", 1, note="up")
    # close ``ok`` in time and ``late`` after its due time
    for case in (ok, late):
        conn.execute(
            text("UPDATE incidents SET status = 'feedback', version = 9 WHERE id = :i"),
            {"i": case},
        )
        workflow.act(conn, centre, case, "close", 9)
    overdue = new_case(conn, index, here, -0.1)
    after = figures.today(conn, centre)
    assert after.reported - before.reported == 4
    assert after.closed - before.closed == 2
    assert after.escalated - before.escalated == 1
    assert after.closed_recent - before.closed_recent == 2
    assert after.on_time - before.on_time == 1
    assert after.overdue - before.overdue == 1 and overdue
    assert after.on_time_rate == after.on_time / after.closed_recent
    assert figures.today(conn, caller(conn, here.outsider)).escalated == 0


def test_the_day_is_the_citys() -> None:
    # 23:30 UTC on 1 March is 07:30 on 2 March in Harbin
    assert figures.day_start(datetime(2026, 3, 1, 23, 30, tzinfo=UTC)).day == 2


@pytest.mark.parametrize("role", ["street_centre", "district_centre", "unit", "worker"])
def test_allowed_actions_are_exactly_what_act_accepts(
    conn: Connection, index: GridIndex, here: Beat, role: str
) -> None:
    """At each step of the loop, every action the library offers succeeds and every other
    one fails, for the caller at hand."""
    street = caller(conn, here.street_centre)
    case = new_case(conn, index, here, 4)
    steps = [("accept", street), ("dispatch", street)]
    who: Caller | None = None
    for step in range(len(steps) + 1):
        inc = workflow.get_incident(conn, street, case)
        if role == "unit":
            if inc.assigned_unit_id is None:
                if step < len(steps):
                    workflow.act(conn, steps[step][1], case, steps[step][0], inc.version)
                continue
            who = caller(conn, unit_username(conn, inc.assigned_unit_id))
        else:
            name = {
                "street_centre": here.street_centre,
                "district_centre": here.district_centre,
                "worker": here.worker,
            }[role]
            who = caller(conn, name)
        offered = allowed_actions(who, inc)
        for action in ACTIONS:
            sp = conn.begin_nested()
            try:
                workflow.act(conn, who, case, action, inc.version, note="n")
                worked = True
            except GisgridError:
                worked = False
            sp.rollback()
            assert worked == (action in offered), (role, inc.status, action)
        if step < len(steps):
            workflow.act(conn, steps[step][1], case, steps[step][0], inc.version)
