"""Bounding boxes at the edges: the one parser of every lon/lat box a caller sends.

OGC API ``bbox``, ``gisgrid export --bbox``, ``gisgrid tiles export --bbox`` and the box of
the heat functions and maps all go through :func:`parse_bbox`, by one rule:

- ``"west,south,east,north"`` text or a sequence of four numbers, WGS84 lon/lat degrees;
  six numbers (``west,south,zmin,east,north,zmax``) only where OGC API allows heights
  (``heights=True``): the heights are checked and dropped.
- Finite numbers; longitudes in [-180, 180], latitudes in [-90, 90].
- West < east and south < north: a box without width or height is refused. A box with
  west > east crosses the antimeridian in OGC API; the city never needs one, so it is refused
  with a message saying so (split it in two).
- ``mercator=True`` (tiles, heat rasters) also keeps latitudes within Web Mercator's square
  world, ±85.0511°.

Errors name the box by its numbers: ``bbox=(127, 45, 126, 46)``.

Examples
--------
>>> parse_bbox("126.5,45.6,126.8,45.9")
(126.5, 45.6, 126.8, 45.9)
>>> parse_bbox([127, 45, 126, 46])
Traceback (most recent call last):
...
gisgrid.errors.InvalidInput: bbox: bbox=(127, 45, 126, 46): west 127 is east of east 126; \
boxes across the antimeridian are not supported (split the box in two)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from gisgrid.errors import InvalidInput
from gisgrid.numbers import shown

Bbox = tuple[float, float, float, float]
"""(west, south, east, north) in degrees."""

BboxLike = str | Sequence[float]
"""What a caller may give for a box: ``"w,s,e,n"`` text or a sequence of numbers."""

MERCATOR_MAX_LAT = math.degrees(math.atan(math.sinh(math.pi)))  # 85.0511...: the tile world


def _num(x: float) -> str:
    return str(int(x)) if x.is_integer() else repr(x)


def _float(p: object) -> float:
    if isinstance(p, bool):
        raise TypeError("a bool is not a coordinate")
    try:
        return float(p)  # type: ignore[arg-type]
    except OverflowError:  # an integer too large for a float: refused below as not finite
        return math.inf


def _numbers(value: BboxLike, field: str, heights: bool) -> list[float]:
    counts = "4 or 6 numbers (west,south,zmin,east,north,zmax)" if heights else "4 numbers"
    expected = f"expected {counts}: west,south,east,north in lon/lat degrees"
    parts = value.split(",") if isinstance(value, str) else value
    try:
        nums = [_float(p) for p in parts]
    except (TypeError, ValueError):
        raise InvalidInput(f"{field}={shown(value)}; {expected}", field=field) from None
    if len(nums) != 4 and not (heights and len(nums) == 6):
        raise InvalidInput(f"{field}={shown(value)} has {len(nums)}; {expected}", field=field)
    return nums


def parse_bbox(
    value: BboxLike,
    field: str = "bbox",
    *,
    heights: bool = False,
    mercator: bool = False,
) -> Bbox:
    """``(west, south, east, north)`` as floats, or InvalidInput naming ``field``.

    Examples
    --------
    >>> parse_bbox("126.5,45.6,0,126.8,45.9,100", heights=True)
    (126.5, 45.6, 126.8, 45.9)
    >>> parse_bbox((0, 80, 10, 89), mercator=True)
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: bbox: bbox=(0, 80, 10, 89): latitudes beyond \
±85.0511 are outside the Web Mercator tile world
    """
    nums = _numbers(value, field, heights)
    box = f"{field}=({', '.join(_num(x) for x in nums)})"
    if not all(map(math.isfinite, nums)):
        raise InvalidInput(f"{box} holds a value that is not a finite number", field=field)
    if len(nums) == 6:
        w, s, z0, e, n, z1 = nums
        if z0 > z1:
            raise InvalidInput(
                f"{box}: lower height {_num(z0)} is above upper height {_num(z1)}", field=field
            )
    else:
        w, s, e, n = nums
    if not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= 90 and -90 <= n <= 90):
        raise InvalidInput(
            f"{box}: expected longitudes in [-180, 180] and latitudes in [-90, 90] "
            "(west,south,east,north)",
            field=field,
        )
    if w > e:
        raise InvalidInput(
            f"{box}: west {_num(w)} is east of east {_num(e)}; boxes across the antimeridian "
            "are not supported (split the box in two)",
            field=field,
        )
    if w == e or s >= n:
        what = "west equals east" if w == e else f"south {_num(s)} is not south of north {_num(n)}"
        raise InvalidInput(f"{box}: {what}; a box needs a width and a height", field=field)
    if mercator and not -MERCATOR_MAX_LAT <= s < n <= MERCATOR_MAX_LAT:
        raise InvalidInput(
            f"{box}: latitudes beyond ±{MERCATOR_MAX_LAT:.4f} are outside the Web Mercator "
            "tile world",
            field=field,
        )
    return w, s, e, n
