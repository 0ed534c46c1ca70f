"""Times at the edges: the city's zone and the one parser of every date or time a caller sends.

Tile filters (``from``, ``to``), OGC API ``datetime``, Open311 ``start_date``/``end_date``,
``/stats/incidents`` ``since``/``until``, ``gisgrid export --since/--until`` and
``gisgrid assign --reassign --since`` all read their values here, by one rule:

- ISO 8601, a date or a date-time; ``Z`` or an offset gives the zone.
- A date-time without a zone is the city's local time (:data:`CITY_TZ`, Asia/Shanghai).
- A bare date is a day in the city. As a start (or an instant) it is 00:00 of that day. As
  the end of a period the whole day is in: a period includes both of its ends, as OGC API
  intervals do, so ``from=2026-03-01&to=2026-03-31`` and ``datetime=2026-03-01/2026-03-31``
  are the same 31 days, and ``datetime=2026-03-01`` is one day.
- Everything returned is timezone-aware, in the city's zone (the same instant, whatever zone
  it was written in). A time whose year falls outside 1..9999 once converted to UTC is
  refused, not an OverflowError.

A file being loaded is parsed column-wise by :func:`gisgrid.io.checks.parse_times`, which
takes a naive value the same way through :func:`city_to_utc`.

Examples
--------
>>> parse_instant("2026-03-01", "from").isoformat()
'2026-03-01T00:00:00+08:00'
>>> parse_instant("2026-03-01T00:00:00Z", "from").isoformat()
'2026-03-01T08:00:00+08:00'
>>> [t.isoformat() for t in parse_period("2026-03-01")]
['2026-03-01T00:00:00+08:00', '2026-03-01T23:59:59.999999+08:00']
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, NamedTuple
from zoneinfo import ZoneInfo

from gisgrid.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

CITY_TZ = ZoneInfo("Asia/Shanghai")
"""The city's zone: naive times and bare dates are read in it; working days are counted in it."""

TimeLike = str | date | datetime
"""What a caller may give for a time: ISO 8601 text, a date (a city day) or a datetime."""

_OPEN = ("..", "")
_EXAMPLE = "e.g. 2026-03-01 or 2026-03-01T08:30:00+08:00"


class Period(NamedTuple):
    """A time range with both ends included; ``None`` is an open end."""

    start: datetime | None
    end: datetime | None


def _refuse(value: object, field: str, why: str) -> InvalidInput:
    return InvalidInput(f"{field}={value!r} {why}", field=field)


def _in_city(t: datetime, value: object, field: str) -> datetime:
    """``t`` (aware) in the city's zone, refusing what falls outside the years 1..9999."""
    try:
        t.astimezone(UTC)
        return t.astimezone(CITY_TZ)
    except OverflowError:
        raise _refuse(value, field, "is out of range: years 1 to 9999 only") from None


