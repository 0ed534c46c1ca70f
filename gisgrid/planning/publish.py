"""Publish a plan: its draft grids become the current boundary version from an instant T.

:func:`publish` reads as its steps, all in one transaction:

1. **who**: a centre account (street, district or city centre) whose scope holds the parent
   (the parent is its scope area or lies under it), or an admin; any other role is
   PermissionDenied, a plan outside the caller's scope NotFound (as if absent);
2. **locks**: the plan row, then the parent's current row, so two publishes of plans on one
   parent run one after the other; the second finds its plan stale;
3. **the gate**: the If-Match version (PreconditionFailed), a draft or validated plan
   (Conflict), not stale (Conflict naming the newer version);
4. **the checks**: a hard failure refuses the publish (:class:`gisgrid.errors.ChecksFailed`,
   422, with the list) and nothing changes; the checks, stats and diff are kept on the plan;
5. **the versions**, through :func:`gisgrid.assign.versions.open_versions`: the current grids
   the plan redraws, renames, moves or retires are closed at T (``valid_to = T``), the draft
   grids that differ are opened from T (``valid_from = T``, ``plan_id`` = the plan); a grid
   the plan keeps as it is (same code, polygon, name and community) is untouched. Registers
   and open incidents move to their new grids, closed incidents keep theirs;
6. **accounts** scoped to a retired grid are re-scoped to the draft grid that names it in
   ``replaces_area_id`` (the biggest such one); the others are listed in the result;
7. the plan is ``published`` with ``published_at = T`` and a new version.

Tiles (a statement trigger bumps ``tile_versions``) and the in-memory locate index
(:class:`gisgrid.assign.locate.GridIndexCache` compares a fingerprint of ``areas``) follow as
soon as the transaction commits.

Examples
--------
>>> check_publisher(_caller("planner"))
Traceback (most recent call last):
...
gisgrid.errors.PermissionDenied: role: role 'planner' may not publish plans; one of \
['street_centre', 'district_centre', 'city_centre', 'admin'] may
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, text

from gisgrid.access.auth import Caller
from gisgrid.access.scope import Scope
from gisgrid.assign.versions import STAGED, VersionChange, open_versions, stage_areas
from gisgrid.errors import (
    ChecksFailed,
    Conflict,
    InvalidInput,
    PermissionDenied,
    PreconditionFailed,
)
from gisgrid.planning.checks import evaluate
from gisgrid.planning.diff import diff_of
from gisgrid.planning.plans import EDITABLE, PlanSummary, check_not_stale, get_plan
from gisgrid.planning.snapshot import Snapshot
from gisgrid.planning.workload import stats_of
from gisgrid.settings import Settings, get_settings
from gisgrid.times import TimeLike, parse_instant

PUBLISHERS = ("street_centre", "district_centre", "city_centre", "admin")


@dataclass
class Published:
    """What :func:`publish` did: the plan after it, T, the grids opened (code -> new id),
    closed (old ids), kept untouched (codes), the rows moved per table, accounts re-scoped,
    and the accounts of retired grids the plan does not map (left for a person to re-scope)."""

    plan: PlanSummary
    at: datetime
    opened: dict[str, int] = field(default_factory=dict)
    closed: list[int] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    moved: dict[str, int] = field(default_factory=dict)
    rescoped_accounts: int = 0
    unmapped_accounts: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def _caller(role: str) -> Caller:
    return Caller(1, role, None, role, None, Scope.everything())


def check_publisher(caller: Caller) -> None:
    """PermissionDenied unless the caller is a centre account or an admin (the scope is
    checked when the plan is read: a plan outside it is NotFound)."""
    if caller.role not in PUBLISHERS:
        raise PermissionDenied(
            f"role {caller.role!r} may not publish plans; one of {list(PUBLISHERS)} may",
            field="role",
        )


def publish(
    bind: Connection | Engine,
    caller: Caller,
    plan_id: int,
    expected_version: int,
    at: TimeLike | None = None,
    *,
    settings: Settings | None = None,
) -> Published:
    """Publish plan ``plan_id`` at ``expected_version`` (its ETag) as the boundaries from
    ``at`` (now by default); see the module for the steps and the errors. With a Connection
    the work joins the caller's transaction (commit it); with an Engine it commits here.

    Examples
    --------
    >>> publish(None, _caller("grid_worker"), 1, 1)  # type: ignore[arg-type]
    Traceback (most recent call last):
    ...
    gisgrid.errors.PermissionDenied: role: role 'grid_worker' may not publish plans; one of \
