"""The dask path against the in-memory GridIndex, row for row, on a 2-process LocalCluster."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import dask_geopandas as dg
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from distributed import Client

from gisgrid.assign.index import ADDED_COLUMNS, GridIndex
from gisgrid.assign.scaleout import (
    ROW,
    assign_dask,
    assign_file_dask,
    connect,
    hilbert_key,
    local_cluster,
)
from gisgrid.errors import InvalidInput

W, S, E, N = 126.5, 45.6, 126.8, 45.8
N_GRIDS = 300
N_POINTS = 200_000


def _voronoi(seed: int, n: int, first_id: int) -> gpd.GeoDataFrame:
    """Voronoi grids clipped to the box, ids shuffled so row order is not id order."""
    rng = np.random.default_rng(seed)
    box = shapely.box(W, S, E, N)
    seeds = shapely.multipoints(rng.uniform([W, S], [E, N], (n, 2)))
    cells = shapely.intersection(
        shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=box)), box
    )
    ids = rng.permutation(np.arange(first_id, first_id + len(cells)))
    return gpd.GeoDataFrame({"id": ids, "level": "grid"}, geometry=cells, crs=4326)


def _with_hierarchy(grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Three communities in one street above the grids, so the ids above are checked too."""
    grids = grids.assign(parent_id=2 + grids["id"] % 3, code=[f"G{i}" for i in grids["id"]])
    box = shapely.box(W, S, E, N)
    above = gpd.GeoDataFrame(
        {
            "id": [1, 2, 3, 4],
            "level": ["street", "community", "community", "community"],
            "parent_id": [None, 1, 1, 1],
            "code": ["S1", "C2", "C3", "C4"],
        },
        geometry=[box] * 4,
        crs=4326,
    )
    return pd.concat([above, grids], ignore_index=True)


def _points(grids: gpd.GeoDataFrame, n: int, seed: int = 7) -> pd.DataFrame:
    """Random points over the box and a margin around it, plus every grid vertex (on two or
    three grids at once) and points on shared edges."""
    rng = np.random.default_rng(seed)
    m = 0.01
    xy = rng.uniform([W - m, S - m], [E + m, N + m], (n, 2))
    vertices = np.unique(shapely.get_coordinates(grids.geometry.to_numpy()), axis=0)
    # points on axis-parallel edges of the clip box are exact; so are vertices
    on_box = np.column_stack([np.full(200, W), rng.uniform(S, N, 200)])
    xy = np.concatenate([xy, vertices, on_box])
    xy = xy[rng.permutation(len(xy))]
    return pd.DataFrame({"lon": xy[:, 0], "lat": xy[:, 1], "tag": np.arange(len(xy)) % 5})


UNPICKLED = 0  # in each worker process: how often a CountingIndex was unpickled there


def _rebuild(state: dict[str, Any]) -> CountingIndex:
    global UNPICKLED
    UNPICKLED += 1
    return CountingIndex(**state)


class CountingIndex(GridIndex):
    """A GridIndex that counts its unpickling in the process that unpickles it."""

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        return _rebuild, ({f.name: getattr(self, f.name) for f in fields(self)},)


def _unpickled() -> int:
    return UNPICKLED


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with local_cluster(2) as c:
        yield c


@pytest.fixture(scope="module")
def grids() -> gpd.GeoDataFrame:
    return _with_hierarchy(_voronoi(seed=3, n=N_GRIDS, first_id=100))


@pytest.fixture(scope="module")
def index(grids: gpd.GeoDataFrame) -> GridIndex:
    return GridIndex.from_frame(grids)


@pytest.fixture(scope="module")
def points(grids: gpd.GeoDataFrame) -> pd.DataFrame:
    return _points(grids[grids.level == "grid"], N_POINTS)


def _same(result: pd.DataFrame, expected: Any, n: int, written: bool = False) -> None:
    """``result`` (computed, any order) equals the in-memory Assignment row for row; a
    ``written`` file has nullable ids, blank where the Assignment has -1."""
    got = result.sort_index()
    assert got.index.tolist() == list(range(n))
    for col in ("grid_id", "community_id", "street_id", "district_id"):
        ids = got[col]
        if written:
            assert ids.dtype == "Int64" and not (ids < 0).any(), col
            ids = ids.fillna(-1).astype(np.int64)
        assert ids.dtype == np.int64
        np.testing.assert_array_equal(ids.to_numpy(), getattr(expected, col), err_msg=col)
    np.testing.assert_array_equal(got["distance_m"].to_numpy(), expected.distance_m)


