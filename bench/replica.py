"""Replication lag as a read on the replica pays it: the wait for replay under bursts of writes.

Run as ``GISGRID_USE_REPLICA=1 python -m bench.replica [--writes 500] [--seconds 10]
[--writers 2]`` against the store the GISGRID_* settings name, with its replica running
(``gisgrid db replica up``). Two runs, each a burst of incident reports (plain INSERTs, one
per transaction, so the store's triggers assign each to its grid as a report would be):

1. read after write: one report, then at once a read through
   :meth:`gisgrid.store.reads.ReadRouter.connect`, ``--writes`` times: the read waits until
   the replica has replayed the report (the worst case: nothing to hide the lag behind);
2. a burst: ``--writers`` threads report as fast as they can for ``--seconds`` while a
   reader reads through the router every 5 ms and checks that it sees the last report
   committed before the read began (a stale read is counted, and should be 0).

It prints the waits (p50, p95, max), where the reads went, the write rate and the largest
replay lag the primary reported (pg_stat_replication). The reports are deleted at the end.
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from typing import Any

from sqlalchemy import Engine, text

from gisgrid.settings import get_settings
from gisgrid.store.engine import make_engine
from gisgrid.store.reads import ReadRouter

MARK = "bench replica"
_INSERT = text(
    "INSERT INTO incidents (category, reported_at, status, description, geom)"
    " VALUES ('0101', now(), 'reported', :d, ST_SetSRID(ST_MakePoint(:x, :y), 4326))"
    " RETURNING id"
)
_SEEN = text("SELECT count(*) FROM incidents WHERE id = :id")  # by key: the read is cheap
_LAG = text(
    "SELECT max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn))::bigint,"
    " max(extract(epoch FROM replay_lag))::float8 FROM pg_stat_replication"
)


def _points(engine: Engine, n: int = 500) -> list[tuple[float, float]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT ST_X(geom), ST_Y(geom) FROM incidents ORDER BY random() LIMIT :n"),
            {"n": n},
        ).all()
    return [(float(x), float(y)) for x, y in rows]


def _report(engine: Engine, pts: list[tuple[float, float]]) -> int:
    x, y = random.choice(pts)
    with engine.begin() as conn:
        return int(conn.execute(_INSERT, {"d": MARK, "x": x, "y": y}).scalar_one())


def _stats(router: ReadRouter) -> str:
    s = router.wait_stats()
    return (
        f"waits p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms, max {s['max_ms']} ms over"
        f" {s['waits']:,} replica reads; to the primary: lagging {s['primary_lagging']},"
        f" replica down {s['primary_replica_down']}"
    )


def read_after_write(engine: Engine, router: ReadRouter, pts: list, writes: int) -> None:
    stale = 0
    t0 = time.perf_counter()
    for _ in range(writes):
        new = _report(engine, pts)
        with router.connect() as conn:
            stale += conn.execute(_SEEN, {"id": new}).scalar_one() == 0
    seconds = time.perf_counter() - t0
    print(f"1. read after write, {writes:,} times in {seconds:.1f} s: {_stats(router)}")
    print(f"   stale reads: {stale}")


def burst(engine: Engine, router: ReadRouter, pts: list, seconds: float, writers: int) -> None:
    committed = [0]  # reports committed
    last = [0]  # the id of the last one committed
    lock = threading.Lock()
    stop = threading.Event()
    lag: list[tuple[Any, Any]] = []

    def write() -> None:
        while not stop.is_set():
            new = _report(engine, pts)
            with lock:
                committed[0] += 1
                last[0] = max(last[0], new)

    def watch() -> None:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            while not stop.is_set():
                lag.append(tuple(conn.execute(_LAG).one()))
                time.sleep(0.05)

    threads = [threading.Thread(target=write) for _ in range(writers)]
    threads.append(threading.Thread(target=watch))
    for t in threads:
        t.start()
    stale = reads = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        with lock:
            expected = last[0]
        with router.connect() as conn:
            stale += expected > 0 and conn.execute(_SEEN, {"id": expected}).scalar_one() == 0
        reads += 1
        time.sleep(0.005)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    lag_bytes = max((b or 0) for b, _ in lag) if lag else None
    lag_s = max((s or 0.0) for _, s in lag) if lag else None
    print(
        f"2. burst: {writers} writers, {committed[0]:,} reports in {elapsed:.1f} s"
        f" ({committed[0] / elapsed:,.0f}/s), {reads:,} reads: {_stats(router)}"
    )
    print(
        f"   stale reads: {stale}; largest replay lag the primary reported:"
        f" {lag_bytes:,} bytes, {lag_s:.3f} s"
        if lag_bytes is not None and lag_s is not None
        else f"   stale reads: {stale}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--writers", type=int, default=2)
    args = parser.parse_args(argv)
    settings = get_settings()
    engine = make_engine(settings)
    router = ReadRouter.from_settings(engine, settings)
    if router.replica is None:
        print("no replica configured: gisgrid db replica up, then GISGRID_USE_REPLICA=1")
        return
    router.wait_s = max(router.wait_s, 5.0)  # measure the lag, do not hide it behind fallbacks
    pts = _points(engine)
    if not pts:
        print("no incidents: load a city first (gisgrid demo)")
        return
    try:
        read_after_write(engine, router, pts, args.writes)
        router.waits_s.clear()
        router.counts = dict.fromkeys(router.counts, 0)
        burst(engine, router, pts, args.seconds, args.writers)
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM incidents WHERE description = :m"), {"m": MARK})
        router.dispose()
        engine.dispose()


if __name__ == "__main__":
    main()
