"""SLA arithmetic on the working calendar, against hand-checked values.

Calendar used below (2026): Fri 27 Nov, Sat 28, Sun 29, Mon 30 Nov, Tue 1 Dec ... and the
National Day week: Thu 1 Oct to Wed 7 Oct holidays (Sat 3 / Sun 4 are weekend anyway).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from gisgrid.errors import InvalidInput
from gisgrid.incidents.sla import due_at
from gisgrid.settings import Settings
from gisgrid.times import CITY_TZ

NATIONAL_DAY = [date(2026, 10, d) for d in range(1, 8)]


def sh(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=CITY_TZ)


@pytest.mark.parametrize(
    ("reported", "hours", "priority", "holidays", "expected"),
    [
        # inside one working day
        (sh(2026, 11, 30, 9), 6, "normal", [], sh(2026, 11, 30, 15)),
        # Friday 10:00 + 24 h: Saturday and Sunday skipped -> Monday 10:00
        (sh(2026, 11, 27, 10), 24, "normal", [], sh(2026, 11, 30, 10)),
        # Friday 22:00 + 4 h: 2 h left on Friday, 2 h from Monday 00:00
        (sh(2026, 11, 27, 22), 4, "normal", [], sh(2026, 11, 30, 2)),
        # reported on Saturday: the clock starts Monday 00:00
        (sh(2026, 11, 28, 15), 12, "normal", [], sh(2026, 11, 30, 12)),
        # ends exactly at midnight on Friday: due then, not pushed to Monday
        (sh(2026, 11, 27, 20), 4, "normal", [], sh(2026, 11, 28, 0)),
        # Thursday 16:00 + 72 h: Thu 8 h, Fri 24 h, (weekend), Mon 24 h, Tue 16 h -> Tue 16:00
        (sh(2026, 11, 26, 16), 72, "normal", [], sh(2026, 12, 1, 16)),
        # Friday 10:00 + 24 h with Monday a holiday -> Tuesday 10:00
        (sh(2026, 11, 27, 10), 24, "normal", [date(2026, 11, 30)], sh(2026, 12, 1, 10)),
        # Wed 30 Sep 12:00 + 24 h over National Day: 12 h on Wed, then Thu 8 Oct 12:00
        (sh(2026, 9, 30, 12), 24, "normal", NATIONAL_DAY, sh(2026, 10, 8, 12)),
        # reported during the holiday: Mon 5 Oct 08:00 + 2 h -> Thu 8 Oct 02:00
        (sh(2026, 10, 5, 8), 2, "normal", NATIONAL_DAY, sh(2026, 10, 8, 2)),
        # low priority keeps the category's time
        (sh(2026, 11, 27, 10), 24, "low", [], sh(2026, 11, 30, 10)),
        # high: half, on the same calendar: Friday 20:00 + 12 h -> 4 h Fri, 8 h Mon -> Mon 08:00
        (sh(2026, 11, 27, 20), 24, "high", [], sh(2026, 11, 30, 8)),
        # urgent: 30 min of clock time, even on a Saturday night
        (sh(2026, 11, 28, 23, 45), 24, "urgent", [], sh(2026, 11, 29, 0, 15)),
        # urgent never lengthens a shorter SLA (gas leak: 1 h -> 30 min; 0.25 h stays)
        (sh(2026, 11, 30, 9), 0.25, "urgent", [], sh(2026, 11, 30, 9, 15)),
        # no sla_hours (a top-level group): 72 h
        (sh(2026, 11, 30, 9), None, "normal", [], sh(2026, 12, 3, 9)),
    ],
    ids=[
        "same-day",
        "fri-over-weekend",
        "fri-night-split",
        "reported-saturday",
        "ends-at-midnight",
        "72h-over-weekend",
        "monday-holiday",
        "national-day",
        "reported-in-holiday",
        "low",
        "high-half",
        "urgent-weekend",
        "urgent-shorter",
        "default-72h",
    ],
)
def test_due_at(
    reported: datetime,
    hours: float | None,
    priority: str,
    holidays: list[date],
    expected: datetime,
) -> None:
    got = due_at(reported, hours, priority, holidays)
    assert got == expected
    assert got.utcoffset() == timedelta(hours=8)


def test_utc_input_is_read_in_the_city_zone() -> None:
    # Friday 23:00 UTC is Saturday 07:00 in Shanghai: the clock starts on Monday
    got = due_at(datetime(2026, 11, 27, 23, 0, tzinfo=UTC), 1, "normal")
    assert got == sh(2026, 11, 30, 1)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"reported_at": datetime(2026, 11, 30, 9)}, "reported_at"),
        ({"priority": "asap"}, "priority"),
        ({"sla_hours": 0}, "sla"),
        ({"sla_hours": float("nan")}, "sla"),
    ],
    ids=["naive", "priority", "zero", "nan"],
)
def test_bad_input_names_the_field(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"reported_at": sh(2026, 11, 30, 9), "sla_hours": 24}
    args.update(kwargs)
    with pytest.raises(InvalidInput) as info:
        due_at(**args)  # type: ignore[arg-type]
    assert info.value.field == field


def test_holidays_setting_is_comma_separated_iso_dates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GISGRID_HOLIDAYS", "2026-10-01, 2026-10-02")
    assert Settings().holidays == (date(2026, 10, 1), date(2026, 10, 2))
    monkeypatch.setenv("GISGRID_HOLIDAYS", "")
    assert Settings().holidays == ()