def test_hilbert_key_is_dask_geopandas_curve() -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.uniform(W, E, 1000), "y": rng.uniform(S, N, 1000)})
    bounds = (W, S, E, N)
    ours = hilbert_key(df, kind="lonlat", lon_col="x", lat_col="y", bounds=bounds)
    gdf = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df.x, df.y), crs=4326)
    theirs = dg.from_geopandas(gdf, npartitions=2).hilbert_distance(total_bounds=bounds)
    np.testing.assert_array_equal(ours.to_numpy(), theirs.compute(scheduler="sync").to_numpy())


@pytest.mark.parametrize("spatial", [True, False], ids=["hilbert", "as-given"])
def test_lonlat_equals_in_memory(
    client: Client, index: GridIndex, points: pd.DataFrame, spatial: bool
) -> None:
    expected = index.assign(points.lon, points.lat)
    assert (expected.grid_id == -1).any() and (expected.community_id > 0).any()
    out = assign_dask(
        points,
        index,
        client=client,
        lon_col="lon",
        lat_col="lat",
        npartitions=6,
        spatial_partitioning=spatial,
    )
    assert out.npartitions == 6
    got = out.compute()
    _same(got, expected, len(points))
    assert got.sort_index()["tag"].tolist() == points["tag"].tolist()
    codes = got.sort_index()["grid_code"]
    assert codes[expected.grid_id >= 0].tolist() == [f"G{g}" for g in expected.grid_id if g >= 0]
    assert codes[expected.grid_id < 0].isna().all()


def test_lowest_id_on_shared_vertices(
    client: Client, index: GridIndex, grids: gpd.GeoDataFrame
) -> None:
    cells = grids[grids.level == "grid"]
    xy = np.unique(shapely.get_coordinates(cells.geometry.to_numpy()), axis=0)
    pts = shapely.points(xy)
    got = (
        assign_dask(pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1]}), index, lon_col="x", lat_col="y")
        .compute()
        .sort_index()
    )
    brute = np.full(len(xy), -1)
    for gid, geom in sorted(zip(cells["id"], cells.geometry, strict=True), reverse=True):
        brute[shapely.covers(geom, pts)] = gid
    assert (shapely.covers(cells.geometry.to_numpy()[:, None], pts).sum(axis=0) >= 2).mean() > 0.9
    np.testing.assert_array_equal(got["grid_id"].to_numpy(), brute)


def test_geodataframe_input_dask_and_pandas(
    client: Client, index: GridIndex, points: pd.DataFrame
) -> None:
    sub = points.iloc[:50_000]
    gdf = gpd.GeoDataFrame(sub, geometry=gpd.points_from_xy(sub.lon, sub.lat), crs=4326)
    expected = index.assign(sub.lon, sub.lat)
    for given in (gdf, dg.from_geopandas(gdf, npartitions=4)):
        out = assign_dask(given, index, client=client)
        assert isinstance(out, dg.GeoDataFrame)
        got = out.compute()
        assert isinstance(got, gpd.GeoDataFrame) and got.crs.to_epsg() == 4326
        _same(got, expected, len(sub))


def test_other_crs(client: Client, index: GridIndex) -> None:
    lon = np.array([126.6, 126.7, 130.0])
    lat = np.array([45.7, 45.65, 45.7])
    gdf = gpd.GeoDataFrame({"k": range(3)}, geometry=gpd.points_from_xy(lon, lat), crs=4326)
    got = assign_dask(gdf.to_crs(32652), index, client=client).compute()
    assert got.crs.to_epsg() == 4326
    _same(got, index.assign(lon, lat), 3)


