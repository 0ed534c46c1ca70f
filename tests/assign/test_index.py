"""The assignment engine against a brute-force shapely ``covers`` reference."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gisgrid.assign.index import GridIndex
from gisgrid.assign.strips import StripIndex
from gisgrid.errors import InvalidInput

LON0, LAT0, SPAN = 126.5, 45.6, 0.2


def _tiling(seed: int = 1, n: int = 300) -> gpd.GeoDataFrame:
    """Voronoi grids over a box, with shuffled ids, a hole with an island, a multipolygon."""
    rng = np.random.default_rng(seed)
    box = shapely.box(LON0, LAT0, LON0 + SPAN, LAT0 + SPAN)
    pts = shapely.multipoints(rng.uniform([LON0, LAT0], [LON0 + SPAN, LAT0 + SPAN], (n, 2)))
    cells = [
        shapely.intersection(c, box)
        for c in shapely.get_parts(shapely.voronoi_polygons(pts, extend_to=box))
    ]
    ids = rng.permutation(np.arange(100, 100 + len(cells)))
    geoms: dict[int, shapely.Geometry] = dict(zip(ids.tolist(), cells, strict=True))
    # a hole in one grid, with another grid (an island) filling it
    host = int(ids[0])
    c = geoms[host].centroid
    island = shapely.box(c.x - 0.001, c.y - 0.001, c.x + 0.001, c.y + 0.001)
    geoms[host] = geoms[host].difference(island)
    geoms[99] = island
    # a multipolygon: two grids that do not touch become one
    a, b = (
        int(ids[1]),
        next(
            int(i)
            for i in ids[2:]
            if not geoms[int(i)].touches(geoms[int(ids[1])])
            and not geoms[int(i)].intersects(geoms[int(ids[1])])
        ),
    )
    geoms[a] = shapely.union(geoms[a], geoms.pop(b))
    frame = gpd.GeoDataFrame(
        {"id": list(geoms), "level": "grid", "code": [f"G{i}" for i in geoms]},
        geometry=[shapely.force_2d(g) for g in geoms.values()],
        crs=4326,
    )
    return frame


def _brute(frame: gpd.GeoDataFrame, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Lowest id among the grids that cover each point, by testing every grid."""
    pts = shapely.points(x, y)
    out = np.full(len(x), -1, dtype=np.int64)
    for gid, geom in sorted(zip(frame["id"], frame.geometry, strict=True), reverse=True):
        out[shapely.covers(geom, pts)] = gid
    return out


@pytest.fixture(scope="module")
def tiling() -> gpd.GeoDataFrame:
    return _tiling()


@pytest.fixture(scope="module")
def index(tiling: gpd.GeoDataFrame) -> GridIndex:
    return GridIndex.from_frame(tiling)


