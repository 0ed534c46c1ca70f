"""A live city: tiles browsed by 8 people while reports, transitions and due times stream in.

Run as ``python -m bench live [--duration 30] [--rate 2] [--clients 8] [--warmup 10]
[--data-dir PATH] [--db-port N] [--database-url URL] [--modes without,with] [--json PATH]``.
Without a store named, the demo store the GISGRID_* settings name (started, and loaded with
``gisgrid demo --scale small`` when empty); ``--data-dir``/``--db-port`` name another
self-managed cluster (the city twin), ``--database-url`` any PostGIS.

For each mode it starts ``gisgrid serve`` (one worker by default) on a free loopback port, with

- ``without``: GISGRID_TILE_ROLLUP=0 and GISGRID_TILE_INVALIDATION=table (tiles read raw
  incident rows; every write moves the whole table's version),
- ``with``: the defaults (the rollup and per-tile invalidation of issue 15, where this
  gisgrid has them; a gisgrid whose settings do not know a switch ignores it, and the report
  says so).

Then it sends one report (the server builds its grid index), 20 reports alone (the write's own
cost), fetches every tile of the walks once (a server that has been up a while holds them),
sets the due times, lets the clients browse alone for ``--warmup`` seconds; then for
``--duration`` seconds they browse while the replay writes:

- browsing: ``--clients`` people, each a seeded pan/zoom walk over z8-z16 within 4 km of the
  centre (the median incident), the tiles the web map asks for on each view, looped
  (bench/live_walk.py), sent by ``wrk`` with one connection per person; the first person is
  signed in as a city centre (raw incident points from z14, places), the others anonymous.
- writes, ``--rate`` a second through the API as the field app and the console send them:
  every other one a new report (POST /incidents by a community account near the centre), the
  others accept, dispatch or close an open case near the centre (If-Match), timed one by one.
- due times: before the warm-up, open cases near the centre get due times spread over the
  measured window, so cases turn overdue while it runs (a write to the store, like the rest).

Reported side by side: tile p50/p95/p99 from wrk's latency distribution, requests/s, the hit
rate from the server's ``X-Cache`` header (hits and 304s over answered tiles), write latency
p50/p95 of reports and of transitions, the writes that landed in the store, with the targets
(p95 tile <= 50 ms, hit >= 90 %, write overhead <= 2 ms: ``with`` minus ``without`` of the
report p50, alone and under load; on a shared machine the gap between two runs of the same
code is often larger than 2 ms, so compare it with the load averages printed). Only 127.0.0.1
is contacted. Needs ``wrk`` (``scripts/sysdeps.sh --bench``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from bench.live_walk import browse, view_paths, walk

MODES: dict[str, dict[str, str]] = {
    "without": {"GISGRID_TILE_ROLLUP": "0", "GISGRID_TILE_INVALIDATION": "table"},
    "with": {},
}
SWITCHES = {"GISGRID_TILE_ROLLUP": "tile_rollup", "GISGRID_TILE_INVALIDATION": "tile_invalidation"}
TARGET_P95_MS = 50.0
TARGET_HIT = 0.90
TARGET_WRITE_OVERHEAD_MS = 2.0
NEAR_M = 4000.0  # "the centre": what the walks and the writes stay within
VIEWS_PER_WALK = 14
QUIET_REPORTS = 20  # reports sent alone, before anybody browses: the write's own cost
CYCLE = ("report", "accept", "report", "dispatch", "report", "close")
OPEN = ("reported", "accepted", "dispatched", "in_progress", "feedback", "returned", "escalated")


# -- the store ----------------------------------------------------------------------------
@dataclass
class Scene:
    """What the run needs from the store: the centre, tokens, reporters' points, open cases."""

    lon: float
    lat: float
    centre_token: str
    reporters: list[tuple[str, float, float]]  # (token, lon, lat), one per report to send
    categories: list[str]
    cases: dict[str, list[tuple[int, int]]]  # status -> [(id, version)] near the centre


