"""The tile benchmark's pure parts: tile lists, statistics, the bar, URLs. No timings here."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from bench.tiles_harness import (
    PassStats,
    asyncpg_url,
    count_features,
    judge,
    needs_token,
    pick_tiles,
    summarise,
    tile_xy,
    tiles_covering,
)

HARBIN = (126.143659, 45.526499, 127.114157, 46.093874)  # the demo city's grid extent


@pytest.mark.parametrize(
    ("lon", "lat", "z", "xy"),
    [
        pytest.param(-180.0, 85.0, 0, (0, 0), id="z0-one-tile"),
        pytest.param(0.0, 0.0, 1, (1, 1), id="origin-z1"),
        pytest.param(-0.0001, 0.0001, 1, (0, 0), id="just-north-west-of-origin"),
        pytest.param(180.0, -90.0, 3, (7, 7), id="clamped-to-last-tile"),
        pytest.param(126.63, 45.76, 12, (3488, 1461), id="harbin-z12"),
    ],
)
def test_tile_xy(lon: float, lat: float, z: int, xy: tuple[int, int]) -> None:
    assert tuple(tile_xy(np.array([lon]), np.array([lat]), z)[0]) == xy


def test_tiles_covering_is_the_full_rectangle_row_by_row() -> None:
    tiles = tiles_covering(HARBIN, 12)
    xs = {x for _, x, _ in tiles}
    ys = {y for _, _, y in tiles}
    assert len(tiles) == len(xs) * len(ys) == len(set(tiles))
    assert tiles == sorted(tiles, key=lambda t: (t[2], t[1]))
    (x0, y0), (x1, y1) = tile_xy(np.array([HARBIN[0], HARBIN[2]]), np.array(HARBIN[1::2]), 12)
    assert xs == set(range(x0, x1 + 1))
    assert ys == set(range(y1, y0 + 1))


def _points(n: int = 5_000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.uniform(126.5, 126.8, n), rng.uniform(45.65, 45.85, n)


def test_pick_tiles_takes_every_covering_tile_when_few() -> None:
    lon, lat = _points()
    assert pick_tiles(lon, lat, HARBIN, 8, 150, seed=1) == tiles_covering(HARBIN, 8)


def test_pick_tiles_samples_tiles_that_hold_data_seeded() -> None:
    lon, lat = _points()
    first = pick_tiles(lon, lat, HARBIN, 16, 50, seed=1)
    assert first == pick_tiles(lon, lat, HARBIN, 16, 50, seed=1)
    assert first != pick_tiles(lon, lat, HARBIN, 16, 50, seed=2)
    assert len(first) == len(set(first)) == 50
    held = {(16, int(x), int(y)) for x, y in tile_xy(lon, lat, 16)}
    assert set(first) <= held


def test_pick_tiles_returns_all_data_tiles_when_fewer_than_asked() -> None:
    lon, lat = np.array([126.6, 126.6, 126.7]), np.array([45.7, 45.7, 45.8])
    assert len(pick_tiles(lon, lat, HARBIN, 16, 50, seed=1)) == 2


def test_summarise_hand_checked() -> None:
    s = summarise(
        latency_s=np.array([0.010, 0.020, 0.030, 0.040, 0.050]),
        nbytes=np.array([100, 200, 0, 300, 400]),
        status=np.array([200, 200, 204, 200, 503]),
        wall_s=0.25,
        cpu_s=0.05,
        server_cpu_s=0.02,
    )
    assert s.requests == 5
    assert s.req_per_s == pytest.approx(20.0)
    assert s.p50_ms == pytest.approx(30.0)
    assert s.p95_ms == pytest.approx(48.0)  # linear between 40 and 50 at 0.95 * 4 = 3.8
    assert s.mean_bytes == pytest.approx(200.0)
    assert s.not_2xx == 1
    assert s.client_cpu == pytest.approx(0.2)
    assert s.server_cpu_ms == pytest.approx(4.0)


def _stats(req_per_s: float, p50_ms: float, not_2xx: int = 0) -> PassStats:
    return PassStats(100, req_per_s, p50_ms, 2 * p50_ms, 1000.0, not_2xx, 0.1)


@pytest.mark.parametrize(
    ("kind", "g", "t", "met", "bar"),
    [
        pytest.param("warm", (300, 9.9), (100, 30), True, "met", id="warm-3x-and-under-10ms"),
        pytest.param("warm", (299, 5), (100, 30), False, "MISSED: req/s<3x", id="warm-2.99x"),
        pytest.param("warm", (900, 10), (100, 30), False, "MISSED: p50>=10ms", id="warm-10ms"),
        pytest.param("warm1", (50, 9), (100, 30), True, "met", id="warm1-only-latency"),
        pytest.param("warm1", (900, 10), (100, 30), False, "MISSED: p50>=10ms", id="warm1-10ms"),
        pytest.param("cold", (100, 30), (100, 30), True, "met", id="cold-equal-is-no-slower"),
        pytest.param("cold", (99, 30), (100, 30), False, "MISSED: req/s<1x", id="cold-fewer"),
        pytest.param(
            "cold", (50, 60), (100, 30), False, "MISSED: req/s<1x, p50>1x", id="cold-slower"
        ),
    ],
)
def test_judge_prints_the_bar_and_every_miss(
    kind: str, g: tuple[float, float], t: tuple[float, float], met: bool, bar: str
) -> None:
    v = judge(kind, _stats(*g), _stats(*t))
    assert (v.met, v.bar) == (met, bar)
    assert v.throughput_ratio == pytest.approx(g[0] / t[0])
    assert v.p50_ratio == pytest.approx(g[1] / t[1])


def test_judge_errors_are_a_miss_even_when_fast() -> None:
    v = judge("warm", _stats(1000, 1, not_2xx=3), _stats(100, 30))
    assert not v.met
    assert v.bar == "MISSED: 3 not 200/204"


@pytest.mark.parametrize(
    ("layer", "z", "signed_in"),
    [
        ("grids", 16, False),
        ("buildings", 14, True),
        ("incidents", 12, False),
        ("incidents", 14, True),
    ],
)
def test_needs_token(layer: str, z: int, signed_in: bool) -> None:
    assert needs_token(layer, z) is signed_in


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(
            "postgresql+psycopg://postgres@/gisgrid?host=%2Fwork%2F.gisgrid%2Frun&port=5432",
            "postgresql://postgres@%2Fwork%2F.gisgrid%2Frun:5432/gisgrid",
            id="unix-socket",
        ),
        pytest.param(
            "postgresql+psycopg://twin:s3cr%2Ft@127.0.0.1:6543/city?sslmode=disable",
            "postgresql://twin:s3cr%2Ft@127.0.0.1:6543/city?sslmode=disable",
            id="tcp-with-password",
        ),
        pytest.param(
            "postgresql://me@db.example/city", "postgresql://me@db.example/city", id="libpq"
        ),
    ],
)
def test_asyncpg_url(url: str, expected: str) -> None:
    assert asyncpg_url(url) == expected


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
def test_count_features_decodes_what_it_counts(gzipped: bool) -> None:
    mapbox_vector_tile = pytest.importorskip("mapbox_vector_tile")
    body = mapbox_vector_tile.encode(
        [
            {"name": "a", "features": [{"geometry": "POINT(1 2)", "properties": {}}] * 3},
            {"name": "b", "features": [{"geometry": "POINT(3 4)", "properties": {"k": 1}}]},
        ]
    )
    assert count_features(gzip.compress(body) if gzipped else body) == 4
    assert count_features(b"") == 0