def test_missing_coordinates_are_unassigned(client: Client, index: GridIndex) -> None:
    pts = pd.DataFrame({"lon": [126.6, np.nan, 126.7], "lat": [45.7, 45.7, np.nan]})
    got = assign_dask(pts, index, client=client, lon_col="lon", lat_col="lat").compute()
    _same(got, index.assign(pts.lon, pts.lat), 3)
    assert got.sort_index()["grid_id"].tolist()[1:] == [-1, -1]


def test_no_grid_at_all(client: Client) -> None:
    street = gpd.GeoDataFrame(
        {"id": [1], "level": ["street"]}, geometry=[shapely.box(W, S, E, N)], crs=4326
    )
    index = GridIndex.from_frame(street)
    pts = pd.DataFrame({"lon": [126.6, 126.7], "lat": [45.7, 45.7]})
    got = assign_dask(pts, index, client=client, lon_col="lon", lat_col="lat").compute()
    _same(got, index.assign(pts.lon, pts.lat), 2)
    assert (got["grid_id"] == -1).all()


def test_time_aware(client: Client) -> None:
    # the tiling is redrawn on 2025-06-01: old grids close, new ones (other ids) open
    old = _voronoi(seed=11, n=200, first_id=1000).assign(valid_to=pd.Timestamp("2025-06-01"))
    new = _voronoi(seed=12, n=250, first_id=5000).assign(valid_from=pd.Timestamp("2025-06-01"))
    areas = pd.concat([old, new], ignore_index=True)
    index = GridIndex.from_frame(areas)
    rng = np.random.default_rng(5)
    n = 60_000
    seconds = rng.integers(0, 365 * 86400, n).astype("timedelta64[s]")
    pts = pd.DataFrame(
        {
            "lon": rng.uniform(W, E, n),
            "lat": rng.uniform(S, N, n),
            "reported_at": pd.to_datetime(np.datetime64("2025-01-01") + seconds).tz_localize(
                "Asia/Shanghai"
            ),
        }
    )
    expected = index.assign(pts.lon, pts.lat, times=pts.reported_at)
    assert ((expected.grid_id >= 1000) & (expected.grid_id < 5000)).any()
    assert (expected.grid_id >= 5000).any()
    out = assign_dask(
        pts, index, client=client, lon_col="lon", lat_col="lat", time_col="reported_at"
    )
    _same(out.compute(), expected, n)


def test_nearest_fallback(client: Client, index: GridIndex, points: pd.DataFrame) -> None:
    sub = points.iloc[:80_000]
    expected = index.assign(sub.lon, sub.lat, max_distance_m=600)
    assert ((expected.distance_m > 0) & (expected.grid_id >= 0)).any()
    assert (expected.grid_id < 0).any()  # some of the 1.1 km margin is still too far
    out = assign_dask(sub, index, client=client, lon_col="lon", lat_col="lat", max_distance_m=600)
    _same(out.compute(), expected, len(sub))


def test_index_is_shipped_once_per_worker(client: Client, grids: gpd.GeoDataFrame) -> None:
    index = GridIndex.from_frame(grids)
    counting = CountingIndex(**{f.name: getattr(index, f.name) for f in fields(index)})
    before = client.run(_unpickled)
    pts = _points(grids[grids.level == "grid"], 40_000, seed=9)
    out = assign_dask(pts, counting, client=client, lon_col="lon", lat_col="lat", npartitions=12)
    assert out.npartitions == 12
    keys = [k for k in out.__dask_graph__() if "gridindex-" in str(k)]
    assert len(keys) == 1  # one key holds the index; the 12 partition tasks depend on it
    time.sleep(2.5)  # the memory manager's interval: a copy made up front would be gone now
    got = out.compute()
    after = client.run(_unpickled)
    assert {w: after[w] - before[w] for w in after} == dict.fromkeys(after, 1)
    _same(got, index.assign(pts.lon, pts.lat), len(pts))