def _near(alias: str = "geom") -> str:
    """Within NEAR_M of :lon/:lat, as a box the spatial index answers (:r in metres)."""
    dy = ":r / 111320.0"
    dx = f"{dy} / cos(radians(:lat))"
    return f"{alias} && ST_MakeEnvelope(:lon - {dx}, :lat - {dy}, :lon + {dx}, :lat + {dy}, 4326)"


def _centre(conn: Any) -> tuple[float, float]:
    """The median incident (a sample of about 200k), the heart of where things happen."""
    from sqlalchemy import text

    # the planner's row estimate, over the partitions when incidents is partitioned
    n = conn.execute(
        text(
            "SELECT sum(greatest(reltuples, 0)) FROM pg_class WHERE oid = 'incidents'::regclass"
            " OR oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'incidents'::regclass)"
        )
    ).scalar()
    pct = 100.0 if not n or n <= 200_000 else 100.0 * 200_000 / float(n)
    row = conn.execute(
        text(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ST_X(geom)),"
            " percentile_cont(0.5) WITHIN GROUP (ORDER BY ST_Y(geom))"
            " FROM incidents TABLESAMPLE SYSTEM (:p)"
        ),
        {"p": pct},
    ).one()
    if row[0] is None:
        raise RuntimeError("the store holds no incidents: nothing to browse around")
    return float(row[0]), float(row[1])


def scene(engine: Any, settings: Any, n_reports: int, seed: int) -> Scene:
    """Read the centre, sign tokens for a city centre and the community accounts nearest it,
    draw the report points inside those communities, and list open cases near the centre."""
    from sqlalchemy import text

    from gisgrid.access.auth import issue_token

    with engine.connect() as conn:
        lon, lat = _centre(conn)
        p = {"lon": lon, "lat": lat, "r": NEAR_M}
        boss = conn.execute(
            text(
                "SELECT id, role, token_version FROM accounts WHERE active"
                " AND role IN ('city_centre', 'admin') ORDER BY role = 'admin', id LIMIT 1"
            )
        ).one()
        communities = conn.execute(
            text(
                "SELECT a.id, a.role, a.token_version, c.id AS area_id FROM accounts a"
                " JOIN areas c ON c.id = a.scope_area_id AND c.valid_to IS NULL"
                " WHERE a.active AND a.role = 'community'"
                " ORDER BY c.geom <-> ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) LIMIT 5"
            ),
            p,
        ).all()
        if not communities:
            raise RuntimeError("no active community account to report with")
        per = max(1, -(-n_reports // len(communities)))
        reporters: list[tuple[str, float, float]] = []
        for c in communities:
            token = issue_token(c.id, c.role, settings, version=c.token_version).access_token
            # points inside the community's grids, so every report lands in a grid
            pts = conn.execute(
                text(
                    "SELECT ST_X(d.geom), ST_Y(d.geom) FROM (SELECT (ST_Dump(ST_GeneratePoints("
                    " ST_Union(g.geom), :n, :s))).geom FROM areas g WHERE g.level = 'grid'"
                    " AND g.valid_to IS NULL AND g.parent_id = :c) d"
                ),
                {"n": per, "s": seed, "c": c.area_id},
            ).all()
            reporters += [(token, float(x), float(y)) for x, y in pts]
        rng = np.random.default_rng(seed)
        reporters = [reporters[i] for i in rng.permutation(len(reporters))]
        categories = list(
            conn.execute(
                text(
                    "SELECT code FROM incident_categories WHERE parent_code IS NOT NULL"
                    " ORDER BY code"
                )
            ).scalars()
        )
        cases: dict[str, list[tuple[int, int]]] = {}
        for status in ("reported", "accepted", "feedback"):
            rows = conn.execute(
                text(
                    f"SELECT id, version FROM incidents WHERE status = :st AND {_near()}"
                    " ORDER BY id DESC LIMIT 500"
                ),
                {**p, "st": status},
            ).all()
            cases[status] = [(int(r.id), int(r.version)) for r in rows]
    token = issue_token(boss.id, boss.role, settings, version=boss.token_version).access_token
    return Scene(lon, lat, token, reporters, categories, cases)


def schedule_due(engine: Any, lon: float, lat: float, n: int, from_s: float, to_s: float) -> int:
    """Give ``n`` open cases near lon/lat due times spread from ``from_s`` to ``to_s`` seconds
    from now, so they turn overdue while the run is measured; returns how many were moved."""
    from sqlalchemy import bindparam, text

    if n <= 0:
        return 0
    with engine.begin() as conn:
        moved = conn.execute(
            text(
                "WITH n AS (SELECT id FROM incidents"
                f" WHERE status IN :open AND {_near()} ORDER BY id DESC LIMIT :n),"
                " c AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM n)"
                " UPDATE incidents i SET due_at = now() + make_interval(secs =>"
                " :a + (:b - :a) * (c.k + 0.5) / :n) FROM c WHERE i.id = c.id"
            ).bindparams(bindparam("open", expanding=True)),
            {"open": list(OPEN), "lon": lon, "lat": lat, "r": NEAR_M, "n": n,
             "a": from_s, "b": to_s},
        )  # fmt: skip
        return int(moved.rowcount)


def landed(engine: Any, ids: list[int]) -> int:
    """How many of the reported ids are in the store."""
    from sqlalchemy import text

    if not ids:
        return 0
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM incidents WHERE id = ANY(:ids)"), {"ids": ids}
            ).scalar_one()
        )


