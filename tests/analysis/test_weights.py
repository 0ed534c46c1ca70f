"""gisgrid.analysis.weights on small hand-checkable layouts: lattices of boxes, an island, points
at known distances in metres; the cache; bad input."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from libpysal.weights import lat2W

from gisgrid.analysis import weights as wmod
from gisgrid.analysis.weights import Weights, lattice, spatial_weights
from gisgrid.errors import InvalidInput

UTM = "EPSG:32652"  # Harbin's zone: distances in metres, hand-checkable


def boxes(rows: int, cols: int, size: float = 0.01, x0: float = 126.6, y0: float = 45.7) -> list:
    return [
        shapely.box(x0 + c * size, y0 + r * size, x0 + (c + 1) * size, y0 + (r + 1) * size)
        for r in range(rows)
        for c in range(cols)
    ]


def frame(geoms: list, ids: list[int] | None = None, crs: str = "EPSG:4326") -> gpd.GeoDataFrame:
    ids = ids if ids is not None else list(range(len(geoms)))
    return gpd.GeoDataFrame({"id": ids}, geometry=geoms, crs=crs)


def dense(w: Weights) -> np.ndarray:
    return w.matrix.toarray()


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    wmod.clear_cache()


@pytest.mark.parametrize("rook", [False, True], ids=["queen", "rook"])
def test_lattice_matches_libpysal(rook: bool) -> None:
    ours = lattice(5, 5, rook=rook)
    theirs = lat2W(5, 5, rook=rook).sparse.toarray()
    assert (dense(ours) == theirs).all()
    assert ours.cardinalities.sum() == (80 if rook else 144)


def test_queen_of_boxes_is_the_queen_lattice() -> None:
    w = spatial_weights(frame(boxes(5, 5)), "queen")
    assert (dense(w) == dense(lattice(5, 5))).all()
    assert w.islands == ()
    assert w.neighbours_of(12) == [6, 7, 8, 11, 13, 16, 17, 18]


def test_an_island_is_reported_and_linked_both_ways_to_its_nearest() -> None:
    geoms = boxes(3, 3)
    # a box 3 cells east of the lattice's east side, level with its middle row: nearest is 5
    geoms.append(shapely.box(126.65, 45.71, 126.66, 45.72))
    w = spatial_weights(frame(geoms, ids=list(range(10, 20))), "queen")
    assert w.islands == (19,)
    assert w.neighbours_of(19) == [15]
    assert 19 in w.neighbours_of(15)
    assert (dense(w) == dense(w).T).all()
    two = spatial_weights(frame(geoms, ids=list(range(10, 20))), "queen", islands_k=2)
    assert sorted(two.neighbours_of(19)) == [12, 15] or sorted(two.neighbours_of(19)) == [15, 18]


def test_knn_takes_the_k_nearest_in_metres() -> None:
    # points on a line at x = 0, 100, 250, 600, 1000 m
    xs = [0.0, 100.0, 250.0, 600.0, 1000.0]
    pts = frame(list(shapely.points(np.add(xs, 500_000), 5_000_000)), crs=UTM)
    w = spatial_weights(pts, "knn", k=2)
    assert [w.neighbours_of(i) for i in range(5)] == [[1, 2], [0, 2], [0, 1], [2, 4], [2, 3]]
    assert (w.cardinalities == 2).all()


def test_distance_band_in_metres_from_lon_lat() -> None:
    # points 0, 100, 250 and 2,000 m apart along a UTM easting, given in lon/lat
    xs = np.array([0.0, 100.0, 250.0, 2000.0]) + 500_000
    utm = gpd.GeoSeries(shapely.points(xs, 5_060_000), crs=UTM).to_crs(4326)
    pts = frame(list(utm.values))
    w = spatial_weights(pts, "distance", distance_m=160)
    # 3 has nothing within 160 m: an island, linked both ways to its nearest, 2
    assert w.islands == (3,)
    assert [w.neighbours_of(i) for i in range(4)] == [[1], [0, 2], [1, 3], [2]]
    wide = spatial_weights(pts, "distance", distance_m=260)
    assert wide.neighbours_of(0) == [1, 2] and wide.islands == (3,)


def test_to_libpysal_keeps_the_matrix() -> None:
    w = spatial_weights(frame(boxes(4, 3)), "queen")
    assert (w.to_libpysal().sparse.toarray() == dense(w)).all()


def test_cache_keys_on_units_kind_and_params() -> None:
    units = frame(boxes(4, 4))
    a = spatial_weights(units, "queen")
    assert spatial_weights(units.copy(), "queen") is a
    assert spatial_weights(units, "knn", k=3) is not spatial_weights(units, "knn", k=4)
    moved = units.copy()
    moved.loc[0, "geometry"] = shapely.box(126.0, 45.0, 126.001, 45.001)
    assert spatial_weights(moved, "queen") is not a
    # a caller's boundary key stands for the geometries: same key, same weights
    keyed = units.copy()
    keyed.attrs["boundary_key"] = "grid:v1"
    first = spatial_weights(keyed, "queen")
    moved.attrs["boundary_key"] = "grid:v1"
    assert spatial_weights(moved, "queen") is first
    assert spatial_weights(units, "queen", cache=False) is not a


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "rook"}, "weights"),
        ({"kind": "knn", "k": 0}, "k"),
        ({"kind": "knn", "k": 16}, "k"),
        ({"kind": "distance"}, "distance_m"),
        ({"kind": "distance", "distance_m": float("nan")}, "distance_m"),
        ({"kind": "distance", "distance_m": 1e9}, "distance_m"),
        ({"kind": "queen", "islands_k": 0}, "islands_k"),
    ],
    ids=["kind", "k-zero", "k-above-n", "no-distance", "nan-distance", "huge-band", "islands_k"],
)
def test_bad_parameters_name_the_field(kwargs: dict, field: str, monkeypatch) -> None:
    monkeypatch.setattr(wmod, "MAX_LINKS", 100)
    with pytest.raises(InvalidInput) as e:
        spatial_weights(frame(boxes(4, 4)), **kwargs)
    assert e.value.field == field


def test_bad_units_are_refused() -> None:
    with pytest.raises(InvalidInput, match="at least 2"):
        spatial_weights(frame(boxes(1, 1)), "queen")
    with pytest.raises(InvalidInput, match="not unique"):
        spatial_weights(frame(boxes(1, 2), ids=[1, 1]), "queen")
    with pytest.raises(InvalidInput, match="needs polygons"):
        spatial_weights(frame(list(shapely.points([0, 1], [0, 0]))), "queen")
