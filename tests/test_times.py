"""gisgrid.times: the one reading of a date or time a caller sends (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from gisgrid.errors import InvalidInput
from gisgrid.io.checks import Problems, parse_times
from gisgrid.times import (
    CITY_TZ,
    city_to_utc,
    days_up_to,
    parse_bounds,
    parse_end,
    parse_instant,
    parse_period,
)

CITY_MIDNIGHT = datetime(2026, 3, 1, tzinfo=CITY_TZ)
LAST_MICROSECOND = datetime(2026, 3, 1, 23, 59, 59, 999_999, tzinfo=CITY_TZ)


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("2026-03-01", "2026-03-01T00:00:00+08:00"),
        (" 2026-03-01 ", "2026-03-01T00:00:00+08:00"),
        ("2026-03-01T08:30", "2026-03-01T08:30:00+08:00"),
        ("2026-03-01 08:30:00", "2026-03-01T08:30:00+08:00"),
        ("2026-03-01T00:00:00Z", "2026-03-01T08:00:00+08:00"),
        ("2026-03-01t00:00:00z", "2026-03-01T08:00:00+08:00"),
        ("2026-03-01T00:00:00-05:00", "2026-03-01T13:00:00+08:00"),
        (date(2026, 3, 1), "2026-03-01T00:00:00+08:00"),
        (datetime(2026, 3, 1, 8, 30), "2026-03-01T08:30:00+08:00"),
        (datetime(2026, 3, 1, tzinfo=UTC), "2026-03-01T08:00:00+08:00"),
        ("9999-12-31T15:59:59Z", "9999-12-31T23:59:59+08:00"),
    ],
    ids=[
        "bare-date-is-city-midnight",
        "spaces-around",
        "naive-is-city-time",
        "space-separator",
        "utc-z",
        "lower-case-t-and-z",
        "other-offset",
        "date-object",
        "naive-datetime-object",
        "aware-datetime-object",
        "last-second-that-fits",
    ],
)
def test_parse_instant(value: Any, want: str) -> None:
    got = parse_instant(value, "from")
    assert got.isoformat() == want and got.tzinfo is CITY_TZ


@pytest.mark.parametrize(
    "value",
    [
        "0.5",
        "yesterday",
        "",
        "2026-13-01",
        "2026-02-30",
        "2026-03-01T25:00",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:00-05:00",
        "0001-01-01",
        "9999-12-31T20:00:00Z",
        0.5,
        None,
    ],
    ids=[
        "unix-time-text",
        "a-word",
        "empty",
        "month-13",
        "30-february",
        "hour-25",
        "year-0-in-utc",
        "year-10000-in-utc",
        "bare-date-year-0-in-utc",
        "year-10000-in-the-city",
        "a-number",
        "none",
    ],
)
def test_bad_instants_name_the_field_and_the_value(value: Any) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_instant(value, "until")
    assert err.value.field == "until"
    assert f"until={value!r}" in err.value.reason


def test_an_end_given_as_a_bare_date_includes_that_whole_city_day() -> None:
    assert parse_end("2026-03-01", "to") == LAST_MICROSECOND
    assert parse_end(date(2026, 3, 1), "to") == LAST_MICROSECOND
    assert parse_end("2026-03-01T12:00", "to") == datetime(2026, 3, 1, 12, tzinfo=CITY_TZ)
    assert parse_end("9999-12-31", "to").year == 9999


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("2026-03-01", (CITY_MIDNIGHT, LAST_MICROSECOND)),
        ("2026-03-01T00:00:00+08:00", (CITY_MIDNIGHT, CITY_MIDNIGHT)),
        ("2026-03-01/2026-03-01", (CITY_MIDNIGHT, LAST_MICROSECOND)),
        ("2026-02-28T16:00:00Z/2026-03-01", (CITY_MIDNIGHT, LAST_MICROSECOND)),
        ("../2026-03-01", (None, LAST_MICROSECOND)),
        ("/2026-03-01", (None, LAST_MICROSECOND)),
        ("2026-03-01/..", (CITY_MIDNIGHT, None)),
        ("2026-03-01/", (CITY_MIDNIGHT, None)),
        ("2026-03-01T00:00/2026-03-01T23:59:59.999999", (CITY_MIDNIGHT, LAST_MICROSECOND)),
    ],
    ids=[
        "bare-date-instant-is-the-city-day",
        "date-time-instant",
        "same-date-both-ends",
        "utc-start-date-end",
        "open-start",
        "empty-start",
        "open-end",
        "empty-end",
        "naive-times",
    ],
)
def test_parse_period(value: str, want: tuple[datetime | None, datetime | None]) -> None:
    assert parse_period(value) == want


@pytest.mark.parametrize(
    "value",
    [
        "../..",
        "/",
        "2026-03-01/2026-03-02/2026-03-03",
        "2026-03-02/2026-03-01",
        "2026-03-01T08:00Z/2026-03-01T08:00Z",
        "2026-03-01/yesterday",
        "0001-01-01T00:00:00+01:00/..",
    ],
    ids=[
        "open-both",
        "empty-both",
        "two-slashes",
        "end-before-start",
        "end-equals-start",
        "bad-end",
        "start-out-of-range",
    ],
)
def test_bad_periods_name_the_field(value: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_period(value, "datetime")
    assert err.value.field == "datetime"


def test_bounds_are_the_same_rule_as_a_period() -> None:
    # the tile filters' from=D&to=D and OGC's datetime=D and D/D: the same 24 hours
    day = parse_period("2026-03-01")
    assert parse_bounds("2026-03-01", "2026-03-01") == day == parse_period("2026-03-01/2026-03-01")
    assert parse_bounds(None, "2026-03-01") == parse_period("../2026-03-01")
    assert parse_bounds(None, None) == (None, None)
    with pytest.raises(InvalidInput) as err:
        parse_bounds("2026-03-02", "2026-03-01", "since", "until")
    assert err.value.field == "until" and "since='2026-03-02'" in err.value.reason
    with pytest.raises(InvalidInput) as err:
        parse_bounds("2026-03-01T08:00", "2026-03-01T08:00")
    assert err.value.field == "to"


def test_days_up_to_a_date_are_whole_city_days_and_never_overflow() -> None:
    start = days_up_to(parse_end("2026-03-31", "to"), 90)
    assert start == datetime(2026, 1, 1, tzinfo=CITY_TZ)
    assert days_up_to(datetime(1, 1, 2, tzinfo=UTC), 90) == datetime.min.replace(tzinfo=UTC)
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert now - days_up_to(now, 1) == timedelta(days=1, microseconds=-1)


def test_a_loaded_column_follows_the_same_rule() -> None:
    values = ["2026-03-01", "2026-03-01T08:30:00", "2026-03-01T00:00:00Z"]
    problems = Problems(len(values))
    got = parse_times(pd.Series(values), problems, "reported_at")
    assert not len(problems)
    assert [t.to_pydatetime() for t in got] == [parse_instant(v, "t") for v in values]
    naive = pd.to_datetime(pd.Series(["2026-03-01"]))
    assert city_to_utc(naive).iloc[0].to_pydatetime() == CITY_MIDNIGHT
    aware = naive.dt.tz_localize("UTC")
    assert city_to_utc(aware).iloc[0].to_pydatetime() == datetime(2026, 3, 1, tzinfo=UTC)
