"""The parts of ``bench.tiles`` that do not need the store: tile lists, statistics, the bar,
the two uvicorn child processes and the httpx load generator."""

from __future__ import annotations

import asyncio
import gzip
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TIPG_VENV = ROOT / ".venv-tipg"
TIPG_REQUIREMENT = "tipg==1.6.1"
TIPG_DEFAULT_MAX_FEATURES = 10_000  # tipg's own TIPG_MAX_FEATURES_PER_TILE default

ZOOMS = (8, 12, 14, 16)
LAYER_ZOOMS: dict[str, tuple[int, ...]] = {
    "grids": (8, 12, 14, 16),
    "buildings": (14, 16),
    "incidents": (8, 12, 14, 16),
}
RAW_INCIDENTS_MINZOOM = 14  # below it gisgrid sends clusters, at and above it raw points

# tipg collection and query per gisgrid layer: the same rows, and as properties the columns of
# the table that gisgrid's layer carries too (tipg sends every column unless told; gisgrid also
# joins counts, category names and grid codes, which tipg cannot).
TIPG_LAYERS: dict[str, tuple[str, dict[str, str]]] = {
    "grids": (
        "public.areas",
        {
            "filter": "level = 'grid' AND valid_to IS NULL",
            "properties": "id,code,name,level,households,population",
        },
    ),
    "buildings": (
        "public.buildings",
        {"properties": "id,code,address,floors,household_count,use,grid_id"},
    ),
    "incidents": (
        "public.incidents",
        {"properties": "id,code,category,status,priority,reported_at,due_at,grid_id"},
    ),
}

Tile = tuple[int, int, int]


# -- tile lists (pure) -----------------------------------------------------------------------
def tile_xy(lon: np.ndarray, lat: np.ndarray, z: int) -> np.ndarray:
    """Web Mercator (XYZ) tile column and row of each lon/lat at zoom z, as an (n, 2) array.

    >>> tile_xy(np.array([0.0, 126.63]), np.array([0.0, 45.76]), 8).tolist()
    [[128, 128], [218, 91]]
    """
    n = 2**z
    lat = np.clip(lat, -85.05112878, 85.05112878)
    x = np.floor((np.asarray(lon) + 180.0) / 360.0 * n)
    y = np.floor((1.0 - np.arcsinh(np.tan(np.radians(lat))) / math.pi) / 2.0 * n)
    return np.column_stack([np.clip(x, 0, n - 1), np.clip(y, 0, n - 1)]).astype(np.int64)


def tiles_covering(bbox: Sequence[float], z: int) -> list[Tile]:
    """Every tile at zoom z that touches bbox (minlon, minlat, maxlon, maxlat), row by row.

    >>> tiles_covering((126.5, 45.6, 126.9, 45.9), 8)
    [(8, 217, 91), (8, 218, 91)]
    """
    w, s, e, n = bbox
    (x0, y0), (x1, y1) = tile_xy(np.array([w, e]), np.array([n, s]), z).tolist()
    return [(z, x, y) for y in range(y0, y1 + 1) for x in range(x0, x1 + 1)]


def pick_tiles(
    lon: np.ndarray, lat: np.ndarray, bbox: Sequence[float], z: int, n: int, seed: int
) -> list[Tile]:
    """The tiles to request at zoom z: all covering bbox when there are at most n of them,
    else n drawn (seeded, without replacement) from the distinct tiles holding a point.

    >>> lon, lat = np.array([126.60, 126.61, 126.90]), np.array([45.70, 45.70, 45.80])
    >>> pick_tiles(lon, lat, (126.5, 45.6, 126.9, 45.9), 8, 10, 1)
    [(8, 217, 91), (8, 218, 91)]
    >>> len(pick_tiles(lon, lat, (126.5, 45.6, 126.9, 45.9), 16, 2, 1))
    2
    """
    covering = tiles_covering(bbox, z)
    if len(covering) <= n:
        return covering
    held = np.unique(tile_xy(lon, lat, z), axis=0)
    rng = np.random.default_rng([seed, z])
    take = np.sort(rng.choice(len(held), size=min(n, len(held)), replace=False))
    return [(z, int(x), int(y)) for x, y in held[take]]


