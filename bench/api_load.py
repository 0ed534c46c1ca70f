"""Throughput and latency of /locate, /units/nearest and grid tiles, 1 and N server workers.

Run as ``python -m bench.api_load [--requests 2000] [--concurrency 16] [--workers 1,2]
[--seconds 10]`` against the store the GISGRID_* settings name (the demo store after
``gisgrid demo``): for each worker count it starts ``gisgrid serve --workers N`` on a free
loopback port (with a throwaway GISGRID_SECRET_KEY when none is set), checks every endpoint
with the asyncio httpx client (status codes: correctness, and the latency with one client),
then measures throughput with ``wrk`` (bench/wrk.py), a compiled generator that leaves the
cores to the server; without wrk it falls back to the httpx client and says so, since that
client then measures itself as much as the server. Prints requests/s, p50, p95, p99 and the
load average (the machine may be shared). Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import subprocess
import sys
import time

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
            errors += not 200 <= r.status_code < 300  # 204: an empty tile

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return lat, wall, errors


def _serve(port: int, workers: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    # several workers must share one signing key (gisgrid refuses to start without one)
    env.setdefault("GISGRID_SECRET_KEY", secrets.token_urlsafe(32))
    # no escalation sweep: it would write to the measured store while it is measured
    env.setdefault("GISGRID_ESCALATION_SWEEP_S", "0")
    argv = [sys.executable, "-c", "from api.cli import main; main()", "serve"]
    argv += ["--port", str(port), "--workers", str(workers)]
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_up(base: str, proc: subprocess.Popen[bytes], workers: int) -> None:
    import httpx

    deadline = time.monotonic() + 120
    pids: set[int] = set()
    while len(pids) < workers:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"gisgrid serve --workers {workers} did not come up on {base}")
        try:
            r = httpx.get(f"{base}/health", timeout=2)
            if r.status_code == 200:
                pids.add(r.json().get("pid", 0))
                continue
        except httpx.HTTPError:
            pass
        time.sleep(0.1)


def _endpoints(base: str, n: int) -> dict[str, list[str]]:
    from bench.tiles_harness import tiles_covering

    x, y, cats = _points(n)
    rng = np.random.default_rng(5)
    cat = [cats[i] for i in rng.integers(0, len(cats), n)]
    box = (float(x.min()), float(y.min()), float(x.max()), float(y.max()))
    tiles = tiles_covering(box, 14)
    return {
        "/locate": [f"{base}/locate?lon={a:.6f}&lat={b:.6f}" for a, b in zip(x, y, strict=True)],
        "/units/nearest": [
            f"{base}/units/nearest?lon={a:.6f}&lat={b:.6f}&category={c}&k=5"
            for a, b, c in zip(x, y, cat, strict=True)
        ],
        "/tiles/grids z14": [f"{base}/tiles/grids/{z}/{tx}/{ty}.pbf" for z, tx, ty in tiles],
    }


def main(argv: list[str] | None = None) -> None:
    from bench import wrk
    from gisgrid.settings import core_count

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", default=f"1,{core_count()}", help="e.g. 1,2")
    parser.add_argument("--seconds", type=float, default=10, help="each wrk run")
    args = parser.parse_args(argv)
    counts = sorted({int(w) for w in args.workers.split(",")})
    use_wrk = wrk.available()
    print(
        f"throughput from {'wrk' if use_wrk else 'the httpx client (wrk not installed)'}, "
        f"{args.concurrency} connections; correctness and 1-client latency from httpx; "
        f"{core_count()} cores; load average before: {_loadavg()}"
    )
    head = ["endpoint x clients", "workers", "req/s", "p50 ms", "p95 ms", "p99 ms", "not 2xx"]
    print(f"{head[0]:<26}" + "".join(f"{h:>9}" for h in head[1:]))
    for workers in counts:
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        server = _serve(port, workers)
        try:
            _wait_up(base, server, workers)
            for name, urls in _endpoints(base, args.requests).items():
                asyncio.run(_run(urls[:50], 4))  # warm: the grid index is built on first use
                lat, wall, errors = asyncio.run(_run(urls[: min(len(urls), 300)], 1))
                _row(f"{name} x1 (httpx)", workers, len(lat) / wall, lat * 1000, errors)
                if use_wrk:
                    r = wrk.run(urls, connections=args.concurrency, duration_s=args.seconds)
                    pcts = (r.p50_ms, r.p95_ms, r.p99_ms)
                    bad = r.status_errors + r.socket_errors
                    _row(f"{name} x{args.concurrency} (wrk)", workers, r.rps, pcts, bad)
                else:
                    lat, wall, errors = asyncio.run(_run(urls, args.concurrency))
                    _row(
                        f"{name} x{args.concurrency} (httpx)",
                        workers,
                        len(urls) / wall,
                        lat * 1000,
                        errors,
                    )
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"load average after: {_loadavg()}")


def _row(label: str, workers: int, rps: float, lat_ms: object, errors: int) -> None:
    if isinstance(lat_ms, tuple):
        p50, p95, p99 = lat_ms
    else:
        p50, p95, p99 = np.percentile(np.asarray(lat_ms), [50, 95, 99])
    cells = [str(workers), f"{rps:.0f}", f"{p50:.1f}", f"{p95:.1f}", f"{p99:.1f}", str(errors)]
    print(f"{label:<26}" + "".join(f"{c:>9}" for c in cells), flush=True)


def _loadavg() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


if __name__ == "__main__":
    main()
