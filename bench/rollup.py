"""The incident rollup: low-zoom tiles from the rollup beside the same tiles from raw rows, and
what the rollup's trigger adds to one report's write.

Run as ``python -m bench rollup`` or ``python -m bench.rollup [--repeats 3] [--writes 300]``
against the store the GISGRID_* settings name (the city twin: ``GISGRID_DATA_DIR=...
GISGRID_DB_PORT=...``), migrated to head (``gisgrid db up``).

Tiles: at zooms 6, 8, 10 and 12, the tile holding the city centre (``--lon``, ``--lat``), for
the hexagon, incident cluster, district and grid layers (anonymous, no filters) and the heat
raster. Each is rendered directly (:func:`gisgrid.tiles.render.render`, no tile cache), once
with the rollup and once with ``rollup: false`` (raw rows, as before the rollup), taking
turns, ``--repeats`` times; the median is reported, and the first (a cold tile to any
cache gisgrid has; PostgreSQL's buffers are whatever the runs before left, the same for both).

The space-time cube of emerging hot spots (a year by week, per grid, everything in scope):
``hotspot_cube_rollup.sql`` (from the rollup) beside ``hotspot_cube.sql`` (every incident row),
the same parameters, taking turns, ``--repeats`` times; the median, and whether the two
answers are the same rows.

Writes: ``--writes`` single-row reports (an INSERT of a copy of a random incident, each its own
statement, timed from the client) with the rollup's triggers and with them disabled, in one
transaction each that is rolled back at the end: nothing is left in the store. p50 and p95.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

from gisgrid.access.scope import Scope
from gisgrid.analysis.emerging import cube_params
from gisgrid.settings import get_settings
from gisgrid.sql import load_sql
from gisgrid.store.engine import make_engine
from gisgrid.tiles.filters import TileFilters
from gisgrid.tiles.layers import layer_of
from gisgrid.tiles.render import render
from gisgrid.times import CITY_TZ

ZOOMS = (6, 8, 10, 12)
LAYERS = ("hex", "incidents", "districts", "grids", "heat")
TRIGGERS = ("incident_rollup_insert", "incident_rollup_update", "incident_rollup_delete")

_REPORT = """
INSERT INTO incidents (category, description, reported_at, status, priority, due_at, geom)
SELECT category, 'bench', now(), 'reported', priority, now() + interval '3 days', geom
FROM incidents WHERE id = :id
"""


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def _time_tile(conn: Connection, layer: str, z: int, x: int, y: int, qp: dict[str, Any]) -> float:
    t0 = time.perf_counter()
    render(conn, layer_of(layer), z, x, y, qp)
    return (time.perf_counter() - t0) * 1000


def tiles(conn: Connection, lon: float, lat: float, repeats: int) -> list[dict[str, Any]]:
    out = []
    for z in ZOOMS:
        x, y = tile_of(lon, lat, z)
        for layer in LAYERS:
            if z < layer_of(layer).minzoom:
                continue
            got: dict[str, list[float]] = {"rollup": [], "raw": []}
            for _ in range(repeats):
                got["rollup"].append(_time_tile(conn, layer, z, x, y, {}))
                got["raw"].append(_time_tile(conn, layer, z, x, y, {"rollup": False}))
            row = {"layer": layer, "z": z, "x": x, "y": y}
            row |= {k: statistics.median(v) for k, v in got.items()}
            row["first_rollup"] = got["rollup"][0]
            row["first_raw"] = got["raw"][0]
            out.append(row)
            print(
                f"  {layer:10} z{z:<2} rollup {row['rollup']:8.1f} ms"
                f" (first {row['first_rollup']:7.1f})"
                f"   raw {row['raw']:8.1f} ms (first {row['first_raw']:8.1f})",
                flush=True,
            )
    return out


def cube(conn: Connection, repeats: int) -> dict[str, Any]:
    last = conn.execute(text("SELECT max(reported_at) FROM incidents")).scalar_one()
    until = datetime.combine(last.astimezone(CITY_TZ).date(), datetime.min.time(), CITY_TZ)
    until += timedelta(days=1)
    since = until - timedelta(weeks=52)
    params = cube_params("grid", "week", TileFilters(), Scope.everything(), since, until)
    got: dict[str, list[float]] = {"rollup": [], "raw": []}
    answers = {}
    for _ in range(repeats):
        for mode, sql in (("rollup", "hotspot_cube_rollup"), ("raw", "hotspot_cube")):
            t0 = time.perf_counter()
            answers[mode] = sorted(map(tuple, conn.execute(text(load_sql(sql)), params).all()))
            got[mode].append((time.perf_counter() - t0) * 1000)
            conn.commit()
    row = {k: statistics.median(v) for k, v in got.items()}
    row["same"] = answers["rollup"] == answers["raw"]
    row["cells"] = len(answers["raw"])
    print(
        f"  a year by week, {row['cells']:,} grid x week cells: rollup {row['rollup']:8.1f} ms"
        f"   raw {row['raw']:8.1f} ms   ({row['raw'] / row['rollup']:.1f}x;"
        f" same answer: {row['same']})",
        flush=True,
    )
    return row


def _percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def writes(conn: Connection, n: int, with_trigger: bool, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    times = []
    with conn.begin() as tx:
        lo, hi = conn.execute(text("SELECT min(id), max(id) FROM incidents")).one()
        if not with_trigger:
            for t in TRIGGERS:
                conn.execute(text(f"ALTER TABLE incidents DISABLE TRIGGER {t}"))
        for _ in range(n):
            i = rng.randint(lo, hi)
            t0 = time.perf_counter()
            conn.execute(text(_REPORT), {"id": i})
            times.append((time.perf_counter() - t0) * 1000)
        tx.rollback()
    return {"p50": statistics.median(times), "p95": _percentile(times, 0.95), "n": n}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--lon", type=float, default=126.63)
    parser.add_argument("--lat", type=float, default=45.75)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-tiles", action="store_true", help="no tile figures")
    parser.add_argument("--no-cube", action="store_true", help="no space-time cube figures")
    args = parser.parse_args(argv)
    engine = make_engine(get_settings())
    with engine.connect() as conn:
        n, rows, grid_rows, due_rows, size = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM incidents), (SELECT count(*) FROM incident_rollup),"
                " (SELECT count(*) FROM incident_rollup_grid),"
                " (SELECT count(*) FROM incident_rollup_due),"
                " pg_size_pretty(pg_total_relation_size('incident_rollup')"
                " + pg_total_relation_size('incident_rollup_grid')"
                " + pg_total_relation_size('incident_rollup_due'))"
            )
        ).one()
        conn.commit()
        print(
            f"store: {n:,} incidents; rollup {rows:,} rows, per-grid {grid_rows:,} rows,"
            f" due hours {due_rows:,} rows, {size}"
        )
        print("tiles (direct render, no tile cache, median of", args.repeats, "):")
        if not args.no_tiles:
            tiles(conn, args.lon, args.lat, args.repeats)
        if conn.in_transaction():
            conn.commit()
        if not args.no_cube:
            print("the space-time cube (median of", args.repeats, "):")
            cube(conn, args.repeats)
        print(f"one report's INSERT, {args.writes} each, rolled back:")
        for mode in (True, False, True, False):
            w = writes(conn, args.writes, mode, args.seed)
            label = "with the rollup trigger   " if mode else "without (triggers off)    "
            print(f"  {label} p50 {w['p50']:.2f} ms  p95 {w['p95']:.2f} ms", flush=True)
    engine.dispose()


if __name__ == "__main__":
    main()
