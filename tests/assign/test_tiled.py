"""The tiled engine (a strip index per quadtree leaf, one lookup table) against brute force:
points on leaf boundaries, on shared edges in a dense area, and one point at a time."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from gisgrid.assign.index import GridIndex
from gisgrid.assign.tiled import TiledIndex
from tests.assign.test_index import LAT0, LON0, SPAN, _adversarial, _brute, _tiling


@pytest.fixture(scope="module")
def tiling() -> gpd.GeoDataFrame:
    return _tiling(seed=3, n=400)


@pytest.fixture(scope="module")
def tiled(tiling: gpd.GeoDataFrame) -> tuple[np.ndarray, TiledIndex]:
    """Small leaves (at most 25 polygons), so that every rule crosses leaf boundaries."""
    frame = tiling.sort_values("id")
    return frame["id"].to_numpy(), TiledIndex.build(frame.geometry.to_numpy(), max_polygons=25)


def _on_leaf_edges(idx: TiledIndex, n: int = 4_000) -> tuple[np.ndarray, np.ndarray]:
    """Points on the raster's cell lines (every leaf edge is one) and at their crossings."""
    rng = np.random.default_rng(5)
    k = np.arange(idx.n + 1)
    xs, ys = idx.x0 + k * idx.cw, idx.y0 + k * idx.ch
    vx = rng.choice(xs, n)
    hy = rng.choice(ys, n)
    cx, cy = np.meshgrid(xs[::4], ys[::4])
    x = np.concatenate([vx, rng.uniform(LON0, LON0 + SPAN, n), cx.ravel()])
    y = np.concatenate([rng.uniform(LAT0, LAT0 + SPAN, n), hy, cy.ravel()])
    return x, y


def test_many_leaves_agree_with_brute_force(
    tiling: gpd.GeoDataFrame, tiled: tuple[np.ndarray, TiledIndex]
) -> None:
    ids, idx = tiled
    assert len(idx.leaves) >= 16
    ax, ay = _adversarial(tiling)
    ex, ey = _on_leaf_edges(idx)
    rng = np.random.default_rng(7)
    x = np.concatenate([ax, ex, rng.uniform(LON0, LON0 + SPAN, 20_000), [np.nan, 0.0]])
    y = np.concatenate([ay, ey, rng.uniform(LAT0, LAT0 + SPAN, 20_000), [LAT0, np.nan]])
    got = idx.locate(x, y)
    got_ids = np.where(got >= 0, ids[np.maximum(got, 0)], -1)
    want = _brute(tiling, x, y)
    bad = np.flatnonzero(got_ids != want)
    assert len(bad) == 0, list(
        zip(x[bad][:5], y[bad][:5], got_ids[bad][:5], want[bad][:5], strict=True)
    )
    # the table resolves most random points without a search
    idx.locate(x[-20_002:-2], y[-20_002:-2])
    assert idx.search_count / 20_000 < 0.25


def test_one_point_equals_the_batch(
    tiling: gpd.GeoDataFrame, tiled: tuple[np.ndarray, TiledIndex]
) -> None:
    """``locate_one`` (what ``/locate`` pays) takes the same steps as the batch, in Python."""
    _, idx = tiled
    ax, ay = _adversarial(tiling)
    ex, ey = _on_leaf_edges(idx, 500)
    rng = np.random.default_rng(8)
    pick = rng.choice(len(ax), 3_000, replace=False)
    x = np.concatenate([ax[pick], ex, rng.uniform(LON0 - 0.01, LON0 + SPAN + 0.01, 2_000)])
    y = np.concatenate([ay[pick], ey, rng.uniform(LAT0 - 0.01, LAT0 + SPAN + 0.01, 2_000)])
    batch = idx.locate(x, y)
    one = np.array([idx.locate_one(float(a), float(b)) for a, b in zip(x, y, strict=True)])
    np.testing.assert_array_equal(one, batch)
    # and through GridIndex.assign, whose one-point call takes the short way
    index = GridIndex.from_frame(tiling)
    want = index.assign(x[:500], y[:500]).grid_id
    got = [int(index.assign([a], [b]).grid_id[0]) for a, b in zip(x[:500], y[:500], strict=True)]
    assert got == want.tolist()
    assert index.assign([np.nan], [LAT0]).grid_id.tolist() == [-1]


def test_shared_edges_in_a_dense_area_go_to_the_lowest_id() -> None:
    """3,600 small square grids (more than one leaf holds): every point on a shared edge or
    a shared corner goes to the lowest id among the grids that touch it."""
    side, step = 60, 0.0005
    rng = np.random.default_rng(12)
    ids = rng.permutation(np.arange(1, side * side + 1))
    boxes = [
        shapely.box(LON0 + i * step, LAT0 + j * step, LON0 + (i + 1) * step, LAT0 + (j + 1) * step)
        for j in range(side)
        for i in range(side)
    ]
    frame = gpd.GeoDataFrame({"id": ids, "level": "grid"}, geometry=boxes, crs=4326)
    index = GridIndex.from_frame(frame)
    _, idx = index._epoch_index(len(index._changes()) - 1)
    assert len(idx.leaves) > 1
    k = rng.integers(0, side + 1, (2, 3_000))
    f = rng.uniform(0, 1, 3_000)
    x = np.concatenate([LON0 + k[0] * step, LON0 + (k[0] + f) * step])  # corners, then edges
    y = np.concatenate([LAT0 + k[1] * step, LAT0 + k[1] * step])
    np.testing.assert_array_equal(index.assign(x, y).grid_id, _brute(frame, x, y))
