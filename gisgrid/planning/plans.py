"""Plans: create, read, list and discard a planner's redraw of the grids under one parent.

A plan starts as a copy of its parent's current grids (every current grid below the parent,
at any depth: a street's grids sit under its communities) into ``plan_areas``, and records
them (``base_grid_ids``) and the newest ``valid_from`` among them (``base_version``). A plan
whose parent's current grid set has changed since is stale: it can no longer be edited or
published (Conflict naming the newer version).

Who may: a planner or admin whose scope holds the parent creates, edits and discards plans;
centre accounts (street, district, city) read the plans under their scope. A plan outside the
caller's scope is NotFound, as if absent. Every edit names the version it applies to (the
plan's ETag, ``"<version>"``, as :func:`gisgrid.incidents.lifecycle.etag` spells it): a
stale one is PreconditionFailed.

Examples
--------
>>> check_name("  Yangyi 2027 ")
'Yangyi 2027'
>>> check_name("")
Traceback (most recent call last):
...
gisgrid.errors.InvalidInput: name: must not be empty
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from gisgrid.access.auth import Caller
from gisgrid.errors import Conflict, InvalidInput, NotFound, PermissionDenied, PreconditionFailed
from gisgrid.numbers import as_id, shown
from gisgrid.vocab import PLAN_STATUSES

Conn = Connection | Session

PARENT_LEVELS = ("community", "street", "district")
WRITERS = ("planner", "admin")
READERS = (*WRITERS, "street_centre", "district_centre", "city_centre")
EDITABLE = ("draft", "validated")  # an edit of a validated plan makes it a draft again
MAX_NAME = 200
PRECISION_DEG = 1e-9
"""Draft grids live on a 1e-9 degree grid (~0.1 mm): every edit's result is snapped to it, so
two grids' shared edge is the very same coordinates in both, a grid served as GeoJSON with 9
decimals comes back unchanged, and no sub-millimetre spike makes a polygon invalid."""


@dataclass(frozen=True)
class PlanParent:
    """The area a plan redraws."""

    id: int
    code: str
    name: str
    level: str


@dataclass(frozen=True)
class PlanSummary:
    """A plan as the API, the CLI and a notebook show it; ``version`` is its ETag."""

    id: int
    name: str
    parent: PlanParent
    status: str
    version: int
    stale: bool
    author_id: int | None
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None


@dataclass(frozen=True)
class GridRow:
    """One current grid under a parent."""

    id: int
    code: str
    valid_from: datetime
    plan_id: int | None


@contextmanager
def transaction(conn: Conn | Engine) -> Iterator[Conn]:
    """``conn`` itself, or for an Engine a connection whose work is committed at the end
    (rolled back on an error)."""
    if isinstance(conn, Engine):
        with conn.begin() as c:
            yield c
    else:
        yield conn


def check_name(name: object, field: str = "name") -> str:
    """A plan or grid name: stripped, 1..200 characters, no NUL."""
    if not isinstance(name, str):
        raise InvalidInput(f"{shown(name)} is not text", field=field)
    out = name.strip()
    if not out:
        raise InvalidInput("must not be empty", field=field)
    if "\x00" in out:
        raise InvalidInput("contains a NUL character", field=field)
    if len(out) > MAX_NAME:
        raise InvalidInput(f"must have at most {MAX_NAME} characters", field=field)
    return out


# -- the parent --------------------------------------------------------------------------------

_AREA_COLUMNS = "a.id, a.code, a.name, a.level"

# the scope area and every area under it (down parent_id): what a scope "holds"
_HELD_SQL = (
    "{col} IN (WITH RECURSIVE down(id) AS (SELECT CAST(:scope_area_id AS bigint)"
    " UNION ALL SELECT c.id FROM areas c JOIN down d ON c.parent_id = d.id)"
    " SELECT id FROM down)"
)


def _held(caller: Caller, column: str) -> tuple[str, dict[str, Any]]:
    """The condition "``column`` names an area the caller's scope holds"."""
    if caller.scope.unlimited:
        return "TRUE", {}
    return _HELD_SQL.format(col=column), {"scope_area_id": int(caller.scope.area_id or 0)}


def resolve_parent(conn: Conn, caller: Caller, parent: object) -> PlanParent:
    """The current area ``parent`` names (an id, or a code), held by the caller's scope.

    Unknown, or outside the scope and not even visible: InvalidInput naming ``parent``; an
    area the caller sees but does not hold (their own street's district): PermissionDenied;
    a grid or the city: InvalidInput (a plan redraws a community, a street or a district).
    """
    code = parent.strip() if isinstance(parent, str) else None
    key = as_id(code if code is not None else parent)
    if key is None and not code:
        raise InvalidInput(f"{shown(parent)} names no area (give an id or a code)", field="parent")
    row = None
    if code:  # a code first: codes are digits too
        row = conn.execute(
            text(f"SELECT {_AREA_COLUMNS} FROM areas a WHERE a.code = :c AND a.valid_to IS NULL"),
            {"c": code},
        ).one_or_none()
    if row is None and key is not None:
        row = conn.execute(
            text(f"SELECT {_AREA_COLUMNS} FROM areas a WHERE a.id = :i AND a.valid_to IS NULL"),
            {"i": key},
        ).one_or_none()
    unknown = InvalidInput(f"no current area {shown(parent)}", field="parent")
    if row is None:
        raise unknown
    held, params = _held(caller, ":area")
    if not conn.execute(text(f"SELECT {held}"), {**params, "area": row.id}).scalar_one():
        visible, vparams = caller.scope.areas_sql("a")
        seen = conn.execute(
            text(f"SELECT EXISTS (SELECT 1 FROM areas a WHERE a.id = :area AND {visible})"),
            {**vparams, "area": row.id},
        ).scalar_one()
        if not seen:
            raise unknown
        raise PermissionDenied(
            f"area {row.code} lies outside the caller's scope (it is above it)", field="parent"
        )
    if row.level not in PARENT_LEVELS:
        raise InvalidInput(
            f"area {row.code} is a {row.level}; a plan redraws one of {list(PARENT_LEVELS)}",
            field="parent",
        )
    return PlanParent(int(row.id), str(row.code), str(row.name), str(row.level))


def current_grids(conn: Conn, parent_id: int) -> list[GridRow]:
    """The current grids below ``parent_id`` at any depth, by code."""
    rows = conn.execute(
        text(
            "WITH RECURSIVE down(id) AS (SELECT CAST(:p AS bigint)"
            " UNION ALL SELECT c.id FROM areas c JOIN down d ON c.parent_id = d.id"
            "  WHERE c.valid_to IS NULL AND c.level <> 'grid')"
            " SELECT g.id, g.code, g.valid_from, g.plan_id FROM areas g"
            " WHERE g.parent_id IN (SELECT id FROM down) AND g.level = 'grid'"
            " AND g.valid_to IS NULL ORDER BY g.code"
        ),
        {"p": parent_id},
    ).all()
    return [GridRow(int(r.id), str(r.code), r.valid_from, r.plan_id) for r in rows]


# -- create, read, list, discard -------------------------------------------------------------


def _check_role(caller: Caller, allowed: tuple[str, ...], what: str) -> None:
    if caller.role not in allowed:
        raise PermissionDenied(f"role {caller.role!r} may not {what} plans", field="role")


def create_plan(conn: Conn | Engine, caller: Caller, parent: object, name: object) -> PlanSummary:
    """A new draft plan of ``parent`` (an id or a code), a copy of its current grids.

    Examples
    --------
    >>> from gisgrid.access.scope import Scope
    >>> worker = Caller(1, "w", None, "grid_worker", None, Scope("grid", 5))
    >>> create_plan(None, worker, "230108001", "x")  # type: ignore[arg-type]
    Traceback (most recent call last):
    ...
    gisgrid.errors.PermissionDenied: role: role 'grid_worker' may not create plans
    """
    _check_role(caller, WRITERS, "create")
    name = check_name(name)
    with transaction(conn) as c:
        area = resolve_parent(c, caller, parent)
        grids = current_grids(c, area.id)
        if not grids:
            raise InvalidInput(f"area {area.code} has no current grids", field="parent")
        plan_id = c.execute(
            text(
                "INSERT INTO plans (name, author_id, parent_area_id, base_grid_ids, base_version)"
                " VALUES (:n, :a, :p, :ids, :v) RETURNING id"
            ),
            {
                "n": name,
                "a": caller.account_id if caller.account_id else None,
                "p": area.id,
                "ids": [g.id for g in grids],
                "v": max(g.valid_from for g in grids),
            },
        ).scalar_one()
        c.execute(
            text(
                "INSERT INTO plan_areas (plan_id, code, name, parent_id, replaces_area_id, geom)"
                " SELECT :plan, code, name, parent_id, id,"
                " ST_Multi(ST_ReducePrecision(geom, :prec)) FROM areas WHERE id = ANY(:ids)"
            ),
            {"plan": plan_id, "ids": [g.id for g in grids], "prec": PRECISION_DEG},
        )
        return get_plan(c, caller, int(plan_id))


_PLAN_SQL = (
    "SELECT p.id, p.name, p.status, p.version, p.author_id, p.created_at, p.updated_at,"
    " p.published_at, p.base_grid_ids, a.id AS parent_id, a.code AS parent_code,"
    " a.name AS parent_name, a.level AS parent_level"
    " FROM plans p JOIN areas a ON a.id = p.parent_area_id"
)


def _summary(conn: Conn, row: Any, fresh: bool = False) -> PlanSummary:
    return PlanSummary(
        id=int(row.id),
        name=str(row.name),
        parent=PlanParent(
            int(row.parent_id), str(row.parent_code), str(row.parent_name), str(row.parent_level)
        ),
        status=str(row.status),
        version=int(row.version),
        stale=not fresh
        and row.status in EDITABLE
        and _stale(conn, row.parent_id, row.base_grid_ids),
        author_id=row.author_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        published_at=row.published_at,
    )


def get_plan(
    conn: Conn, caller: Caller, plan_id: int, for_update: bool = False, fresh: bool = False
) -> PlanSummary:
    """One plan the caller may see; NotFound when absent or outside the caller's scope.

    ``for_update`` locks the plan row until the transaction ends (an edit's read); ``fresh``
    says the caller has checked staleness itself in this transaction (an edit), which saves
    reading the parent's grids again.
    """
    _check_role(caller, READERS, "read")
    held, params = _held(caller, "p.parent_area_id")
    lock = " FOR UPDATE OF p" if for_update else ""
    row = conn.execute(
        text(f"{_PLAN_SQL} WHERE p.id = :id AND {held}{lock}"), {**params, "id": plan_id}
    ).one_or_none()
    if row is None:
        raise NotFound(f"no plan {plan_id}", field="id")
    return _summary(conn, row, fresh)


def list_plans(
    conn: Conn,
    caller: Caller,
    parent: object | None = None,
    status: str | None = None,
    limit: int = 500,
) -> list[PlanSummary]:
    """The plans the caller may see, newest change first: of ``parent`` (an id or a code)
    only when given, and of ``status`` only when given (without it, discarded plans are left
    out)."""
    _check_role(caller, READERS, "read")
    held, params = _held(caller, "p.parent_area_id")
    where = [held]
    if parent is not None:
        params["parent"] = resolve_parent(conn, caller, parent).id
        where.append("p.parent_area_id = :parent")
    if status is not None:
        if status not in PLAN_STATUSES:
            raise InvalidInput(
                f"status={status!r}; expected one of {list(PLAN_STATUSES)}", field="status"
            )
        params["status"] = status
        where.append("p.status = :status")
    else:
        where.append("p.status <> 'discarded'")
    rows = conn.execute(
        text(
            f"{_PLAN_SQL} WHERE {' AND '.join(where)}"
            " ORDER BY p.updated_at DESC, p.id DESC LIMIT :limit"
        ),
        {**params, "limit": limit},
    ).all()
    return [_summary(conn, r) for r in rows]


def discard_plan(
    conn: Conn | Engine, caller: Caller, plan_id: int, expected_version: int
) -> PlanSummary:
    """Discard a draft (or validated) plan at ``expected_version``; its rows stay, marked."""
    with transaction(conn) as c:
        open_for_edit(c, caller, plan_id, expected_version, check_stale=False)
        c.execute(
            text(
                "UPDATE plans SET status = 'discarded', version = version + 1, updated_at = now()"
                " WHERE id = :id"
            ),
            {"id": plan_id},
        )
        return get_plan(c, caller, plan_id, fresh=True)


# -- staleness and the edit gate -------------------------------------------------------------


def _stale(conn: Conn, parent_id: int, base_ids: list[int]) -> bool:
    now = {g.id for g in current_grids(conn, parent_id)}
    return now != set(base_ids)


def _base(conn: Conn, plan_id: int) -> tuple[int, list[int]]:
    row = conn.execute(
        text("SELECT parent_area_id, base_grid_ids FROM plans WHERE id = :id"), {"id": plan_id}
    ).one()
    return int(row.parent_area_id), list(row.base_grid_ids)


def is_stale(conn: Conn, plan_id: int) -> bool:
    """Whether the parent's current grids are no longer those the plan started from."""
    return _stale(conn, *_base(conn, plan_id))


def check_not_stale(conn: Conn, plan_id: int) -> None:
    """Conflict when the plan is stale, naming the newer version: the ``valid_from`` of the
    newest current grid under the parent, and the plan that opened it."""
    parent_id, base = _base(conn, plan_id)
    grids = current_grids(conn, parent_id)
    if {g.id for g in grids} == set(base):
        return
    newer = [g for g in grids if g.id not in set(base)] or grids
    newest = max(newer, key=lambda g: g.valid_from) if newer else None
    if newest is None:
        why = "the parent has no current grids any more"
    else:
        by = f" by plan {newest.plan_id}" if newest.plan_id is not None else ""
        why = f"a newer boundary version from {newest.valid_from.isoformat()}{by}"
    raise Conflict(
        f"plan {plan_id} is stale: its parent was redrawn since it started ({why});"
        " start a new plan",
        field="plan",
    )


def open_for_edit(
    conn: Conn, caller: Caller, plan_id: int, expected_version: int, check_stale: bool = True
) -> PlanSummary:
    """The edit gate: lock the plan row, then check the caller's role, the version
    (PreconditionFailed), that the plan is a draft (Conflict) and not stale (Conflict)."""
    plan = get_plan(conn, caller, plan_id, for_update=True, fresh=True)
    _check_role(caller, WRITERS, "edit")
    if plan.version != expected_version:
        raise PreconditionFailed(
            f"plan {plan_id} is at version {plan.version}, not {expected_version}",
            field="version",
        )
    if plan.status not in EDITABLE:
        raise Conflict(f"plan {plan_id} is {plan.status}: it cannot change", field="status")
    if check_stale:
        check_not_stale(conn, plan_id)
    return plan


def bump(conn: Conn, plan_id: int, issued: list[str] | None = None) -> None:
    """After an edit: a new version, updated now, a draft again, ``issued`` codes kept."""
    conn.execute(
        text(
            "UPDATE plans SET version = version + 1, updated_at = now(), status = 'draft',"
            " issued_codes = issued_codes || CAST(:issued AS text[]) WHERE id = :id"
        ),
        {"id": plan_id, "issued": issued or []},
    )


# -- GeoJSON -------------------------------------------------------------------------------------


def summary_json(summary: PlanSummary) -> dict[str, Any]:
    """The summary as JSON values (times in ISO 8601).

    Examples
    --------
    >>> from datetime import UTC
    >>> t = datetime(2026, 12, 1, tzinfo=UTC)
    >>> s = PlanSummary(1, "p", PlanParent(3, "230108001", "st", "street"), "draft", 2, False,
    ...                 None, t, t, None)
    >>> summary_json(s)["parent"]["code"], summary_json(s)["created_at"]
    ('230108001', '2026-12-01T00:00:00+00:00')
    """
    out = asdict(summary)
    for k, v in out.items():
        if isinstance(v, datetime):
            out[k] = v.isoformat()
    return out


def plan_geojson(conn: Conn, caller: Caller, plan_id: int) -> dict[str, Any]:
    """The plan's draft grids as an RFC 7946 FeatureCollection, with the plan's summary as its
    ``plan`` member. Coordinates keep 9 decimals (~0.1 mm), not RFC 7946's suggested 6: a
    planner's client sends outlines back (reshape), and at 6 decimals (~0.1 m) a grid's
    narrow corners come back self-intersecting and its edges no longer meet its neighbours'."""
    summary = get_plan(conn, caller, plan_id)
    rows = conn.execute(
        text(
            "SELECT id, code, name, parent_id, replaces_area_id, ST_AsGeoJSON(geom, 9) AS g"
            " FROM plan_areas WHERE plan_id = :p ORDER BY code"
        ),
        {"p": plan_id},
    ).all()
    features = [
        {
            "type": "Feature",
            "id": r.code,
            "geometry": json.loads(r.g),
            "properties": {
                "code": r.code,
                "name": r.name,
                "parent_id": r.parent_id,
                "replaces_area_id": r.replaces_area_id,
            },
        }
        for r in rows
    ]
    return {"type": "FeatureCollection", "plan": summary_json(summary), "features": features}
