"""locate() in the library: who sees the grid's workers, and coordinates in GCJ-02 / BD-09."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, text

from gisgrid.assign.index import GridIndex
from gisgrid.assign.locate import locate
from gisgrid.errors import InvalidInput
from tests.incidents.support import Beat, beat, caller, crs_twin

DB = "locate_scratch"


@pytest.fixture(scope="module")
def index(store: Engine) -> GridIndex:
    return GridIndex.from_areas(store)


@pytest.fixture(scope="module")
def here(store: Engine) -> Beat:
    return beat(store)


@pytest.fixture()
def conn(store: Engine) -> Iterator[Connection]:
    with store.connect() as c:
        yield c


@pytest.mark.parametrize(
    ("who", "shown"),
    [
        ("anonymous", False),
        ("worker", True),
        ("street_centre", True),
        ("city_centre", True),
        ("outsider", False),
    ],
)
def test_workers_only_for_a_caller_whose_scope_holds_the_grid(
    conn: Connection, index: GridIndex, here: Beat, who: str, shown: bool
) -> None:
    """Worker accounts are rows like any other: the caller's scope decides, and a caller
    with no account (None: a notebook, the CLI, an anonymous request) does not see them."""
    asking = None if who == "anonymous" else caller(conn, getattr(here, who))
    loc = locate(conn, index, here.lon, here.lat, caller=asking)
    assert loc.grid.id == here.grid_id and loc.street is not None
    assert loc.street.id == here.street_id
    if not shown:
        assert loc.workers is None
        return
    workers = set(
        conn.execute(
            text(
                "SELECT username FROM accounts"
                " WHERE role = 'grid_worker' AND active AND scope_area_id = :g"
            ),
            {"g": here.grid_id},
        ).scalars()
    )
    assert workers and loc.workers is not None
    assert {w.username for w in loc.workers} == workers


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_a_point_in_gcj02_or_bd09_lands_where_its_wgs84_twin_does(
    conn: Connection, index: GridIndex, store: Engine, crs: str
) -> None:
    twin = crs_twin(store, index)
    wgs84 = locate(conn, index, twin.lon, twin.lat)
    x, y = getattr(twin, crs)
    shifted = locate(conn, index, x, y, crs=crs)
    assert wgs84.grid.id == shifted.grid.id == twin.grid_id
    assert shifted.crs == crs and wgs84.crs == "wgs84"
    # the location answers in the caller's system: the point given, back
    assert shifted.lon == pytest.approx(x, abs=1e-9) and shifted.lat == pytest.approx(y, abs=1e-9)
    with pytest.raises(InvalidInput) as err:
        locate(conn, index, x, y, crs="EPSG:4326")
    assert err.value.field == "crs"
