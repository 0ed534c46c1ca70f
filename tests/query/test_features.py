"""gisgrid.query.features without a database: parameters and the collection table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import gisgrid.query.features as ft
from gisgrid.access.scope import Scope
from gisgrid.errors import InvalidInput, NotFound


def test_item_query_reads_datetime_and_bbox_by_the_shared_rules() -> None:
    # the forms themselves are tests/test_times.py's and tests/test_bbox.py's
    t = datetime(2024, 3, 1, tzinfo=UTC)
    q = ft.item_query(ft.COLLECTIONS["incidents"], {"datetime": "2024-03-01T08:00:00+08:00/.."})
    assert q.interval == (t, None) and q.bbox is None
    q = ft.item_query(ft.COLLECTIONS["incidents"], {"bbox": "1,2,0,3,4,10"})
    assert q.bbox == (1, 2, 3, 4) and q.interval is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"datetime": ""}, "datetime"),
        ({"datetime": "a/b/c"}, "datetime"),
        ({"datetime": "2024-13-01T00:00:00Z"}, "datetime"),
        ({"datetime": "../.."}, "datetime"),
        ({"bbox": "1,2,3"}, "bbox"),
        ({"limit": "0"}, "limit"),
        ({"grid_id": "x"}, "grid_id"),
    ],
    ids=["empty", "two-slashes", "month-13", "open-both", "three-numbers", "limit", "filter"],
)
def test_bad_parameters_name_themselves(params: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        ft.item_query(ft.COLLECTIONS["incidents"], params)
    assert err.value.field == field


def test_limit_bounds() -> None:
    assert ft.parse_limit(None) == ft.DEFAULT_LIMIT
    assert ft.parse_limit(str(ft.MAX_LIMIT)) == ft.MAX_LIMIT
    for bad in ("0", str(ft.MAX_LIMIT + 1), "1.5"):
        with pytest.raises(InvalidInput):
            ft.parse_limit(bad)


def test_residents_are_never_a_collection() -> None:
    assert not {"residents", "households", "accounts"} & set(ft.COLLECTIONS)
    with pytest.raises(NotFound):
        ft.get_collection("residents")
    scoped = {c.id for c in ft.COLLECTIONS.values() if not c.public}
    assert scoped == {"incidents", "buildings", "places"}


def test_scoped_collections_refuse_a_missing_scope() -> None:
    where, params = ft._conditions(ft.COLLECTIONS["incidents"], None, Scope("grid", 7))
    assert "t.grid_id = :scope_area_id" in where and params["scope_area_id"] == 7
    with pytest.raises(InvalidInput):
        ft._conditions(ft.COLLECTIONS["incidents"], None, None)
