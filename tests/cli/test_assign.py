"""``gisgrid assign``: file to file with no database, and ``--reassign`` on the store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from gisgrid.cli import assign as cli_assign
from gisgrid.cli.main import app
from gisgrid.errors import InvalidInput, LoadError
from gisgrid.io.assign_file import assign_file, read_grids
from gisgrid.store.cluster import Cluster
from tests.assign.support import redraw, reset_city, seed_rows
from tests.io.support import rows, snapshot
from tests.support import scratch_engine

DISTRICTS = Path(__file__).parents[2] / "data" / "boundaries" / "harbin_districts.geojson"
ADDED = ["grid_id", "grid_code", "community_id", "street_id", "district_id", "distance_m"]

Invoke = Callable[..., Result]


@pytest.fixture()
def run(monkeypatch: pytest.MonkeyPatch) -> Invoke:
    monkeypatch.setattr(cli_assign.console, "width", 200)
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture(scope="module")
def districts() -> gpd.GeoDataFrame:
    return gpd.read_file(DISTRICTS)


def district_points(districts: gpd.GeoDataFrame) -> pd.DataFrame:
    """One point inside each district, then one ~1 km outside the city, then a blank row."""
    inside = shapely.point_on_surface(np.asarray(districts.geometry.values))
    hull = shapely.union_all(np.asarray(districts.geometry.values))
    east = max(shapely.get_coordinates(hull).tolist())  # the easternmost vertex
    lon = [*shapely.get_x(inside), east[0] + 0.013, None]
    lat = [*shapely.get_y(inside), east[1], None]
    expected = [*districts["code"].astype(str), None, None]
    return pd.DataFrame(
        {"name": [f"p{i}" for i in range(len(lon))], "lon": lon, "lat": lat, "want": expected}
    )


def test_csv_round_trip_with_the_harbin_districts(
    run: Invoke, districts: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    pts = district_points(districts)
    src = tmp_path / "points.csv"
    pts.drop(columns="want").to_csv(src, index=False)
    out = tmp_path / "assigned.csv"
    result = run("assign", str(src), "--grids", str(DISTRICTS), "-o", str(out))
    assert result.exit_code == 0, result.output
    got = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(got.columns) == ["name", *ADDED, "lon", "lat"]
    assert got["name"].tolist() == pts["name"].tolist()
    want = ["" if pd.isna(w) else w for w in pts["want"]]
    assert got["grid_code"].tolist() == want
    assert got["grid_id"].tolist() == want  # the code column is the id
    assert (got["community_id"] == "").all() and (got["district_id"] == "").all()
    n = len(districts)
    assert "assigned" in result.output and f"│ {n:>6} │" in result.output.replace(",", "")
    assert "points/s" in result.output
    # within 2 km, the point outside goes to its nearest district
    result = run(
        "assign", str(src), "--grids", str(DISTRICTS), "-o", str(out), "--max-distance-m", "2000"
    )
    assert result.exit_code == 0, result.output
    got = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert got["grid_code"].iloc[n] != "" and 900 < float(got["distance_m"].iloc[n]) < 2000
    assert "by nearest" in result.output


def test_geoparquet_round_trip_time_aware(tmp_path: Path) -> None:
    """Grids from a GeoParquet with two versions of one grid; points with times."""
    grids = gpd.GeoDataFrame(
        {
            "id": [1, 2, 3],
            "code": ["G-A", "G-B", "G-B"],
            "valid_from": pd.to_datetime(["2000-01-01", "2000-01-01", "2026-01-01"], utc=True),
            "valid_to": pd.to_datetime([None, "2026-01-01", None], utc=True),
        },
        geometry=[
            shapely.box(126.60, 45.70, 126.61, 45.71),
            shapely.box(126.61, 45.70, 126.62, 45.71),
            shapely.box(126.61, 45.70, 126.625, 45.71),
        ],
        crs=4326,
    )
    grids_path = tmp_path / "grids.parquet"
    grids.to_parquet(grids_path)
    points = gpd.GeoDataFrame(
        {
            "code": ["a", "b", "c", "d"],
            "reported_at": ["2025-06-01T08:00:00+08:00", "2026-06-01T08:00", "2025-06-01", "x"],
        },
        geometry=shapely.points([126.605, 126.615, 126.6225, 126.6225], [45.705] * 4),
        crs=4326,
    )
    src = tmp_path / "points.parquet"
    points.iloc[:3].to_parquet(src)
    out = tmp_path / "out.parquet"
    report = assign_file(src, grids_path, out, time_col="reported_at")
    got = gpd.read_parquet(out)
    assert got.crs is not None and got.crs.to_epsg() == 4326
    assert got["grid_id"].tolist() == [1, 3, pd.NA]  # "c" is past G-B's old edge, before T
    assert got["grid_code"].tolist()[:2] == ["G-A", "G-B"] and pd.isna(got["grid_code"][2])
    assert got.geometry.equals(points.geometry.iloc[:3])
    assert (report.assigned, report.unassigned, report.by_nearest) == (2, 1, 0)
    # a time that does not parse stops the run, naming the row; nothing is written
    points.to_parquet(src)
    out.unlink()
    with pytest.raises(LoadError) as info:
        assign_file(src, grids_path, out, time_col="reported_at")
    assert [(r, f) for r, f, _ in info.value.rows] == [(4, "reported_at")]
    assert not out.exists()


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson"])
def test_gis_outputs(districts: gpd.GeoDataFrame, tmp_path: Path, suffix: str) -> None:
    pts = district_points(districts).iloc[:3]
    src = tmp_path / "points.csv"
    pts.drop(columns="want").to_csv(src, index=False)
    out = tmp_path / f"out{suffix}"
    assign_file(src, DISTRICTS, out)
    got = gpd.read_file(out)
    assert got["grid_code"].tolist() == pts["want"].tolist()
    assert got["grid_id"].astype(str).tolist() == pts["want"].tolist()


def test_bad_rows_are_all_named(run: Invoke, tmp_path: Path) -> None:
    src = tmp_path / "points.csv"
    src.write_text("name,lon,lat\na,126.6,45.7\nb,abc,45.7\nc,45.7,126.6\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    result = run("assign", str(src), "--grids", str(DISTRICTS), "-o", str(out))
    assert result.exit_code == 1
    assert "2 bad rows" in result.output and "not a number" in result.output
    assert "lon/lat swapped?" in result.output
    assert not out.exists()


def test_grid_ids_from_codes_levels_and_row_numbers(tmp_path: Path) -> None:
    squares = [shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)]
    plain = gpd.GeoDataFrame({"name": ["west", "east"]}, geometry=squares, crs=4326)
    plain.to_file(tmp_path / "plain.geojson")
    index = read_grids(tmp_path / "plain.geojson")
    assert index.grid_ids.tolist() == [1, 2] and index.codes is None
    index = read_grids(tmp_path / "plain.geojson", "name")  # not integers: row ids, kept codes
    assert index.grid_ids.tolist() == [1, 2] and index.codes is not None
    assert index.codes.tolist() == ["west", "east"]
    with pytest.raises(InvalidInput, match="no column 'nope'"):
        read_grids(tmp_path / "plain.geojson", "nope")
    plain.iloc[:0].to_file(tmp_path / "empty.geojson")
    with pytest.raises(InvalidInput, match="no grid polygons"):
        read_grids(tmp_path / "empty.geojson")
    # an export of the areas layer: levels and parent ids give the hierarchy
    areas = gpd.GeoDataFrame(
        {
            "id": [10, 20, 30, 40, 41],
            "code": ["D", "S", "K", "G1", "G2"],
            "level": ["district", "street", "community", "grid", "grid"],
            "parent_id": [None, 10, 20, 30, 20],
        },
        geometry=[shapely.box(0, 0, 2, 1)] * 3 + squares,
        crs=4326,
    )
    areas.to_file(tmp_path / "areas.gpkg")
    res = read_grids(tmp_path / "areas.gpkg").assign([0.5, 1.5], [0.5, 0.5])
    assert res.grid_id.tolist() == [40, 41]
    assert res.community_id.tolist() == [30, -1]
    assert res.street_id.tolist() == [20, 20] and res.district_id.tolist() == [10, 10]


def test_mode_errors(run: Invoke, tmp_path: Path) -> None:
    result = run("assign")
    assert result.exit_code == 1 and "give POINTS, --grids and --out" in result.output
    result = run("assign", "x.csv", "--reassign")
    assert result.exit_code == 1 and "--reassign works on the store" in result.output
    result = run("assign", "x.csv", "--grids", str(DISTRICTS), "-o", "o.csv", "--dry-run")
    assert result.exit_code == 1 and "go with --reassign" in result.output
    result = run("assign", "x.csv", "--grids", str(DISTRICTS), "-o", str(tmp_path / "o.txt"))
    assert result.exit_code == 1 and "cannot tell the format" in result.output


# -- --reassign on the store ------------------------------------------------------------------
@pytest.fixture(scope="module")
def store(cluster: Cluster) -> Iterator[Engine]:
    with scratch_engine(cluster, "cli_assign_scratch") as eng:
        yield eng


@pytest.fixture()
def redrawn(store: Engine, cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """The hand-made city with rows on both sides of a redraw, after the redraw."""
    monkeypatch.setenv("GISGRID_DATABASE_URL", cluster.url(dbname="cli_assign_scratch"))
    city = reset_city(store)
    seed_rows(store, city)
    redraw(store, city)
    return store


def _move_rows(output: str) -> list[list[str]]:
    lines = output[output.index("top moves") :].splitlines()
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in lines if "->" in line]
    return [c for c in cells if c]


def test_reassign_dry_run_reports_and_writes_nothing(run: Invoke, redrawn: Engine) -> None:
    before = snapshot(redrawn)
    result = run("assign", "--reassign", "--dry-run")
    assert result.exit_code == 0, result.output
    assert snapshot(redrawn) == before
    assert "dry run: nothing was written" in result.output
    assert "8 rows would move to another grid" in result.output
    assert _move_rows(result.output) == [
        ["GQ", "->", "GP", "5"],
        ["GQ", "->", "GQ", "2"],
        ["GP", "->", "GP", "1"],
    ]


def test_reassign_moves_rows_and_reports_them(run: Invoke, redrawn: Engine) -> None:
    result = run("assign", "--reassign", "--table", "incidents", "--chunk-rows", "2")
    assert result.exit_code == 0, result.output
    assert "6 rows moved to another grid" in result.output
    assert _move_rows(result.output)[0] == ["GQ", "->", "GP", "4"]
    stale = rows(
        redrawn,
        "SELECT count(*) FROM incidents WHERE grid_id IS DISTINCT FROM "
        "gisgrid_assign_point(geom, reported_at)",
    )
    assert stale == [(0,)]
    # places were not asked for: still on the old version
    stale_places = rows(
        redrawn,
        "SELECT count(*) FROM places WHERE grid_id IS DISTINCT FROM gisgrid_assign_point(geom)",
    )
    assert stale_places == [(2,)]
    again = run("assign", "--reassign", "--table", "incidents")
    assert "0 rows moved" in again.output and "top moves" not in again.output


def test_reassign_bad_options(run: Invoke, redrawn: Engine) -> None:
    result = run("assign", "--reassign", "--table", "residents")
    assert result.exit_code == 1 and "expected one of incidents" in result.output
    result = run("assign", "--reassign", "--area", "NOPE")
    assert result.exit_code == 1 and "no area has code 'NOPE'" in result.output


def _squares(keyed_by: str) -> gpd.GeoDataFrame:
    """Three grids in a row; ids out of row order, so a row number is never taken for an id."""
    boxes = [shapely.box(126.60 + 0.01 * i, 45.70, 126.61 + 0.01 * i, 45.71) for i in range(3)]
    keys = {"id": {"id": [30, 10, 20]}, "code": {"code": ["G-C", "G-A", "G-B"]}}[keyed_by]
    return gpd.GeoDataFrame({**keys, "name": ["c", "a", "b"]}, geometry=boxes, crs=4326)


@pytest.mark.parametrize(
    ("grids", "id_col"),
    [("id", None), ("code", "code"), ("districts", None)],
    ids=["integer-id", "text-code", "integer-code"],
)
def test_with_and_without_workers_the_same_file(
    run: Invoke, districts: gpd.GeoDataFrame, tmp_path: Path, grids: str, id_col: str | None
) -> None:
    """--workers reads the grids with the in-memory path's reader and writes the same rows:
    the same columns, ids and codes, row for row (the dask file is in spatial order, with
    input_row to put it back)."""
    if grids == "districts":
        grids_path, pts = DISTRICTS, district_points(districts).drop(columns="want")
    else:
        grids_path = tmp_path / "grids.geojson"
        _squares(grids).to_file(grids_path)
        # inside each, on a shared edge, 1 km east of the last, far away, and no location
        lon = [126.605, 126.615, 126.625, 126.61, 126.643, 127.5, None]
        lat = [45.705, 45.705, 45.705, 45.705, 45.705, 45.705, None]
        pts = pd.DataFrame({"name": [f"p{i}" for i in range(len(lon))], "lon": lon, "lat": lat})
    src = tmp_path / "points.csv"
    pts.to_csv(src, index=False)
    args = ["assign", str(src), "--grids", str(grids_path), "--max-distance-m", "2000"]
    args += ["--grid-id-col", id_col] if id_col else []
    memory, dask = tmp_path / "memory.csv", tmp_path / "dask.csv"
    result = run(*args, "-o", str(memory))
    assert result.exit_code == 0, result.output
    result = run(*args, "-o", str(dask), "--workers", "1")
    assert result.exit_code == 0, result.output

    want = pd.read_csv(memory, dtype=str, keep_default_na=False)
    got = pd.read_csv(dask, dtype=str, keep_default_na=False)
    assert list(got.columns) == ["input_row", *want.columns]
    got = got.sort_values("input_row", key=lambda s: s.astype(int), ignore_index=True)
    pd.testing.assert_frame_equal(got.drop(columns="input_row"), want)
    added = [c for c in ADDED if c != "grid_code" or grids != "id"]  # no codes, no column
    assert list(want.columns) == ["name", *added, "lon", "lat"]
    if grids == "districts":  # an integer code is the id; 1 km out takes the nearest
        assert want["grid_id"].tolist() == want["grid_code"].tolist()
        assert want["grid_id"].iloc[-2] != "" and want["grid_id"].iloc[-1] == ""
    elif grids == "id":  # on the shared edge: the lowest id
        assert want["grid_id"].tolist() == ["30", "10", "20", "10", "20", "", ""]
    else:  # text codes are kept as codes; the row number is the id
        assert want["grid_code"].tolist() == ["G-C", "G-A", "G-B", "G-C", "G-B", "", ""]
        assert want["grid_id"].tolist() == ["1", "2", "3", "1", "3", "", ""]


def test_workers_and_dask_address_exclude_each_other(run: Invoke, tmp_path: Path) -> None:
    src = tmp_path / "points.csv"
    src.write_text("name,lon,lat\na,126.6,45.7\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    both = run(
        "assign",
        str(src),
        "--grids",
        str(DISTRICTS),
        "-o",
        str(out),
        "--workers",
        "1",
        "--dask",
        "tcp://127.0.0.1:1",
    )
    assert both.exit_code == 1 and "not both" in both.output
