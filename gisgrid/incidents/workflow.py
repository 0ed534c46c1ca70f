"""The incident closed loop: report, accept, dispatch, handle, feed back, close.

The status and role tables, and which centre holds a case, are data in
:mod:`gisgrid.incidents.lifecycle`.

Scope: a caller sees an incident when it lies in the caller's scope (``gisgrid.access.scope``); a
unit also sees the cases dispatched to it. Anything else is NotFound, as if absent.

Every transition writes one ``incident_events`` row (actor, from, to, unit, note) and bumps
``incidents.version`` with ``UPDATE ... WHERE id = :id AND version = :expected``. An
expected version that is not the current one is PreconditionFailed (an API's stale
If-Match). The read locks the row (``FOR UPDATE``), so two callers racing with the same
version are served one after the other and the second gets PreconditionFailed; should the
update still match no row (a writer that bypassed the lock), that is Conflict.

Examples
--------
>>> act(None, None, 1, "teleport", expected_version=1)
Traceback (most recent call last):
...
gisgrid.errors.InvalidInput: action: action='teleport'; expected one of ['accept', \
'close', 'dispatch', 'escalate', 'feedback', 'reject', 'return', 'send_back', 'start']
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import Field, computed_field
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from gisgrid import vocab
from gisgrid.access.auth import Caller
from gisgrid.assign.index import GridIndex
from gisgrid.assign.locate import Location, check_lonlat, locate, to_wgs84
from gisgrid.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
)
from gisgrid.incidents.lifecycle import (
    CENTRE_LEVEL,
    HOLDER_LEVEL,
    LEVEL_OF_RANK,
    NOTE_REQUIRED,
    OPEN_STATUSES,
    REPORTER_ROLES,
    ROLES,
    TRANSITIONS,
    UNIT_ROLES,
    check_action,
)
from gisgrid.incidents.sla import due_at
from gisgrid.paging import decode_cursor, encode_cursor
from gisgrid.query.nearest import UnitHit, check_category, nearest_units

Conn = Connection | Session


MAX_NOTE = 4000
MAX_LIST = 1000


@dataclass(frozen=True)
class Incident:
    """An incident as it is now; the API serves this very shape (``overdue`` included)."""

    id: int
    category: str
    description: str | None
    status: str
    priority: str
    escalation_level: str
    assigned_unit_id: int | None
    reported_at: datetime
    reporter_id: int | None
    due_at: datetime | None
    closed_at: datetime | None
    version: int
    grid_id: int | None
    community_id: int | None
    street_id: int | None
    district_id: int | None
    lon: Annotated[float, Field(description="WGS84.")]
    lat: Annotated[float, Field(description="WGS84.")]
    resolved_on_spot: bool = False  # 就地解决 (gisgrid.incidents.intake): counted apart

    # computed_field: pydantic (an API's schema) serialises it as if it were a field
    @computed_field  # type: ignore[prop-decorator]
    @property
    def overdue(self) -> bool:
        """Open and past its due time, now."""
        return (
            self.due_at is not None
            and self.status in OPEN_STATUSES
            and self.due_at < datetime.now(UTC)
        )


@dataclass(frozen=True)
class Event:
    id: int
    incident_id: int
    at: datetime
    actor_id: int | None
    from_status: str | None
    to_status: str
    unit_id: int | None
    note: str | None
    kind: str = "transition"  # or support: a report added to the case (gisgrid.incidents.intake)
    photos: tuple[str, ...] = ()


_COLUMNS = (
    "i.id, i.category, i.description, i.status, i.priority, i.escalation_level,"
    " i.assigned_unit_id, i.reported_at, i.reporter_id, i.due_at, i.closed_at, i.version,"
    " i.grid_id, i.community_id, i.street_id, i.district_id, i.resolved_on_spot,"
    " ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat"
)


def _visible_sql(caller: Caller, alias: str = "i") -> tuple[str, dict[str, Any]]:
    """The scope condition, widened for a unit to the cases dispatched to it."""
    sql, params = caller.scope.rows_sql(alias)
    if caller.role == "unit" and caller.unit_id is not None:
        sql = f"({sql} OR {alias}.assigned_unit_id = :caller_unit_id)"
        params = {**params, "caller_unit_id": caller.unit_id}
    return sql, params


def get_incident(
    conn: Conn, caller: Caller, incident_id: int, for_update: bool = False
) -> Incident:
    """One incident in the caller's scope; NotFound when absent or out of scope.

    ``for_update`` locks the row until the transaction ends (a transition's read).
    """
    where, params = _visible_sql(caller)
    lock = " FOR UPDATE OF i" if for_update else ""
    row = conn.execute(
        text(f"SELECT {_COLUMNS} FROM incidents i WHERE i.id = :id AND {where}{lock}"),
        {**params, "id": incident_id},
    ).one_or_none()
    if row is None:
        raise NotFound(f"no incident {incident_id}", field="id")
    return Incident(**row._mapping)


@dataclass(frozen=True)
class IncidentPage:
    """One page of :func:`incident_page`; ``next_cursor`` is None on the last page."""

    incidents: list[Incident]
    next_cursor: str | None


def list_incidents(
    conn: Conn,
    caller: Caller,
    status: str | None = None,
    overdue: bool = False,
    limit: int = 100,
    now: datetime | None = None,
    cursor: str | None = None,
) -> list[Incident]:
    """Incidents in the caller's scope, newest first; ``overdue``: open and past ``due_at``.

    One page of :func:`incident_page` (``cursor`` from the page before, None for the first).
    """
    return incident_page(conn, caller, status, overdue, limit, now, cursor).incidents


def incident_page(
    conn: Conn,
    caller: Caller,
    status: str | None = None,
    overdue: bool = False,
    limit: int = 100,
    now: datetime | None = None,
    cursor: str | None = None,
) -> IncidentPage:
    """A page of :func:`list_incidents` and the cursor of the next page (keyset paging).

    Pages are ordered by (reported_at, id) descending and each asks for the rows after the
    previous page's last key, so page 1,000 costs what page 1 costs, and incidents reported
    while a client pages (newer, so before its cursor) neither shift nor repeat its pages.
    A cursor not issued here is InvalidInput naming ``cursor``.

    Examples
    --------
    >>> incident_page(None, None, cursor="page-2")  # type: ignore[arg-type]
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: cursor: cursor='page-2' is not a cursor this server issued; \
follow the next link of a page (or leave cursor out for the first page)
    """
    if status is not None and status not in vocab.INCIDENT_STATUSES:
        raise InvalidInput(
            f"status={status!r}; expected one of {list(vocab.INCIDENT_STATUSES)}", field="status"
        )
    if not 1 <= limit <= MAX_LIST:
        raise InvalidInput(f"must be between 1 and {MAX_LIST} ({limit} given)", field="limit")
    after = _after(cursor) if cursor is not None else None
    where, params = _visible_sql(caller)
    conds = [where]
    if after is not None:
        conds.append(after[0])
        params.update(after[1])
    if status is not None:
        conds.append("i.status = :status")
        params["status"] = status
    if overdue:
        conds.append("i.status = ANY(:open) AND i.due_at < :now")
        params["open"] = list(OPEN_STATUSES)
        params["now"] = now or datetime.now(UTC)
    rows = conn.execute(
        text(
            f"SELECT {_COLUMNS} FROM incidents i WHERE {' AND '.join(conds)}"
            " ORDER BY i.reported_at DESC, i.id DESC LIMIT :limit"
        ),
        {**params, "limit": limit + 1},  # one more says whether a next page exists
    )
    found = [Incident(**r._mapping) for r in rows]
    if len(found) <= limit:
        return IncidentPage(found, None)
    last = found[limit - 1]
    return IncidentPage(found[:limit], encode_cursor(last.reported_at, last.id))


def _after(cursor: str) -> tuple[str, dict[str, Any]]:
    """The condition "sorts after the cursor's key".

    The plain ``reported_at <=`` is implied by the row comparison but is what lets the
    (district_id, reported_at) and reported_at indexes start the scan at the cursor.
    """
    t, id_ = decode_cursor(cursor, (datetime, int))
    cond = "i.reported_at <= :after_t AND (i.reported_at, i.id) < (:after_t, :after_id)"
    return cond, {"after_t": t, "after_id": id_}


def events(conn: Conn, caller: Caller, incident_id: int) -> list[Event]:
    """The incident's transitions, oldest first (NotFound out of scope)."""
    get_incident(conn, caller, incident_id)
    rows = conn.execute(
        text(
            "SELECT id, incident_id, at, actor_id, from_status, to_status, unit_id, note, kind,"
            " photos FROM incident_events WHERE incident_id = :id ORDER BY at, id"
        ),
        {"id": incident_id},
    )
    return [Event(**{**r._mapping, "photos": tuple(r.photos)}) for r in rows]


# -- report -----------------------------------------------------------------------------------


def report(
    conn: Conn,
    caller: Caller,
    index: GridIndex,
    *,
    lon: float | str,
    lat: float | str,
    category: str,
    description: str | None = None,
    priority: str = "normal",
    max_distance_m: float | None = None,
    holidays: Collection[date] = (),
    reported_at: datetime | None = None,
    crs: str = "wgs84",
) -> Incident:
    """Record a new incident at a point: grid and hierarchy assigned, due time set.

    The point is given in ``crs`` (wgs84, gcj02, bd09) and stored in WGS84, as the
    incident's ``lon``/``lat`` come back. A point outside every grid is InvalidInput, unless
    ``max_distance_m`` lets it take the nearest grid within that distance. The point must lie
    in the reporter's scope.
    """
    x, y = to_wgs84(*check_lonlat(lon, lat), crs)
    if caller.role not in REPORTER_ROLES:
        raise PermissionDenied(f"role {caller.role!r} may not report incidents", field="role")
    if priority not in vocab.PRIORITIES:
        raise InvalidInput(
            f"priority={priority!r}; expected one of {list(vocab.PRIORITIES)}", field="priority"
        )
    check_category(conn, category)
    loc = _locate(conn, index, x, y, max_distance_m)
    _check_in_scope(caller, loc)
    incident_id = _insert(
        conn,
        loc,
        category=category,
        description=description,
        priority=priority,
        holidays=holidays,
        reported_at=reported_at,
        source="grid_worker",
        actor_id=caller.account_id,
        reporter_name=caller.display_name,
    )
    return get_incident(conn, caller, incident_id)


def report_public(
    conn: Conn,
    index: GridIndex,
    *,
    lon: float,
    lat: float,
    category: str,
    source: str,
    description: str | None = None,
    address: str | None = None,
    reporter_name: str | None = None,
    photos: Collection[str] = (),
    holidays: Collection[date] = (),
    reported_at: datetime | None = None,
) -> Incident:
    """Record an incident sent by the public (Open311, a hotline) with no account behind it.

    The same path as :func:`report` (category check, grid and hierarchy, due time, the
    ``reported`` event), but the reporter is no account: ``reporter_id`` and the event's
    actor are null, ``reporter_name`` is what the sender gave, and any scope holds. The
    caller (an API) is responsible for authenticating the sender (an API key). Priority is
    ``normal``: the public does not set it, the centre does when it accepts.
    """
    if source not in vocab.INCIDENT_SOURCES:
        raise InvalidInput(
            f"source={source!r}; expected one of {list(vocab.INCIDENT_SOURCES)}", field="source"
        )
    check_category(conn, category)
    loc = _locate(conn, index, lon, lat, None)
    incident_id = _insert(
        conn,
        loc,
        category=category,
        description=description,
        priority="normal",
        holidays=holidays,
        reported_at=reported_at,
        source=source,
        actor_id=None,
        reporter_name=reporter_name,
        address=address,
        photos=list(photos),
    )
    return _read(conn, incident_id)


def _locate(
    conn: Conn, index: GridIndex, lon: float, lat: float, max_distance_m: float | None
) -> Location:
    try:
        return locate(conn, index, lon, lat, max_distance_m=max_distance_m)
    except NotFound as exc:  # the point is the caller's input, not a missing resource
        raise InvalidInput(exc.reason, field=exc.field) from exc


def _read(conn: Conn, incident_id: int) -> Incident:
    row = conn.execute(
        text(f"SELECT {_COLUMNS} FROM incidents i WHERE i.id = :id"), {"id": incident_id}
    ).one()
    return Incident(**row._mapping)


def _insert(
    conn: Conn,
    loc: Location,
    *,
    category: str,
    description: str | None,
    priority: str,
    holidays: Collection[date],
    reported_at: datetime | None,
    source: str,
    actor_id: int | None,
    reporter_name: str | None,
    address: str | None = None,
    photos: list[str] | None = None,
) -> int:
    texts = {"description": description, "address": address, "reporter_name": reporter_name}
    for field, value in texts.items():
        if value is not None and "\x00" in value:  # PostgreSQL text cannot hold NUL
            raise InvalidInput("contains a NUL character", field=field)
    at = reported_at or datetime.now(UTC)
    sla = conn.execute(
        text("SELECT sla_hours FROM incident_categories WHERE code = :c"), {"c": category}
    ).scalar_one()
    due = due_at(at, sla, priority, holidays)
    row = conn.execute(
        text(
            "INSERT INTO incidents (category, description, address, photos, source,"
            " reported_at, reporter_id, reporter_name, status, escalation_level, priority,"
            " due_at, version, grid_id, community_id, street_id, district_id, geom)"
            " VALUES (:category, :description, :address, CAST(:photos AS text[]), :source,"
            " :at, :reporter, :reporter_name, 'reported', 'grid', :priority, :due, 1, :grid,"
            " :community, :street, :district, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"
            " RETURNING id"
        ),
        {
            "category": category,
            "description": description,
            "address": address,
            "photos": photos or [],
            "source": source,
            "at": at,
            "reporter": actor_id,
            "reporter_name": reporter_name,
            "priority": priority,
            "due": due,
            "grid": loc.grid.id,
            "community": loc.community.id if loc.community else None,
            "street": loc.street.id if loc.street else None,
            "district": loc.district.id if loc.district else None,
            "lon": loc.lon,
            "lat": loc.lat,
        },
    ).one()
    incident_id = int(row.id)
    note = f"located {loc.distance_m:.1f} m from its grid" if loc.distance_m else None
    _write_event(conn, incident_id, actor_id, None, "reported", None, note, at=at)
    return incident_id


def _check_in_scope(caller: Caller, loc: Location) -> None:
    if not caller.scope.covers(loc.assigned):
        raise PermissionDenied(
            f"the point lies in grid {loc.grid.code}, outside the caller's scope", field="lon,lat"
        )


# -- transitions ------------------------------------------------------------------------------


def suggest_units(conn: Conn, caller: Caller, incident_id: int, k: int = 5) -> list[UnitHit]:
    """The ``k`` nearest available units that handle the incident's category."""
    inc = get_incident(conn, caller, incident_id)
    return nearest_units(conn, inc.lon, inc.lat, inc.category, k=k, available_only=True)


def act(
    conn: Conn,
    caller: Caller,
    incident_id: int,
    action: str,
    expected_version: int,
    *,
    note: str | None = None,
    unit_id: int | None = None,
) -> Incident:
    """Take ``action`` on an incident at ``expected_version``; returns it as it is after.

    ``dispatch`` takes ``unit_id`` (a unit that handles the category), or without one the
    nearest available unit that does. Errors: NotFound (absent or out of scope),
    PermissionDenied (role, holder level, not the assigned unit), PreconditionFailed (stale
    version), Conflict (the status does not allow the action, or a concurrent change),
    InvalidInput (a missing note, a unit that cannot take the case).
    """
    check_action(action)
    # Locked: of two callers racing with the same version, the second waits here, then
    # reads the first one's version and gets PreconditionFailed (not a lost update).
    inc = get_incident(conn, caller, incident_id, for_update=True)
    # The version first: a caller whose copy is stale must read the case again whatever
    # else is wrong, since what it decided on (and whether it may act at all: an escalation
    # moves the holder up) has changed. The caller can see the case, so this tells it nothing.
    if inc.version != expected_version:
        raise PreconditionFailed(
            f"incident {incident_id} is at version {inc.version}, not {expected_version}",
            field="version",
        )
    _check_role(caller, inc, action)
    to_status = TRANSITIONS.get((inc.status, action))
    if to_status is None:
        allowed = sorted(a for (s, a) in TRANSITIONS if s == inc.status)
        raise Conflict(
            f"cannot {action} an incident that is {inc.status}; allowed: {allowed}",
            field="status",
        )
    note = _check_note(action, note)
    changes: dict[str, Any] = {}
    event_unit = inc.assigned_unit_id
    if action == "dispatch":
        changes["assigned_unit_id"] = event_unit = _dispatch_unit(conn, inc, unit_id)
    elif unit_id is not None:
        raise InvalidInput(f"only dispatch takes a unit ({action} given)", field="unit_id")
    if action == "return":
        changes["assigned_unit_id"] = None
    if action == "escalate":
        rank = HOLDER_LEVEL[inc.escalation_level]
        if rank >= 3:
            raise Conflict("the city centre holds it: it cannot be escalated further", field="id")
        changes["escalation_level"] = LEVEL_OF_RANK[rank + 1]
    if action == "close":
        changes["closed_at"] = datetime.now(UTC)
    transition(conn, inc, to_status, changes, caller.account_id, event_unit, note)
    return get_incident(conn, caller, incident_id)


def _check_role(caller: Caller, inc: Incident, action: str) -> None:
    if caller.role not in ROLES[action]:
        raise PermissionDenied(f"role {caller.role!r} may not {action}", field="role")
    if caller.role in UNIT_ROLES:
        if caller.unit_id is None or inc.assigned_unit_id != caller.unit_id:
            raise PermissionDenied(
                f"incident {inc.id} is not dispatched to the caller's unit", field="unit_id"
            )
        return
    holder = HOLDER_LEVEL[inc.escalation_level]
    if CENTRE_LEVEL[caller.role] < holder:
        raise PermissionDenied(
            f"incident {inc.id} is held by the {LEVEL_OF_RANK[holder]} centre", field="role"
        )


def _check_note(action: str, note: str | None) -> str | None:
    note = (note or "").strip() or None
    if action in NOTE_REQUIRED and note is None:
        raise InvalidInput(f"{action} needs a note", field="note")
    if note is not None and "\x00" in note:
        raise InvalidInput("contains a NUL character", field="note")
    if note is not None and len(note) > MAX_NOTE:
        raise InvalidInput(f"must have at most {MAX_NOTE} characters", field="note")
    return note


def _dispatch_unit(conn: Conn, inc: Incident, unit_id: int | None) -> int:
    if unit_id is None:
        hits = nearest_units(conn, inc.lon, inc.lat, inc.category, k=1, available_only=True)
        if not hits:
            raise InvalidInput(
                f"no available unit handles category {inc.category!r}", field="unit_id"
            )
        return hits[0].id
    row = conn.execute(
        text(
            "SELECT u.available, u.categories && ARRAY(SELECT code FROM incident_categories"
            "  WHERE code = :c OR code = (SELECT parent_code FROM incident_categories"
            "  WHERE code = :c))::text[] AS capable"
            " FROM units u WHERE u.id = :u"
        ),
        {"u": unit_id, "c": inc.category},
    ).one_or_none()
    if row is None:
        raise InvalidInput(f"no unit {unit_id}", field="unit_id")
    if not row.capable:
        raise InvalidInput(
            f"unit {unit_id} does not handle category {inc.category!r}", field="unit_id"
        )
    if not row.available:
        raise InvalidInput(f"unit {unit_id} is not available", field="unit_id")
    return unit_id


def transition(
    conn: Conn,
    inc: Incident,
    to_status: str,
    changes: dict[str, Any],
    actor_id: int | None,
    unit_id: int | None,
    note: str | None,
) -> None:
    """Write one transition of ``inc`` (read locked, as it is now): the status, ``changes``
    and the version bump (Conflict should the version have moved), and its event. The
    caller has checked the rules; ``actor_id`` None is the system (the escalation sweep).
    """
    _update(conn, inc, to_status, changes)
    _write_event(conn, inc.id, actor_id, inc.status, to_status, unit_id, note)


def lock_free(conn: Conn, ids: Collection[int]) -> list[Incident]:
    """The incidents among ``ids`` that no other transaction holds, locked until this one
    ends (``FOR UPDATE SKIP LOCKED``: a busy row is left out, not waited for); no scope."""
    rows = conn.execute(
        text(
            f"SELECT {_COLUMNS} FROM incidents i WHERE i.id = ANY(:ids)"
            " ORDER BY i.id FOR UPDATE OF i SKIP LOCKED"
        ),
        {"ids": list(ids)},
    )
    return [Incident(**r._mapping) for r in rows]


def _update(conn: Conn, inc: Incident, to_status: str, changes: dict[str, Any]) -> None:
    sets = "".join(f", {col} = :{col}" for col in changes)
    r = conn.execute(
        text(
            "UPDATE incidents SET status = :to, version = version + 1, updated_at = now()"
            f"{sets} WHERE id = :id AND version = :expected"
        ),
        {**changes, "to": to_status, "id": inc.id, "expected": inc.version},
    )
    if r.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(f"incident {inc.id} changed concurrently; read it again", field="version")


def _write_event(
    conn: Conn,
    incident_id: int,
    actor_id: int | None,
    from_status: str | None,
    to_status: str,
    unit_id: int | None,
    note: str | None,
    at: datetime | None = None,
) -> None:
    conn.execute(
        text(
            "INSERT INTO incident_events"
            " (incident_id, at, actor_id, from_status, to_status, unit_id, note)"
            " VALUES (:i, coalesce(CAST(:at AS timestamptz), clock_timestamp()),"
            " :actor, :from, :to, :unit, :note)"
        ),
        {
            "i": incident_id,
            "at": at,
            "actor": actor_id,
            "from": from_status,
            "to": to_status,
            "unit": unit_id,
            "note": note,
        },
    )
