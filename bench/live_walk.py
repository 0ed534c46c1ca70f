"""The browsing side of ``bench.live`` that needs no store: pan/zoom walks over a city centre,
the tile paths the web map would ask for on each view, and the wrk script that replays them.

A walk is what one person does in front of the map: start near the centre at a street-level
zoom, then zoom in, zoom out or pan half a screen, step after step, never further than
``radius_m`` from the centre. Each view asks for the tiles the web map (``api/static/map.js``)
loads at that zoom: the area outlines from the zoom each level starts at, units, incidents,
and for a signed-in caller places. Tiles are 512 px, as MapLibre's vector sources, on a
1280 x 800 screen.
"""

from __future__ import annotations

import json
import math
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SCREEN_PX = (1280, 800)
TILE_PX = 512
MIN_Z, MAX_Z = 8, 16
EARTH_M = 40_075_016.686  # the equator's length in Web Mercator metres

# (layer, first zoom) as the web map shows them by default (map.js AREAS and addLayers; the
# outlines of a level stay drawn at every zoom past its first); heat and hex start hidden
ANONYMOUS_LAYERS = (
    ("districts", 0),
    ("streets", 9),
    ("communities", 10),
    ("grids", 11),
    ("units", 0),
    ("incidents", 0),
)
SIGNED_IN_LAYERS = (*ANONYMOUS_LAYERS, ("places", 13))