def _read(value: TimeLike, field: str) -> date | datetime:
    """A bare date (a ``date``), or a datetime made aware (naive is city time)."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=CITY_TZ)
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise _refuse(value, field, f"is not a date or time; expected ISO 8601 text, {_EXAMPLE}")
    raw = value.strip().upper()  # RFC 3339 allows a lower-case t and z
    try:
        # a date is tried first: datetime.fromisoformat would take it as a naive midnight
        return date.fromisoformat(raw)
    except ValueError:
        pass
    try:
        t = datetime.fromisoformat(raw)
    except ValueError:
        raise _refuse(value, field, f"is not an ISO 8601 date or date-time, {_EXAMPLE}") from None
    return t if t.tzinfo is not None else t.replace(tzinfo=CITY_TZ)


def parse_instant(value: TimeLike, field: str) -> datetime:
    """One instant: a bare date is 00:00 of that day in the city, a naive time is city time.

    InvalidInput naming ``field`` for anything else (the message names the value).

    Examples
    --------
    >>> parse_instant("2026-03-01T08:30", "since").isoformat()
    '2026-03-01T08:30:00+08:00'
    >>> parse_instant("0.5", "until")
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: until: until='0.5' is not an ISO 8601 date or date-time, \
e.g. 2026-03-01 or 2026-03-01T08:30:00+08:00
    >>> parse_instant("0001-01-01T00:00:00+01:00", "datetime")
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: datetime: datetime='0001-01-01T00:00:00+01:00' is out of \
range: years 1 to 9999 only
    """
    t = _read(value, field)
    if not isinstance(t, datetime):
        t = datetime.combine(t, time(), CITY_TZ)
    return _in_city(t, value, field)


def parse_end(value: TimeLike, field: str) -> datetime:
    """The last instant a period ending at ``value`` includes: for a bare date, the end of that
    day in the city (23:59:59.999999, the last microsecond PostgreSQL can hold); otherwise
    the instant itself, as :func:`parse_instant` reads it.

    Examples
    --------
    >>> parse_end("2026-03-31", "to").isoformat()
    '2026-03-31T23:59:59.999999+08:00'
    >>> parse_end("2026-03-31T12:00:00Z", "to").isoformat()
    '2026-03-31T20:00:00+08:00'
    """
    t = _read(value, field)
    if not isinstance(t, datetime):
        t = datetime.combine(t, time.max, CITY_TZ)
    return _in_city(t, value, field)


def parse_bounds(
    start: TimeLike | None,
    end: TimeLike | None,
    start_field: str = "from",
    end_field: str = "to",
) -> Period:
    """A period from two separate values (either may be ``None``: open), both ends included;
    an end that is not after the start is InvalidInput naming ``end_field``.

    Examples
    --------
    >>> p = parse_bounds("2026-03-01", "2026-03-01")
    >>> str(p.end - p.start)
    '23:59:59.999999'
    >>> parse_bounds("2026-03-02", "2026-03-01")
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: to: to='2026-03-01' is not after from='2026-03-02'
    """
    a = parse_instant(start, start_field) if start is not None else None
    b = parse_end(end, end_field) if end is not None else None
    if a is not None and b is not None and b <= a:
        raise _refuse(end, end_field, f"is not after {start_field}={start!r}")
    return Period(a, b)


def parse_period(value: str, field: str = "datetime") -> Period:
    """An OGC API - Features ``datetime``: an instant, ``a/b``, ``../b`` or ``a/..`` (an empty
    end is open too; both open is refused). Both ends are included; a bare date as the instant
    is that whole day in the city, and a bare date as ``b`` includes that whole day.

    Examples
    --------
    >>> start, end = parse_period("2026-03-01T00:00:00Z/2026-03-02")
    >>> start.isoformat(), end.isoformat()
    ('2026-03-01T08:00:00+08:00', '2026-03-02T23:59:59.999999+08:00')
    >>> parse_period("2026-03-01/..").end is None
    True
    >>> parse_period("../..")
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: datetime: datetime='../..' is open at both ends
    """
    if not isinstance(value, str):
        raise _refuse(value, field, "is not text; expected an instant or start/end")
    if "/" not in value:
        return Period(parse_instant(value, field), parse_end(value, field))
    parts = value.split("/")
    if len(parts) != 2:
        raise _refuse(value, field, "has more than one '/'; expected an instant or start/end")
    a, b = (None if p.strip() in _OPEN else p for p in parts)
    if a is None and b is None:
        raise _refuse(value, field, "is open at both ends")
    start = parse_instant(a, field) if a is not None else None
    end = parse_end(b, field) if b is not None else None
    if start is not None and end is not None and end <= start:
        raise _refuse(value, field, "ends before it starts (or at the same instant)")
    return Period(start, end)


def parse_month(value: str | date, field: str = "month") -> datetime:
    """The start of a calendar month in the city: ``YYYY-MM`` (or a date, whose month is
    taken), 00:00 of its first day.

    Examples
    --------
    >>> parse_month("2026-10").isoformat()
    '2026-10-01T00:00:00+08:00'
    >>> parse_month("2026-13")
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: month: month='2026-13' is not a month; expected YYYY-MM, \
e.g. 2026-03
    """
    if isinstance(value, date):
        return datetime(value.year, value.month, 1, tzinfo=CITY_TZ)
    raw = value.strip() if isinstance(value, str) else ""
    try:
        year, month = (int(p) for p in raw.split("-"))
        return datetime(year, month, 1, tzinfo=CITY_TZ)
    except ValueError:
        raise _refuse(value, field, "is not a month; expected YYYY-MM, e.g. 2026-03") from None


def add_months(start: datetime, months: int) -> datetime:
    """The first of the month ``months`` after (or before) the month of ``start``, at 00:00
    in the city.

    >>> add_months(parse_month("2026-01"), -1).isoformat()
    '2025-12-01T00:00:00+08:00'
    >>> add_months(parse_month("2026-11"), 2).date()
    datetime.date(2027, 1, 1)
    """
    local = start.astimezone(CITY_TZ)
    index = local.year * 12 + local.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=CITY_TZ)


def days_up_to(end: datetime, days: int) -> datetime:
    """The start of the ``days`` days whose last included instant is ``end`` (``end`` less
    ``days`` days, plus the one microsecond ``end`` itself holds), so that the days up to a
    bare date's end are whole city days; the earliest time there is when that is before
    year 1 (a default start must not overflow).

    Examples
    --------
    >>> days_up_to(parse_end("2026-03-31", "to"), 90).isoformat()
    '2026-01-01T00:00:00+08:00'
    >>> days_up_to(parse_instant("0001-01-02T00:00:00Z", "to"), 90).isoformat()
    '0001-01-01T00:00:00+00:00'
    """
    try:
        return end - timedelta(days=days) + timedelta(microseconds=1)
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)


def city_to_utc(values: pd.Series) -> pd.Series:
    """A datetime64 column in UTC, naive values read as city time: the vectorised form of the
    rule above, for whole columns. A local time that does not exist or repeats (Shanghai has
    had no daylight saving since 1991) becomes NaT rather than a guess.

    Examples
    --------
    >>> import pandas as pd
    >>> city_to_utc(pd.to_datetime(pd.Series(["2026-03-01"]))).iloc[0].isoformat()
    '2026-02-28T16:00:00+00:00'
    """
    if values.dt.tz is None:
        values = values.dt.tz_localize(CITY_TZ, ambiguous="NaT", nonexistent="NaT")
    return values.dt.tz_convert("UTC")