# -- statistics (pure) ---------------------------------------------------------------------
@dataclass
class PassStats:
    """One server's figures for one layer, zoom and pass."""

    requests: int
    req_per_s: float
    p50_ms: float
    p95_ms: float
    mean_bytes: float
    not_2xx: int
    client_cpu: float  # share of the wall time the client process spent on the CPU
    server_cpu_ms: float | None = None  # the server process's CPU time per request
    mean_features: float | None = None
    max_features: int | None = None


def summarise(
    latency_s: np.ndarray,
    nbytes: np.ndarray,
    status: np.ndarray,
    wall_s: float,
    cpu_s: float,
    server_cpu_s: float | None = None,
) -> PassStats:
    """Throughput over the pass's wall time; latency percentiles per request.

    >>> s = summarise(np.array([0.001, 0.002, 0.003, 0.004]), np.array([10, 20, 0, 10]),
    ...               np.array([200, 200, 204, 500]), wall_s=0.5, cpu_s=0.25, server_cpu_s=0.01)
    >>> s.requests, s.req_per_s, s.p50_ms, s.mean_bytes, s.not_2xx, s.client_cpu
    (4, 8.0, 2.5, 10.0, 1, 0.5)
    >>> s.server_cpu_ms
    2.5
    """
    p50, p95 = np.percentile(latency_s * 1000, [50, 95])
    return PassStats(
        requests=len(latency_s),
        req_per_s=len(latency_s) / wall_s,
        p50_ms=float(p50),
        p95_ms=float(p95),
        mean_bytes=float(np.mean(nbytes)),
        not_2xx=int(np.sum(~np.isin(status, (200, 204)))),
        client_cpu=cpu_s / wall_s,
        server_cpu_ms=None if server_cpu_s is None else server_cpu_s * 1000 / len(latency_s),
    )


@dataclass
class Verdict:
    """gisgrid against tipg for one layer, zoom and pass, and whether the bar is met."""

    throughput_ratio: float
    p50_ratio: float
    bar: str
    met: bool


def judge(kind: str, gisgrid: PassStats, tipg: PassStats) -> Verdict:
    """The issue's bar: warm under load, >= 3x tipg's req/s and p50 < 10 ms; warm with one
    client ("warm1"), p50 < 10 ms; cold, no slower than tipg (req/s at least tipg's and p50 at
    most tipg's). Any response that is not 200/204 misses.

    >>> a = PassStats(100, 300.0, 4.0, 9.0, 10, 0, 0.1)
    >>> b = PassStats(100, 90.0, 30.0, 60.0, 10, 0, 0.1)
    >>> judge("warm", a, b).met, judge("warm", a, b).bar
    (True, 'met')
    >>> judge("warm", b, a).bar
    'MISSED: req/s<3x, p50>=10ms'
    >>> judge("cold", b, a).bar
    'MISSED: req/s<1x, p50>1x'
    >>> judge("warm1", b, a).bar
    'MISSED: p50>=10ms'
    """
    thr = gisgrid.req_per_s / tipg.req_per_s
    p50 = gisgrid.p50_ms / tipg.p50_ms if tipg.p50_ms > 0 else math.inf
    misses = []
    if kind in ("warm", "warm1"):
        if kind == "warm" and thr < 3.0:
            misses.append("req/s<3x")
        if gisgrid.p50_ms >= 10.0:
            misses.append("p50>=10ms")
    else:
        if thr < 1.0:
            misses.append("req/s<1x")
        if p50 > 1.0:
            misses.append("p50>1x")
    if gisgrid.not_2xx:
        misses.append(f"{gisgrid.not_2xx} not 200/204")
    bar = "MISSED: " + ", ".join(misses) if misses else "met"
    return Verdict(throughput_ratio=thr, p50_ratio=p50, bar=bar, met=not misses)


