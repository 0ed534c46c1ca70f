"""A load of areas by code versions them: history kept, unchanged rows untouched, rows moved.

One district (tests.io.support) holds a community C1 of two grids side by side; a second
file moves their shared edge east, so the strip between the old and the new edge changes grid.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from sqlalchemy import Engine, text

from gisgrid.assign.versions import FINAL_STATUSES
from gisgrid.errors import InvalidInput, LoadError
from gisgrid.incidents.lifecycle import OPEN_STATUSES
from gisgrid.io.load import load_file
from gisgrid.store.cluster import Cluster
from gisgrid.vocab import INCIDENT_STATUSES
from tests.io.support import reset, rows, snapshot
from tests.support import scratch_engine

BEFORE = "2026-01-01T00:00:00+08:00"
T = "2026-06-01T00:00:00+08:00"
LAT = (45.70, 45.80)
# community C1 spans the district (126.60 .. 126.65); its grids split it at EDGE
EDGE, NEW_EDGE = 126.625, 126.635
POINTS = {"west": (126.61, 45.75), "strip": (126.63, 45.75), "east": (126.64, 45.75)}


@pytest.fixture(scope="module")
def engine(cluster: Cluster) -> Iterator[Engine]:
    with scratch_engine(cluster, "io_versions_scratch") as eng:
        yield eng


def _box(w: float, e: float) -> shapely.MultiPolygon:
    return shapely.MultiPolygon([shapely.box(w, LAT[0], e, LAT[1])])


def _file(tmp: Path, name: str, rows_: list[dict[str, object]]) -> Path:
    frame = gpd.GeoDataFrame(rows_, geometry="geometry", crs=4326)
    path = tmp / f"{name}.gpkg"
    frame.to_file(path, driver="GPKG")
    return path


def _grids(community: int, edge: float, west_name: str = "West") -> list[dict[str, object]]:
    return [
        {"code": "C1001", "name": west_name, "level": "grid", "parent_id": community,
         "geometry": _box(126.60, edge)},
        {"code": "C1002", "name": "East", "level": "grid", "parent_id": community,
         "geometry": _box(edge, 126.65)},
    ]  # fmt: skip


@pytest.fixture()
def city(engine: Engine, tmp_path: Path) -> dict[str, int]:
    """C1 and its two grids from BEFORE; a place, a building, an open and a closed incident at
    each point; a worker in each grid. Returns the ids by name."""
    ids = reset(engine)
    c1 = [{"code": "C1", "name": "Community", "level": "community",
           "parent_id": ids["district"], "geometry": _box(126.60, 126.65)}]  # fmt: skip
    load_file(engine, "areas", _file(tmp_path, "c1", c1), key="code", valid_from=BEFORE)
    ids["C1"] = _id(engine, "C1")
    grids = _grids(ids["C1"], EDGE)
    load_file(engine, "areas", _file(tmp_path, "g", grids), key="code", valid_from=BEFORE)
    ids.update({code: _id(engine, code) for code in ("C1001", "C1002")})
    with engine.begin() as conn:
        for label, (x, y) in POINTS.items():
            pt = {"x": x, "y": y, "c": label, "n": label}
            conn.execute(
                text(
                    "INSERT INTO places (code, kind, name, geom) VALUES "
                    "(:c, 'small_shop', :n, ST_SetSRID(ST_MakePoint(:x, :y), 4326))"
                ),
                pt,
            )
            conn.execute(
                text(
                    "INSERT INTO buildings (code, address, geom) VALUES (:c, :n,"
                    " ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(:x, :y), 4326), 0.0005)))"
                ),
                pt,
            )
            for status in ("reported", "closed"):
                conn.execute(
                    text(
                        "INSERT INTO incidents (code, category, source, reported_at, status,"
                        " closed_at, geom) VALUES (:code, '0101', 'import', '2026-03-01', :s,"
                        " CASE WHEN :closed THEN timestamptz '2026-03-02' END,"
                        " ST_SetSRID(ST_MakePoint(:x, :y), 4326))"
                    ),
                    {**pt, "code": f"{label}-{status}", "s": status, "closed": status == "closed"},
                )
        for code in ("C1001", "C1002"):
            conn.execute(
                text(
                    "INSERT INTO accounts (username, role, scope_area_id) "
                    "VALUES (:u, 'grid_worker', :a)"
                ),
                {"u": f"worker-{code}", "a": ids[code]},
            )
    return ids


def _id(engine: Engine, code: str) -> int:
    got = rows(engine, "SELECT id FROM areas WHERE code = :c AND valid_to IS NULL", c=code)
    return int(got[0][0])  # type: ignore[call-overload]


def _grid_of(engine: Engine, table: str, code: str) -> str:
    got = rows(
        engine, f"SELECT a.code, a.valid_to IS NULL FROM {table} t JOIN areas a ON a.id = "
        "t.grid_id WHERE t.code = :c", c=code
    )  # fmt: skip
    name, current = got[0]
    return f"{name}{'' if current else ' (old)'}"


def test_a_changed_grid_gets_a_new_version_and_history_stays(
    engine: Engine, city: dict[str, int], tmp_path: Path
) -> None:
    path = _file(tmp_path, "moved", _grids(city["C1"], NEW_EDGE))
    report = load_file(engine, "areas", path, key="code", valid_from=T)
    assert (report.inserted, report.updated, report.unchanged) == (0, 2, 0)
    versions = rows(
        engine,
        "SELECT code, valid_from = :b, valid_to = :t, valid_to IS NULL FROM areas "
        "WHERE code LIKE 'C1%' ORDER BY code, id",
        b=BEFORE,
        t=T,
    )
    assert versions == [
        ("C1", True, None, True),  # the community did not change: one version, untouched
        ("C1001", True, True, False),
        ("C1001", False, None, True),
        ("C1002", True, True, False),
        ("C1002", False, None, True),
    ]
    assert rows(
        engine,
        "SELECT valid_from = :t, parent_id = :c FROM areas WHERE code = 'C1001' AND "
        "valid_to IS NULL",
        t=T,
        c=city["C1"],
    ) == [(True, True)]
    assert _id(engine, "C1") == city["C1"]


def test_registers_and_open_incidents_move_closed_ones_keep_their_grid(
    engine: Engine, city: dict[str, int], tmp_path: Path
) -> None:
    path = _file(tmp_path, "moved", _grids(city["C1"], NEW_EDGE))
    report = load_file(engine, "areas", path, key="code", valid_from=T)
    for table in ("places", "buildings"):
        assert _grid_of(engine, table, "west") == "C1001"
        assert _grid_of(engine, table, "strip") == "C1001"  # was C1002's
        assert _grid_of(engine, table, "east") == "C1002"
    assert _grid_of(engine, "incidents", "strip-reported") == "C1001"
    assert _grid_of(engine, "incidents", "strip-closed") == "C1002 (old)"
    assert _grid_of(engine, "incidents", "west-closed") == "C1001 (old)"
    assert report.versions is not None
    assert report.versions.moved["places"] == 3
    assert report.versions.moved["incidents"] == 3  # the open ones
    # the hierarchy above the moved rows is the community's (unchanged) version
    assert rows(engine, "SELECT DISTINCT community_id FROM places") == [(city["C1"],)]


def test_workers_are_rescoped_to_the_new_version_of_their_grid(
    engine: Engine, city: dict[str, int], tmp_path: Path
) -> None:
    load_file(engine, "areas", _file(tmp_path, "m", _grids(city["C1"], NEW_EDGE)), key="code")
    got = rows(
        engine,
        "SELECT w.username, a.code, a.valid_to IS NULL FROM accounts w JOIN areas a "
        "ON a.id = w.scope_area_id WHERE w.username LIKE 'worker-%' ORDER BY 1",
    )
    assert got == [("worker-C1001", "C1001", True), ("worker-C1002", "C1002", True)]


def test_unchanged_rows_stay_as_they_are(
    engine: Engine, city: dict[str, int], tmp_path: Path
) -> None:
    before = snapshot(engine)
    path = _file(tmp_path, "same", _grids(city["C1"], EDGE))
    report = load_file(engine, "areas", path, key="code", valid_from=T)
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, 2)
    assert snapshot(engine) == before
    # one renamed grid: only that one gets a new version, and its rows keep their place
    path = _file(tmp_path, "renamed", _grids(city["C1"], EDGE, west_name="West grid"))
    report = load_file(engine, "areas", path, key="code", valid_from=T)
    assert (report.updated, report.unchanged) == (1, 1)
    assert _id(engine, "C1002") == city["C1002"]
    assert _grid_of(engine, "places", "west") == "C1001"
    assert rows(engine, "SELECT name FROM areas WHERE code = 'C1001' ORDER BY id") == [
        ("West",),
        ("West grid",),
    ]


def test_a_new_code_opens_at_valid_from(
    engine: Engine, city: dict[str, int], tmp_path: Path
) -> None:
    grids = _grids(city["C1"], EDGE)
    grids.append({**grids[0], "code": "C1003", "name": "Added"})
    grids[-1]["geometry"] = _box(126.66, 126.67)
    report = load_file(engine, "areas", _file(tmp_path, "new", grids), key="code", valid_from=T)
    assert (report.inserted, report.updated, report.unchanged) == (1, 0, 2)
    assert rows(engine, "SELECT valid_from = :t FROM areas WHERE code = 'C1003'", t=T) == [(True,)]


def test_a_renamed_community_reopens_its_grids_under_the_new_version(
    engine: Engine, city: dict[str, int], tmp_path: Path
) -> None:
    c1 = [{"code": "C1", "name": "Renamed", "level": "community",
           "parent_id": city["district"], "geometry": _box(126.60, 126.65)}]  # fmt: skip
    report = load_file(engine, "areas", _file(tmp_path, "c1", c1), key="code", valid_from=T)
    assert report.versions is not None and report.versions.cascaded == 2
    assert (report.inserted, report.updated) == (0, 1)
    new_c1 = _id(engine, "C1")
    assert rows(
        engine, "SELECT count(*) FROM areas WHERE level = 'grid' AND valid_to IS NULL "
        "AND parent_id = :c", c=new_c1
    ) == [(2,)]  # fmt: skip
    # before T the old grids still hang under the old community version
    assert rows(
        engine, "SELECT count(*) FROM areas WHERE level = 'grid' AND valid_to = :t "
        "AND parent_id = :c", c=city["C1"], t=T
    ) == [(2,)]  # fmt: skip
    assert rows(engine, "SELECT DISTINCT community_id FROM places") == [(new_c1,)]


@pytest.mark.parametrize("at", [BEFORE, "2025-12-31"], ids=["same-instant", "earlier"])
def test_valid_from_must_be_after_the_current_version(
    engine: Engine, city: dict[str, int], tmp_path: Path, at: str
) -> None:
    before = snapshot(engine)
    path = _file(tmp_path, "moved", _grids(city["C1"], NEW_EDGE))
    with pytest.raises(InvalidInput) as exc:
        load_file(engine, "areas", path, key="code", valid_from=at)
    assert exc.value.field == "valid_from"
    assert "C1001" in str(exc.value)
    assert snapshot(engine) == before


def test_a_bad_row_leaves_every_version_as_it_was(
    engine: Engine, city: dict[str, int], tmp_path: Path
) -> None:
    before = snapshot(engine)
    grids = _grids(city["C1"], NEW_EDGE)
    grids[1]["level"] = "block"
    with pytest.raises(LoadError) as exc:
        load_file(engine, "areas", _file(tmp_path, "bad", grids), key="code", valid_from=T)
    assert [(r, f) for r, f, _ in exc.value.rows] == [(2, "level")]
    assert snapshot(engine) == before


def test_valid_from_only_with_a_versioned_load(engine: Engine, tmp_path: Path) -> None:
    path = _file(tmp_path, "x", [{"code": "X1", "name": "x", "level": "grid",
                                   "geometry": _box(126.6, 126.61)}])  # fmt: skip
    with pytest.raises(InvalidInput) as exc:
        load_file(engine, "areas", path, valid_from=T)
    assert exc.value.field == "valid_from"


def test_final_statuses_are_what_is_not_open() -> None:
    assert set(FINAL_STATUSES) == set(INCIDENT_STATUSES) - set(OPEN_STATUSES)
