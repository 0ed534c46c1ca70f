"""gisgrid.crs against the open-source converters' published test pairs, and round trips."""

from __future__ import annotations

import itertools
import re

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

from gisgrid.crs import (
    SYSTEMS,
    bd09_to_gcj02,
    bd09_to_wgs84,
    convert_geometry,
    convert_xy,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    metric_crs,
    out_of_china,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

GEOD = pyproj.Geod(ellps="WGS84")


def distance_m(lon1: object, lat1: object, lon2: object, lat2: object) -> np.ndarray:
    """Geodesic distance in metres, elementwise."""
    a, b, c, d = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (lon1, lat1, lon2, lat2))
    )
    return np.asarray(GEOD.inv(a, b, c, d)[2])


# --- published pairs ----------------------------------------------------------------------------
# Each pair is (input lon, input lat, expected lon, expected lat), copied from the named file.
# The converters print lat before lon in some files; here everything is lon, lat.

WGS84_TO_GCJ02 = [
    # googollee/eviltransform, python/test.py (same pairs in go/transform_test.go), "shanghai".
    pytest.param(121.5272106, 31.1774276, 121.531541859215, 31.17530398364597, id="shanghai-evil"),
    # googollee/eviltransform, python/test.py, "beijing".
    pytest.param(116.377817, 39.911954, 116.38404722455657, 39.91334545536069, id="beijing-evil"),
    # googollee/eviltransform, python/test.py, "shenzhen".
    pytest.param(113.912316, 22.543847, 113.9171764808363, 22.540796131694766, id="shenzhen-evil"),
    # wandergis/coordtransform, test/app.js: wgs84togcj02(116.404, 39.915), Beijing.
    pytest.param(116.404, 39.915, 116.41024449916938, 39.91640428150164, id="beijing-wandergis"),
    # hujiulong/gcoord, test/unit/crs/WGS84.spec.ts, "WGS84 to GCJ02" at [123, 45] (Jilin).
    pytest.param(123.0, 45.0, 123.00607541, 45.00197815, id="123-45-gcoord"),
]


@pytest.mark.parametrize(("lon", "lat", "exp_lon", "exp_lat"), WGS84_TO_GCJ02)
def test_wgs84_to_gcj02_matches_published_pairs(
    lon: float, lat: float, exp_lon: float, exp_lat: float
) -> None:
    got_lon, got_lat = wgs84_to_gcj02(lon, lat)
    # The same formula gives the same bits up to rounding of the published digits: eviltransform
    # and wandergis print 14+ digits (measured difference 0), gcoord prints 8 (difference <1e-8).
    assert got_lon == pytest.approx(exp_lon, abs=2e-8)
    assert got_lat == pytest.approx(exp_lat, abs=2e-8)


@pytest.mark.parametrize(("wgs_lon", "wgs_lat", "gcj_lon", "gcj_lat"), WGS84_TO_GCJ02)
def test_gcj02_to_wgs84_recovers_published_pairs(
    wgs_lon: float, wgs_lat: float, gcj_lon: float, gcj_lat: float
) -> None:
    # eviltransform's gcj2wgs_exact test asks for 0.5 m; the iteration gets within ~1e-6 m.
    lon, lat = gcj02_to_wgs84(gcj_lon, gcj_lat)
    assert distance_m(lon, lat, wgs_lon, wgs_lat) < 0.5
    assert distance_m(lon, lat, wgs_lon, wgs_lat) < 0.01


