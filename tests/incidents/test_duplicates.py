"""The duplicate warning: open cases of one category, within a radius and a window, visible
to the caller, nearest first."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine, text

from gisgrid.assign.index import GridIndex
from gisgrid.errors import InvalidInput
from gisgrid.incidents.duplicates import duplicates
from gisgrid.incidents.workflow import act, report
from tests.incidents.support import CATEGORY, Beat, beat, caller

DB = "duplicates_scratch"
M_PER_DEG_LAT = 111_132.0  # near 45 degrees north, close enough for a 10 m margin


@pytest.fixture(scope="module")
def index(store: Engine) -> GridIndex:
    return GridIndex.from_areas(store)


@pytest.fixture(scope="module")
def here(store: Engine) -> Beat:
    return beat(store)


@pytest.fixture()
def conn(store: Engine) -> Iterator[Connection]:
    with store.connect() as c:
        tx = c.begin()
        try:
            # the tiny city has incidents of its own: only this test's count
            c.execute(text("UPDATE incidents SET status = 'closed', closed_at = reported_at"))
            yield c
        finally:
            tx.rollback()


def north(here: Beat, metres: float) -> tuple[float, float]:
    return here.lon, here.lat + metres / M_PER_DEG_LAT


def case_at(conn: Connection, index: GridIndex, here: Beat, metres: float, **kw: object) -> int:
    lon, lat = north(here, metres)
    args = {"category": CATEGORY, **kw}
    inc = report(conn, caller(conn, here.worker), index, lon=lon, lat=lat, **args)  # type: ignore[arg-type]
    return inc.id


def test_nearest_first_within_the_radius(conn: Connection, index: GridIndex, here: Beat) -> None:
    far = case_at(conn, index, here, 40)
    near = case_at(conn, index, here, 10)
    case_at(conn, index, here, 70)  # outside the default 50 m
    hits = duplicates(
        conn, caller(conn, here.worker), lon=here.lon, lat=here.lat, category=CATEGORY
    )
    assert [h.id for h in hits] == [near, far]
    assert hits[0].distance_m == pytest.approx(10, abs=1)
    wider = duplicates(
        conn,
        caller(conn, here.worker),
        lon=here.lon,
        lat=here.lat,
        category=CATEGORY,
        radius_m=100,
    )
    assert len(wider) == 3


def test_other_category_closed_and_old_cases_are_not_duplicates(
    conn: Connection, index: GridIndex, here: Beat
) -> None:
    other = conn.execute(
        text(
            "SELECT code FROM incident_categories WHERE parent_code IS NOT NULL"
            " AND code <> :c ORDER BY code LIMIT 1"
        ),
        {"c": CATEGORY},
    ).scalar_one()
    case_at(conn, index, here, 5, category=other)
    closed = case_at(conn, index, here, 5)
    centre = caller(conn, here.street_centre)
    act(conn, centre, closed, "reject", 1, note="not ours")
    old = datetime.now(UTC) - timedelta(days=31)
    case_at(conn, index, here, 5, reported_at=old)
    me = caller(conn, here.worker)
    assert duplicates(conn, me, lon=here.lon, lat=here.lat, category=CATEGORY) == []
    [hit] = duplicates(conn, me, lon=here.lon, lat=here.lat, category=CATEGORY, days=40)
    assert hit.reported_at == old


def test_only_cases_the_caller_may_see(conn: Connection, index: GridIndex, here: Beat) -> None:
    case_at(conn, index, here, 5)
    outsider = caller(conn, here.outsider)
    assert duplicates(conn, outsider, lon=here.lon, lat=here.lat, category=CATEGORY) == []


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"radius_m": 0}, "radius_m"),
        ({"radius_m": 501}, "radius_m"),
        ({"days": 0}, "days"),
        ({"lat": 95}, "lat"),
        ({"category": "nope"}, "category"),
    ],
    ids=["radius-0", "radius-501", "days-0", "lat-95", "unknown-category"],
)
def test_bad_input_names_the_field(
    conn: Connection, here: Beat, kw: dict[str, object], field: str
) -> None:
    args: dict[str, object] = {"lon": here.lon, "lat": here.lat, "category": CATEGORY, **kw}
    with pytest.raises(InvalidInput) as err:
        duplicates(conn, caller(conn, here.worker), **args)  # type: ignore[arg-type]
    assert err.value.field == field