def count_features(body: bytes) -> int:
    """Features in an MVT body (gzip or not), over all its layers; 0 for an empty body."""
    if not body:
        return 0
    from mapbox_vector_tile.Mapbox import vector_tile_pb2

    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    tile = vector_tile_pb2.tile()
    tile.ParseFromString(body)
    return sum(len(layer.features) for layer in tile.layers)


def asyncpg_url(sqlalchemy_url: str) -> str:
    """A libpq-style URL that tipg's settings accept (a socket folder goes into the host).

    >>> asyncpg_url("postgresql+psycopg://postgres@/gisgrid?host=%2Frun%2Fpg&port=5432")
    'postgresql://postgres@%2Frun%2Fpg:5432/gisgrid'
    >>> asyncpg_url("postgresql+psycopg://u:p%40ss@db.local:6543/twin?sslmode=disable")
    'postgresql://u:p%40ss@db.local:6543/twin?sslmode=disable'
    """
    from sqlalchemy.engine import make_url

    url = make_url(sqlalchemy_url)
    query = {k: v for k, v in url.query.items() if k not in ("host", "port")}
    host = url.host or str(url.query.get("host", "")) or "localhost"
    port = url.port or url.query.get("port")
    auth = quote(url.username or "", safe="")
    if url.password:
        auth += ":" + quote(str(url.password), safe="")
    netloc = f"{auth}@{quote(host, safe='')}" + (f":{port}" if port else "")
    tail = f"?{urlencode(query, doseq=True)}" if query else ""
    return f"postgresql://{netloc}/{url.database or ''}{tail}"


def needs_token(layer: str, z: int) -> bool:
    """Whether gisgrid serves this layer at this zoom only to a signed-in caller."""
    return layer == "buildings" or (layer == "incidents" and z >= RAW_INCIDENTS_MINZOOM)


def sends(server: str, layer: str, z: int, tipg_max_features: int) -> str:
    """What each server puts in the tile, and for whom, for the table.

    >>> sends("gisgrid", "incidents", 12, 10_000), sends("tipg", "incidents", 12, 10_000)
    ('clusters, anon', 'raw points <=10k')
    """
    if server == "gisgrid":
        what = {
            "grids": "grids+counts",
            "buildings": "footprints",
            "incidents": "points" if z >= RAW_INCIDENTS_MINZOOM else "clusters",
        }[layer]
        return what + (", bearer" if needs_token(layer, z) else ", anon")
    what = {"grids": "areas grid", "buildings": "footprints", "incidents": "raw points"}[layer]
    cap = tipg_max_features
    return f"{what} <={cap // 1000}k" if cap % 1000 == 0 else f"{what} <={cap:,}"


# -- servers ---------------------------------------------------------------------------------
UVICORN_FLAGS = ("--workers", "1", "--loop", "asyncio", "--http", "h11", "--no-access-log")