@pytest.mark.parametrize(
    ("src", "dst", "lon", "lat", "exp_lon", "exp_lat", "tol_deg"),
    [
        # hujiulong/gcoord, test/unit/crs/GCJ02.spec.ts, "GCJ02 to WGS84" at [123, 45]
        # (gcoord iterates to 1e-6 degrees and tests toBeCloseTo(..., 5), i.e. 5e-6).
        pytest.param("gcj02", "wgs84", 123, 45, 122.99395597, 44.99804071, 5e-6, id="gcoord-g2w"),
        # hujiulong/gcoord, test/unit/crs/GCJ02.spec.ts, "GCJ02 to BD09" at [123, 45].
        pytest.param("gcj02", "bd09", 123, 45, 123.00636499, 45.00636899, 2e-8, id="gcoord-g2b"),
        # hujiulong/gcoord, test/unit/crs/BD09.spec.ts, "BD09 to GCJ02" at [123, 45]
        # (gcoord uses the one-step inverse, ~1e-6 degrees from the exact one).
        pytest.param("bd09", "gcj02", 123, 45, 122.99363304, 44.99365430, 5e-6, id="gcoord-b2g"),
        # hujiulong/gcoord, test/unit/crs/BD09.spec.ts, "BD09 to WGS84" at [123, 45].
        pytest.param("bd09", "wgs84", 123, 45, 122.98762210, 44.99171540, 5e-6, id="gcoord-b2w"),
        # hujiulong/gcoord, test/unit/crs/WGS84.spec.ts, "WGS84 to BD09" at [123, 45].
        pytest.param("wgs84", "bd09", 123, 45, 123.0124491, 45.0083293, 2e-7, id="gcoord-w2b"),
        # wandergis/coordtransform, test/app.js: gcj02tobd09(116.404, 39.915), Beijing.
        pytest.param(
            "gcj02",
            "bd09",
            116.404,
            39.915,
            116.41036949371029,
            39.92133699351021,
            1e-10,
            id="wandergis-g2b",
        ),
        # wandergis/coordtransform, test/app.js: bd09togcj02(116.404, 39.915), Beijing; their
        # one-step inverse, 0.05 m (4e-7 degrees) from the exact one measured here.
        pytest.param(
            "bd09",
            "gcj02",
            116.404,
            39.915,
            116.39762729119315,
            39.90865673957631,
            1e-6,
            id="wandergis-b2g",
        ),
        # wandergis/coordtransform, test/app.js: gcj02towgs84(116.404, 39.915), Beijing; their
        # one-step inverse, 0.06 m from the exact one measured here.
        pytest.param(
            "gcj02",
            "wgs84",
            116.404,
            39.915,
            116.39775550083061,
            39.91359571849836,
            1e-6,
            id="wandergis-g2w",
        ),
    ],
)
def test_other_directions_match_published_pairs(
    src: str, dst: str, lon: float, lat: float, exp_lon: float, exp_lat: float, tol_deg: float
) -> None:
    got_lon, got_lat = convert_xy(lon, lat, src, dst)
    assert got_lon == pytest.approx(exp_lon, abs=tol_deg)
    assert got_lat == pytest.approx(exp_lat, abs=tol_deg)


def test_shenyang_city_fixture_within_gcoords_tolerance() -> None:
    # hujiulong/gcoord, test/fixtures/china-cities.json, entry 辽宁省 沈阳市 沈河区, checked
    # the way test/unit/transform.spec.ts checks it: WGS84<->GCJ02 to 4 decimals, GCJ02<->BD09
    # to 5. The fixture's WGS84/GCJ02 pairs sit a constant ~0.6 m (5.7e-6, 4.3e-6 degrees) off
    # the formula every converter uses, on all five entries measured (Zhumadian, Shenyang,
    # Xilinhot, Jiuquan, Nagqu): it looks made by an online service, not by the formula.
    wgs = (123.4253306, 41.8032629)
    gcj = (123.4314787, 41.8057023)
    bd = (123.438095, 41.8114013)
    np.testing.assert_allclose(np.ravel(wgs84_to_gcj02(*wgs)), gcj, atol=5e-5, rtol=0)
    np.testing.assert_allclose(np.ravel(gcj02_to_wgs84(*gcj)), wgs, atol=5e-5, rtol=0)
    np.testing.assert_allclose(np.ravel(gcj02_to_bd09(*gcj)), bd, atol=5e-6, rtol=0)
    np.testing.assert_allclose(np.ravel(bd09_to_gcj02(*bd)), gcj, atol=5e-6, rtol=0)
    np.testing.assert_allclose(np.ravel(wgs84_to_bd09(*wgs)), bd, atol=5e-5, rtol=0)
    np.testing.assert_allclose(np.ravel(bd09_to_wgs84(*bd)), wgs, atol=5e-5, rtol=0)


def test_harbin_offset_is_about_470_m_east_220_m_north() -> None:
    # REFERENCES.md says ~470 m east and ~220 m north. Measured at Harbin's centre
    # (126.63 E, 45.75 N): 462.4 m east, 215.1 m north; across the city it runs from
    # ~462/215 m (Songbei) to ~490/244 m (Shuangcheng), so a 30 m band holds at the centre.
    lon, lat = 126.63, 45.75
    gcj_lon, gcj_lat = wgs84_to_gcj02(lon, lat)
    east_m = float(distance_m(lon, lat, gcj_lon, lat))
    north_m = float(distance_m(lon, lat, lon, gcj_lat))
    assert gcj_lon > lon and gcj_lat > lat
    assert east_m == pytest.approx(470, abs=30)
    assert north_m == pytest.approx(220, abs=30)