# -- the writes ---------------------------------------------------------------------------
@dataclass
class Writes:
    """The replay's own timings (ms) per kind, and what failed."""

    report_ms: list[float] = field(default_factory=list)
    transition_ms: list[float] = field(default_factory=list)
    report_ids: list[int] = field(default_factory=list)
    transitions: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    late_s: float = 0.0  # the furthest a write started behind its schedule


class Replay(threading.Thread):
    """Send writes at ``rate`` a second for ``duration_s`` (one at a time, on schedule), of
    ``kinds`` in turn (by default a report, then a transition); a transition whose pool of
    open cases is empty becomes a report."""

    FROM: ClassVar[dict[str, str]] = {
        "accept": "reported",
        "dispatch": "accepted",
        "close": "feedback",
    }
    INTO: ClassVar[dict[str, str]] = {"accept": "accepted"}

    def __init__(
        self,
        base: str,
        sc: Scene,
        rate: float,
        duration_s: float,
        seed: int,
        kinds: tuple[str, ...] = CYCLE,
    ) -> None:
        super().__init__(daemon=True)
        self.base, self.scene, self.rate, self.duration_s = base, sc, rate, duration_s
        self.kinds = kinds
        self.rng = np.random.default_rng(seed)
        self.pools = {k: list(v) for k, v in sc.cases.items()}
        self.out = Writes()

    def run(self) -> None:
        import httpx

        n = max(1, round(self.rate * self.duration_s))
        with httpx.Client(base_url=self.base, timeout=30) as client:
            t0 = time.perf_counter()
            for k in range(n):
                wait = t0 + k / self.rate - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                else:
                    self.out.late_s = max(self.out.late_s, -wait)
                self._one(client, self.kinds[k % len(self.kinds)], k)

    def _one(self, client: Any, kind: str, k: int) -> None:
        pool = self.pools.get(self.FROM.get(kind, ""), [])
        if kind != "report" and not pool:
            kind = "report"
        t0 = time.perf_counter()
        if kind == "report":
            token, lon, lat = self.scene.reporters[k % len(self.scene.reporters)]
            cat = self.scene.categories[int(self.rng.integers(len(self.scene.categories)))]
            r = client.post(
                "/incidents",
                json={"lon": lon, "lat": lat, "category": cat, "description": "live bench"},
                headers={"Authorization": f"Bearer {token}"},
            )
        else:
            case_id, version = pool.pop()
            r = client.post(
                f"/incidents/{case_id}/{kind}",
                headers={
                    "Authorization": f"Bearer {self.scene.centre_token}",
                    "If-Match": f'"{version}"',
                },
            )
        ms = (time.perf_counter() - t0) * 1000
        if r.status_code not in (200, 201):
            self.out.failed[f"{kind} {r.status_code}"] = (
                self.out.failed.get(f"{kind} {r.status_code}", 0) + 1
            )
            return
        body = r.json()
        if kind == "report":
            self.out.report_ms.append(ms)
            self.out.report_ids.append(int(body["id"]))
            self.pools.setdefault("reported", []).append((int(body["id"]), int(body["version"])))
        else:
            self.out.transition_ms.append(ms)
            self.out.transitions[kind] = self.out.transitions.get(kind, 0) + 1
            into = self.INTO.get(kind)
            if into:
                self.pools.setdefault(into, []).insert(0, (int(body["id"]), int(body["version"])))


