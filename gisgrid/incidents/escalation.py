"""Automatic escalation: overdue cases move one centre up per step overdue, by a sweep.

The policy (:class:`EscalationPolicy`, from ``Settings.escalation_*``):

- A case due at D that is still open is escalated to the next centre once one step has
  passed after D, and one more centre after each further step, up to the city centre. A new
  case is held by its street centre (``lifecycle.HOLDER_LEVEL``), so the first step lands it
  at the district centre and the second at the city centre.
- For ``low``, ``normal`` and ``high`` cases a step is ``escalation_step_days`` working days
  (default 1) on the SLA calendar (:mod:`gisgrid.incidents.sla`: weekends and holidays do
  not count), so a case due on a Friday at 10:00 is escalated on Monday at 10:00, or on
  Tuesday when Monday is a holiday.
  (A high case's shorter SLA already makes it due sooner; the step stays a working day.)
- For ``urgent`` cases a step is ``escalation_urgent_step_h`` hours (default 2) of plain
  clock time, weekends included, as their SLA is: an urgent case does not wait for Monday.
- The target centre is a function of ``due_at`` and the time alone, so a case already at
  or above it (escalated by hand, or by an earlier sweep) is left as it is.

What an automatic escalation may do is what a centre's ``escalate`` may do
(``lifecycle.TRANSITIONS``): it takes cases that are ``reported``, ``accepted``,
``returned`` or ``escalated``, makes them ``escalated`` and moves ``escalation_level`` up.
Cases a unit holds (``dispatched``, ``in_progress``) or that wait for the centre's check
(``feedback``) are skipped: pulling a case away from the unit working on it is a decision
for a person, and the console shows them as overdue. ``closed`` and ``rejected`` are done.
A skipped case that comes back (a unit returns it) is escalated at the next sweep, straight
to the centre its time overdue calls for.

Each escalation is one transition written by :func:`gisgrid.incidents.workflow.transition`,
as a centre's is: status ``escalated``, ``escalation_level`` up, version bumped, and one
``incident_events`` row whose actor is null (the system) and whose note says why in words.

:func:`sweep` is safe to run anywhere, any number of times: every state is in the database,
so a restarted server continues where the last one stopped; a second sweep at the same time
escalates nothing; two processes sweeping at once lock each case with ``FOR UPDATE SKIP
LOCKED`` and decide again on the locked row, so each case is escalated once.

Examples
--------
>>> from datetime import datetime
>>> from gisgrid.times import CITY_TZ
>>> policy = EscalationPolicy()
>>> fri = datetime(2026, 11, 27, 10, 0, tzinfo=CITY_TZ)
>>> policy.target_rank(fri, "normal", datetime(2026, 11, 30, 9, 59, tzinfo=CITY_TZ))
1
>>> policy.target_rank(fri, "normal", datetime(2026, 11, 30, 10, 0, tzinfo=CITY_TZ))
2
>>> policy.note(fri, "normal", 2)
'automatic: 1 working day overdue (due 2026-11-27 10:00), escalated to the district centre'
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, text

from gisgrid.errors import InvalidInput
from gisgrid.incidents import workflow
from gisgrid.incidents.lifecycle import HOLDER_LEVEL, LEVEL_OF_RANK, OPEN_STATUSES, TRANSITIONS
from gisgrid.incidents.sla import add_working_days
from gisgrid.settings import Settings
from gisgrid.store.partitions import AHEAD, ensure_months
from gisgrid.times import CITY_TZ

ESCALATABLE = tuple(s for s in OPEN_STATUSES if (s, "escalate") in TRANSITIONS)
"""The statuses the sweep escalates: those a centre may escalate by hand."""

TOP_RANK = max(LEVEL_OF_RANK)  # the city centre
BATCH = 200  # cases locked per transaction: short, so a centre's action never waits long


@dataclass(frozen=True)
class EscalationPolicy:
    """When an overdue case moves up (see the module); ``holidays`` as in the SLA clock."""

    step_days: float = 1.0
    urgent_step_h: float = 2.0
    holidays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        for name in ("step_days", "urgent_step_h"):
            value = getattr(self, name)
            if not value > 0:
                raise InvalidInput(f"{name}={value!r}; expected a number > 0", field=name)

    @classmethod
    def from_settings(cls, settings: Settings) -> EscalationPolicy:
        """The policy ``Settings`` describe (``escalation_step_days``, ``..._urgent_step_h``,
        ``holidays``).

        Examples
        --------
        >>> s = Settings(escalation_step_days=2, _env_file=None)
        >>> EscalationPolicy.from_settings(s).step_days
        2.0
        """
        return cls(
            step_days=settings.escalation_step_days,
            urgent_step_h=settings.escalation_urgent_step_h,
            holidays=frozenset(settings.holidays),
        )

    def step_end(self, due_at: datetime, priority: str, steps: int) -> datetime:
        """When a case due at ``due_at`` has been overdue for ``steps`` steps.

        Examples
        --------
        >>> from gisgrid.times import CITY_TZ
        >>> sat = datetime(2026, 11, 28, 10, 0, tzinfo=CITY_TZ)
        >>> EscalationPolicy().step_end(sat, "urgent", 1).isoformat()
        '2026-11-28T12:00:00+08:00'
        >>> EscalationPolicy().step_end(sat, "normal", 1).isoformat()   # Monday, all of it
        '2026-12-01T00:00:00+08:00'
        """
        if priority == "urgent":
            return due_at + steps * timedelta(hours=self.urgent_step_h)
        return add_working_days(due_at, steps * self.step_days, self.holidays)

    def target_rank(self, due_at: datetime, priority: str, now: datetime) -> int:
        """The holder rank (``lifecycle.HOLDER_LEVEL``: 1 street, 2 district, 3 city) a case
        should have reached at ``now``: 1 plus the steps it has been overdue, at most 3."""
        steps = 0
        while 1 + steps < TOP_RANK and self.step_end(due_at, priority, steps + 1) <= now:
            steps += 1
        return 1 + steps

    def note(self, due_at: datetime, priority: str, rank: int) -> str:
        """The event's note for an escalation to ``rank``, in words: the step reached."""
        steps = rank - 1
        if priority == "urgent":
            hours = steps * self.urgent_step_h
            late = f"urgent, {hours:g} hour{'' if hours == 1 else 's'} overdue"
        else:
            days = steps * self.step_days
            late = f"{days:g} working day{'' if days == 1 else 's'} overdue"
        due = due_at.astimezone(CITY_TZ).strftime("%Y-%m-%d %H:%M")
        return f"automatic: {late} (due {due}), escalated to the {LEVEL_OF_RANK[rank]} centre"

    def min_step(self) -> timedelta:
        """The least clock time one step can take (a working day is at least 24 h of it)."""
        return min(timedelta(days=self.step_days), timedelta(hours=self.urgent_step_h))


