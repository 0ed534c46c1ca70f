"""Throughput with ``wrk``, a compiled load generator that is not the bottleneck.

The httpx client the benches used for throughput sat at 89-99 % of a core in the 8-client
runs, so its ratios measured the client. ``wrk`` (Debian's package; ``scripts/sysdeps.sh
--bench`` installs it) sends the same URL list round-robin from a Lua script and reports
requests/s and latency percentiles; the Python client stays for correctness (status codes,
decoded bodies). Only the URLs given are contacted.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

# Each thread walks the whole list from its own offset; done() prints one JSON line.
LUA = r"""
local paths = {}
local counter = 0
function setup(thread)
  thread:set("offset", counter)
  counter = counter + 1
end
function init(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  i = (offset or 0) * 7919
end
function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"status_errors":%d,"socket_errors":%d,' ..
    '"p50_us":%d,"p95_us":%d,"p99_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.status,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.mean))
end
"""


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: requests/s, latency percentiles in ms, and responses that were not 2xx/3xx
    (``status_errors``) or never came (``socket_errors``)."""

    requests: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_bytes: float
    status_errors: int
    socket_errors: int


def available() -> bool:
    """Whether ``wrk`` is on the PATH.

    >>> isinstance(available(), bool)
    True
    """
    return shutil.which("wrk") is not None


def run(
    urls: list[str],
    *,
    connections: int = 16,
    threads: int = 2,
    duration_s: float = 10,
    headers: dict[str, str] | None = None,
) -> WrkResult:
    """Send ``urls`` (one host) round-robin for ``duration_s`` over ``connections`` keep-alive
    connections from ``threads`` wrk threads."""
    if not urls:
        raise ValueError("no URLs to send")
    if not available():
        raise RuntimeError("wrk is not installed: bash scripts/sysdeps.sh --bench")
    first = urlsplit(urls[0])
    base = f"{first.scheme}://{first.netloc}"
    paths = []
    for u in urls:
        s = urlsplit(u)
        if f"{s.scheme}://{s.netloc}" != base:
            raise ValueError(f"{u!r} is not on {base}: wrk sends to one host")
        paths.append(s.path + (f"?{s.query}" if s.query else ""))
    with tempfile.TemporaryDirectory(prefix="gisgrid-wrk-") as tmp:
        script, listing = Path(tmp, "list.lua"), Path(tmp, "paths.txt")
        script.write_text(LUA)
        listing.write_text("\n".join(paths) + "\n")
        argv = ["wrk", "-t", str(min(threads, connections)), "-c", str(connections)]
        argv += ["-d", f"{max(1, round(duration_s))}s", "--latency", "-s", str(script)]
        for k, v in (headers or {}).items():
            argv += ["-H", f"{k}: {v}"]
        argv += [base + "/", "--", str(listing)]
        done = subprocess.run(argv, capture_output=True, text=True, check=True)
    line = next(ln for ln in reversed(done.stdout.splitlines()) if ln.startswith("{"))
    r = json.loads(line)
    n = max(1, r["requests"])
    return WrkResult(
        requests=r["requests"],
        rps=r["requests"] / (r["duration_us"] / 1e6),
        p50_ms=r["p50_us"] / 1000,
        p95_ms=r["p95_us"] / 1000,
        p99_ms=r["p99_us"] / 1000,
        mean_bytes=r["bytes"] / n,
        status_errors=r["status_errors"],
        socket_errors=r["socket_errors"],
    )