def prime(base: str, walks: list[list[str]], token: str, clients: int) -> float:
    """Fetch every distinct tile of the walks once (the first walk's with the token), with
    ``clients`` connections; returns the seconds it took."""
    import asyncio

    from bench.tiles_harness import fetch

    t0 = time.perf_counter()
    gz = {"Accept-Encoding": "gzip"}
    for paths, headers in (
        (walks[0], {**gz, "Authorization": f"Bearer {token}"}),
        ([p for w in walks[1:] for p in w], gz),
    ):
        urls = [base + p for p in sorted(set(paths))]
        if urls:
            asyncio.run(fetch(urls, headers, clients, len(urls), math.inf, keep=False))
    return time.perf_counter() - t0


# -- one mode -----------------------------------------------------------------------------
@dataclass
class ModeResult:
    mode: str
    switches: dict[str, str]
    known_switches: list[str]
    distinct_tiles: int
    prime_s: float
    browsing: dict[str, Any]
    hit_rate: float
    report_alone_p50_ms: float
    report_alone_p95_ms: float
    reports_alone: int
    report_p50_ms: float
    report_p95_ms: float
    transition_p50_ms: float
    transition_p95_ms: float
    reports: int
    reports_landed: int
    transitions: dict[str, int]
    failed_writes: dict[str, int]
    overdue_scheduled: int
    write_late_s: float


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else math.nan