def view_tiles(lon: float, lat: float, z: int) -> list[tuple[int, int, int]]:
    """The 512 px tiles at zoom ``z`` that a 1280 x 800 screen centred on lon/lat shows.

    >>> tiles = view_tiles(126.63, 45.76, 12)
    >>> len(tiles), tiles[0], tiles[-1]  # 2.5 x 1.6 tiles wide: 4 x 2 partly shown
    (8, (12, 3487, 1460), (12, 3490, 1461))
    """
    n = 2**z
    fx = (lon + 180.0) / 360.0 * n
    fy = (1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n
    half_w, half_h = SCREEN_PX[0] / TILE_PX / 2, SCREEN_PX[1] / TILE_PX / 2
    x0, x1 = max(0, math.floor(fx - half_w)), min(n - 1, math.floor(fx + half_w))
    y0, y1 = max(0, math.floor(fy - half_h)), min(n - 1, math.floor(fy + half_h))
    return [(z, x, y) for y in range(y0, y1 + 1) for x in range(x0, x1 + 1)]


def walk(
    lon: float, lat: float, views: int, seed: int, radius_m: float = 4000.0
) -> list[tuple[float, float, int]]:
    """``views`` (lon, lat, zoom) views of one person's walk around lon/lat, seeded: each step
    zooms in or out by one (within z8-z16) or pans half a screen; a pan that would leave
    ``radius_m`` of the centre goes back towards it instead.

    >>> w = walk(126.63, 45.76, 50, seed=1)
    >>> len(w), w == walk(126.63, 45.76, 50, seed=1), w == walk(126.63, 45.76, 50, seed=2)
    (50, True, False)
    >>> all(MIN_Z <= z <= MAX_Z for _, _, z in w)
    True
    """
    rng = np.random.default_rng([seed, 15])
    m_per_deg_lon = EARTH_M / 360.0 * math.cos(math.radians(lat))
    m_per_deg_lat = 111_320.0
    x, y = 0.0, 0.0  # metres east and north of the centre
    z = int(rng.integers(10, 14))
    out = []
    for _ in range(views):
        out.append((lon + x / m_per_deg_lon, lat + y / m_per_deg_lat, z))
        step = rng.random()
        if step < 0.3 and z < MAX_Z:
            z += 1
        elif step < 0.55 and z > MIN_Z:
            z -= 1
        else:
            # half a screen at this zoom, in ground metres
            px_m = EARTH_M * math.cos(math.radians(lat)) / (TILE_PX * 2**z)
            angle = rng.uniform(0, 2 * math.pi)
            dx = math.cos(angle) * SCREEN_PX[0] / 2 * px_m
            dy = math.sin(angle) * SCREEN_PX[1] / 2 * px_m
            if math.hypot(x + dx, y + dy) > radius_m:
                dx, dy = -math.copysign(abs(dx), x), -math.copysign(abs(dy), y)
            x, y = x + dx, y + dy
            if math.hypot(x, y) > radius_m:  # a wide screen at low zoom: back to the centre
                x, y = 0.0, 0.0
    return out


def view_paths(views: list[tuple[float, float, int]], signed_in: bool) -> list[str]:
    """The tile paths the web map asks for, view after view (the same tile again when a
    later view shows it again: a browser without a cache revalidates it).

    >>> paths = view_paths([(126.63, 45.76, 8)], signed_in=False)
    >>> sorted({p.split("/")[2] for p in paths})
    ['districts', 'incidents', 'units']
    >>> any("/places/" in p for p in view_paths([(126.63, 45.76, 14)], signed_in=True))
    True
    """
    layers = SIGNED_IN_LAYERS if signed_in else ANONYMOUS_LAYERS
    paths = []
    for lon, lat, z in views:
        shown = [layer for layer, first in layers if z >= first]
        for _, x, y in view_tiles(lon, lat, z):
            paths += [f"/tiles/{layer}/{z}/{x}/{y}.pbf" for layer in shown]
    return paths


# wrk: thread i (one connection each) replays walk i; the first thread sends the bearer token.
# response() counts how the server answered: X-Cache hit or miss (api/routes/tiles.py), 304,
# and statuses; done() sums the threads and prints one JSON line.
LUA = r"""
local threads = {}
local counter = 0
function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end
function init(args)
  paths = {}
  for line in io.lines(args[1] .. "/walk_" .. id .. ".txt") do paths[#paths + 1] = line end
  i = 0
  hits, misses, not_modified, s2xx, s4xx, s5xx = 0, 0, 0, 0, 0, 0
  headers = {["Accept-Encoding"] = "gzip"}
  if id == 0 and args[2] ~= nil and args[2] ~= "" then
    headers["Authorization"] = "Bearer " .. args[2]
  end
end
function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], headers)
end
function response(status, hdrs, body)
  if status == 304 then not_modified = not_modified + 1
  elseif status >= 500 then s5xx = s5xx + 1
  elseif status >= 400 then s4xx = s4xx + 1
  else s2xx = s2xx + 1 end
  local x = hdrs["x-cache"] or hdrs["X-Cache"]
  if x == "hit" then hits = hits + 1 elseif x == "miss" then misses = misses + 1 end
end
function done(summary, latency, requests)
  local t = {hits = 0, misses = 0, not_modified = 0, s2xx = 0, s4xx = 0, s5xx = 0}
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + (thread:get(k) or 0) end
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"socket_errors":%d,' ..
    '"p50_us":%d,"p95_us":%d,"p99_us":%d,"hits":%d,"misses":%d,"not_modified":%d,' ..
    '"s2xx":%d,"s4xx":%d,"s5xx":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    t.hits, t.misses, t.not_modified, t.s2xx, t.s4xx, t.s5xx))
end
"""


@dataclass(frozen=True)
class Browsing:
    """What wrk saw: requests, requests/s, latency percentiles (ms), how the server answered."""

    requests: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    hits: int
    misses: int
    not_modified: int
    s4xx: int
    s5xx: int
    socket_errors: int

    @property
    def hit_rate(self) -> float:
        """Share of the answered tiles served without rendering (cache hits and 304s).

        >>> Browsing(10, 5.0, 1, 2, 3, hits=8, misses=1, not_modified=1, s4xx=0, s5xx=0,
        ...          socket_errors=0).hit_rate
        0.9
        """
        done = self.hits + self.misses + self.not_modified
        return (self.hits + self.not_modified) / done if done else math.nan


def browse(base: str, walks: list[list[str]], duration_s: float, token: str | None) -> Browsing:
    """Replay ``walks`` (one per client, looped) against ``base`` for ``duration_s`` with wrk,
    one thread and one keep-alive connection per client; the first client sends ``token``."""
    with tempfile.TemporaryDirectory(prefix="gisgrid-live-") as tmp:
        script = Path(tmp, "walk.lua")
        script.write_text(LUA)
        for i, paths in enumerate(walks):
            Path(tmp, f"walk_{i}.txt").write_text("\n".join(paths) + "\n")
        n = str(len(walks))
        argv = ["wrk", "-t", n, "-c", n, "-d", f"{max(1, round(duration_s))}s", "--latency"]
        # a slow tile is latency, not a socket error (wrk's default gives up after 2 s)
        argv += ["--timeout", "60s"]
        argv += ["-s", str(script), base + "/", "--", tmp, token or ""]
        done = subprocess.run(argv, capture_output=True, text=True, check=True)
    line = next(ln for ln in reversed(done.stdout.splitlines()) if ln.startswith("{"))
    r = json.loads(line)
    return Browsing(
        requests=r["requests"],
        rps=r["requests"] / (r["duration_us"] / 1e6),
        p50_ms=r["p50_us"] / 1000,
        p95_ms=r["p95_us"] / 1000,
        p99_ms=r["p99_us"] / 1000,
        hits=r["hits"],
        misses=r["misses"],
        not_modified=r["not_modified"],
        s4xx=r["s4xx"],
        s5xx=r["s5xx"],
        socket_errors=r["socket_errors"],
    )