@dataclass(frozen=True)
class Escalation:
    """One case the sweep moved up."""

    incident_id: int
    from_status: str
    from_level: str
    to_level: str
    note: str


@dataclass(frozen=True)
class SweepResult:
    """What one :func:`sweep` did at ``now``."""

    now: datetime
    escalated: list[Escalation]
    skipped_busy: int = 0  # due, but held by another transaction (another sweeper, a centre)

    @property
    def ids(self) -> list[int]:
        return [e.incident_id for e in self.escalated]

    @property
    def by_level(self) -> dict[str, int]:
        """How many cases went to each level."""
        return dict(Counter(e.to_level for e in self.escalated))


def sweep(
    engine: Engine,
    now: datetime | None = None,
    policy: EscalationPolicy | None = None,
    *,
    batch: int = BATCH,
    stop: threading.Event | None = None,
) -> SweepResult:
    """Escalate every case the policy says is due at ``now`` (default: the current time).

    Reads the candidates, then locks them ``batch`` at a time, skipping rows another
    transaction holds, and decides again on each locked row before writing: idempotent and
    safe beside other sweepers. ``stop`` set ends the sweep after the current batch (a
    server shutting down); the rest is escalated by the next sweep. ``now`` decides what is
    due; the events are stamped with the time they are written, as a centre's are.
    :meth:`EscalationPolicy.step_end` says when a case will next move (for a console).

    Examples
    --------
    >>> sweep(None, now=datetime(2026, 11, 30, 10, 0))  # type: ignore[arg-type]
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: now: must be timezone-aware (2026-11-30 10:00:00 given)
    """
    now = _check_now(now)
    policy = policy or EscalationPolicy()
    if batch < 1:
        raise InvalidInput(f"batch={batch}; expected an integer >= 1", field="batch")
    with engine.begin() as conn:  # the months to come are partitioned before they come
        ensure_months(conn, now, now + AHEAD)
    due = _candidates(engine, policy, now)
    done: list[Escalation] = []
    busy = 0
    for start in range(0, len(due), batch):
        if stop is not None and stop.is_set():
            break
        chunk = due[start : start + batch]
        with engine.begin() as conn:
            locked = workflow.lock_free(conn, chunk)
            busy += len(chunk) - len(locked)
            for inc in locked:
                step = _escalation(inc, policy, now)
                if step is not None:
                    workflow.transition(
                        conn,
                        inc,
                        "escalated",
                        {"escalation_level": step.to_level},
                        None,
                        inc.assigned_unit_id,
                        step.note,
                    )
                    done.append(step)
    return SweepResult(now, done, busy)


