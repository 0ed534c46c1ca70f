"""Coordinate systems: WGS84 storage, a metric CRS for analysis, GCJ-02 / BD-09 conversions.

gisgrid stores lon/lat in WGS84 (EPSG:4326). Chinese web maps publish coordinates in two
obfuscated systems that no EPSG code describes: GCJ-02 (AMap, Tencent, most Chinese maps) and
BD-09 (Baidu, GCJ-02 plus a second shift). This module converts between them, vectorised with
numpy, and treats CGCS2000 (EPSG:4490) as WGS84: the two frames differ by centimetres, far
below what GCJ-02 or a grid boundary can resolve.

The forward formulas are the ones every open-source converter shares (wandergis/coordtransform,
googollee/eviltransform, hujiulong/gcoord). Their inverses are not closed-form; here they are
solved by fixed-point iteration to about 1e-10 degrees (~0.01 mm), where the usual one-step
inverse is only good to a few metres.

Examples
--------
>>> lon, lat = convert_xy(116.404, 39.915, "wgs84", "gcj02")
>>> round(float(lon), 6), round(float(lat), 6)
(116.410244, 39.916404)
>>> metric_crs(126.6, 45.7).to_epsg()
32652
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import pyproj
import shapely
from numpy.typing import ArrayLike, NDArray

SYSTEMS: tuple[str, ...] = ("wgs84", "gcj02", "bd09", "cgcs2000")
METRIC_KINDS: tuple[str, ...] = ("utm", "cgcs2000_gk")

FloatArray = NDArray[np.float64]
XY = tuple[FloatArray, FloatArray]

# GCJ-02 computes its shift on the Krasovsky 1940 ellipsoid (semi-major axis and first
# eccentricity squared), not on WGS84's: with WGS84's axis (as eviltransform has it) the
# result moves by up to 1.6e-7 degrees (~1.5 cm), and no longer matches the published pairs.
_A = 6378245.0
_EE = 0.00669342162296594323
# BD-09's constant, spelled as the converters spell it (pi * 3000 / 180).
_X_PI = math.pi * 3000.0 / 180.0
# The rough box eviltransform and gcoord call "China". wandergis/coordtransform uses a tighter
# box (73.66..135.05 E, 3.86..53.55 N) that cuts off the north tip of Heilongjiang (Mohe,
# 53.56 N), so the wider one is used here.
_CHINA_LON = (72.004, 137.8347)
_CHINA_LAT = (0.8293, 55.8271)

# Inverse iteration: stop when the forward map of the estimate is within this many degrees of
# the input (1e-10 degrees is ~0.01 mm; float64 resolves ~1e-14 degrees at 130 E).
_INVERSE_TOL_DEG = 1e-10
_INVERSE_MAX_ITER = 50

T = TypeVar("T")


def _xy(lon: ArrayLike, lat: ArrayLike) -> XY:
    """Broadcast lon and lat to float64 arrays of one shape (copies, never views)."""
    x, y = np.broadcast_arrays(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return np.array(x, dtype=np.float64), np.array(y, dtype=np.float64)


def out_of_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """True where a point lies outside the rough China box, where no shift is applied.

    The box is the one eviltransform and gcoord use, 72.004..137.8347 E, 0.8293..55.8271 N.
    It is rough on purpose, the converters' own box, so that results agree with theirs: it
    takes in parts of neighbouring countries and seas. Use it for "does the shift apply",
    never as a border. NaN is out of China.

    Examples
    --------
    >>> out_of_china([126.6, 2.35, 183.0], [45.7, 48.85, 45.0]).tolist()
    [False, True, True]
    """
    x, y = _xy(lon, lat)
    inside = (
        (x >= _CHINA_LON[0]) & (x <= _CHINA_LON[1]) & (y >= _CHINA_LAT[0]) & (y <= _CHINA_LAT[1])
    )
    return np.asarray(~inside)


def _gcj_delta(lon: FloatArray, lat: FloatArray) -> XY:
    """The GCJ-02 shift (dlon, dlat) in degrees at WGS84 (lon, lat), with no box check."""
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x + common
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x + common
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    # The shifts above are in metres-like units: scale by the Krasovsky radii of curvature.
    rad_lat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    return dlon, dlat


def _gcj_to_bd_raw(lon: FloatArray, lat: FloatArray) -> XY:
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd_to_gcj_raw(lon: FloatArray, lat: FloatArray) -> XY:
    # The converters' one-step inverse: it evaluates the wobble terms at the BD-09 point
    # instead of the GCJ-02 one, which is off by up to ~2e-6 degrees (~0.2 m) in China.
    x = lon - 0.0065
    y = lat - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _solve_inverse(
    forward: Callable[[FloatArray, FloatArray], XY],
    lon: FloatArray,
    lat: FloatArray,
    guess_lon: FloatArray,
    guess_lat: FloatArray,
) -> XY:
    """Find (x, y) with forward(x, y) == (lon, lat) by fixed-point iteration.

    Both shifts are smooth and nearly constant over their own size (the derivative of the
    GCJ-02 shift is ~1e-3), so x <- x - (forward(x) - target) contracts by ~1000x a step and
    two or three steps reach 1e-10 degrees. Only the points not yet converged are iterated.
    """
    x, y = guess_lon.copy(), guess_lat.copy()
    todo = np.flatnonzero(np.isfinite(lon) & np.isfinite(lat))
    for _ in range(_INVERSE_MAX_ITER):
        if todo.size == 0:
            break
        fx, fy = forward(x[todo], y[todo])
        rx, ry = fx - lon[todo], fy - lat[todo]
        x[todo] -= rx
        y[todo] -= ry
        todo = todo[(np.abs(rx) > _INVERSE_TOL_DEG) | (np.abs(ry) > _INVERSE_TOL_DEG)]
    if todo.size:
        # Never seen in practice; a silent metre-level error would be worse than stopping.
        raise ArithmeticError(
            f"inverse did not converge to {_INVERSE_TOL_DEG} degrees in {_INVERSE_MAX_ITER} "
            f"iterations for {todo.size} point(s), e.g. lon={lon[todo[0]]}, lat={lat[todo[0]]}"
        )
    return x, y


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> XY:
    """WGS84 lon/lat to GCJ-02 (AMap, Tencent); points outside China are returned unchanged.

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02(116.404, 39.915)
    >>> round(float(lon), 6), round(float(lat), 6)
    (116.410244, 39.916404)
    """
    x, y = _xy(lon, lat)
    fx, fy = x.reshape(-1), y.reshape(-1)  # views, so that a scalar's 0-d array can be indexed
    inside = ~out_of_china(fx, fy)
    dx, dy = _gcj_delta(fx[inside], fy[inside])
    fx[inside] += dx
    fy[inside] += dy
    return x, y


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> XY:
    """GCJ-02 lon/lat to WGS84, solved iteratively to ~1e-10 degrees.

    The usual ``2 * gcj - wgs84_to_gcj02(gcj)`` shortcut is off by up to a few metres;
    this one round-trips through :func:`wgs84_to_gcj02` to about 0.01 mm. Points outside
    China are returned unchanged.

    Examples
    --------
    >>> lon, lat = gcj02_to_wgs84(116.41024449916938, 39.91640428150164)
    >>> round(float(lon), 9), round(float(lat), 9)
    (116.404, 39.915)
    """
    x, y = _xy(lon, lat)
    fx, fy = x.reshape(-1), y.reshape(-1)
    inside = np.flatnonzero(~out_of_china(fx, fy))
    gx, gy = fx[inside], fy[inside]
    dx, dy = _gcj_delta(gx, gy)

    # The shift without the box check: a GCJ-02 point just inside the box may come from a
    # WGS84 point just outside it, and a box check inside the loop would then oscillate.
    def forward(px: FloatArray, py: FloatArray) -> XY:
        ex, ey = _gcj_delta(px, py)
        return px + ex, py + ey

    fx[inside], fy[inside] = _solve_inverse(forward, gx, gy, gx - dx, gy - dy)
    return x, y


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> XY:
    """GCJ-02 lon/lat to BD-09 (Baidu); points outside China are returned unchanged.

    Examples
    --------
    >>> lon, lat = gcj02_to_bd09(116.404, 39.915)
    >>> round(float(lon), 6), round(float(lat), 6)
    (116.410369, 39.921337)
    """
    x, y = _xy(lon, lat)
    fx, fy = x.reshape(-1), y.reshape(-1)
    inside = ~out_of_china(fx, fy)
    fx[inside], fy[inside] = _gcj_to_bd_raw(fx[inside], fy[inside])
    return x, y


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> XY:
    """BD-09 lon/lat to GCJ-02, solved iteratively to ~1e-10 degrees.

    The converters' one-step formula is the starting guess; it is up to ~0.2 m off, which
    fixed-point iteration on :func:`gcj02_to_bd09` removes. Points outside China are
    returned unchanged.

    Examples
    --------
    >>> lon, lat = bd09_to_gcj02(116.41036949371029, 39.92133699351021)
    >>> round(float(lon), 9), round(float(lat), 9)
    (116.404, 39.915)
    """
    x, y = _xy(lon, lat)
    fx, fy = x.reshape(-1), y.reshape(-1)
    inside = np.flatnonzero(~out_of_china(fx, fy))
    bx, by = fx[inside], fy[inside]
    gx, gy = _bd_to_gcj_raw(bx, by)
    fx[inside], fy[inside] = _solve_inverse(_gcj_to_bd_raw, bx, by, gx, gy)
    return x, y


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> XY:
    """WGS84 lon/lat to BD-09, through GCJ-02.

    Examples
    --------
    >>> lon, lat = wgs84_to_bd09(123.0, 45.0)
    >>> round(float(lon), 6), round(float(lat), 6)
    (123.012449, 45.008329)
    """
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> XY:
    """BD-09 lon/lat to WGS84, through GCJ-02 (both steps iterated).

    Examples
    --------
    >>> lon, lat = bd09_to_wgs84(*wgs84_to_bd09(126.6, 45.7))
    >>> round(float(lon), 9), round(float(lat), 9)
    (126.6, 45.7)
    """
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def _identity(lon: ArrayLike, lat: ArrayLike) -> XY:
    return _xy(lon, lat)


_CONVERTERS: dict[tuple[str, str], Callable[[ArrayLike, ArrayLike], XY]] = {
    ("wgs84", "gcj02"): wgs84_to_gcj02,
    ("gcj02", "wgs84"): gcj02_to_wgs84,
    ("gcj02", "bd09"): gcj02_to_bd09,
    ("bd09", "gcj02"): bd09_to_gcj02,
    ("wgs84", "bd09"): wgs84_to_bd09,
    ("bd09", "wgs84"): bd09_to_wgs84,
}


def _check_system(name: str, value: Any) -> str:
    if not isinstance(value, str) or value.lower() not in SYSTEMS:
        raise ValueError(f"{name}={value!r}; expected one of {SYSTEMS}")
    # CGCS2000 and WGS84 differ by centimetres: one system for every purpose here.
    system = value.lower()
    return "wgs84" if system == "cgcs2000" else system


def _converter(src: str, dst: str) -> Callable[[ArrayLike, ArrayLike], XY]:
    s, d = _check_system("src", src), _check_system("dst", dst)
    return _identity if s == d else _CONVERTERS[(s, d)]


def convert_xy(lon: ArrayLike, lat: ArrayLike, src: str, dst: str) -> XY:
    """Convert lon/lat between "wgs84", "gcj02", "bd09" and "cgcs2000".

    Scalars and arrays (broadcast against each other) are accepted; the result is always a
    pair of new float64 arrays. NaN stays NaN.

    Examples
    --------
    >>> lon, lat = convert_xy([116.404, 126.6], [39.915, 45.7], "cgcs2000", "bd09")
    >>> lon.round(6).tolist(), lat.round(6).tolist()
    ([116.416627, 126.612256], [39.9227, 45.708283])
    >>> convert_xy(1.0, 2.0, "wgs84", "epsg:4326")
    Traceback (most recent call last):
    ...
    ValueError: dst='epsg:4326'; expected one of ('wgs84', 'gcj02', 'bd09', 'cgcs2000')
    """
    return _converter(src, dst)(lon, lat)


def _transform_coords(convert: Callable[[ArrayLike, ArrayLike], XY]) -> Callable[..., Any]:
    def transform(coords: FloatArray) -> FloatArray:
        out = coords.copy()
        out[:, 0], out[:, 1] = convert(coords[:, 0], coords[:, 1])
        return out

    return transform


def _convert_array(geoms: Any, convert: Callable[[ArrayLike, ArrayLike], XY]) -> Any:
    """shapely.transform over an array of geometries, keeping Z where there is one."""
    arr = np.asarray(geoms, dtype=object)
    out = arr.copy()
    func = _transform_coords(convert)
    # Split by dimension by hand (shapely 2.1's include_z=None does the same) so that 2D
    # geometries stay 2D, Z survives untouched, and shapely 2.0 works too.
    has_z = np.asarray(shapely.has_z(arr), dtype=bool)
    flat_in, flat_out, flat_z = arr.reshape(-1), out.reshape(-1), has_z.reshape(-1)
    if (~flat_z).any():
        flat_out[~flat_z] = shapely.transform(flat_in[~flat_z], func, include_z=False)
    if flat_z.any():
        flat_out[flat_z] = shapely.transform(flat_in[flat_z], func, include_z=True)
    return out


def _check_geographic(crs: Any) -> None:
    if crs is not None and not pyproj.CRS.from_user_input(crs).is_geographic:
        raise ValueError(f"crs={crs!s}; expected lon/lat degrees (EPSG:4326, EPSG:4490 or none)")


def convert_geometry(geoms: T, src: str, dst: str) -> T:
    """Convert shapely geometries between coordinate systems, returning the same kind.

    ``geoms`` is a shapely geometry, a numpy array of them (None and empty geometries pass
    through; Z values are kept, not shifted), a GeoSeries or a GeoDataFrame. A GeoSeries or
    GeoDataFrame keeps its index and other columns and comes back with crs EPSG:4326
    (whatever the target, since GCJ-02 and BD-09 have no EPSG code of their own); one whose
    crs is projected is refused, because these conversions work on degrees. Anything else,
    a list included, is refused rather than returned as a different kind.

    Examples
    --------
    >>> from shapely import Point
    >>> p = convert_geometry(Point(116.404, 39.915), "wgs84", "gcj02")
    >>> round(p.x, 6), round(p.y, 6)
    (116.410244, 39.916404)
    >>> import geopandas as gpd
    >>> s = gpd.GeoSeries([Point(126.6, 45.7)], index=["harbin"])
    >>> back = convert_geometry(convert_geometry(s, "wgs84", "bd09"), "bd09", "wgs84")
    >>> back.index.tolist(), back.crs.to_epsg(), round(back.iloc[0].x, 9)
    (['harbin'], 4326, 126.6)
    """
    convert = _converter(src, dst)
    # geopandas is imported here, not at module level, so that plain coordinate work does not
    # pay for importing pandas and geopandas.
    import geopandas as gpd

    if isinstance(geoms, gpd.GeoDataFrame):
        _check_geographic(geoms.crs)
        name = geoms.geometry.name
        out = geoms.copy()
        # Replace the active column's array in place of the copy: index, column order and
        # the geometry column's name stay as they were.
        out[name] = gpd.GeoSeries(
            _convert_array(geoms.geometry.values, convert), index=geoms.index, crs="EPSG:4326"
        )
        return out.set_crs("EPSG:4326", allow_override=True)
    if isinstance(geoms, gpd.GeoSeries):
        _check_geographic(geoms.crs)
        converted = _convert_array(geoms.values, convert)
        return gpd.GeoSeries(converted, index=geoms.index, crs="EPSG:4326", name=geoms.name)
    if isinstance(geoms, shapely.Geometry):
        return _convert_array(np.array([geoms], dtype=object), convert)[0]
    if isinstance(geoms, np.ndarray):
        return _convert_array(geoms, convert)
    raise TypeError(
        f"geoms is {type(geoms).__name__}; expected a shapely geometry, a numpy array of them, "
        "a GeoSeries or a GeoDataFrame"
    )


def _centre(values: ArrayLike) -> float:
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0 or not np.isfinite(v).any():
        raise ValueError(f"need a finite coordinate; got {values!r}")
    # The middle of the extent, not the mean, so that a dense cluster at one edge of a
    # dataset does not pull the zone off its centre.
    return float((np.nanmin(v) + np.nanmax(v)) / 2.0)


def metric_crs(lon: ArrayLike, lat: ArrayLike | None = None, kind: str = "utm") -> pyproj.CRS:
    """A projected CRS in metres for work around ``lon`` (and ``lat``).

    ``kind="utm"`` gives the WGS84 UTM zone of the longitude, north or south by latitude
    (north when ``lat`` is None). ``kind="cgcs2000_gk"`` gives the CGCS2000 3-degree
    Gauss-Kruger zone with the nearest central meridian, EPSG:4534 (75 E) .. EPSG:4554
    (135 E), the "CM" variant without the zone number in the easting. Arrays are accepted:
    the middle of their extent picks the zone.

    Examples
    --------
    >>> metric_crs(126.6, 45.7).to_epsg()
    32652
    >>> metric_crs(126.6, kind="cgcs2000_gk").name
    'CGCS2000 / 3-degree Gauss-Kruger CM 126E'
    >>> metric_crs(151.2, -33.9).to_epsg()
    32756
    """
    if kind not in METRIC_KINDS:
        raise ValueError(f"kind={kind!r}; expected one of {METRIC_KINDS}")
    x = _centre(lon)
    if not -180.0 <= x <= 180.0:
        raise ValueError(f"lon={x}; expected -180..180 degrees")
    if kind == "cgcs2000_gk":
        cm = 3 * round(x / 3.0)
        if not 75 <= cm <= 135:
            raise ValueError(f"lon={x}; CGCS2000 3-degree zones cover central meridians 75..135 E")
        return pyproj.CRS.from_epsg(4534 + (cm - 75) // 3)
    # 180 E belongs to zone 60, not to a zone 61.
    zone = min(int((x + 180.0) // 6.0) + 1, 60)
    south = lat is not None and _centre(lat) < 0.0
    return pyproj.CRS.from_epsg((32700 if south else 32600) + zone)