def _adversarial(frame: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    rings = shapely.get_rings(shapely.get_parts(frame.geometry.to_numpy()))
    v = shapely.get_coordinates(rings)
    mid = (v[:-1] + v[1:]) / 2  # edge midpoints (and some chords across ring ends)
    third = v[:-1] + (v[1:] - v[:-1]) / 3
    w, s, e, n = frame.total_bounds
    corners = np.array([[w, s], [w, n], [e, s], [e, n], [w - 1, s - 1], [e + 1, n + 1]])
    tiny_x, tiny_y = np.array([1e-12, 0.0]), np.array([0.0, 1e-12])
    nudged = np.concatenate([v + tiny_x, v - tiny_x, v + tiny_y, v - tiny_y])
    pts = np.concatenate([v, mid, third, corners, nudged])
    return pts[:, 0], pts[:, 1]


def test_random_points_agree_with_brute_force(index: GridIndex, tiling: gpd.GeoDataFrame) -> None:
    rng = np.random.default_rng(5)
    x = rng.uniform(LON0 - 0.02, LON0 + SPAN + 0.02, 20_000)
    y = rng.uniform(LAT0 - 0.02, LAT0 + SPAN + 0.02, 20_000)
    got = index.assign(x, y).grid_id
    np.testing.assert_array_equal(got, _brute(tiling, x, y))
    assert (got == -1).any() and (got >= 0).mean() > 0.6


def test_adversarial_points_agree_with_brute_force(
    index: GridIndex, tiling: gpd.GeoDataFrame
) -> None:
    x, y = _adversarial(tiling)
    got = index.assign(x, y).grid_id
    want = _brute(tiling, x, y)
    bad = np.flatnonzero(got != want)
    assert len(bad) == 0, list(
        zip(x[bad][:5], y[bad][:5], got[bad][:5], want[bad][:5], strict=True)
    )
    assert len(x) > 5_000


@pytest.mark.parametrize(
    "h", [1e-4, 5e-4, 3e-3, 0.05], ids=["fine", "default-ish", "coarse", "huge"]
)
def test_strip_height_does_not_change_answers(tiling: gpd.GeoDataFrame, h: float) -> None:
    x, y = _adversarial(tiling)
    rng = np.random.default_rng(9)
    x = np.concatenate([x, rng.uniform(LON0, LON0 + SPAN, 5_000)])
    y = np.concatenate([y, rng.uniform(LAT0, LAT0 + SPAN, 5_000)])
    got = GridIndex.from_frame(tiling, h=h).assign(x, y).grid_id
    np.testing.assert_array_equal(got, _brute(tiling, x, y))


def test_almost_every_point_takes_the_fast_path(tiling: gpd.GeoDataFrame) -> None:
    """Only points on an edge or vertex (or crowded zones) may need GEOS: if edge sides or
    ring turns were read wrong, answers would stay right (the exact test catches them) but
    slow; this catches that."""
    geoms = np.asarray(tiling.geometry.to_numpy(), dtype=object)
    idx = StripIndex.build(geoms)
    rng = np.random.default_rng(11)
    x = rng.uniform(LON0, LON0 + SPAN, 50_000)
    y = rng.uniform(LAT0, LAT0 + SPAN, 50_000)
    idx.locate(x, y)
    assert idx.exact_count / len(x) < 0.005
    # around the hole and the island, both ring kinds are read right
    island = tiling.set_index("id").geometry[99]
    c = island.centroid
    x = rng.uniform(c.x - 0.003, c.x + 0.003, 20_000)
    y = rng.uniform(c.y - 0.003, c.y + 0.003, 20_000)
    idx.locate(x, y)
    assert idx.exact_count == 0


def test_shared_edge_goes_to_the_lowest_id() -> None:
    frame = gpd.GeoDataFrame(
        {"id": [7, 3], "level": "grid"},
        geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)],
        crs=4326,
    )
    got = GridIndex.from_frame(frame).assign([1.0, 1.0, 1.0, 0.5], [0.0, 0.5, 1.0, 0.5])
    assert got.grid_id.tolist() == [3, 3, 3, 7]


def test_overlapping_grids_use_the_lowest_id() -> None:
    """Not a tiling (a bad input), but the rule still holds where grids overlap."""
    rng = np.random.default_rng(3)
    frame = gpd.GeoDataFrame(
        {"id": [5, 2, 9, 4], "level": "grid"},
        geometry=[
            shapely.box(0, 0, 2, 2),
            shapely.box(1, 1, 3, 3),
            shapely.box(1.5, 0, 2.5, 1),
            shapely.box(0, 0, 2, 2),
        ],  # a duplicate of the first
        crs=4326,
    )
    x, y = rng.uniform(-0.5, 3.5, 20_000), rng.uniform(-0.5, 3.5, 20_000)
    got = GridIndex.from_frame(frame).assign(x, y).grid_id
    np.testing.assert_array_equal(got, _brute(frame, x, y))