def run_mode(
    mode: str, url: str, engine: Any, settings: Any, args: argparse.Namespace, logs: Path
) -> ModeResult:
    from bench.tiles_harness import Server, _free_port
    from gisgrid.settings import Settings

    switches = MODES[mode]
    n_writes = math.floor(args.rate * args.duration)
    sc = scene(engine, settings, n_writes + 1 + QUIET_REPORTS, args.seed)
    env = {k: v for k, v in os.environ.items() if k not in SWITCHES}
    env.update(switches, GISGRID_DATABASE_URL=url)
    env["GISGRID_SECRET_KEY"] = settings.secret_key.get_secret_value()
    env.setdefault("GISGRID_ESCALATION_SWEEP_S", "0")  # no writes but the replay's
    # the clients share one address: give the anonymous ones the render share of that many
    env.setdefault("GISGRID_TILE_RENDERS_PER_CLIENT", str(args.clients))
    argv = [sys.executable, "-c", "from api.cli import main; main()", "serve"]
    server = Server(
        name=f"gisgrid serve ({mode})",
        argv=[*argv, "--workers", str(args.workers)],
        env=env,
        cwd=Path.cwd(),
        health="/health",
        port=_free_port(),
        log=logs / f"serve-{mode}.log",
    )
    walks = [
        view_paths(walk(sc.lon, sc.lat, VIEWS_PER_WALK, seed=args.seed * 100 + i), signed_in=i == 0)
        for i in range(args.clients)
    ]
    server.start(timeout_s=600)  # a city store on a busy machine takes a while
    try:
        # one report first, untimed: the server builds its grid index on the first
        warm = Replay(server.base, sc, 1.0, 1.0, args.seed)
        warm.run()
        if not warm.out.report_ids:
            raise RuntimeError(f"the warm-up report failed: {warm.out.failed}")
        # reports alone, 10 a second: what a write costs when nothing else runs
        quiet = Replay(server.base, sc, 10.0, QUIET_REPORTS / 10.0, args.seed, ("report",))
        quiet.run()
        # every tile of the walks once, so the run starts from a full cache (a server that
        # has been up a while), not from the warm-up's share of it
        primed_s = prime(server.base, walks, sc.centre_token, args.clients)
        # due times spread over the measured window, which starts after the warm-up
        t0 = time.monotonic()
        lead = args.warmup + 1.0
        # --rate 0: nothing changes while the clients browse (the walk's own hit rate)
        n_due = max(3, n_writes // 4) if n_writes else 0
        due = schedule_due(engine, sc.lon, sc.lat, n_due, lead, lead + args.duration)
        if args.warmup > 0:
            browse(server.base, walks, args.warmup, sc.centre_token)
        lag = lead - (time.monotonic() - t0)
        if lag > 0:
            time.sleep(lag)
        replay = Replay(server.base, sc, args.rate, args.duration, args.seed)
        if n_writes:
            replay.start()
        seen = browse(server.base, walks, args.duration, sc.centre_token)
        if n_writes:
            replay.join(timeout=args.duration + 60)
    finally:
        server.stop()
    w = replay.out
    return ModeResult(
        mode=mode,
        switches=switches,
        known_switches=[s for s in SWITCHES.values() if s in Settings.model_fields],
        distinct_tiles=len({p for paths in walks for p in paths}),
        prime_s=primed_s,
        browsing=asdict(seen),
        hit_rate=seen.hit_rate,
        report_alone_p50_ms=_pct(quiet.out.report_ms, 50),
        report_alone_p95_ms=_pct(quiet.out.report_ms, 95),
        reports_alone=len(quiet.out.report_ids),
        report_p50_ms=_pct(w.report_ms, 50),
        report_p95_ms=_pct(w.report_ms, 95),
        transition_p50_ms=_pct(w.transition_ms, 50),
        transition_p95_ms=_pct(w.transition_ms, 95),
        reports=len(w.report_ids),
        reports_landed=landed(engine, w.report_ids),
        transitions=w.transitions,
        failed_writes=w.failed,
        overdue_scheduled=due,
        write_late_s=w.late_s,
    )


# -- the report ---------------------------------------------------------------------------
def table(results: list[ModeResult]) -> str:
    """Both modes side by side with the targets."""
    cols = [r.mode for r in results]

    def b(r: ModeResult, k: str) -> Any:
        return r.browsing[k]

    rows: list[tuple[str, list[str], str]] = [
        ("distinct tiles walked", [str(r.distinct_tiles) for r in results], ""),
        ("prime, every tile once s", [f"{r.prime_s:.0f}" for r in results], ""),
        ("tile requests", [f"{b(r, 'requests'):,}" for r in results], ""),
        ("tile requests/s", [f"{b(r, 'rps'):.0f}" for r in results], ""),
        ("tile p50 ms", [f"{b(r, 'p50_ms'):.1f}" for r in results], ""),
        ("tile p95 ms", [f"{b(r, 'p95_ms'):.1f}" for r in results], f"<= {TARGET_P95_MS:.0f}"),
        ("tile p99 ms", [f"{b(r, 'p99_ms'):.1f}" for r in results], ""),
        ("cache hit %", [f"{100 * r.hit_rate:.1f}" for r in results], f">= {TARGET_HIT:.0%}"),
        ("tiles 4xx/5xx/socket", [
            f"{b(r, 's4xx')}/{b(r, 's5xx')}/{b(r, 'socket_errors')}" for r in results], ""),
        ("report alone p50 ms", [f"{r.report_alone_p50_ms:.1f}" for r in results], ""),
        ("report alone p95 ms", [f"{r.report_alone_p95_ms:.1f}" for r in results], ""),
        ("report write p50 ms", [f"{r.report_p50_ms:.1f}" for r in results], ""),
        ("report write p95 ms", [f"{r.report_p95_ms:.1f}" for r in results], ""),
        ("transition p50 ms", [f"{r.transition_p50_ms:.1f}" for r in results], ""),
        ("transition p95 ms", [f"{r.transition_p95_ms:.1f}" for r in results], ""),
        ("reports landed/sent", [f"{r.reports_landed}/{r.reports}" for r in results], ""),
        ("transitions a/c/d", [
            " ".join(f"{k[0]}{v}" for k, v in sorted(r.transitions.items())) or "-"
            for r in results], ""),
        ("failed writes", [
            " ".join(f"{k}:{v}" for k, v in sorted(r.failed_writes.items())) or "0"
            for r in results], ""),
        ("cases due in the run", [str(r.overdue_scheduled) for r in results], ""),
        ("writes behind schedule s", [f"{r.write_late_s:.1f}" for r in results], ""),
    ]  # fmt: skip
    base = next((r for r in results if r.mode == "without"), None)
    if base is not None:
        for label, attr in (("alone", "report_alone_p50_ms"), ("live", "report_p50_ms")):
            rows.append(
                (
                    f"write overhead ms, {label}",
                    [
                        "-" if r is base else f"{getattr(r, attr) - getattr(base, attr):+.1f}"
                        for r in results
                    ],
                    f"<= {TARGET_WRITE_OVERHEAD_MS:.0f}",
                )
            )
    width = 2 + max(12, *(len(c) for c in cols), *(len(c) for _, cells, _ in rows for c in cells))
    lines = [f"{'':<26}" + "".join(f"{c:>{width}}" for c in cols) + f"{'target':>10}"]
    for label, cells, target in rows:
        lines.append(f"{label:<26}" + "".join(f"{c:>{width}}" for c in cells) + f"{target:>10}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[ModeResult]:
    from bench import wrk

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30, help="measured seconds per mode")
    parser.add_argument("--warmup", type=float, default=10, help="browsing alone first, seconds")
    parser.add_argument("--rate", type=float, default=2.0, help="writes a second; 0: none")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="gisgrid serve --workers")
    parser.add_argument("--data-dir", "--store", default=None, help="a self-managed cluster")
    parser.add_argument("--db-port", type=int, default=None)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--modes", default="without,with")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        parser.error(f"--modes {unknown}; expected some of {list(MODES)}")
    if not wrk.available():
        print("bench live needs wrk: bash scripts/sysdeps.sh --bench (as root)")
        return []
    if args.data_dir:
        os.environ["GISGRID_DATA_DIR"] = str(Path(args.data_dir).expanduser().absolute())
    if args.db_port:
        os.environ["GISGRID_DB_PORT"] = str(args.db_port)
    os.environ.setdefault("GISGRID_SECRET_KEY", secrets.token_urlsafe(32))

    from bench.tiles import _store
    from gisgrid.settings import get_settings

    url, engine = _store(args.database_url)
    settings = get_settings(database_url=url)
    print(
        f"{args.clients} clients (1 signed in) browsing, {args.rate:g} writes/s, "
        f"{args.warmup:g} s warm-up + {args.duration:g} s measured per mode, "
        f"serve --workers {args.workers}; load average {_loadavg()}",
        flush=True,
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="gisgrid-live-logs-") as tmp:
        for mode in modes:
            results.append(run_mode(mode, url, engine, settings, args, Path(tmp)))
            r = results[-1]
            print(
                f"{mode}: {r.browsing['requests']:,} tiles, p95 {r.browsing['p95_ms']:.1f} ms,"
                f" hit {100 * r.hit_rate:.1f} %, report p50 {r.report_p50_ms:.1f} ms;"
                f" load average {_loadavg()}",
                flush=True,
            )
            missing = [v for k, v in SWITCHES.items() if v not in r.known_switches]
            if missing and r.switches:
                print(f"note: this gisgrid has no {missing}: '{mode}' ran today's tiles")
    engine.dispose()
    if len(results) > 1 and results[0].known_switches != list(SWITCHES.values()):
        print("note: without the switches both modes run the same code (their gap is noise)")
    print(table(results))
    print(f"load average after: {_loadavg()}", flush=True)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return results


def _loadavg() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


if __name__ == "__main__":
    main()
