"""gisgrid.analysis.heat against the tiny city in PostGIS: PNG tiles decoded and checked against
where the incidents are, filters and scope, seams, mass, and hexagons against brute force."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sqlalchemy import Connection, Engine, text

from gisgrid.access.scope import Scope
from gisgrid.analysis import heat
from gisgrid.errors import InvalidInput
from gisgrid.synth import generate
from gisgrid.tiles import raster
from gisgrid.tiles.filters import TileFilters
from gisgrid.tiles.layers import layer_of
from gisgrid.tiles.render import render

DB = "heat_scratch"
SEED = 5  # tiny_city's default seed
N = 2000  # incidents in a planted cluster: far above any building of the tiny city
SENSITIVE = ("03", "04")


@pytest.fixture()
def conn(store: Engine) -> Iterator[Connection]:
    """A connection in a transaction that is rolled back: tests may insert incidents."""
    with store.connect() as c:
        trans = c.begin()
        try:
            yield c
        finally:
            trans.rollback()


def pixel(lon: float, lat: float, z: int) -> tuple[float, float]:
    """Global (column, row) of a point on the 256 px lattice of zoom z, fractional."""
    res = raster.tile_res(z)
    return (raster.merc_x(lon) + raster.HALF) / res, (raster.HALF - raster.merc_y(lat)) / res


def lonlat_of_pixel(col: float, row: float, z: int) -> tuple[float, float]:
    res = raster.tile_res(z)
    x, y = col * res - raster.HALF, raster.HALF - row * res
    lat = 2 * math.atan(math.exp(y / raster.EARTH_R)) - math.pi / 2
    return math.degrees(x / raster.EARTH_R), math.degrees(lat)


def centre(conn: Connection) -> tuple[float, float]:
    """The incidents' centre of mass: inside the city."""
    lon, lat = conn.execute(text("SELECT avg(ST_X(geom)), avg(ST_Y(geom)) FROM incidents")).one()
    return float(lon), float(lat)


def some_incident(conn: Connection) -> tuple[float, float]:
    sql = "SELECT ST_X(geom), ST_Y(geom) FROM incidents ORDER BY id LIMIT 1"
    lon, lat = conn.execute(text(sql)).one()
    return float(lon), float(lat)


def decode(png: bytes) -> np.ndarray:
    im = Image.open(io.BytesIO(png))
    assert (im.format, im.size, im.mode) == ("PNG", (256, 256), "RGBA")
    return np.asarray(im)


def png_levels(rgba: np.ndarray) -> np.ndarray:
    """The colour-table index of each pixel (the highest index with that colour)."""
    lut = raster._lut().astype(np.uint32)
    keys = (lut[:, 0] << 24) | (lut[:, 1] << 16) | (lut[:, 2] << 8) | lut[:, 3]
    of_key = {int(k): i for i, k in enumerate(keys)}
    px = rgba.astype(np.uint32)
    got = (px[..., 0] << 24) | (px[..., 1] << 16) | (px[..., 2] << 8) | px[..., 3]
    flat = np.array([of_key[int(k)] for k in got.ravel()])  # KeyError: not our colour
    return flat.reshape(got.shape)


def hottest(png: bytes) -> tuple[float, float]:
    """(row, column) of the centre of the pixels of the top colour in a tile (the top of
    the scale may be a plateau)."""
    lv = png_levels(decode(png))
    rows, cols = np.nonzero(lv == lv.max())
    return float(rows.mean()), float(cols.mean())


def insert_cluster(conn: Connection, lon: float, lat: float, n: int, category: str) -> None:
    """n incidents within about a metre of (lon, lat)."""
    rng = np.random.default_rng(1)
    conn.execute(
        text(
            "INSERT INTO incidents (category, reported_at, due_at, geom)"
            " VALUES (:c, now() - interval '1 day', now() + interval '1 day',"
            " ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"
        ),
        [
            {"c": category, "lon": lon + dx, "lat": lat + dy}
            for dx, dy in rng.uniform(-1e-5, 1e-5, (n, 2))
        ],
    )


def leaf(conn: Connection, sensitive: bool) -> str:
    """A leaf category that incidents of the tiny city use."""
    cond = "IN" if sensitive else "NOT IN"
    code: str = conn.execute(
        text(
            f"SELECT c.code FROM incident_categories c WHERE c.parent_code {cond} ('03', '04')"
            " AND EXISTS (SELECT 1 FROM incidents i WHERE i.category = c.code)"
            " ORDER BY c.code LIMIT 1"
        )
    ).scalar_one()
    return code


