"""The console's queue: the open cases of the caller's scope, most urgent first.

Order: time left on the SLA (``due_at - now``), so the most overdue case comes first and a
case with no due time comes last; ties by id. Since ``now`` is the same for every row, that
is the order of ``due_at`` itself: the queue reorders as cases age without anything being
written, and a page is the rows after the previous page's last (due_at, id) key (keyset paging,
gisgrid.paging), so a page costs the same however deep it is. A case that changes while a
client pages keeps its place (its due time does not move) or leaves the queue (closed,
rejected), so the pages have neither gaps nor repeats of the cases that stayed.

Who sees what is :func:`gisgrid.incidents.workflow._visible_sql`, the one scope rule of
incidents. A unit's queue is the cases dispatched to its unit.

Filters: ``status`` (one of the open statuses), ``category`` (a small item, or a group and
every item under it), ``grid`` (a grid id, or a grid code: every version of that grid),
``overdue``, ``escalated`` (held at the caller's own centre level after an escalation) and
``unit_id`` (cases assigned to that unit; a unit account is held to its own).

:func:`queue_etag` is the cheap version of a queue a client polls with If-None-Match: the
store's incident write counter and its overdue clock (``gisgrid_tile_versions()``, what the
tile caches key on), with the caller and the filters.

Examples
--------
>>> check_filters(status="closed")
Traceback (most recent call last):
...
gisgrid.errors.InvalidInput: status: status='closed' is not an open status; expected one \
of ['reported', 'accepted', 'dispatched', 'in_progress', 'feedback', 'returned', 'escalated']
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from gisgrid.access.auth import Caller
from gisgrid.errors import InvalidInput
from gisgrid.incidents.lifecycle import CENTRE_LEVEL, LEVEL_OF_RANK, OPEN_STATUSES, UNIT_ROLES
from gisgrid.incidents.workflow import _COLUMNS, MAX_LIST, Conn, Incident, _visible_sql
from gisgrid.numbers import as_int
from gisgrid.paging import decode_cursor, encode_cursor
from gisgrid.query.nearest import check_category

# The sort key: a case without a due time sorts last (as "infinity", which PostgreSQL orders
# after every time). The same expression is indexed (migration 0009), per scope level.
DUE_KEY = "COALESCE(i.due_at, 'infinity'::timestamptz)"
# Written as the indexes' predicate, so the planner can use the partial indexes.
OPEN_SQL = "i.status NOT IN ('closed', 'rejected')"
NO_DUE = "infinity"


@dataclass(frozen=True)
class QueueFilters:
    """The queue's filters, checked (see :func:`check_filters`)."""

    status: str | None = None
    category: str | None = None
    grid: str | None = None
    overdue: bool = False
    escalated: bool = False
    unit_id: int | None = None


@dataclass(frozen=True)
class QueuePage:
    """One page of the queue; ``next_cursor`` is None on the last page."""

    incidents: list[Incident]
    next_cursor: str | None


def check_filters(
    *,
    status: str | None = None,
    category: str | None = None,
    grid: str | int | None = None,
    overdue: bool = False,
    escalated: bool = False,
    unit_id: int | None = None,
) -> QueueFilters:
    """The filters, checked for what needs no database (status among the open ones).

    Examples
    --------
    >>> check_filters(grid=12, overdue=True)
    QueueFilters(status=None, category=None, grid='12', overdue=True, escalated=False, \
unit_id=None)
    """
    if status is not None and status not in OPEN_STATUSES:
        raise InvalidInput(
            f"status={status!r} is not an open status; expected one of {list(OPEN_STATUSES)}",
            field="status",
        )
    grid_text = None if grid is None else str(grid).strip()
    if grid_text == "":
        raise InvalidInput("grid='' names no grid; give a grid id or code", field="grid")
    return QueueFilters(status, category, grid_text, overdue, escalated, unit_id)


def queue_page(
    conn: Conn,
    caller: Caller,
    filters: QueueFilters | None = None,
    *,
    limit: int = 50,
    cursor: str | None = None,
    now: datetime | None = None,
) -> QueuePage:
    """A page of the caller's queue (see the module): open cases, least time left first.

    ``cursor`` is the previous page's ``next_cursor`` (None for the first page); a cursor not
    issued here is InvalidInput naming ``cursor``.

    Examples
    --------
    >>> queue_page(None, None, limit=0)  # type: ignore[arg-type]
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: limit: must be between 1 and 1000 (0 given)
    """
    if not 1 <= limit <= MAX_LIST:
        raise InvalidInput(f"must be between 1 and {MAX_LIST} ({limit} given)", field="limit")
    after = _after(cursor) if cursor is not None else None
    conds, params = _conditions(conn, caller, filters or QueueFilters(), now)
    if after is not None:
        conds.append(f"({DUE_KEY}, i.id) > (CAST(:after_due AS timestamptz), :after_id)")
        params.update(after)
    rows = conn.execute(
        text(
            f"SELECT {_COLUMNS} FROM incidents i WHERE {' AND '.join(conds)}"
            f" ORDER BY {DUE_KEY}, i.id LIMIT :limit"
        ),
        {**params, "limit": limit + 1},  # one more says whether a next page exists
    )
    found = [Incident(**r._mapping) for r in rows]
    if len(found) <= limit:
        return QueuePage(found, None)
    last = found[limit - 1]
    due = last.due_at.isoformat() if last.due_at is not None else NO_DUE
    return QueuePage(found[:limit], encode_cursor(due, last.id))


