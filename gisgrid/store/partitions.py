"""The monthly partitions of incidents (migration 0011): made ahead of the rows that need them.

Incidents are range-partitioned on ``reported_at`` by city month (Asia/Shanghai), one table
``incidents_pYYYYMM`` a month and ``incidents_default`` for a time no month covers yet. A row
is never refused for want of a month (it lands in the default), but the default is scanned by
every query, so the months are made ahead: by a bulk load for its rows' span, and by the
sweeper for the months to come (:data:`AHEAD`). The SQL is ``gisgrid_incident_partitions`` in
gisgrid/sql/partitions.sql.

Rows arrive in time order, so a month's incidents near one another lie on pages far apart: on
the 10M twin the centre's zoom-14 tile read 6,265 pages of one month for its 6,300 rows.
:func:`cluster_months` rewrites each month that has ended in the order of its spatial index
(``CLUSTER ... USING`` the GiST index on geom): the same tile then reads 280 pages. PostgreSQL
remembers the index a table was clustered on (``pg_index.indisclustered``), which is how a
month already done is known.

Examples
--------
>>> partition_name(datetime(2026, 2, 28, 17, 0, tzinfo=UTC))  # 01:00 on 1 March in Harbin
'incidents_p202603'
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, text

from gisgrid.errors import InvalidInput
from gisgrid.sql import quote_ident
from gisgrid.times import CITY_TZ, add_months

AHEAD = timedelta(days=92)  # the sweeper keeps this much of the future partitioned
# a partition's name: its parent, not it, is the model (and what a backup must drop)
PARTITION = re.compile(r"incidents_(p\d{6}|default)")


def partition_name(at: datetime) -> str:
    """The partition that holds an incident reported at ``at`` (aware), by city month."""
    if at.tzinfo is None:
        raise InvalidInput(f"must be timezone-aware ({at} given)", field="reported_at")
    return "incidents_p" + at.astimezone(CITY_TZ).strftime("%Y%m")


def ensure_months(conn: Connection, lo: datetime, hi: datetime) -> int:
    """Make the monthly partitions covering ``[lo, hi]`` that are missing; return how many.

    Cheap when they exist (a catalog lookup a month); a month made late takes the rows the
    default partition held for it.

    Examples
    --------
    >>> from gisgrid.store.engine import make_engine
    >>> from gisgrid.settings import get_settings
    >>> with make_engine(get_settings()).begin() as conn:  # doctest: +SKIP
    ...     ensure_months(conn, datetime.now(UTC), datetime.now(UTC) + AHEAD)
    0
    """
    if hi < lo:
        raise InvalidInput(f"hi={hi} is before lo={lo}", field="hi")
    made = conn.execute(
        text("SELECT gisgrid_incident_partitions(:lo, :hi)"), {"lo": lo, "hi": hi}
    ).scalar_one()
    return int(made)


GRACE = timedelta(days=7)  # a month is clustered once it has been over this long
# every monthly partition with its spatial (GiST) index and whether it is clustered on it
_MONTHS_SQL = text(
    """
SELECT c.relname AS part, ic.relname AS index, x.indisclustered AS clustered
FROM pg_inherits h
JOIN pg_class c ON c.oid = h.inhrelid
JOIN pg_index x ON x.indrelid = c.oid
JOIN pg_class ic ON ic.oid = x.indexrelid
JOIN pg_am a ON a.oid = ic.relam
WHERE h.inhparent = 'incidents'::regclass AND a.amname = 'gist'
ORDER BY c.relname
"""
)


@dataclass(frozen=True)
class Clustered:
    """One month rewritten in spatial order: its partition, rows and how long it took."""

    partition: str
    rows: int
    seconds: float


def month_end(partition: str) -> datetime | None:
    """When the month of ``incidents_pYYYYMM`` ends (city time); None for the default.

    >>> month_end("incidents_p202612").isoformat()
    '2027-01-01T00:00:00+08:00'
    >>> month_end("incidents_default") is None
    True
    """
    m = re.fullmatch(r"incidents_p(\d{4})(\d{2})", partition)
    if m is None:
        return None
    return add_months(datetime(int(m[1]), int(m[2]), 1, tzinfo=CITY_TZ), 1)


def months_to_cluster(
    conn: Connection, now: datetime, grace: timedelta = GRACE, again: bool = False
) -> list[tuple[str, str]]:
    """(partition, GiST index) of the months over by ``grace`` at ``now`` and not clustered
    yet (``again``: clustered or not)."""
    out = []
    for part, index, clustered in conn.execute(_MONTHS_SQL).all():
        end = month_end(part)
        if end is not None and end + grace <= now and (again or not clustered):
            out.append((str(part), str(index)))
    return out


def cluster_months(
    engine: Engine,
    now: datetime | None = None,
    grace: timedelta = GRACE,
    again: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[Clustered]:
    """Rewrite each month :func:`months_to_cluster` names in the order of its spatial index,
    one transaction a month (``CLUSTER`` holds an exclusive lock on that month while it runs:
    about 9 s for a month of the 10M twin), then ANALYZE it. ``progress(partition, done,
    total)`` is called before each month and once at the end."""
    with engine.connect() as conn:
        todo = months_to_cluster(conn, now or datetime.now(UTC), grace, again)
        conn.rollback()
    done: list[Clustered] = []
    for k, (part, index) in enumerate(todo):
        if progress is not None:
            progress(part, k, len(todo))
        t0 = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(text(f"CLUSTER {quote_ident(part)} USING {quote_ident(index)}"))
            # CLUSTER records the live rows it copied: no second pass over the month to count
            rows = conn.execute(
                text("SELECT reltuples FROM pg_class WHERE oid = CAST(:p AS regclass)"), {"p": part}
            ).scalar_one()
        with engine.connect() as conn:
            conn.execute(text(f"ANALYZE {quote_ident(part)}"))
            conn.commit()
        done.append(Clustered(part, int(rows), time.perf_counter() - t0))
    if progress is not None:
        progress("", len(todo), len(todo))
    return done
