"""The checks, stats and diff of a plan as a caller may read them: whoever may read the plan
(:func:`gisgrid.planning.plans.get_plan`: planners, admins and the centres, within their
scope; a plan of another scope is NotFound, as if the plan did not exist).

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

from gisgrid.access.auth import Caller
from gisgrid.errors import InvalidInput
from gisgrid.planning.checks import evaluate
from gisgrid.planning.diff import diff_of
from gisgrid.planning.plans import get_plan
from gisgrid.planning.snapshot import Conn, Snapshot
from gisgrid.planning.workload import stats_of
from gisgrid.settings import Settings

KINDS = ("checks", "stats", "diff")


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
    """The plan's version when ``caller`` may read the plan (the rule of
    :func:`gisgrid.planning.plans.get_plan`: PermissionDenied for a role that reads no plans,
    NotFound for a plan outside the caller's scope)."""
    return get_plan(conn, caller, plan_id, fresh=True).version


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