# ---------------------------------------------------------------------------- tiles


@pytest.mark.parametrize("z", [14, 17], ids=["kernel-zoom", "above-kernel-maxzoom"])
def test_the_hottest_pixel_is_where_a_dense_cluster_was_put(conn: Connection, z: int) -> None:
    lon0, lat0 = centre(conn)
    col, row = pixel(lon0, lat0, z)
    x, y = int(col // 256), int(row // 256)
    want_c, want_r = 100, 170  # away from the tile's edges
    lon, lat = lonlat_of_pixel(x * 256 + want_c + 0.5, y * 256 + want_r + 0.5, z)
    insert_cluster(conn, lon, lat, N, leaf(conn, sensitive=False))
    png = raster.render_tile(conn, z, x, y, {})
    r, c = hottest(png)
    # within a pixel of the lattice the kernel is computed on (zoom 15's above it)
    tol = 2 ** max(0, z - raster.KERNEL_MAXZOOM)
    assert abs(r - want_r) <= tol and abs(c - want_c) <= tol
    rgba = decode(png)
    assert rgba[round(r), round(c), 3] == round(255 * raster.ALPHA_MAX)
    # the PNG is exactly the colour table applied to the density
    d = raster.tile_density(conn, z, x, y, {})
    assert np.array_equal(rgba, raster.colorize(d))
    # N incidents in ~1 m² spread by the kernel: the peak is their count over the kernel's
    # area (2 pi sigma² on the ground), give or take the pixel's share and the background
    sigma_m = raster.bandwidth_m(z, lat)
    assert d.max() == pytest.approx(N / (2 * math.pi * sigma_m**2) * 1e6, rel=0.05)
    assert d.max() > raster.DENSITY_MAX  # so the top of the scale is a plateau round the peak


def test_a_tile_without_incidents_is_empty(conn: Connection) -> None:
    assert raster.render_tile(conn, 14, 8192, 8192, {}) == b""  # the Gulf of Guinea
    lon, lat = centre(conn)
    col, row = pixel(lon, lat, 10)
    assert raster.render_tile(conn, 10, int(col // 256), int(row // 256), {}) != b""


def test_filters_change_the_tile(conn: Connection) -> None:
    lon, lat = centre(conn)
    col, row = pixel(lon, lat, 11)
    x, y = int(col // 256), int(row // 256)
    gone = leaf(conn, sensitive=False)
    conn.execute(text("DELETE FROM incidents WHERE category = :c"), {"c": gone})
    assert raster.render_tile(conn, 11, x, y, {"category": [gone]}) == b""
    assert raster.render_tile(conn, 11, x, y, {"from": "2031-01-01T00:00:00Z"}) == b""
    # raw rows: the from below is not a whole city day, so with the rollup it would read raw
    # rows while the unfiltered tile reads grid label points, and the two are not comparable
    # pixel by pixel (tests/tiles/test_rollup_tiles.py compares the rollup's heat)
    raw = {"rollup": False}
    everything = raster.tile_density(conn, 11, x, y, raw)
    for qp in ({"category": ["07"]}, {"status": ["closed"]}, {"from": "2026-08-01T00:00:00Z"}):
        qp = {**qp, **raw}
        part = raster.tile_density(conn, 11, x, y, qp)
        assert raster.render_tile(conn, 11, x, y, qp) != raster.render_tile(conn, 11, x, y, raw)
        assert part.max() > 0
        # a subset of the incidents: never more dense anywhere, and less somewhere
        assert (part <= everything + 1e-9).all() and (part < everything - 1e-6).any()


def test_sensitive_groups_count_only_in_scope(conn: Connection) -> None:
    lon, lat = centre(conn)
    col, row = pixel(lon, lat, 11)
    x, y = int(col // 256), int(row // 256)
    sens = {"category": list(SENSITIVE)}
    assert raster.render_tile(conn, 11, x, y, sens) == b""  # anonymous: none of them
    assert raster.render_tile(conn, 11, x, y, {**sens, "scope_level": "all"}) != b""
    anon = raster.tile_density(conn, 11, x, y, {})
    full = raster.tile_density(conn, 11, x, y, {"scope_level": "all"})
    only = raster.tile_density(conn, 11, x, y, {**sens, "scope_level": "all"})
    np.testing.assert_allclose(full, anon + only, rtol=1e-9, atol=1e-9)
    # a grid worker counts the sensitive incidents of their own grid, and only those
    grid = conn.execute(
        text(
            "SELECT grid_id FROM incidents WHERE left(category, 2) IN ('03', '04')"
            " GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
        )
    ).scalar_one()
    mine = {"scope_level": "grid", "scope_area_id": grid}
    own = raster.tile_density(conn, 11, x, y, mine)
    own_sens = raster.tile_density(conn, 11, x, y, {**sens, **mine})
    np.testing.assert_allclose(own, anon + own_sens, rtol=1e-9, atol=1e-9)
    # their own grid's share of the sensitive incidents, not the rest
    assert own_sens.max() > 0
    assert (own_sens <= only + 1e-9).all() and (own_sens < only - 1e-6).any()


def test_a_sensitive_cluster_shows_only_to_a_scope_that_holds_it(conn: Connection) -> None:
    lon0, lat0 = centre(conn)
    col, row = pixel(lon0, lat0, 14)
    x, y = int(col // 256), int(row // 256)
    lon, lat = lonlat_of_pixel(x * 256 + 60.5, y * 256 + 200.5, 14)
    before = raster.render_tile(conn, 14, x, y, {})
    insert_cluster(conn, lon, lat, N, leaf(conn, sensitive=True))
    assert raster.render_tile(conn, 14, x, y, {}) == before
    r, c = hottest(raster.render_tile(conn, 14, x, y, {"scope_level": "all"}))
    assert abs(r - 200) <= 1 and abs(c - 60) <= 1


@pytest.mark.parametrize(("z", "dx", "dy"), [(12, 1, 0), (13, 0, 1), (15, 1, 0)])
def test_neighbouring_tiles_are_one_raster(conn: Connection, z: int, dx: int, dy: int) -> None:
    """Two neighbours give exactly the density of the 2-tile block computed at once, so
    they agree along their shared edge."""
    lon, lat = centre(conn)
    col, row = pixel(lon, lat, z)
    # the tile edge nearest the centre of mass, so that both tiles hold incidents
    x, y = round(col / 256) - dx, round(row / 256) - dy
    a = raster.tile_density(conn, z, x, y, {})
    b = raster.tile_density(conn, z, x + dx, y + dy, {})
    assert a is not None and b is not None and a.max() > 10 and b.max() > 10
    block = raster.density(
        conn,
        raster.PixelGrid(raster.tile_res(z), x * 256, y * 256, 256 * (1 + dx), 256 * (1 + dy)),
        raster.bandwidth_px(z),
        {},
    )
    assert block is not None
    joined = np.concatenate([a, b], axis=1 if dx else 0)
    np.testing.assert_allclose(joined, block, rtol=1e-9, atol=1e-9)
    # and the PNGs: the block's colours, split in two
    pa = decode(raster.render_tile(conn, z, x, y, {}))
    pb = decode(raster.render_tile(conn, z, x + dx, y + dy, {}))
    colours = np.concatenate([pa, pb], axis=1 if dx else 0).astype(int)
    assert np.abs(colours - raster.colorize(block).astype(int)).max() <= 2


def test_tiles_above_the_kernel_maxzoom_join_smoothly(conn: Connection) -> None:
    z = raster.KERNEL_MAXZOOM + 2
    lon, lat = some_incident(conn)
    col, row = pixel(lon, lat, z)
    x, y = round(col / 256) - 1, int(row // 256)
    a = raster.tile_density(conn, z, x, y, {})
    b = raster.tile_density(conn, z, x + 1, y, {})
    assert a is not None and b is not None
    seam = np.abs(b[:, 0] - a[:, -1])
    inner = np.abs(np.diff(np.concatenate([a, b], axis=1), axis=1))
    assert seam.max() <= inner.max() + 1e-9  # no step at the edge larger than inside


def test_the_tile_registry_renders_the_heat_layer(store: Engine) -> None:
    with store.connect() as c:
        lon, lat = centre(c)
        col, row = pixel(lon, lat, 12)
        x, y = int(col // 256), int(row // 256)
        body, seen = render(c, layer_of("heat"), 12, x, y, {})
        assert len(seen) == 1 and body[:8] == b"\x89PNG\r\n\x1a\n"
        direct = raster.render_tile(c, 12, x, y, {})
    assert body == direct


def test_legend_follows_the_colour_table() -> None:
    lg = raster.legend()
    values = [s["value"] for s in lg["stops"]]
    assert values[0] == raster.DENSITY_MIN and values[-1] == raster.DENSITY_MAX
    assert values == sorted(values)
    opacities = [s["opacity"] for s in lg["stops"]]
    assert opacities == sorted(opacities) and opacities[-1] == raster.ALPHA_MAX
    for s in lg["stops"]:
        (rgba,) = raster.colorize([s["value"]])
        assert s["color"] == "#{:02x}{:02x}{:02x}".format(*rgba[:3])
    json.dumps(lg)  # servable as is


# ---------------------------------------------------------------------------- notebook API


def incidents_frame(conn: Connection) -> gpd.GeoDataFrame:
    df = pd.read_sql(
        "SELECT id, category, grid_id, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM incidents", conn
    )
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df.lon, df.lat), crs=4326)


def city_bbox(conn: Connection, margin: float = 0.0) -> tuple[float, float, float, float]:
    w, s, e, n = conn.execute(
        text(
            "SELECT min(ST_X(geom)), min(ST_Y(geom)), max(ST_X(geom)), max(ST_Y(geom))"
            " FROM incidents"
        )
    ).one()
    return w - margin, s - margin, e + margin, n + margin


@pytest.mark.parametrize(
    ("scope", "filters"),
    [
        (Scope.everything(), TileFilters()),
        (None, TileFilters()),
        (Scope.everything(), TileFilters(categories=("07",))),
    ],
    ids=["all", "anonymous", "one-group"],
)
def test_hex_bins_equal_a_brute_force_count(
    conn: Connection, scope: Scope | None, filters: TileFilters
) -> None:
    bbox = city_bbox(conn)
    hexes = heat.hex_bins(conn, bbox, cell_m=300, filters=filters, scope=scope)
    pts = incidents_frame(conn)
    if scope is None:
        pts = pts[~pts.category.str[:2].isin(SENSITIVE)]
    if filters.categories:
        pts = pts[pts.category.str[:2].isin(filters.categories)]
    assert len(hexes) > 10 and hexes["count"].sum() == len(pts)
    assert (hexes["count"] > 0).all() and hexes.crs.to_epsg() == 4326
    lat_c = (bbox[1] + bbox[3]) / 2
    assert hexes.cell_m.median() == pytest.approx(300, rel=0.01)
    # hexagons are flat-topped on the 3857 lattice: test points in 3857, where edges are straight
    h3857 = hexes.to_crs(3857)
    joined = gpd.sjoin(pts.to_crs(3857), h3857, predicate="within")
    brute = joined.groupby(["i", "j"]).size()
    ours = hexes.set_index(["i", "j"])["count"]
    assert brute.sort_index().to_dict() == ours.sort_index().to_dict()
    # and PostGIS's own hexagon grid of the same size
    size = 300 / math.cos(math.radians(lat_c))
    theirs = conn.execute(
        text(
            "SELECT h.i, h.j, count(*) FROM ST_HexagonGrid(:size,"
            " ST_Transform(ST_MakeEnvelope(:w, :s, :e, :n, 4326), 3857)) h"
            " JOIN incidents ie ON ST_Intersects(h.geom, ST_Transform(ie.geom, 3857))"
            " WHERE ie.id = ANY(:ids) GROUP BY h.i, h.j"
        ),
        dict(zip("wsen", bbox, strict=True), size=size, ids=[int(i) for i in pts.id]),
    ).all()
    assert {(r.i, r.j): r.count for r in theirs} == ours.sort_index().to_dict()


def test_hex_bins_are_empty_where_nothing_happened(conn: Connection) -> None:
    got = heat.hex_bins(conn, (10.0, 10.0, 10.1, 10.1), cell_m=500)
    assert len(got) == 0
    assert list(got.columns)[:6] == ["i", "j", "count", "open", "overdue", "cell_m"]


def test_kde_mass_is_the_number_of_incidents(conn: Connection) -> None:
    """Density times ground pixel area, summed, gives back the incidents (the kernel lies
    wholly inside a bbox grown by more than 5 bandwidths)."""
    bbox = city_bbox(conn, margin=0.02)  # ~1.6 km, more than 5 x 200 m
    d, bounds = heat.kde(conn, bbox, bandwidth_m=200, pixel_m=50, scope=Scope.everything())
    n = conn.execute(text("SELECT count(*) FROM incidents")).scalar_one()
    grid = raster.PixelGrid.around(bbox, 50)
    assert d.shape == (grid.nrows, grid.ncols) and bounds == grid.bounds
    # a pixel's ground area: its Web Mercator side shrunk by cos(latitude of its row)
    res = (raster.merc_x(bounds[2]) - raster.merc_x(bounds[0])) / d.shape[1]
    y = raster.merc_y(bounds[3]) - (np.arange(d.shape[0]) + 0.5) * res
    lat = np.degrees(2 * np.arctan(np.exp(y / raster.EARTH_R)) - np.pi / 2)
    km2 = (res * np.cos(np.radians(lat))) ** 2 / 1e6
    assert (d * km2[:, None]).sum() == pytest.approx(n, rel=1e-6)
    # the pixels are 50 m on the ground at the centre
    w, s, e, nn = bounds
    width_m = (e - w) * 111_320 * math.cos(math.radians((s + nn) / 2))
    assert width_m / d.shape[1] == pytest.approx(50, rel=0.01)


def test_kde_peaks_on_a_planted_hotspot(conn: Connection) -> None:
    planted = generate("tiny", seed=SEED).ground_truth["planted"]
    d, (w, s, e, n) = heat.kde(
        conn, city_bbox(conn), bandwidth_m=150, pixel_m=25, scope=Scope.everything()
    )
    r, c = np.unravel_index(np.argmax(d), d.shape)
    x = raster.merc_x(w) + (c + 0.5) / d.shape[1] * (raster.merc_x(e) - raster.merc_x(w))
    y = raster.merc_y(n) - (r + 0.5) / d.shape[0] * (raster.merc_y(n) - raster.merc_y(s))
    k = math.cos(math.radians((s + n) / 2))  # 3857 metres to ground metres
    gaps = [
        math.hypot(x - raster.merc_x(p["lon"]), y - raster.merc_y(p["lat"])) * k - p["radius_m"]
        for p in planted
    ]
    assert min(gaps) < 0  # the densest pixel lies inside a planted hotspot's radius


def test_area_counts_equal_the_assignment(conn: Connection) -> None:
    got = heat.area_counts(conn, "grid", scope=Scope.everything())
    pts = incidents_frame(conn)
    by_grid = pts.groupby("grid_id").size()
    counts = got.set_index("id")["count"]
    assert counts.sum() == by_grid.sum()
    assert counts[counts > 0].sort_index().to_dict() == by_grid.sort_index().to_dict()
    anon = heat.area_counts(conn, "street")
    public = pts[~pts.category.str[:2].isin(SENSITIVE)]
    assert anon["count"].sum() == len(public[public.grid_id.notna()])
    assert set(got.columns) >= {"code", "name", "count", "open", "overdue", "geometry"}


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: heat.kde(c, (1, 2, 3, 4), bandwidth_m=-5), "bandwidth_m"),
        (lambda c: heat.kde(c, (1, 2, 3, 4), pixel_m=float("nan")), "pixel_m"),
        (lambda c: heat.kde(c, (0, 0, 170, 80), pixel_m=1), "pixel_m"),
        (lambda c: heat.hex_bins(c, (3, 2, 1, 4)), "bbox"),
        (lambda c: heat.hex_bins(c, (1, 2, 3, 4), cell_m=0), "cell_m"),
        (lambda c: heat.hex_bins(c, (0, 0, 170, 80), cell_m=10), "cell_m"),
        (lambda c: heat.area_counts(c, "city"), "level"),
        (lambda c: raster.render_tile(c, 3, 8, 0, {}), "x"),
        (lambda c: heat.incident_points(c, ("a", 2, 3, 4)), "bbox"),  # type: ignore[arg-type]
    ],
    ids=[
        "negative-bandwidth",
        "nan-pixel",
        "too-many-pixels",
        "swapped-bbox",
        "zero-cell",
        "too-many-hexagons",
        "bad-level",
        "tile-outside-the-matrix",
        "text-in-bbox",
    ],
)
def test_bad_inputs_name_the_field(conn: Connection, call: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        call(conn)
    assert info.value.field == field