# dask-geopandas 0.5's read_parquet calls reset_index(inplace=True), deprecated in pandas 3
@pytest.mark.filterwarnings("ignore:The inplace keyword")
@pytest.mark.filterwarnings("ignore:An error occurred while calling")
def test_assign_file_csv_to_geoparquet_and_back(
    client: Client, grids: gpd.GeoDataFrame, index: GridIndex, tmp_path: Path
) -> None:
    pts = _points(grids[grids.level == "grid"], 30_000, seed=21)
    csv_path = tmp_path / "points.csv"
    pts.to_csv(csv_path, index=False)
    back = pd.read_csv(csv_path)  # what the file holds, after the decimal round trip
    expected = index.assign(back.lon, back.lat, max_distance_m=300)
    out_path = tmp_path / "assigned.parquet"

    counts = assign_file_dask(csv_path, index, out_path, max_distance_m=300, blocksize=200_000)

    n_found = int((expected.grid_id >= 0).sum())
    n_covered = int((expected.distance_m == 0).sum())
    assert counts["points"] == len(pts)
    assert (counts["assigned"], counts["nearest"]) == (n_covered, n_found - n_covered)
    assert counts["unassigned"] == len(pts) - n_found
    assert counts["workers"] == 2 and counts["partitions"] > 1
    got = gpd.read_parquet(out_path)  # a folder of parts; the index comes back as input_row
    assert got.index.name == ROW and got.crs.to_epsg() == 4326
    # as the in-memory path writes GeoParquet: the point is the geometry, no lon/lat columns
    assert list(got.columns) == ["tag", "geometry", *ADDED_COLUMNS]
    _same(got, expected, len(pts), written=True)
    got = got.sort_index()
    np.testing.assert_array_equal(got.geometry.x.to_numpy(), back.lon.to_numpy())
    assert got["tag"].tolist() == back["tag"].tolist()

    # and GeoParquet in, one CSV out, with lon/lat columns again; input_row is now the
    # position in the GeoParquet parts, read in dask's order
    csv_out = tmp_path / "assigned.csv"
    again = assign_file_dask(out_path, index, csv_out, max_distance_m=300)
    assert again["points"] == len(pts)
    first = dg.read_parquet(out_path).compute()
    table = pd.read_csv(csv_out).set_index(ROW).sort_index()
    assert list(table.columns) == ["tag", *ADDED_COLUMNS, "lon", "lat"]
    assert table.index.tolist() == list(range(len(pts)))
    np.testing.assert_array_equal(table["lon"].to_numpy(), first.geometry.x.to_numpy())
    np.testing.assert_array_equal(
        table["grid_id"].fillna(-1).to_numpy(dtype=np.int64),
        first["grid_id"].fillna(-1).to_numpy(dtype=np.int64),
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"lon_col": "lon"}, "lon_col"),
        ({"lon_col": "lon", "lat_col": "nope"}, "nope"),
        ({"lon_col": "lon", "lat_col": "lat", "max_distance_m": -5}, "max_distance_m"),
        ({"lon_col": "lon", "lat_col": "lat", "npartitions": 0}, "npartitions"),
        ({"lon_col": "lon", "lat_col": "lat", "time_col": "when"}, "time_col"),
        ({}, None),
    ],
    ids=[
        "lon-without-lat",
        "missing-column",
        "negative-distance",
        "zero-partitions",
        "missing-time",
        "no-geometry",
    ],
)
def test_bad_options(index: GridIndex, kwargs: dict[str, Any], field: str | None) -> None:
    with pytest.raises(InvalidInput) as err:
        assign_dask(pd.DataFrame({"lon": [1.0], "lat": [2.0]}), index, **kwargs)
    assert err.value.field == field


def test_bad_file_options_and_address(index: GridIndex) -> None:
    with pytest.raises(InvalidInput, match="unknown option"):
        assign_file_dask("a.csv", index, "o.parquet", colour="red")
    with pytest.raises(InvalidInput, match="not both"):
        assign_file_dask("a.csv", index, "o.parquet", workers=2, address="tcp://h:8786")
    with pytest.raises(InvalidInput) as err:
        assign_file_dask("a.shp", index, "o.parquet")
    assert err.value.field == "points_path"
    with pytest.raises(InvalidInput, match="read_grids") as err:  # a path is no index
        assign_file_dask("a.csv", "g.gpkg", "o.parquet")
    assert err.value.field == "index"
    for bad in ("localhost:8786", "http://h:8786", "tcp://h"):
        with pytest.raises(InvalidInput) as err:
            connect(bad)
        assert err.value.field == "address"
    with pytest.raises(InvalidInput), local_cluster(0):
        pass
