"""Duplicate warning: open cases of the same category near a point, before a report is sent.

FixMyStreet shows the reports near a new pin; a grid worker who sees the broken gate is
already reported adds to that case (:func:`gisgrid.incidents.intake.support`) instead of
opening a twin. A duplicate is an open case (not closed or rejected) of the same category,
within ``radius_m`` metres (geodesic; default 50 m) of the point, reported in the last
``days`` days (default 30), that the caller may see; nearest first, ties by id.

Examples
--------
>>> check_window(50, 30)
(50.0, 30)
>>> check_window(5000, 30)
Traceback (most recent call last):
...
gisgrid.errors.InvalidInput: radius_m: 5000.0 is out of range; expected 1 to 500
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from gisgrid.access.auth import Caller
from gisgrid.assign.locate import check_lonlat, to_wgs84
from gisgrid.errors import InvalidInput
from gisgrid.incidents.lifecycle import OPEN_STATUSES
from gisgrid.incidents.workflow import Conn, _visible_sql
from gisgrid.numbers import parse_float, parse_int
from gisgrid.query.nearest import check_category
from gisgrid.sql import load_sql

RADIUS_M = 50.0
DAYS = 30
MAX_RADIUS_M = 500.0
MAX_DAYS = 365
LIMIT = 10
_M_PER_DEG = 111_320.0  # a degree of latitude; the box is a first cut only, padded


@dataclass(frozen=True)
class Duplicate:
    """An open case near the point: where, how far, and how many reports support it."""

    id: int
    category: str
    status: str
    description: str | None
    reported_at: datetime
    version: int
    lon: float
    lat: float
    distance_m: float
    supporters: int


def check_window(radius_m: Any, days: Any) -> tuple[float, int]:
    """The radius (1 to 500 m) and the window (1 to 365 days), or InvalidInput naming one."""
    return (
        parse_float(radius_m, "radius_m", lo=1, hi=MAX_RADIUS_M),
        parse_int(days, "days", lo=1, hi=MAX_DAYS),
    )


def duplicates(
    conn: Conn,
    caller: Caller,
    *,
    lon: Any,
    lat: Any,
    category: str,
    radius_m: Any = RADIUS_M,
    days: Any = DAYS,
    crs: str = "wgs84",
    now: datetime | None = None,
    limit: int = LIMIT,
) -> list[Duplicate]:
    """Open cases of ``category`` within ``radius_m`` of the point and ``days`` of ``now``,
    visible to the caller, nearest first (at most ``limit``). The point is in ``crs``."""
    x, y = to_wgs84(*check_lonlat(lon, lat), crs)
    r, d = check_window(radius_m, days)
    check_category(conn, category)
    if not 1 <= limit <= 100:
        raise InvalidInput(f"must be between 1 and 100 ({limit} given)", field="limit")
    since = (now or datetime.now(UTC)) - timedelta(days=d)
    pad = 1.5 * r / _M_PER_DEG
    dlon = pad / max(math.cos(math.radians(y)), 0.01)
    scope, params = _visible_sql(caller)
    rows = conn.execute(
        text(load_sql("duplicates").format(scope=scope)),
        {
            **params,
            "lon": x,
            "lat": y,
            "xmin": x - dlon,
            "xmax": x + dlon,
            "ymin": y - pad,
            "ymax": y + pad,
            "radius_m": r,
            "category": category,
            "open": list(OPEN_STATUSES),
            "since": since,
            "limit": limit,
        },
    )
    return [Duplicate(**{**row._mapping, "supporters": int(row.supporters)}) for row in rows]