def test_hole_and_island(index: GridIndex, tiling: gpd.GeoDataFrame) -> None:
    island = tiling.set_index("id").geometry[99]
    c = island.centroid
    host_id = next(
        i
        for i, g in zip(tiling["id"], tiling.geometry, strict=True)
        if i != 99 and g.touches(island)
    )
    host = tiling.set_index("id").geometry[host_id]
    inside_host = host.representative_point()
    got = index.assign([c.x, inside_host.x], [c.y, inside_host.y]).grid_id
    assert got.tolist() == [99, host_id]


def test_hierarchy_and_outside() -> None:
    frame = gpd.GeoDataFrame(
        {
            "id": [1, 2, 3, 4, 5],
            "level": ["district", "street", "community", "grid", "grid"],
            "parent_id": [None, 1, 2, 3, 3],
        },
        geometry=[shapely.box(0, 0, 2, 1)] * 3 + [shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)],
        crs=4326,
    )
    a = GridIndex.from_frame(frame).assign([0.5, 1.5, 3.0, np.nan], [0.5, 0.5, 0.5, 0.5])
    assert a.grid_id.tolist() == [4, 5, -1, -1]
    assert a.community_id.tolist() == [3, 3, -1, -1]
    assert a.street_id.tolist() == [2, 2, -1, -1]
    assert a.district_id.tolist() == [1, 1, -1, -1]
    assert np.isnan(a.distance_m[2:]).all() and (a.distance_m[:2] == 0).all()


def test_nearest_grid_within_a_distance() -> None:
    frame = gpd.GeoDataFrame(
        {"id": [1, 2], "level": "grid"},
        geometry=[
            shapely.box(126.0, 45.0, 126.01, 45.01),
            shapely.box(126.01, 45.0, 126.02, 45.01),
        ],
        crs=4326,
    )
    index = GridIndex.from_frame(frame)
    # 0.001 degree of longitude east of the last grid at 45.005 N: about 78.8 m
    x, y = [126.021, 126.03], [45.005, 45.005]
    far = index.assign(x, y, max_distance_m=50)
    assert far.grid_id.tolist() == [-1, -1]
    near = index.assign(x, y, max_distance_m=100)
    assert near.grid_id.tolist() == [2, -1]
    assert near.distance_m[0] == pytest.approx(78.85, abs=0.1)
    with pytest.raises(InvalidInput, match="positive"):
        index.assign(x, y, max_distance_m=-1)


def test_nearest_distance_is_on_the_ground_not_in_degrees() -> None:
    """Against the geodesic distance to a densified boundary: within 0.3% (UTM scale)."""
    from pyproj import Geod

    tri = shapely.Polygon([(126.0, 45.0), (126.02, 45.0), (126.0, 45.03)])
    frame = gpd.GeoDataFrame({"id": [1], "level": "grid"}, geometry=[tri], crs=4326)
    rng = np.random.default_rng(4)
    x = rng.uniform(126.015, 126.04, 200)
    y = rng.uniform(45.015, 45.04, 200)
    out = ~shapely.covers(tri, shapely.points(x, y))
    got = GridIndex.from_frame(frame).assign(x[out], y[out], max_distance_m=5_000).distance_m
    ring = shapely.segmentize(tri.exterior, 1e-5)
    c = shapely.get_coordinates(ring)
    geod = Geod(ellps="WGS84")
    want = np.array(
        [
            geod.inv(np.full(len(c), px), np.full(len(c), py), c[:, 0], c[:, 1])[2].min()
            for px, py in zip(x[out], y[out], strict=True)
        ]
    )
    assert np.all(np.abs(got - want) <= 0.003 * want + 0.5)


