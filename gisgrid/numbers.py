"""Numbers at the edges: the one reader of every integer, id and float a caller sends as text
or JSON.

Python's own conversions are too generous and too fragile for input from outside:
``'³'.isdigit()`` is True but ``int('³')`` fails; ``int('٣')`` is 3; ``int('1_0')`` is 10;
``float(10**400)`` raises OverflowError (a 400-digit JSON integer) while ``float('1e400')`` is
``inf``. So, by one rule:

- An integer is ASCII digits with an optional sign, nothing else (or a Python int, not a
  bool), within the range given; a 64-bit database id is 1 to 2**63-1.
- A float is a finite number (text Python reads as a float, or an int or float), within the
  range given; a number too large for a float is refused, not an OverflowError.
- Errors are InvalidInput naming the field; the value is quoted, cut short when long.

Examples
--------
>>> parse_int("42", "limit"), parse_float("126.5", "lon")
(42, 126.5)
>>> as_id("³") is None, as_id("9" * 30) is None, as_id("17")
(True, True, 17)
>>> parse_float(10**400, "radius_m")
Traceback (most recent call last):
...
gisgrid.errors.InvalidInput: radius_m: 100000000000000000000000000000000000000...(401 \
characters) is not a finite number
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from gisgrid.errors import InvalidInput

MAX_ID = 2**63 - 1
"""The largest PostgreSQL bigint, so the largest id a row can have."""

_INT_RE = re.compile(r"[+-]?[0-9]+", re.ASCII)
_MAX_DIGITS = 40  # far past any bigint; int() of longer text is work for nothing
_SHOWN = 40


def shown(value: object) -> str:
    """``repr(value)``, cut to a few dozen characters so that a huge value does not come back
    whole in an error message.

    Examples
    --------
    >>> shown("abc")
    "'abc'"
    >>> shown("x" * 100)
    "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...(102 characters)"
    """
    text = repr(value) if not isinstance(value, int) else _int_text(value)
    if len(text) <= _SHOWN:
        return text
    return f"{text[: _SHOWN - 1]}...({len(text)} characters)"


def _int_text(value: int) -> str:
    # str() of an int over 4,300 digits raises ValueError (CPython's int_max_str_digits)
    try:
        return str(value)
    except ValueError:
        return f"<an integer of about {int(value.bit_length() * 0.30103) + 1} digits>"


def as_int(value: object) -> int | None:
    """The integer ``value`` spells (ASCII digits, an optional sign, at most 40 digits; or an
    int that is not a bool), else None.

    Examples
    --------
    >>> as_int(" -7 "), as_int("1_0"), as_int("٣"), as_int(True), as_int(3.0)
    (-7, None, None, None, None)
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    if len(text.lstrip("+-")) > _MAX_DIGITS or not _INT_RE.fullmatch(text):
        return None
    return int(text)


def parse_int(value: object, field: str, *, lo: int | None = None, hi: int | None = None) -> int:
    """An integer in ``[lo, hi]`` (an open end when None), or InvalidInput naming ``field``.

    Examples
    --------
    >>> parse_int("0", "limit", lo=1, hi=10)
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: limit: 0 is out of range; expected 1 to 10
    >>> parse_int("²", "offset")
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: offset: '²' is not an integer (ASCII digits)
    """
    n = as_int(value)
    if n is None:
        raise InvalidInput(f"{shown(value)} is not an integer (ASCII digits)", field=field)
    if (lo is not None and n < lo) or (hi is not None and n > hi):
        expected = _expected(lo, hi, str)
        raise InvalidInput(f"{shown(n)} is out of range; expected {expected}", field=field)
    return n


def _expected(lo: float | None, hi: float | None, fmt: Callable[[float], str]) -> str:
    """The allowed range in words: "1 to 5", "at least 1" or "at most 5"."""
    if lo is not None and hi is not None:
        return f"{fmt(lo)} to {fmt(hi)}"
    if lo is not None:
        return f"at least {fmt(lo)}"
    assert hi is not None, "a range with neither end"
    return f"at most {fmt(hi)}"


def as_id(value: object) -> int | None:
    """The row id ``value`` spells (1 to :data:`MAX_ID`), else None: a path segment that
    cannot name a row names no row (the caller answers NotFound).

    Examples
    --------
    >>> as_id("0"), as_id(str(MAX_ID)), as_id(str(MAX_ID + 1)), as_id("+5")
    (None, 9223372036854775807, None, None)
    """
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        return None
    n = as_int(value)
    return n if n is not None and 1 <= n <= MAX_ID else None


def parse_float(
    value: object, field: str, *, lo: float | None = None, hi: float | None = None
) -> float:
    """A finite float in ``[lo, hi]`` (an open end when None), or InvalidInput naming ``field``.

    Examples
    --------
    >>> parse_float("nan", "lat")
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: lat: 'nan' is not a finite number
    >>> parse_float("200", "lon", lo=-180, hi=180)
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: lon: 200.0 is out of range; expected -180 to 180
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidInput(f"{shown(value)} is not a number", field=field)
    try:
        v = float(value)
    except ValueError:
        raise InvalidInput(f"{shown(value)} is not a number", field=field) from None
    except OverflowError:  # an int too large for a float
        v = math.inf
    if not math.isfinite(v):
        raise InvalidInput(f"{shown(value)} is not a finite number", field=field)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        expected = _expected(lo, hi, lambda x: f"{x:g}")
        raise InvalidInput(f"{v!r} is out of range; expected {expected}", field=field)
    return v