['street_centre', 'district_centre', 'city_centre', 'admin'] may
    """
    check_publisher(caller)
    when = parse_instant(at if at is not None else datetime.now(UTC), "at")
    s = settings or get_settings()
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            return _publish(conn, caller, plan_id, expected_version, when, s)
    return _publish(bind, caller, plan_id, expected_version, when, s)


def _publish(
    conn: Connection,
    caller: Caller,
    plan_id: int,
    expected_version: int,
    at: datetime,
    settings: Settings,
) -> Published:
    started = time.perf_counter()
    plan = _gate(conn, caller, plan_id, expected_version)
    _check_at(conn, plan_id, at)
    snap = Snapshot(conn, plan_id, at)
    checks = evaluate(snap, settings)
    if checks["hard"]:
        raise ChecksFailed(plan_id, checks["hard"])
    stats = stats_of(snap, settings)
    diff = diff_of(snap)
    kept = _untouched(conn, plan_id, diff["kept"])
    close = [int(i) for i, code in zip(snap.current.ids, snap.current.codes, strict=True)
             if code not in kept]  # fmt: skip
    _stage(conn, plan_id, kept, stats)
    change = open_versions(conn, at, close)
    mapped, unmapped = _rescope_retired(conn, plan_id, change)
    conn.execute(
        text(
            "UPDATE plans SET status = 'published', published_at = :at, version = version + 1,"
            " updated_at = now(), checks = CAST(:checks AS jsonb),"
            " stats = CAST(:stats AS jsonb), diff = CAST(:diff AS jsonb) WHERE id = :p"
        ),
        {
            "at": at,
            "p": plan_id,
            "checks": json.dumps(checks, ensure_ascii=False),
            "stats": json.dumps(stats, ensure_ascii=False),
            "diff": json.dumps(diff, ensure_ascii=False),
        },
    )
    return Published(
        plan=get_plan(conn, caller, plan.id, fresh=True),
        at=at,
        opened=change.opened,
        closed=change.closed,
        kept=sorted(kept),
        retired=list(diff["retired"]),
        moved=change.moved,
        rescoped_accounts=change.rescoped_accounts + mapped,
        unmapped_accounts=unmapped,
        seconds=time.perf_counter() - started,
    )


def _gate(conn: Connection, caller: Caller, plan_id: int, expected_version: int) -> PlanSummary:
    """Lock the plan, then its parent; check the version, the status and staleness."""
    plan = get_plan(conn, caller, plan_id, for_update=True, fresh=True)
    # the parent's row is the lock two publishes on one parent meet at: the second waits
    # here, and then reads the grids the first opened (it is stale)
    parent = conn.execute(
        text("SELECT id FROM areas WHERE id = :p AND valid_to IS NULL FOR UPDATE"),
        {"p": plan.parent.id},
    ).scalar()
    if plan.version != expected_version:
        raise PreconditionFailed(
            f"plan {plan_id} is at version {plan.version}, not {expected_version}",
            field="version",
        )
    if plan.status not in EDITABLE:
        raise Conflict(
            f"plan {plan_id} is {plan.status}: only a plan that is one of {list(EDITABLE)}"
            " can be published",
            field="status",
        )
    if parent is None:
        raise Conflict(
            f"plan {plan_id} is stale: its parent {plan.parent.code} has a newer version;"
            " start a new plan",
            field="plan",
        )
    check_not_stale(conn, plan_id)
    return plan


def _check_at(conn: Connection, plan_id: int, at: datetime) -> None:
    """T must come after the newest version the plan redraws (history is not rewritten)."""
    base = conn.execute(
        text("SELECT base_version FROM plans WHERE id = :p"), {"p": plan_id}
    ).scalar()
    if base is not None and at <= base:
        raise InvalidInput(
            f"at={at.isoformat()} is not after {base.isoformat()}, when the newest of the"
            " grids this plan redraws began; publish from a later instant",
            field="at",
        )


def _untouched(conn: Connection, plan_id: int, same_shape: list[str]) -> set[str]:
    """The codes the diff keeps (same polygon) whose name and community are unchanged too."""
    rows = conn.execute(
        text(
            "SELECT pa.code FROM plan_areas pa JOIN areas a ON a.id = pa.replaces_area_id"
            " AND a.code = pa.code AND a.valid_to IS NULL"
            " WHERE pa.plan_id = :p AND pa.code = ANY(:codes) AND a.name = pa.name"
            " AND a.parent_id IS NOT DISTINCT FROM pa.parent_id"
        ),
        {"p": plan_id, "codes": same_shape},
    ).scalars()
    return {str(c) for c in rows}


def _stage(conn: Connection, plan_id: int, kept: set[str], stats: dict[str, Any]) -> None:
    """Every draft grid not kept as it is, as a new version; its households and people are
    the plan's own counts, what it is responsible for that of the grid it replaces."""
    stage_areas(conn)
    counts = {g["code"]: (g["households"], g["residents"]) for g in stats["grids"]}
    codes = sorted(c for c in counts if c not in kept)
    conn.execute(
        text(
            f"INSERT INTO {STAGED} (code, name, level, parent_id, responsible, households,"
            " population, plan_id, geom)"
            " SELECT pa.code, pa.name, 'grid', pa.parent_id, r.responsible, c.hh, c.people,"
            " pa.plan_id, pa.geom FROM plan_areas pa"
            " JOIN unnest(CAST(:codes AS text[]), CAST(:hh AS int[]), CAST(:people AS int[]))"
            " AS c(code, hh, people) ON c.code = pa.code"
            " LEFT JOIN areas r ON r.id = pa.replaces_area_id"
            " WHERE pa.plan_id = :p ORDER BY pa.code"
        ),
        {
            "p": plan_id,
            "codes": codes,
            "hh": [int(counts[c][0]) for c in codes],
            "people": [int(counts[c][1]) for c in codes],
        },
    )


