"""Today's figures of a console: what the strip above the queue shows, for the caller's cases.

The day is the city's (gisgrid.times, Asia/Shanghai), from 00:00 there up to ``now``:

- ``reported``: cases reported today;
- ``closed``: cases closed today;
- ``overdue``: open cases past their due time, now;
- ``escalated``: escalations today (events to ``escalated``, a case escalated twice counts
  twice);
- ``on_time_rate``: of the cases closed today or in the 30 days before (``closed_recent``),
  the share closed no later than their due time (``on_time``), as the evaluation counts it
  (gisgrid.analysis.evaluation); None when none was closed.

The cases are the caller's caseload (gisgrid.incidents.queue.caseload_sql): its scope, and for
a unit the cases dispatched to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text

from gisgrid.access.auth import Caller
from gisgrid.incidents.queue import OPEN_SQL, caseload_sql
from gisgrid.incidents.workflow import Conn
from gisgrid.times import CITY_TZ, parse_instant

RECENT_DAYS = 30


@dataclass(frozen=True)
class Figures:
    day: date
    reported: int
    closed: int
    overdue: int
    escalated: int
    closed_recent: int
    on_time: int
    on_time_rate: float | None


def day_start(now: datetime) -> datetime:
    """00:00 of ``now``'s day in the city.

    Examples
    --------
    >>> day_start(datetime(2026, 3, 1, 17, 0, tzinfo=UTC)).isoformat()  # 01:00 on the 2nd
    '2026-03-02T00:00:00+08:00'
    """
    return parse_instant(now.astimezone(CITY_TZ).date(), "now")


def today(conn: Conn, caller: Caller, now: datetime | None = None) -> Figures:
    """Today's figures for the caller's cases (see the module)."""
    now = now or datetime.now(UTC)
    start = day_start(now)
    where, params = caseload_sql(caller)
    row = conn.execute(
        text(
            "SELECT"
            " count(*) FILTER (WHERE i.reported_at >= :start AND i.reported_at <= :now)"
            "  AS reported,"
            " count(*) FILTER (WHERE i.status = 'closed' AND i.closed_at >= :start"
            "  AND i.closed_at <= :now) AS closed,"
            f" count(*) FILTER (WHERE {OPEN_SQL} AND i.due_at < :now) AS overdue,"
            " count(*) FILTER (WHERE i.status = 'closed' AND i.closed_at >= :recent"
            "  AND i.closed_at <= :now) AS closed_recent,"
            " count(*) FILTER (WHERE i.status = 'closed' AND i.closed_at >= :recent"
            "  AND i.closed_at <= :now AND i.closed_at <= i.due_at) AS on_time"
            f" FROM incidents i WHERE {where}"
            # only rows that can count: open ones, or reported or closed in the window
            f" AND ({OPEN_SQL} OR i.reported_at >= :start OR i.closed_at >= :recent)"
        ),
        {**params, "start": start, "now": now, "recent": start - timedelta(days=RECENT_DAYS)},
    ).one()
    escalated = conn.execute(
        text(
            "SELECT count(*) FROM incident_events e JOIN incidents i ON i.id = e.incident_id"
            f" WHERE e.to_status = 'escalated' AND e.at >= :start AND e.at <= :now AND {where}"
        ),
        {**params, "start": start, "now": now},
    ).scalar_one()
    return Figures(
        day=start.date(),
        reported=int(row.reported),
        closed=int(row.closed),
        overdue=int(row.overdue),
        escalated=int(escalated),
        closed_recent=int(row.closed_recent),
        on_time=int(row.on_time),
        on_time_rate=(row.on_time / row.closed_recent) if row.closed_recent else None,
    )