@dataclass
class Server:
    """A uvicorn child process on a loopback port, restartable."""

    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    health: str
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 180) -> None:
        import httpx

        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(
                [*self.argv, "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                cwd=self.cwd,
                stdout=fh,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if httpx.get(self.base + self.health, timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        tail = self.log.read_text(errors="replace")[-3000:]
        self.stop()
        raise RuntimeError(f"{self.name} did not come up on {self.base}; its log:\n{tail}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def cpu_s(self) -> float:
        """CPU time (user + system) the server process has used so far."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_tipg() -> Path:
    """The python of ``.venv-tipg``, made (tipg and gisgrid's uvicorn version) if missing."""
    from importlib.metadata import version

    python = TIPG_VENV / "bin" / "python"
    probe = [str(python), "-c", "import tipg, uvicorn"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    print(f"making {TIPG_VENV} with {TIPG_REQUIREMENT} (first use) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(TIPG_VENV)], check=True)
    # the venv ignores itself (as venvs made by Python 3.13 do), so git never sees it
    (TIPG_VENV / ".gitignore").write_text("*\n")
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, TIPG_REQUIREMENT, f"uvicorn=={version('uvicorn')}"], check=True)
    return python


def make_servers(
    url: str, secret: str, pool: int, tipg_python: Path, tipg_max_features: int, logs: Path
) -> tuple[Server, Server]:
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("TIPG_", "PG"))}
    g_env = dict(base_env, GISGRID_SECRET_KEY=secret, GISGRID_DATABASE_URL=url)
    g_env.setdefault("GISGRID_POOL_SIZE", str(pool))
    # the bench's clients share one address and token: give them the share of that many
    # clients, as tipg has no per-client cap on rendering (gisgrid.tiles.gate)
    g_env.setdefault("GISGRID_TILE_RENDERS_PER_CLIENT", str(pool))
    # no escalation sweep: its writes would move the incidents' tile version mid-pass
    g_env.setdefault("GISGRID_ESCALATION_SWEEP_S", "0")
    gisgrid = Server(
        name="gisgrid",
        argv=[sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", *UVICORN_FLAGS],
        env=g_env,
        cwd=Path.cwd(),
        health="/health",
        port=_free_port(),
        log=logs / "gisgrid.log",
    )
    collections = sorted({c for c, _ in TIPG_LAYERS.values()})
    t_env = dict(
        {k: v for k, v in base_env.items() if k not in ("DATABASE_URL",)},
        DATABASE_URL=asyncpg_url(url),
        TIPG_DB_TABLES=json.dumps(collections),
        TIPG_DB_FUNCTIONS="[]",
        TIPG_MAX_FEATURES_PER_TILE=str(tipg_max_features),
        TIPG_CATALOG_TTL="0",  # no catalog refresh in the middle of a timed pass
        DB_MIN_CONN_SIZE="1",
        DB_MAX_CONN_SIZE=str(pool),
    )
    tipg = Server(
        name="tipg",
        argv=[str(tipg_python), "-m", "uvicorn", "tipg.main:app", *UVICORN_FLAGS],
        env=t_env,
        cwd=logs,  # tipg reads a .env from its working folder: give it an empty one
        health="/healthz",
        port=_free_port(),
        log=logs / "tipg.log",
    )
    return gisgrid, tipg


def tile_url(server: Server, layer: str, tile: Tile) -> str:
    z, x, y = tile
    if server.name == "gisgrid":
        return f"{server.base}/tiles/{layer}/{z}/{x}/{y}.pbf"
    collection, params = TIPG_LAYERS[layer]
    return (
        f"{server.base}/collections/{collection}/tiles/WebMercatorQuad/{z}/{x}/{y}"
        f"?{urlencode(params)}"
    )


# -- the client --------------------------------------------------------------------------
@dataclass
class PassRun:
    latency_s: np.ndarray
    nbytes: np.ndarray
    status: np.ndarray
    wall_s: float
    cpu_s: float
    bodies: list[bytes]
    server_cpu_s: float | None = None


async def fetch(
    urls: list[str],
    headers: dict[str, str],
    concurrency: int,
    total: int,
    max_s: float,
    keep: bool,
) -> PassRun:
    """GET urls round-robin until `total` requests (or `max_s`, after one full round)."""
    import httpx

    lat = np.zeros(total)
    nbytes = np.zeros(total, dtype=np.int64)
    status = np.zeros(total, dtype=np.int64)
    bodies: list[bytes] = [b""] * (len(urls) if keep else 0)
    next_i = 0
    t_start = time.perf_counter()

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal next_i
        while True:
            late = time.perf_counter() - t_start > max_s
            if next_i >= total or (late and next_i >= len(urls)):
                return
            i, next_i = next_i, next_i + 1
            t0 = time.perf_counter()
            async with client.stream("GET", urls[i % len(urls)], headers=headers) as r:
                body = b"".join([chunk async for chunk in r.aiter_raw()])
            lat[i] = time.perf_counter() - t0
            nbytes[i], status[i] = len(body), r.status_code
            if keep and i < len(urls):
                bodies[i] = body

    conc = max(1, min(concurrency, total))
    limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
    async with httpx.AsyncClient(limits=limits, timeout=300) as client:
        cpu0 = time.process_time()
        t_start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(conc)))
        wall = time.perf_counter() - t_start
        cpu = time.process_time() - cpu0
    n = next_i
    return PassRun(lat[:n], nbytes[:n], status[:n], wall, cpu, bodies)