def test_time_aware_across_a_boundary_change() -> None:
    t = pd.Timestamp("2026-06-01T00:00:00Z")
    frame = gpd.GeoDataFrame(
        {
            "id": [1, 2, 3, 4],
            "level": "grid",
            "code": ["A", "B", "A", "B"],
            "valid_from": [pd.Timestamp("2020-01-01T00:00:00Z")] * 2 + [t, t],
            "valid_to": [t, t, pd.NaT, pd.NaT],
        },
        geometry=[
            shapely.box(0, 0, 1, 1),
            shapely.box(1, 0, 2, 1),  # before: split at x=1
            shapely.box(0, 0, 1.5, 1),
            shapely.box(1.5, 0, 2, 1),
        ],  # after: at x=1.5
        crs=4326,
    )
    index = GridIndex.from_frame(frame)
    x, y = [1.2, 1.2, 1.2, 0.5], [0.5, 0.5, 0.5, 0.5]
    times = pd.to_datetime(
        [
            "2026-05-31T23:59:59Z",
            "2026-06-01T00:00:00Z",
            "2026-06-01T08:00:00+08:00",
            "2021-01-01T00:00:00Z",
        ],
        utc=True,
    )
    assert index.assign(x, y, times=times).grid_id.tolist() == [2, 3, 3, 1]
    assert index.assign(x, y).grid_id.tolist() == [3, 3, 3, 3]  # no times: current grids
    # before any version existed: nothing
    assert (
        index.assign([0.5], [0.5], times=pd.to_datetime(["2019-01-01T00:00:00Z"])).grid_id[0] == -1
    )
    with pytest.raises(InvalidInput, match="times"):
        index.assign(
            [0.5], [0.5], times=pd.to_datetime(["2019-01-01T00:00:00Z", "2019-01-02T00:00:00Z"])
        )


def test_assign_frame_adds_columns(index: GridIndex, tiling: gpd.GeoDataFrame) -> None:
    pts = gpd.GeoDataFrame(geometry=tiling.representative_point().to_numpy()[:50], crs=4326)
    out = index.assign_frame(pts)
    assert out["grid_id"].tolist() == tiling["id"].tolist()[:50]
    assert out["grid_code"].tolist() == tiling["code"].tolist()[:50]
    projected = pts.to_crs(32652)
    assert index.assign_frame(projected)["grid_id"].tolist() == tiling["id"].tolist()[:50]


def test_assign_frame_keeps_any_index(index: GridIndex, tiling: gpd.GeoDataFrame) -> None:
    pts = gpd.GeoDataFrame(
        geometry=tiling.representative_point().to_numpy()[:3], index=[10, 11, 0], crs=4326
    )
    assert index.assign_frame(pts)["grid_id"].tolist() == tiling["id"].tolist()[:3]
    empty = gpd.GeoDataFrame(geometry=[shapely.Point()], crs=4326)
    with pytest.raises(InvalidInput, match="empty point at row 1"):
        index.assign_frame(empty)


def test_bad_inputs_name_the_field(tiling: gpd.GeoDataFrame) -> None:
    with pytest.raises(InvalidInput) as info:
        GridIndex.from_frame(tiling.assign(id=1))
    assert info.value.field == "id"
    bowtie = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    bad = gpd.GeoDataFrame({"id": [1], "level": ["grid"]}, geometry=[bowtie], crs=4326)
    with pytest.raises(InvalidInput, match="invalid geometry"):
        GridIndex.from_frame(bad)
    with pytest.raises(InvalidInput, match="1-d arrays"):
        GridIndex.from_frame(tiling).assign([1.0, 2.0], [1.0])


def test_no_grids_leaves_every_point_unassigned() -> None:
    frame = gpd.GeoDataFrame(
        {"id": [1], "level": ["district"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4326
    )
    a = GridIndex.from_frame(frame).assign([0.5, 2.0], [0.5, 2.0], max_distance_m=10)
    assert a.grid_id.tolist() == [-1, -1] and a.district_id.tolist() == [-1, -1]


def test_strip_index_empty_and_single() -> None:
    idx = StripIndex.build(np.array([shapely.box(0, 0, 1, 1)]))
    assert idx.locate(np.array([]), np.array([])).tolist() == []
    assert idx.locate(np.array([0.0, 1.0, 1.0000001]), np.array([0.0, 1.0, 0.5])).tolist() == [
        0,
        0,
        -1,
    ]
