"""The monthly partitions of incidents (migration 0011): made ahead of the rows that need them.

Incidents are range-partitioned on ``reported_at`` by city month (Asia/Shanghai), one table
``incidents_pYYYYMM`` a month and ``incidents_default`` for a time no month covers yet. A row
is never refused for want of a month (it lands in the default), but the default is scanned by
every query, so the months are made ahead: by a bulk load for its rows' span, and by the
sweeper for the months to come (:data:`AHEAD`). The SQL is ``gisgrid_incident_partitions`` in
gisgrid/sql/partitions.sql.

Examples
--------
>>> partition_name(datetime(2026, 2, 28, 17, 0, tzinfo=UTC))  # 01:00 on 1 March in Harbin
'incidents_p202603'
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta  # noqa: F401  (UTC: the examples)

from sqlalchemy import Connection, text

from gisgrid.errors import InvalidInput
from gisgrid.times import CITY_TZ

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