def _check_now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise InvalidInput(f"must be timezone-aware ({now} given)", field="now")
    return now


def _candidates(engine: Engine, policy: EscalationPolicy, now: datetime) -> list[int]:
    """Ids of the cases due for a step at ``now``: a cheap SQL bound (a step is at least
    :meth:`EscalationPolicy.min_step` of clock time; a district case needs two), then the
    calendar, which only Python knows."""
    step = policy.min_step()
    below_top = [lvl for lvl, r in HOLDER_LEVEL.items() if r < TOP_RANK]
    first = [lvl for lvl, r in HOLDER_LEVEL.items() if r == 1]
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT i.id, i.status, i.priority, i.due_at, i.escalation_level"
                " FROM incidents i"
                " WHERE i.status = ANY(:statuses) AND i.escalation_level = ANY(:below_top)"
                " AND i.due_at <= :one_step"
                " AND (i.escalation_level = ANY(:first) OR i.due_at <= :two_steps)"
                " ORDER BY i.due_at, i.id"
            ),
            {
                "statuses": list(ESCALATABLE),
                "below_top": below_top,
                "first": first,
                "one_step": now - step,
                "two_steps": now - 2 * step,
            },
        ).all()
    return [
        r.id
        for r in rows
        if policy.target_rank(r.due_at, r.priority, now) > HOLDER_LEVEL[r.escalation_level]
    ]


def _escalation(
    inc: workflow.Incident, policy: EscalationPolicy, now: datetime
) -> Escalation | None:
    """The escalation due for ``inc`` as it is now (read locked), or None: another sweeper or
    a centre may have acted since the candidates were read."""
    if inc.status not in ESCALATABLE or inc.due_at is None:
        return None
    rank = HOLDER_LEVEL[inc.escalation_level]
    target = policy.target_rank(inc.due_at, inc.priority, now)
    if target <= rank:
        return None
    return Escalation(
        incident_id=inc.id,
        from_status=inc.status,
        from_level=inc.escalation_level,
        to_level=LEVEL_OF_RANK[target],
        note=policy.note(inc.due_at, inc.priority, target),
    )
