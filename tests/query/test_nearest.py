"""nearest_units() in the library: a point in GCJ-02 or BD-09, and answers in that system."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine

from gisgrid.assign.index import GridIndex
from gisgrid.crs import convert_xy
from gisgrid.errors import InvalidInput
from gisgrid.query.nearest import nearest_units
from tests.incidents.support import CATEGORY, crs_twin

DB = "nearest_scratch"


@pytest.fixture()
def conn(store: Engine) -> Iterator[Connection]:
    with store.connect() as c:
        yield c


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_a_point_in_gcj02_or_bd09_finds_the_units_of_its_wgs84_twin(
    conn: Connection, store: Engine, crs: str
) -> None:
    twin = crs_twin(store, GridIndex.from_areas(store))
    x, y = getattr(twin, crs)
    wgs84 = nearest_units(conn, twin.lon, twin.lat, CATEGORY, k=5, available_only=False)
    shifted = nearest_units(conn, x, y, CATEGORY, k=5, available_only=False, crs=crs)
    assert wgs84  # the tiny city has one sanitation unit; distances tell the points apart
    assert [u.id for u in shifted] == [u.id for u in wgs84]
    assert [u.distance_m for u in shifted] == pytest.approx([u.distance_m for u in wgs84])
    # the units come back in the caller's system
    for s, w in zip(shifted, wgs84, strict=True):
        ux, uy = convert_xy(w.lon, w.lat, "wgs84", crs)
        assert (s.lon, s.lat) == pytest.approx((float(ux), float(uy)), abs=1e-9)
    # the same numbers read as WGS84 are some 500 m away: other distances
    misread = nearest_units(conn, x, y, CATEGORY, k=5, available_only=False)
    assert [u.distance_m for u in misread] != pytest.approx([u.distance_m for u in wgs84])
    with pytest.raises(InvalidInput) as info:
        nearest_units(conn, x, y, CATEGORY, crs="wgs-84")
    assert info.value.field == "crs"
