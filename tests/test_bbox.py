"""gisgrid.bbox: the one reading of a lon/lat box a caller sends (no database)."""

from __future__ import annotations

from typing import Any

import pytest

from gisgrid.bbox import MERCATOR_MAX_LAT, parse_bbox
from gisgrid.errors import InvalidInput
from gisgrid.tiles.grid import tile_bounds

HARBIN = (126.5, 45.6, 126.8, 45.9)


@pytest.mark.parametrize(
    ("value", "options"),
    [
        ("126.5,45.6,126.8,45.9", {}),
        (" 126.5 , 45.6, 126.8,45.9 ", {}),
        ([126.5, 45.6, 126.8, 45.9], {}),
        (("126.5", "45.6", "126.8", "45.9"), {}),
        ("126.5,45.6,-10,126.8,45.9,100", {"heights": True}),
        ("126.5,45.6,126.8,45.9", {"heights": True}),
        (HARBIN, {"mercator": True}),
    ],
    ids=[
        "text",
        "spaces",
        "list",
        "numbers-as-text",
        "six-with-heights",
        "four-where-six-ok",
        "mercator",
    ],
)
def test_good_boxes(value: Any, options: dict[str, bool]) -> None:
    assert parse_bbox(value, **options) == HARBIN


@pytest.mark.parametrize(
    ("value", "options", "says"),
    [
        ("1,2,3", {}, "has 3; expected 4 numbers"),
        ("a,b,c,d", {}, "expected 4 numbers"),
        (None, {}, "bbox=None"),
        ("0,0,0,1,1,1", {}, "has 6; expected 4 numbers"),
        ("0,0,1,1,2", {"heights": True}, "has 5; expected 4 or 6 numbers"),
        ("nan,0,1,1", {}, "bbox=(nan, 0, 1, 1) holds a value that is not a finite number"),
        ([0, 0, float("inf"), 1], {}, "not a finite number"),
        ("0,0,181,1", {}, "bbox=(0, 0, 181, 1): expected longitudes in [-180, 180]"),
        ("0,-91,1,1", {}, "latitudes in [-90, 90]"),
        ("170,-10,-170,10", {}, "west 170 is east of east -170; boxes across the antimeridian"),
        ("1,0,1,1", {}, "west equals east"),
        ("0,1,1,0", {}, "south 1 is not south of north 0"),
        ("0,0,10,1,1,5", {"heights": True}, "lower height 10 is above upper height 5"),
        ((0, 80, 1, 89), {"mercator": True}, "outside the Web Mercator tile world"),
    ],
    ids=[
        "three-numbers",
        "not-numbers",
        "none",
        "six-without-heights",
        "five-numbers",
        "nan",
        "infinity",
        "lon-out-of-range",
        "lat-out-of-range",
        "across-the-antimeridian",
        "no-width",
        "south-north-swapped",
        "heights-upside-down",
        "beyond-web-mercator",
    ],
)
def test_bad_boxes_name_the_field_and_the_box(
    value: Any, options: dict[str, bool], says: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_bbox(value, **options)
    assert err.value.field == "bbox"
    assert says in err.value.reason


def test_the_message_names_the_box_by_its_numbers_and_the_given_field() -> None:
    with pytest.raises(InvalidInput) as err:
        parse_bbox([127, 45, 126, 46], field="box")
    assert err.value.field == "box"
    assert err.value.reason.startswith("box=(127, 45, 126, 46): west 127 is east of east 126")


def test_the_web_mercator_limit_is_the_tile_world() -> None:
    world = tile_bounds(0, 0, 0)
    assert parse_bbox(world, mercator=True) == world
    assert world[3] == pytest.approx(MERCATOR_MAX_LAT) and round(MERCATOR_MAX_LAT, 4) == 85.0511
    assert parse_bbox((0, 85.06, 1, 86)) == (0, 85.06, 1, 86)  # fine where it is no tile
