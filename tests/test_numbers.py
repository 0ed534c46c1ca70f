"""gisgrid.numbers: the one reading of integers, ids and floats a caller sends (no database)."""

from __future__ import annotations

import pytest

from gisgrid.errors import InvalidInput
from gisgrid.numbers import MAX_ID, as_id, as_int, parse_float, parse_int, shown

HUGE = 10**400  # a 400-digit JSON integer: float() of it raises OverflowError


@pytest.mark.parametrize(
    "value",
    ["³", "²", "٣", "1_000", "1e3", "0x10", "", " ", "1.0", True, None, 3.0, "9" * 41, "9" * 5000],
    ids=[
        "superscript-three",
        "superscript-two",
        "arabic-indic-three",
        "underscore",
        "exponent",
        "hex",
        "empty",
        "blank",
        "decimal",
        "bool",
        "none",
        "float",
        "41-digits",
        "5000-digits",
    ],
)
def test_what_is_not_an_integer(value: object) -> None:
    assert as_int(value) is None
    with pytest.raises(InvalidInput, match="is not an integer") as err:
        parse_int(value, "limit")
    assert err.value.field == "limit"
    assert len(str(err.value)) < 120


def test_integers_and_their_range() -> None:
    assert parse_int(" 42 ", "k") == 42
    assert parse_int("-3", "k") == -3
    assert parse_int(7, "k", lo=1, hi=7) == 7
    with pytest.raises(InvalidInput, match="expected 1 to 10"):
        parse_int("11", "limit", lo=1, hi=10)
    with pytest.raises(InvalidInput, match="expected at least 0"):
        parse_int("-1", "offset", lo=0)
    with pytest.raises(InvalidInput, match="is out of range") as err:
        parse_int("9" * 30, "offset", hi=MAX_ID)
    assert err.value.field == "offset"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", 1),
        (str(MAX_ID), MAX_ID),
        (str(MAX_ID + 1), None),
        ("0", None),
        ("-1", None),
        ("+1", None),
        (" 1", None),
        ("³", None),
        ("٣", None),
        ("9" * 5000, None),
        (17, 17),
    ],
)
def test_ids(value: object, expected: int | None) -> None:
    assert as_id(value) == expected


@pytest.mark.parametrize(
    "value",
    [HUGE, -HUGE, "1" + "0" * 400, "nan", "inf", float("nan"), float("-inf")],
    ids=["huge-int", "huge-negative", "huge-text", "nan-text", "inf-text", "nan", "-inf"],
)
def test_what_is_not_a_finite_number(value: object) -> None:
    with pytest.raises(InvalidInput, match="not a finite number") as err:
        parse_float(value, "radius_m")
    assert err.value.field == "radius_m"
    assert len(str(err.value)) < 120


@pytest.mark.parametrize("value", ["abc", "", None, True, [1], {}], ids=repr)
def test_what_is_not_a_number(value: object) -> None:
    with pytest.raises(InvalidInput, match="is not a number"):
        parse_float(value, "lon")


def test_floats_and_their_range() -> None:
    assert parse_float("126.5", "lon") == 126.5
    assert parse_float(45, "lat", lo=-90, hi=90) == 45.0
    with pytest.raises(InvalidInput, match="expected -90 to 90"):
        parse_float(91, "lat", lo=-90, hi=90)


def test_shown_cuts_long_values() -> None:
    assert shown("ab") == "'ab'"
    assert shown(HUGE).endswith("(401 characters)")
    assert "digits" in shown(10**5000)  # str() of it would raise ValueError
    assert len(shown("x" * 10_000)) < 70