def _rescope_retired(
    conn: Connection, plan_id: int, change: VersionChange
) -> tuple[int, list[dict[str, Any]]]:
    """Accounts left on a retired grid (no successor by code): to the new version of the
    biggest draft grid that names the retired grid in ``replaces_area_id``; the rest listed."""
    if not change.unmapped_accounts:
        return 0, []
    moved = conn.execute(
        text(
            "UPDATE accounts acc SET scope_area_id = m.new_id FROM ("
            " SELECT DISTINCT ON (pa.replaces_area_id) pa.replaces_area_id AS old_id,"
            "  n.id AS new_id FROM plan_areas pa JOIN areas n ON n.code = pa.code"
            "  AND n.valid_to IS NULL AND n.id = ANY(:opened)"
            "  WHERE pa.plan_id = :p AND pa.replaces_area_id IS NOT NULL"
            "  ORDER BY pa.replaces_area_id, ST_Area(pa.geom) DESC) m"
            " WHERE acc.scope_area_id = m.old_id AND acc.id = ANY(:ids)"
        ),
        {"p": plan_id, "opened": list(change.opened.values()), "ids": change.unmapped_accounts},
    ).rowcount
    rows = conn.execute(
        text(
            "SELECT acc.id, acc.username, acc.role, a.code FROM accounts acc"
            " JOIN areas a ON a.id = acc.scope_area_id"
            " WHERE acc.id = ANY(:ids) AND a.valid_to IS NOT NULL ORDER BY acc.id"
        ),
        {"ids": change.unmapped_accounts},
    ).all()
    unmapped = [
        {"account_id": int(r.id), "username": r.username, "role": r.role, "from": r.code}
        for r in rows
    ]
    return int(moved), unmapped


def published_json(p: Published) -> dict[str, Any]:
    """The result as JSON values (what the API and ``gisgrid plans publish --json`` print).

    Examples
    --------
    >>> from gisgrid.planning.plans import PlanParent
    >>> t = datetime(2026, 12, 1, tzinfo=UTC)
    >>> s = PlanSummary(1, "p", PlanParent(3, "230108001", "st", "street"), "published", 5,
    ...                 False, None, t, t, t)
    >>> published_json(Published(s, t, kept=["a"]))["at"]
    '2026-12-01T00:00:00+00:00'
    """
    from gisgrid.planning.plans import summary_json

    return {
        "plan": summary_json(p.plan),
        "at": p.at.isoformat(),
        "opened": p.opened,
        "closed": p.closed,
        "kept": p.kept,
        "retired": p.retired,
        "moved": p.moved,
        "rescoped_accounts": p.rescoped_accounts,
        "unmapped_accounts": p.unmapped_accounts,
        "seconds": round(p.seconds, 3),
    }
