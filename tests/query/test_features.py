"""gisgrid.query.features without a database: parameters and the collection table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import gisgrid.query.features as ft
from gisgrid.access.scope import Scope
from gisgrid.errors import InvalidInput, NotFound


def test_datetime_forms() -> None:
    t = datetime(2024, 3, 1, tzinfo=UTC)
    assert ft.parse_datetime("2024-03-01T00:00:00Z") == (t, t)
    assert ft.parse_datetime("../2024-03-01T00:00:00Z") == (None, t)
    assert ft.parse_datetime("2024-03-01T08:00:00+08:00/..") == (t, None)
    start, end = ft.parse_datetime("2024-03-01")
    assert start == t and end is not None and (end - t).total_seconds() < 86400


@pytest.mark.parametrize(
    "value", ["", "a/b/c", "2024-03-01T00:00:00", "2024-13-01T00:00:00Z", "../.."]
)
def test_bad_datetimes_name_the_parameter(value: str) -> None:
    with pytest.raises(InvalidInput) as err:
        ft.parse_datetime(value)
    assert err.value.field == "datetime"


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
