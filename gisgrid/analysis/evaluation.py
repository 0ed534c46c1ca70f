"""Evaluation (考核): closure rate, on-time rate and mean handling time per grid, unit or
worker.

Counts incidents reported in a period, in the caller's scope (the condition is in the SQL),
grouped by the grid they were assigned to, the unit they were dispatched to, or the grid
worker (the account) who reported them (``code`` is then the username):

- ``closed``: status closed; ``closure_rate`` = closed / reported;
- ``on_time``: closed no later than ``due_at``; ``on_time_rate`` = on_time / closed;
- ``mean_handling_h``: mean hours from report to close, over closed cases;
- ``overdue``: still open (not closed or rejected) and past ``due_at`` at ``now``;
- ``on_spot``: resolved on the spot (就地解决) by a grid worker, counted apart: such a case
  never went through the loop (closed the moment it was reported), so it is left out of every
  other count and rate, which would otherwise reward it as a zero-hour on-time closure.
  ``closure_rate`` is None for a group whose every case was resolved on the spot.

The period is read by :func:`gisgrid.times.parse_bounds` (both ends included; a bare date is
a day in the city), by default the 90 days before ``until``, and ``until`` by default ``now``.

Examples
--------
>>> GROUPS
('grid', 'unit', 'worker')
>>> now = datetime.fromisoformat("2026-11-01T00:00:00Z")
>>> [t.isoformat() for t in period(None, "2026-10-31", now)]
['2026-08-03T00:00:00+08:00', '2026-10-31T23:59:59.999999+08:00']
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from gisgrid.access.scope import Scope
from gisgrid.errors import InvalidInput
from gisgrid.times import Period, TimeLike, days_up_to, parse_bounds, parse_instant

# group -> (table, incidents' key column, code and name of a group)
_GROUP_BY = {
    "grid": ("areas", "grid_id", "k.code", "k.name"),
    "unit": ("units", "assigned_unit_id", "k.code", "k.name"),
    "worker": ("accounts", "reporter_id", "k.username", "COALESCE(k.display_name, k.username)"),
}
GROUPS = tuple(_GROUP_BY)
DEFAULT_DAYS = 90

_SQL = """
SELECT k.id, {code} AS code, {name} AS name,
       count(*) FILTER (WHERE NOT i.resolved_on_spot) AS reported,
       count(*) FILTER (WHERE i.status = 'closed' AND NOT i.resolved_on_spot) AS closed,
       count(*) FILTER (WHERE i.status = 'closed' AND i.closed_at <= i.due_at
                        AND NOT i.resolved_on_spot) AS on_time,
       avg(extract(epoch FROM i.closed_at - i.reported_at) / 3600.0)
           FILTER (WHERE i.status = 'closed' AND NOT i.resolved_on_spot) AS mean_handling_h,
       count(*) FILTER (WHERE i.status NOT IN ('closed', 'rejected') AND i.due_at < :now)
           AS overdue,
       count(*) FILTER (WHERE i.resolved_on_spot) AS on_spot
FROM incidents i
JOIN {table} k ON k.id = i.{key}
WHERE {scope}
  AND i.reported_at >= :since AND i.reported_at <= :until
GROUP BY k.id, 2, 3
ORDER BY reported DESC, k.id
LIMIT :limit
"""


@dataclass(frozen=True)
class Rates:
    id: int
    code: str | None
    name: str
    reported: int
    closed: int
    on_time: int
    overdue: int
    on_spot: int
    closure_rate: float | None
    on_time_rate: float | None
    mean_handling_h: float | None


def period(since: TimeLike | None, until: TimeLike | None, now: datetime) -> Period:
    """The period counted: ``since`` to ``until``, both included; ``until`` defaults to
    ``now`` and ``since`` to :data:`DEFAULT_DAYS` days before ``until``. An ``until`` that
    is not after ``since`` is InvalidInput naming ``until``."""
    given = parse_bounds(since, until, "since", "until")
    end = given.end if given.end is not None else parse_instant(now, "now")
    start = given.start if given.start is not None else days_up_to(end, DEFAULT_DAYS)
    if end <= start:  # only when the default start is clamped at the earliest time there is
        shown_until = f"{until!r}" if until is not None else f"{end.isoformat()} (now)"
        raise InvalidInput(
            f"until={shown_until} is not after since={start.isoformat()}", field="until"
        )
    return Period(start, end)


def incident_rates(
    conn: Connection | Session,
    scope: Scope,
    by: str,
    since: TimeLike | None,
    until: TimeLike | None,
    now: datetime,
    limit: int = 1000,
) -> list[Rates]:
    """Rates per grid (``by="grid"``), per unit (``by="unit"``) or per reporting worker
    (``by="worker"``) for incidents reported in the :func:`period` from ``since`` to
    ``until``, in the scope."""
    if by not in GROUPS:
        raise InvalidInput(f"by={by!r}; expected one of {GROUPS}", field="by")
    since, until = period(since, until, now)
    if not 1 <= limit <= 100_000:
        raise InvalidInput("must be between 1 and 100000", field="limit")
    where, params = scope.rows_sql("i")
    table, key, code, name = _GROUP_BY[by]
    sql = _SQL.format(table=table, key=key, code=code, name=name, scope=where)
    rows = conn.execute(
        text(sql), {**params, "since": since, "until": until, "now": now, "limit": limit}
    ).all()
    return [
        Rates(
            id=int(r.id),
            code=r.code,
            name=r.name,
            reported=int(r.reported),
            closed=int(r.closed),
            on_time=int(r.on_time),
            overdue=int(r.overdue),
            on_spot=int(r.on_spot),
            closure_rate=(r.closed / r.reported) if r.reported else None,
            on_time_rate=(r.on_time / r.closed) if r.closed else None,
            mean_handling_h=float(r.mean_handling_h) if r.mean_handling_h is not None else None,
        )
        for r in rows
    ]


def grid_rate_features(
    conn: Connection | Session,
    scope: Scope,
    since: TimeLike | None,
    until: TimeLike | None,
    now: datetime,
) -> dict[str, Any]:
    """:func:`incident_rates` per grid as a GeoJSON FeatureCollection (WGS84, outlines lightly
    simplified for a small map): what a choropleth of on-time rate draws."""
    rates = incident_rates(conn, scope, "grid", since, until, now, limit=100_000)
    outlines: dict[int, str] = dict(
        conn.execute(
            text(
                "SELECT id, ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, 0.00002), 6)"
                " FROM areas WHERE id = ANY(:ids)"
            ),
            {"ids": [r.id for r in rates]},
        ).all()
    )
    features = [
        {
            "type": "Feature",
            "id": r.id,
            "geometry": json.loads(outlines[r.id]),
            "properties": asdict(r),
        }
        for r in rates
        if outlines.get(r.id)
    ]
    return {"type": "FeatureCollection", "features": features}
