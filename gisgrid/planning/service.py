"""What a planner's client calls: an edit, or an auto-balance, answered with the plan's checks
and stats after it (the contract's ``{"plan", "changed", "checks", "stats"}``), both kept on
the plan (``plans.checks``, ``plans.stats``), all in one transaction.

The edits are :mod:`gisgrid.planning.edits` and :mod:`gisgrid.planning.moves` (their rules
and errors); the figures are :func:`gisgrid.planning.reports.checks_and_stats` (one read of
the plan for both). The API's edit routes and ``gisgrid plans balance`` call these.

Examples
--------
>>> check_edit("paint")
Traceback (most recent call last):
...
gisgrid.errors.InvalidInput: edit: edit='paint'; expected one of ['split', 'merge', 'move', \
'reshape', 'rename', 'autosplit']
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, text

from gisgrid.access.auth import Caller
from gisgrid.errors import InvalidInput
from gisgrid.planning import edits, moves
from gisgrid.planning.balance import balance_plan
from gisgrid.planning.drafts import Edit
from gisgrid.planning.plans import Conn, PlanSummary, get_plan, open_for_edit, transaction
from gisgrid.planning.reports import checks_and_stats
from gisgrid.settings import Settings

EDITS: dict[str, Callable[..., Edit]] = {
    "split": edits.split,
    "merge": edits.merge,
    "move": moves.move_buildings,
    "reshape": edits.reshape,
    "rename": edits.rename,
    "autosplit": edits.autosplit,
}


@dataclass(frozen=True)
class Edited:
    """An edit's answer: the plan after it (its new version is the ETag), the codes it
    changed, and the plan's checks and stats after it. ``balance`` is set for an
    auto-balance: what it kept, made and retired, and its workload spread."""

    plan: PlanSummary
    changed: list[str]
    checks: dict[str, Any]
    stats: dict[str, Any]
    balance: dict[str, Any] | None = None


def check_edit(kind: object) -> str:
    if kind not in EDITS:
        raise InvalidInput(f"edit={kind!r}; expected one of {list(EDITS)}", field="edit")
    return str(kind)


def _reports(
    conn: Conn, plan_id: int, settings: Settings, now: datetime | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The checks and stats of the plan as it now is, kept on the plan."""
    checks, stats = checks_and_stats(conn, plan_id, settings, now=now)
    keep_reports(conn, plan_id, checks, stats)
    return checks, stats


def keep_reports(
    conn: Conn, plan_id: int, checks: Mapping[str, Any], stats: Mapping[str, Any]
) -> None:
    """Keep ``checks`` and ``stats`` on the plan (``plans.checks``, ``plans.stats``)."""
    conn.execute(
        text(
            "UPDATE plans SET checks = CAST(:c AS jsonb), stats = CAST(:s AS jsonb) WHERE id = :p"
        ),
        {
            "p": plan_id,
            "c": json.dumps(checks, ensure_ascii=False),
            "s": json.dumps(stats, ensure_ascii=False),
        },
    )


def apply_edit(
    conn: Conn | Engine,
    caller: Caller,
    plan_id: int,
    expected_version: int,
    kind: str,
    args: Mapping[str, Any],
    settings: Settings,
    *,
    now: datetime | None = None,
) -> Edited:
    """Run the edit ``kind`` (one of :data:`EDITS`) with ``args`` (its keyword arguments:
    ``code``, ``cut``, ``codes``, ``to``, ``building_ids``, ``lasso``, ``polygon``, ``name``)
    on plan ``plan_id`` at ``expected_version``; the plan's checks and stats after it.

    Examples
    --------
    >>> e = apply_edit(conn, planner, 7, 3, "split", {"code": "230108001001001",
    ...                "cut": line}, settings)  # doctest: +SKIP
    >>> e.plan.version, e.checks["ok"]  # doctest: +SKIP
    (4, True)
    """
    edit = EDITS[check_edit(kind)]
    with transaction(conn) as c:
        done = edit(c, caller, plan_id, expected_version, **args)
        checks, stats = _reports(c, plan_id, settings, now)
        return Edited(done.plan, done.changed, checks, stats)


def balance(
    conn: Conn | Engine,
    caller: Caller,
    plan_id: int,
    expected_version: int,
    settings: Settings,
    *,
    weights: Mapping[str, float] | None = None,
    seed: int = 0,
    now: datetime | None = None,
) -> Edited:
    """Replace the plan's draft with an auto-balanced proposal
    (:func:`gisgrid.planning.balance.balance_plan`) under the edit gate of
    :func:`gisgrid.planning.plans.open_for_edit` (a planner or admin whose scope holds the
    parent; the version; a draft; not stale); the checks and stats after it."""
    with transaction(conn) as c:
        if not isinstance(c, Connection):
            c = c.connection()
        open_for_edit(c, caller, plan_id, expected_version)
        out = balance_plan(
            c, plan_id, weights=weights, seed=seed, version=expected_version, settings=settings
        )
        checks, stats = _reports(c, plan_id, settings, now)
        changed = sorted({*out["codes"], *out["retired"]})  # it redraws every grid
        plan = get_plan(c, caller, plan_id, fresh=True)
        return Edited(plan, changed, checks, stats, balance=out)
