"""Tile cache hit rate while reports arrive: whole-table versions against per-tile ones.

Run as ``python -m bench invalidate [--seconds 60] [--rate 2]`` against the store the GISGRID_*
settings name (a demo store: ``gisgrid demo --scale small``). For each setting of
``tile_invalidation`` ("table", then "tile") it makes a fresh
:class:`~gisgrid.tiles.service.TileService` and one browsing client that reads a fixed pattern
of tiles again and again, the way the tile route does (versions from the clock, the key, the
cache, a render on a miss): the 3 x 3 tiles around the centre of the incidents at every zoom
from 10 to 16, of the anonymous incident clusters, the hexagons and the grid and district
counts. A writer inserts ``--rate`` reports a second at points of existing incidents (so where
the city reports), half of them due 20 s later (so cases turn overdue while it runs); while
it runs, one pass warms the cache, then the client keeps browsing for ``--seconds``. Printed:
requests, hit rate (all, and by zoom band), renders, the p50/p95 of a request and the median
report write, per setting. The reports are deleted after.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import threading
import time

import numpy as np
from sqlalchemy import Engine, text

from gisgrid.settings import Settings, get_settings
from gisgrid.store.engine import make_engine
from gisgrid.tiles.grid import tile_of
from gisgrid.tiles.layers import LAYERS
from gisgrid.tiles.service import TileService

TAG = "bench.invalidate"
LAYER_IDS = ("incidents", "hex", "grids", "districts")
ZOOMS = range(10, 17)
BANDS = ("z10-12", "z13-14", "z15-16")


def _band(z: int) -> str:
    return BANDS[0] if z <= 12 else BANDS[1] if z <= 14 else BANDS[2]


def pattern(engine: Engine) -> list[tuple[str, int, int, int]]:
    with engine.connect() as conn:
        lon, lat = conn.execute(
            text("SELECT avg(ST_X(geom)), avg(ST_Y(geom)) FROM incidents")
        ).one()
    out = []
    for z in ZOOMS:
        cx, cy = tile_of(float(lon), float(lat), z)
        for layer in LAYER_IDS:
            if z < LAYERS[layer].minzoom:
                continue
            out += [(layer, z, cx + dx, cy + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
    return out


def _points(engine: Engine, n: int, seed: int) -> list[tuple[float, float]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT ST_X(geom), ST_Y(geom) FROM incidents ORDER BY md5(id::text || :s) LIMIT :n"
            ),
            {"s": str(seed), "n": n},
        ).all()
    rng = random.Random(seed)
    return [(x + rng.uniform(-2e-4, 2e-4), y + rng.uniform(-2e-4, 2e-4)) for x, y in rows]


def _writer(
    engine: Engine, points: list[tuple[float, float]], rate: float, stop: threading.Event
) -> list[float]:
    took: list[float] = []
    for k, (x, y) in enumerate(points):
        if stop.wait(1 / rate):
            break
        t0 = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO incidents (category, description, reported_at, status, due_at,"
                    " geom) VALUES ('0101', :tag, now(), 'reported',"
                    " CASE WHEN :due THEN now() + interval '20 seconds' END,"
                    " ST_SetSRID(ST_MakePoint(:x, :y), 4326))"
                ),
                {"tag": TAG, "due": k % 2 == 0, "x": x, "y": y},
            )
        took.append(time.perf_counter() - t0)
    return took


def run(engine: Engine, settings: Settings, mode: str, seconds: float, rate: float) -> dict:
    svc = TileService(engine, settings.model_copy(update={"tile_invalidation": mode}))
    loop = asyncio.new_event_loop()
    tiles = pattern(engine)

    def get(layer: str, z: int, x: int, y: int) -> bool:
        lay = LAYERS[layer]
        now = loop.run_until_complete(svc.versions())
        key = svc.key(lay, z, x, y, {}, now)
        if svc.cache.get(key) is not None:
            return True
        svc.render(lay, z, x, y, {}, key)
        return False

    stop = threading.Event()
    points = _points(engine, int(seconds * rate * 3) + 10, seed=7)
    took: list[float] = []
    writer = threading.Thread(
        target=lambda: took.extend(_writer(engine, points, rate, stop)), daemon=True
    )
    try:
        writer.start()  # reports arrive from the start: the warm pass is no quiet spell
        for t in tiles:
            get(*t)
        took.clear()
        hits = {b: 0 for b in (*BANDS, *LAYER_IDS)}
        asked = {b: 0 for b in (*BANDS, *LAYER_IDS)}
        lat: list[float] = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for t in tiles:
                t0 = time.perf_counter()
                hit = get(*t)
                lat.append(time.perf_counter() - t0)
                for b in (_band(t[1]), t[0]):
                    asked[b] += 1
                    hits[b] += hit
                if time.monotonic() >= end:
                    break
        stop.set()
        writer.join()
        ms = np.array(lat) * 1000
        n = sum(asked[b] for b in BANDS)
        hit = sum(hits[b] for b in BANDS)
        return {
            "mode": mode,
            "requests": n,
            "hit_rate": hit / max(1, n),
            "bands": {b: hits[b] / max(1, asked[b]) for b in asked},
            "renders": n - hit,
            "p50_ms": float(np.percentile(ms, 50)),
            "p95_ms": float(np.percentile(ms, 95)),
            "reports": len(took),
            "report_ms_p50": float(np.percentile(np.array(took) * 1000, 50)) if took else 0.0,
            "pattern": len(tiles),
        }
    finally:
        loop.run_until_complete(svc.close())
        loop.close()
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM incidents WHERE description = :t"), {"t": TAG})


DIRTY_TRIGGERS = ("tile_version_dirty_insert",)


def write_overhead(engine: Engine, n: int = 400) -> tuple[float, float]:
    """Median ms of a one-row report insert (own transaction) with the log trigger and with
    it disabled, in alternating blocks of 25 (ALTER TABLE: run it on a store of your own)."""
    points = _points(engine, n, seed=11)
    on: list[float] = []
    off: list[float] = []
    try:
        for k in range(0, n, 25):
            enabled = (k // 25) % 2 == 0
            with engine.begin() as conn:
                for t in DIRTY_TRIGGERS:
                    verb = "ENABLE" if enabled else "DISABLE"
                    conn.execute(text(f"ALTER TABLE incidents {verb} TRIGGER {t}"))
            for x, y in points[k : k + 25]:
                t0 = time.perf_counter()
                with engine.begin() as conn:
                    conn.execute(
                        text(
                            "INSERT INTO incidents (category, description, reported_at, status,"
                            " geom) VALUES ('0101', :tag, now(), 'reported',"
                            " ST_SetSRID(ST_MakePoint(:x, :y), 4326))"
                        ),
                        {"tag": TAG, "x": x, "y": y},
                    )
                (on if enabled else off).append(time.perf_counter() - t0)
    finally:
        with engine.begin() as conn:
            for t in DIRTY_TRIGGERS:
                conn.execute(text(f"ALTER TABLE incidents ENABLE TRIGGER {t}"))
            conn.execute(text("DELETE FROM incidents WHERE description = :t"), {"t": TAG})
    return float(np.median(on)) * 1000, float(np.median(off)) * 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=2.0, help="reports a second")
    parser.add_argument("--modes", default="table,tile")
    parser.add_argument(
        "--write-overhead",
        action="store_true",
        help="only time a report's insert with and without the log trigger (alters the table)",
    )
    args = parser.parse_args(argv)
    settings = get_settings()
    engine = make_engine(settings)
    if args.write_overhead:
        on, off = write_overhead(engine)
        print(f"report insert, median: {on:.2f} ms with the tile_dirty log, {off:.2f} ms without")
        return
    print(
        f"{'invalidation':<13}{'pattern':>8}{'requests':>10}{'hit rate':>10}{'renders':>9}"
        f"{'p50 ms':>9}{'p95 ms':>9}{'reports':>9}{'write ms':>10}"
        + "".join(f"{'hits ' + b:>16}" for b in (*BANDS, *LAYER_IDS))
    )
    for mode in args.modes.split(","):
        r = run(engine, settings, mode, args.seconds, args.rate)
        print(
            f"{r['mode']:<13}{r['pattern']:>8}{r['requests']:>10}{r['hit_rate']:>10.1%}"
            f"{r['renders']:>9}{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}{r['reports']:>9}"
            f"{r['report_ms_p50']:>10.2f}"
            + "".join(f"{r['bands'][b]:>16.1%}" for b in (*BANDS, *LAYER_IDS)),
            flush=True,
        )
    engine.dispose()


if __name__ == "__main__":
    main()
