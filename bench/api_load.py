"""Latency of /locate and /units/nearest under concurrent load, on loopback.

Run as ``python -m bench.api_load [--requests 2000] [--concurrency 16]`` against the store the
GISGRID_* settings name (the demo store after ``gisgrid demo``): it starts uvicorn on a free
loopback port in a child process, warms it up, then sends the requests from an asyncio httpx
client with the given concurrency, at random points inside the store's grids, and prints
requests/s, p50, p95 and p99 per endpoint. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _points(n: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from sqlalchemy import text

    from gisgrid.settings import get_settings
    from gisgrid.store.engine import make_engine

    engine = make_engine(get_settings())
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT ST_X(g), ST_Y(g) FROM ("
                " SELECT (ST_Dump(ST_GeneratePoints(geom, 2, :s))).geom g FROM areas"
                " WHERE level = 'grid' AND valid_to IS NULL ORDER BY random() LIMIT :n) q"
            ),
            {"n": n, "s": seed},
        ).all()
        cats = [
            r[0]
            for r in conn.execute(
                text("SELECT code FROM incident_categories WHERE parent_code IS NOT NULL")
            )
        ]
    engine.dispose()
    xy = np.array(rows, dtype=float)
    rng = np.random.default_rng(seed)
    take = rng.integers(0, len(xy), n)
    return xy[take, 0], xy[take, 1], cats


async def _run(urls: list[str], concurrency: int) -> tuple[np.ndarray, float, int]:
    import httpx

    lat = np.empty(len(urls))
    errors = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(urls)):
        queue.put_nowait(i)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while not queue.empty():
            i = queue.get_nowait()
            t0 = time.perf_counter()
            r = await client.get(urls[i])
            lat[i] = time.perf_counter() - t0
            errors += r.status_code != 200

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return lat, wall, errors


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    exe = str(Path(sys.executable).parent / "gisgrid")
    server = subprocess.Popen(
        [exe, "serve", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        import httpx

        for _ in range(200):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        x, y, cats = _points(args.requests)
        rng = np.random.default_rng(5)
        cat = [cats[i] for i in rng.integers(0, len(cats), args.requests)]
        endpoints = {
            "/locate": [
                f"{base}/locate?lon={a:.6f}&lat={b:.6f}" for a, b in zip(x, y, strict=True)
            ],
            "/units/nearest": [
                f"{base}/units/nearest?lon={a:.6f}&lat={b:.6f}&category={c}&k=5"
                for a, b, c in zip(x, y, cat, strict=True)
            ],
        }
        print(
            f"{args.requests} requests per endpoint, concurrency {args.concurrency}, "
            f"one uvicorn worker on 127.0.0.1"
        )
        head = ["endpoint x clients", "req/s", "p50 ms", "p95 ms", "p99 ms", "not 200"]
        print(f"{head[0]:<20}" + "".join(f"{h:>9}" for h in head[1:]))
        for name, urls in endpoints.items():
            asyncio.run(_run(urls[:50], 4))  # warm: the grid index is built on first use
            for conc in sorted({1, args.concurrency}):
                lat, wall, errors = asyncio.run(_run(urls, conc))
                p50, p95, p99 = np.percentile(lat * 1000, [50, 95, 99])
                cells = [
                    f"{len(urls) / wall:.0f}",
                    f"{p50:.1f}",
                    f"{p95:.1f}",
                    f"{p99:.1f}",
                    str(errors),
                ]
                print(f"{name + ' x' + str(conc):<20}" + "".join(f"{c:>9}" for c in cells))
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