# --- round trips --------------------------------------------------------------------------------


def random_points_in_china(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points over mainland China's extent, plus points near 105 E.

    105 E matters: the GCJ-02 shift has a sqrt(|lon - 105|) term whose slope is unbounded
    there, the one place where the fixed-point iteration could slow down.
    """
    rng = np.random.default_rng(seed)
    lon = np.concatenate([rng.uniform(73.7, 134.9, n), 105.0 + rng.normal(0, 1e-7, 50), [105.0]])
    lat = np.concatenate([rng.uniform(18.2, 53.5, n), rng.uniform(22, 45, 51)])
    return lon, lat


@pytest.mark.parametrize(
    ("src", "dst"),
    list(itertools.permutations(SYSTEMS, 2)),
    ids=str,
)
def test_round_trip_within_half_metre(src: str, dst: str) -> None:
    lon, lat = random_points_in_china(20_000, seed=7)
    x, y = convert_xy(lon, lat, src, dst)
    back_lon, back_lat = convert_xy(x, y, dst, src)
    err_m = distance_m(lon, lat, back_lon, back_lat)
    assert err_m.max() < 0.5
    # The iterations stop at 1e-10 degrees; anything above a millimetre is a regression.
    assert err_m.max() < 1e-3


def test_shifts_really_happen_inside_china() -> None:
    lon, lat = random_points_in_china(1_000, seed=1)
    for dst in ("gcj02", "bd09"):
        x, y = convert_xy(lon, lat, "wgs84", dst)
        shift_m = distance_m(lon, lat, x, y)
        # GCJ-02 moves points by tens to hundreds of metres; BD-09 adds ~1 km more.
        assert shift_m.min() > 1.0, dst
        assert shift_m.max() < 2_000.0, dst


# --- out of China, passthrough, shapes ----------------------------------------------------------


def test_out_of_china_box() -> None:
    lon = [126.63, 2.35, 139.69, -74.0, 72.0, 138.0, 100.0, 100.0, np.nan]
    lat = [45.75, 48.86, 35.69, 40.71, 40.0, 45.0, 56.0, 0.5, 40.0]
    assert out_of_china(lon, lat).tolist() == [
        False,  # Harbin
        True,  # Paris
        True,  # Tokyo, east of 137.8347
        True,  # New York
        True,  # west of 72.004
        True,  # east of 137.8347
        True,  # north of 55.8271
        True,  # south of 0.8293
        True,  # NaN
    ]


@pytest.mark.parametrize(("src", "dst"), list(itertools.permutations(SYSTEMS, 2)), ids=str)
def test_points_outside_china_are_not_shifted(src: str, dst: str) -> None:
    lon = np.array([2.35, 139.69, -74.0, 151.21, 180.0])
    lat = np.array([48.86, 35.69, 40.71, -33.87, -90.0])
    x, y = convert_xy(lon, lat, src, dst)
    np.testing.assert_array_equal(x, lon)
    np.testing.assert_array_equal(y, lat)


def test_cgcs2000_is_wgs84() -> None:
    lon, lat = random_points_in_china(100, seed=3)
    x, y = convert_xy(lon, lat, "cgcs2000", "wgs84")
    np.testing.assert_array_equal(x, lon)
    np.testing.assert_array_equal(y, lat)
    for dst in ("gcj02", "bd09"):
        np.testing.assert_array_equal(
            convert_xy(lon, lat, "cgcs2000", dst), convert_xy(lon, lat, "wgs84", dst)
        )


def test_names_are_case_insensitive() -> None:
    assert convert_xy(126.6, 45.7, "WGS84", "GCJ02") == convert_xy(126.6, 45.7, "wgs84", "gcj02")


@pytest.mark.parametrize("bad", ["epsg:4326", "gcj-02", "", None, 4326])
def test_bad_system_names_are_refused(bad: object) -> None:
    allowed = "('wgs84', 'gcj02', 'bd09', 'cgcs2000')"
    with pytest.raises(ValueError, match=re.escape(f"src={bad!r}; expected one of {allowed}")):
        convert_xy(126.6, 45.7, bad, "wgs84")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"dst=.*expected one of"):
        convert_xy(126.6, 45.7, "wgs84", bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"src=.*expected one of"):
        convert_geometry(Point(126.6, 45.7), bad, "wgs84")  # type: ignore[arg-type]


def test_scalars_arrays_shapes_and_nan() -> None:
    x, y = convert_xy(126.6, 45.7, "gcj02", "wgs84")
    assert x.shape == () and y.shape == () and x.dtype == np.float64
    grid_lon, grid_lat = np.meshgrid(np.linspace(126, 127, 4), np.linspace(45, 46, 3))
    x, y = convert_xy(grid_lon, grid_lat, "bd09", "wgs84")
    assert x.shape == (3, 4) and y.shape == (3, 4)
    # lat broadcast against an array of lon; a NaN point is "out of China", so it comes back
    # as it went in, without stopping the others.
    x, y = convert_xy([126.6, np.nan, 126.7], 45.7, "gcj02", "wgs84")
    assert np.isnan(x[1]) and y[1] == 45.7
    assert np.isfinite(x[[0, 2]]).all() and (y[[0, 2]] < 45.7).all()
    x, y = convert_xy(np.array([], dtype=float), np.array([], dtype=float), "bd09", "wgs84")
    assert x.shape == (0,)


def test_inputs_are_not_modified() -> None:
    lon = np.array([126.6, 126.7])
    lat = np.array([45.7, 45.8])
    x, _ = convert_xy(lon, lat, "wgs84", "wgs84")
    x[0] = 0.0
    convert_xy(lon, lat, "gcj02", "wgs84")
    assert lon.tolist() == [126.6, 126.7] and lat.tolist() == [45.7, 45.8]


# --- geometries ---------------------------------------------------------------------------------

HARBIN_SHAPES = [
    Point(126.63, 45.75),
    LineString([(126.5, 45.7), (126.7, 45.8), (126.9, 45.6)]),
    Polygon(
        [(126.5, 45.6), (126.8, 45.6), (126.8, 45.9), (126.5, 45.9)],
        [[(126.6, 45.7), (126.6, 45.8), (126.7, 45.8), (126.7, 45.7)]],
    ),
    MultiPolygon([Polygon([(127, 45), (127.1, 45), (127.1, 45.1)])]),
]


def test_geoseries_round_trip_keeps_index_and_sets_crs() -> None:
    s = gpd.GeoSeries(HARBIN_SHAPES, index=["p", "l", "poly", "multi"], crs="EPSG:4490")
    gcj = convert_geometry(s, "cgcs2000", "gcj02")
    assert isinstance(gcj, gpd.GeoSeries)
    assert gcj.index.tolist() == ["p", "l", "poly", "multi"]
    assert gcj.crs == "EPSG:4326"
    assert gcj.geom_type.tolist() == s.geom_type.tolist()
    moved_m = [
        distance_m(*shapely.get_coordinates(a).T, *shapely.get_coordinates(b).T).min()
        for a, b in zip(gcj, s, strict=True)
    ]
    assert min(moved_m) > 400  # every vertex really moved, by ~500 m in Harbin
    back = convert_geometry(gcj, "gcj02", "wgs84")
    assert back.index.tolist() == s.index.tolist() and back.crs == "EPSG:4326"
    for a, b in zip(back, s, strict=True):
        ca, cb = shapely.get_coordinates(a), shapely.get_coordinates(b)
        assert distance_m(ca[:, 0], ca[:, 1], cb[:, 0], cb[:, 1]).max() < 0.5
        assert shapely.get_num_interior_rings(a) == shapely.get_num_interior_rings(b)


def test_geodataframe_keeps_columns() -> None:
    df = gpd.GeoDataFrame({"code": ["a", "b"]}, geometry=HARBIN_SHAPES[:2], crs="EPSG:4326")
    out = convert_geometry(df, "wgs84", "bd09")
    assert isinstance(out, gpd.GeoDataFrame)
    assert out["code"].tolist() == ["a", "b"] and out.crs == "EPSG:4326"
    assert df.geometry.iloc[0].x == 126.63  # the input frame is untouched
    named = gpd.GeoDataFrame({"geom": HARBIN_SHAPES[:1]}, geometry="geom", crs="EPSG:4490")
    out = convert_geometry(named, "cgcs2000", "gcj02")
    assert out.geometry.name == "geom" and list(out.columns) == ["geom"]
    assert out.crs == "EPSG:4326"


def test_lists_are_refused_rather_than_returned_as_another_kind() -> None:
    with pytest.raises(TypeError, match="geoms is list"):
        convert_geometry(list(HARBIN_SHAPES), "wgs84", "gcj02")


def test_geometry_array_and_single_geometry() -> None:
    arr = np.array(HARBIN_SHAPES, dtype=object)
    out = convert_geometry(arr, "wgs84", "gcj02")
    assert isinstance(out, np.ndarray) and out.shape == arr.shape
    single = convert_geometry(HARBIN_SHAPES[0], "wgs84", "gcj02")
    assert isinstance(single, Point)
    assert single.equals_exact(out[0], tolerance=0)
    x, y = wgs84_to_gcj02(126.63, 45.75)
    assert (single.x, single.y) == (float(x), float(y))


def test_z_survives_and_2d_stays_2d_and_empty_and_none_pass() -> None:
    arr = np.array([Point(126.6, 45.7, 150.0), Point(126.6, 45.7), Polygon(), None], dtype=object)
    out = convert_geometry(arr, "wgs84", "gcj02")
    assert out[0].has_z and out[0].z == 150.0
    assert not out[1].has_z
    assert out[2].is_empty and out[3] is None


def test_projected_geoseries_is_refused() -> None:
    s = gpd.GeoSeries([Point(500_000, 5_000_000)], crs="EPSG:32652")
    with pytest.raises(ValueError, match="crs="):
        convert_geometry(s, "wgs84", "gcj02")


# --- metric CRS ---------------------------------------------------------------------------------


def test_metric_crs_utm() -> None:
    assert metric_crs(126.6, 45.7).to_epsg() == 32652  # Harbin: zone 52N
    assert metric_crs(126.6).to_epsg() == 32652
    assert metric_crs(121.47, 31.23).to_epsg() == 32651  # Shanghai
    assert metric_crs(151.2, -33.9).to_epsg() == 32756  # Sydney: south
    assert metric_crs(180.0, 10).to_epsg() == 32660
    assert metric_crs(-180.0, 10).to_epsg() == 32601
    # Arrays: the middle of the extent picks the zone.
    assert metric_crs(np.array([125.2, 130.4]), np.array([44.0, 46.5])).to_epsg() == 32652


def test_metric_crs_cgcs2000_gauss_kruger_matches_epsg_names() -> None:
    for cm in range(75, 136, 3):
        got = metric_crs(cm + 1.4, kind="cgcs2000_gk")
        assert got.name == f"CGCS2000 / 3-degree Gauss-Kruger CM {cm}E"
        assert got.to_epsg() == 4534 + (cm - 75) // 3
        assert got.geodetic_crs is not None and got.geodetic_crs.to_epsg() == 4490
    assert metric_crs(126.6, kind="cgcs2000_gk").to_epsg() == 4551  # Harbin: CM 126E


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (
            (126.6,),
            {"kind": "mercator"},
            r"kind='mercator'; expected one of \('utm', 'cgcs2000_gk'\)",
        ),
        ((10.0,), {"kind": "cgcs2000_gk"}, "central meridians 75..135"),
        ((200.0,), {}, "expected -180..180"),
        ((np.array([np.nan]),), {}, "finite"),
    ],
    ids=["kind", "gk-outside", "lon-range", "nan"],
)
def test_metric_crs_refuses(args: tuple[object, ...], kwargs: dict[str, str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        metric_crs(*args, **kwargs)  # type: ignore[arg-type]


def test_metric_crs_gives_true_distances() -> None:
    # 1 km along a parallel in Harbin: the UTM and GK distances agree with the geodesic to <1 m.
    lon, lat = 126.63, 45.75
    lon2, lat2, _ = GEOD.fwd(lon, lat, 90.0, 1_000.0)
    for kind in ("utm", "cgcs2000_gk"):
        t = pyproj.Transformer.from_crs(4326, metric_crs(lon, lat, kind=kind), always_xy=True)
        (x1, x2), (y1, y2) = t.transform([lon, lon2], [lat, lat2])
        assert np.hypot(x2 - x1, y2 - y1) == pytest.approx(1_000.0, abs=1.0)
