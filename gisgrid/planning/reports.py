"""The checks, stats and diff of a plan as a caller may read them: a planner or an admin whose
scope holds the plan's parent (the scope area is the parent or lies above it). Any other
caller, and a plan of another scope, is NotFound, as if the plan did not exist.

The API and the CLI read reports through :func:`plan_report`; the CLI, run by whoever runs
the store, reads them unscoped through the functions it wraps.

Examples
--------
>>> plan_report(conn, caller, 7, "diff", settings)  # doctest: +SKIP
Report(plan_id=7, version=3, body={...})
>>> check_kind("map")
Traceback (most recent call last):
...
gisgrid.errors.InvalidInput: kind: kind='map'; expected one of ('checks', 'stats', 'diff')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text

from gisgrid.access.auth import Caller
from gisgrid.errors import InvalidInput, NotFound
from gisgrid.planning.checks import evaluate
from gisgrid.planning.diff import diff_of
from gisgrid.planning.snapshot import Conn, Snapshot
from gisgrid.planning.workload import stats_of
from gisgrid.settings import Settings

READ_ROLES = ("planner", "admin")
KINDS = ("checks", "stats", "diff")

# the plan, and whether the area :scope is its parent or an ancestor of it
_PLAN_IN_SCOPE_SQL = (
    "SELECT p.id, p.version, (CAST(:scope AS bigint) IS NULL OR EXISTS ("
    " WITH RECURSIVE up(id, parent_id) AS (SELECT id, parent_id FROM areas"
    " WHERE id = p.parent_area_id UNION ALL SELECT a.id, a.parent_id FROM areas a"
    " JOIN up ON a.id = up.parent_id) SELECT 1 FROM up WHERE up.id = :scope)) AS visible"
    " FROM plans p WHERE p.id = :id"
)


@dataclass(frozen=True)
class Report:
    plan_id: int
    version: int  # the plan's version (its ETag)
    body: dict[str, Any]


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise InvalidInput(f"kind={kind!r}; expected one of {KINDS}", field="kind")
    return kind


def readable_plan(conn: Conn, caller: Caller, plan_id: int) -> int:
    """The plan's version when ``caller`` may read the plan, else NotFound (as if absent)."""
    missing = NotFound(f"no plan {plan_id}", field="plan_id")
    if caller.role not in READ_ROLES:
        raise missing
    scope = None if caller.scope.unlimited else caller.scope.area_id
    row = conn.execute(text(_PLAN_IN_SCOPE_SQL), {"id": plan_id, "scope": scope}).one_or_none()
    if row is None or not row.visible:
        raise missing
    return int(row.version)


def checks_and_stats(
    conn: Conn,
    plan_id: int,
    settings: Settings,
    *,
    weights: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The checks and the stats of a plan from one read of it (what an edit answers with):
    the draft, the current grids and the household counts are read once for both.

    Examples
    --------
    >>> checks, stats = checks_and_stats(conn, plan_id, settings)  # doctest: +SKIP
    """
    snap = Snapshot(conn, plan_id, now)
    return evaluate(snap, settings), stats_of(snap, settings, weights)


def plan_report(
    conn: Conn,
    caller: Caller,
    plan_id: int,
    kind: str,
    settings: Settings,
    *,
    weights: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> Report:
    """The ``checks``, ``stats`` or ``diff`` of a plan the caller may read."""
    check_kind(kind)
    version = readable_plan(conn, caller, plan_id)
    snap = Snapshot(conn, plan_id, now)
    if kind == "checks":
        body = evaluate(snap, settings)
    elif kind == "stats":
        body = stats_of(snap, settings, weights)
    else:
        body = diff_of(snap)
    return Report(plan_id, version, body)
