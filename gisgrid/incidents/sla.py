"""The SLA clock: when an incident is due, counted on the city's working calendar.

The rule, in the city's zone (Asia/Shanghai):

- The clock runs only on working days: Monday to Friday, except the listed holidays
  (``Settings.holidays``, from ``GISGRID_HOLIDAYS`` as comma-separated ISO dates). On a
  working day it runs the whole day, 00:00 to 24:00; on a weekend or a holiday it stands
  still. So one working day of SLA (24 h) is the same clock time on the next working day,
  and a case reported on a Saturday starts its clock at 00:00 on Monday.
- ``normal`` and ``low`` priority get the category's ``sla_hours`` as they are.
- ``high`` gets half of them, on the same calendar.
- ``urgent`` gets 30 minutes of plain clock time (or the category's own time if shorter),
  weekends and holidays included: an urgent case does not wait for Monday.

Examples
--------
>>> from datetime import datetime, date
>>> fri = datetime(2026, 11, 27, 10, 0, tzinfo=CITY_TZ)      # a Friday, 10:00
>>> due_at(fri, 24, "normal").isoformat()                     # the next working day
'2026-11-30T10:00:00+08:00'
>>> due_at(fri, 24, "normal", holidays=[date(2026, 11, 30)]).isoformat()
'2026-12-01T10:00:00+08:00'
>>> due_at(fri, 24, "urgent").isoformat()
'2026-11-27T10:30:00+08:00'
"""

from __future__ import annotations

import math
from collections.abc import Collection
from datetime import date, datetime, time, timedelta

from gisgrid import vocab
from gisgrid.errors import InvalidInput
from gisgrid.times import CITY_TZ

URGENT = timedelta(minutes=30)
DEFAULT_SLA_HOURS = 72.0  # a category without its own sla_hours (a top-level group)
_MAX_DAYS = 3660  # a calendar with no working day for ten years is a configuration error


def is_working_day(day: date, holidays: Collection[date] = ()) -> bool:
    """Monday to Friday and not a holiday.

    Examples
    --------
    >>> is_working_day(date(2026, 11, 28)), is_working_day(date(2026, 11, 30))
    (False, True)
    """
    return day.weekday() < 5 and day not in holidays


def due_at(
    reported_at: datetime,
    sla_hours: float | None,
    priority: str = "normal",
    holidays: Collection[date] = (),
) -> datetime:
    """When a case reported at ``reported_at`` is due (in the city's zone; see the module).

    ``reported_at`` must be timezone-aware. ``sla_hours`` None takes
    :data:`DEFAULT_SLA_HOURS`.
    """
    if reported_at.tzinfo is None or reported_at.utcoffset() is None:
        raise InvalidInput("must be timezone-aware", field="reported_at")
    if priority not in vocab.PRIORITIES:
        raise InvalidInput(
            f"priority={priority!r}; expected one of {list(vocab.PRIORITIES)}", field="priority"
        )
    hours = DEFAULT_SLA_HOURS if sla_hours is None else float(sla_hours)
    if not (math.isfinite(hours) and hours > 0):
        raise InvalidInput(f"must be a positive number of hours ({sla_hours} given)", field="sla")
    local = reported_at.astimezone(CITY_TZ)
    if priority == "urgent":
        return local + min(URGENT, timedelta(hours=hours))
    if priority == "high":
        hours /= 2
    return _add_working_time(local, timedelta(hours=hours), frozenset(holidays))


def add_working_days(start: datetime, days: float, holidays: Collection[date] = ()) -> datetime:
    """``days`` working days after ``start`` on the same calendar as :func:`due_at`: the
    clock runs 24 h on a working day and stands still on weekends and holidays.

    Examples
    --------
    >>> fri = datetime(2026, 11, 27, 10, 0, tzinfo=CITY_TZ)      # a Friday, 10:00
    >>> add_working_days(fri, 1).isoformat()                     # Monday, 10:00
    '2026-11-30T10:00:00+08:00'
    >>> add_working_days(fri, 2, holidays=[date(2026, 11, 30)]).isoformat()
    '2026-12-02T10:00:00+08:00'
    """
    if start.tzinfo is None or start.utcoffset() is None:
        raise InvalidInput("must be timezone-aware", field="start")
    if not (math.isfinite(days) and days >= 0):
        raise InvalidInput(f"must be a number of days >= 0 ({days} given)", field="days")
    local = start.astimezone(CITY_TZ)
    return _add_working_time(local, timedelta(days=days), frozenset(holidays))


def _add_working_time(start: datetime, amount: timedelta, holidays: frozenset[date]) -> datetime:
    # Walk in wall-clock time, day by day: Shanghai has no DST, but naive arithmetic keeps
    # the rule "same clock time on the next working day" true in any zone.
    cursor = start.replace(tzinfo=None)
    remaining = amount
    for _ in range(_MAX_DAYS + int(amount / timedelta(days=1)) * 2):
        day_end = datetime.combine(cursor.date() + timedelta(days=1), time())
        if is_working_day(cursor.date(), holidays):
            available = day_end - cursor
            if remaining <= available:
                return (cursor + remaining).replace(tzinfo=CITY_TZ)
            remaining -= available
        cursor = day_end
    raise InvalidInput("no working day in the calendar", field="holidays")