def queue_etag(
    conn: Conn, caller: Caller, filters: QueueFilters | None = None, *, extra: str = ""
) -> str:
    """A strong ETag for the caller's queue with these filters (``extra``: anything else the
    answer depends on, such as the cursor and limit).

    It changes when any incident is written (the store's write counter, bumped in the
    writer's transaction) or an open case turns overdue (the overdue clock), so a client
    that polls with If-None-Match gets 304 until its answer would differ. Two reads of the
    counter table: cheap however large the queue.

    Examples
    --------
    >>> from gisgrid.access.scope import Scope
    >>> c = Caller(1, "c", None, "city_centre", None, Scope.everything())
    >>> _tag({"incidents": 7, "overdue": 0}, c, QueueFilters(), "") == _tag(
    ...     {"incidents": 8, "overdue": 0}, c, QueueFilters(), "")
    False
    """
    versions: dict[str, Any] = dict(
        conn.execute(
            text(
                "SELECT layer, version FROM gisgrid_tile_versions()"
                " WHERE layer IN ('incidents', 'overdue')"
            )
        ).all()
    )
    return _tag(versions, caller, filters or QueueFilters(), extra)


def _tag(versions: dict[str, Any], caller: Caller, filters: QueueFilters, extra: str) -> str:
    parts = [
        sorted(versions.items()),
        caller.account_id,
        caller.role,
        caller.unit_id,
        caller.scope.level,
        caller.scope.area_id,
        sorted(asdict(filters).items()),
        extra,
    ]
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:24]
    return f'"q-{digest}"'


def _conditions(
    conn: Conn, caller: Caller, f: QueueFilters, now: datetime | None
) -> tuple[list[str], dict[str, Any]]:
    where, params = caseload_sql(caller)
    conds = [where, OPEN_SQL]
    if f.unit_id is not None:
        if caller.role in UNIT_ROLES and f.unit_id != caller.unit_id:
            raise InvalidInput(
                f"unit_id={f.unit_id}; a unit account sees its own unit's queue ({caller.unit_id})",
                field="unit_id",
            )
        conds.append("i.assigned_unit_id = :unit_id")
        params["unit_id"] = f.unit_id
    if f.status is not None:
        conds.append("i.status = :status")
        params["status"] = f.status
    if f.category is not None:
        check_category(conn, f.category)
        conds.append(
            "i.category IN (SELECT code FROM incident_categories"
            " WHERE code = :category OR parent_code = :category)"
        )
        params["category"] = f.category
    if f.grid is not None:
        conds.append(_grid_condition(conn, f.grid, params))
    if f.overdue:
        conds.append("i.due_at < :now")
        params["now"] = now or datetime.now(UTC)
    if f.escalated:
        conds.append("i.escalation_level = :held_at")
        params["held_at"] = _own_level(caller)
    return conds, params


def caseload_sql(caller: Caller, alias: str = "i") -> tuple[str, dict[str, Any]]:
    """The cases a caller's console counts: what the caller may see (the workflow's scope
    rule), and for a unit account only the cases dispatched to its unit.

    Examples
    --------
    >>> from gisgrid.access.scope import Scope
    >>> caseload_sql(Caller(1, "u", None, "unit", 4, Scope("district", 2)))
    ('(i.district_id = :scope_area_id OR i.assigned_unit_id = :caller_unit_id) AND \
i.assigned_unit_id = :own_unit_id', {'scope_area_id': 2, 'caller_unit_id': 4, 'own_unit_id': 4})
    """
    where, params = _visible_sql(caller, alias)
    if caller.role in UNIT_ROLES:
        own = caller.unit_id if caller.unit_id is not None else -1
        return f"{where} AND {alias}.assigned_unit_id = :own_unit_id", {
            **params,
            "own_unit_id": own,
        }
    return where, params


def _grid_condition(conn: Conn, grid: str, params: dict[str, Any]) -> str:
    """A grid id (that one version) or a grid code (every version of the grid)."""
    grid_id = as_int(grid)
    if grid_id is not None and -(2**63) <= grid_id < 2**63:
        found = conn.execute(
            text("SELECT 1 FROM areas WHERE id = :g AND level = 'grid'"), {"g": grid_id}
        ).first()
        if found is not None:
            params["grid_id"] = grid_id
            return "i.grid_id = :grid_id"
    found = conn.execute(
        text("SELECT 1 FROM areas WHERE code = :g AND level = 'grid' LIMIT 1"), {"g": grid}
    ).first()
    if found is None:
        raise InvalidInput(f"grid={grid!r} is neither a grid id nor a grid code", field="grid")
    params["grid_code"] = grid
    return "i.grid_id IN (SELECT id FROM areas WHERE code = :grid_code AND level = 'grid')"


def _own_level(caller: Caller) -> str:
    """The escalation level at which a case is held by the caller's centre."""
    rank = CENTRE_LEVEL.get(caller.role)
    if rank is None:
        raise InvalidInput(
            f"escalated: role {caller.role!r} is no command centre; only centres"
            f" ({sorted(CENTRE_LEVEL)}) hold escalated cases",
            field="escalated",
        )
    # a street centre holds cases at 'grid' too, but those were never escalated
    return LEVEL_OF_RANK[rank]


def _after(cursor: str) -> dict[str, Any]:
    due, id_ = decode_cursor(cursor, (str, int))
    if due != NO_DUE:  # a time: checked as every cursor's time is (aware ISO 8601)
        decode_cursor(cursor, (datetime, int))
    return {"after_due": due, "after_id": id_}
