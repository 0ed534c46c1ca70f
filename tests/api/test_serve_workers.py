"""``gisgrid serve --workers N``: N processes that all answer and share the signing key."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from gisgrid.store.cluster import Cluster
from tests.city_support import PASSWORD, username_of
from tests.live_server import free_port

ROOT = Path(__file__).resolve().parents[2]
SERVE = [sys.executable, "-c", "from api.cli import main; main()", "serve"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GISGRID_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


@contextmanager
def _serving(args: list[str], env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``gisgrid serve ARGS`` on a free port, once /health answers; stopped after."""
    port = free_port()
    proc = subprocess.Popen(
        [*SERVE, "--host", "127.0.0.1", "--port", str(port), *args],
        env=env,
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"gisgrid serve {args} exited"
            assert time.monotonic() < deadline, f"gisgrid serve {args} did not start"
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield base, proc
    finally:
        with suppress(ProcessLookupError):  # a test may have stopped it already
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def two_workers(cluster: Cluster, store: Engine) -> Iterator[str]:
    env = _env(
        GISGRID_DATABASE_URL=cluster.url(dbname=store.url.database),
        GISGRID_SECRET_KEY="workers-test-key-" + "w" * 32,
    )
    with _serving(["--workers", "2"], env) as (base, _):
        yield base


def test_without_a_secret_key_serve_starts_one_worker(cluster: Cluster, store: Engine) -> None:
    # what `make demo` runs on a machine with no configuration: it must serve, not refuse
    env = _env(GISGRID_DATABASE_URL=cluster.url(dbname=store.url.database))
    with _serving([], env) as (base, proc):
        assert len(_pids_answering(base, 2, tries=40)) == 1
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert "with 1 worker(s)" in out


def _pids_answering(base: str, want: int, tries: int = 400) -> set[int]:
    """The worker pids seen over fresh connections to /health (stops once ``want`` are seen)."""
    pids: set[int] = set()
    for _ in range(tries):
        r = httpx.get(f"{base}/health", timeout=10)  # one connection per request
        assert r.status_code == 200, r.text
        pids.add(r.json()["pid"])
        if len(pids) >= want:
            break
    return pids


def test_both_workers_answer(two_workers: str) -> None:
    assert len(_pids_answering(two_workers, 2)) == 2


def test_a_token_from_one_worker_is_accepted_by_the_other(two_workers: str, store: Engine) -> None:
    # Tokens are issued and checked over fresh connections, spread over both workers (the test
    # above shows both take connections); with a per-process key about half of the checks
    # would be 401.
    username = username_of(store, "grid_worker")
    statuses = []
    for _ in range(6):
        r = httpx.post(
            f"{two_workers}/token", data={"username": username, "password": PASSWORD}, timeout=10
        )
        assert r.status_code == 200, r.text
        header = {"Authorization": f"Bearer {r.json()['access_token']}"}
        for _ in range(6):
            statuses.append(httpx.get(f"{two_workers}/me", headers=header, timeout=10).status_code)
    assert statuses == [200] * len(statuses)


def test_more_than_one_worker_without_a_secret_key_is_refused(cluster: Cluster) -> None:
    env = _env(GISGRID_DATABASE_URL=cluster.url())
    done = subprocess.run(
        [*SERVE, "--port", str(free_port()), "--workers", "2"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "GISGRID_SECRET_KEY" in done.stderr and "workers" in done.stderr


def test_the_workers_socket_gives_connections_tcp_nodelay() -> None:
    # Without it, keep-alive responses from serve --workers N wait ~40 ms each (Nagle).
    import asyncio
    import socket

    import uvicorn

    from api.cli import listening_socket

    sock = listening_socket(uvicorn.Config("api.app:app_from_env", port=free_port()))
    nodelay: list[int] = []

    async def main() -> None:
        def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            s = writer.get_extra_info("socket")
            nodelay.append(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(accepted, sock=sock)
        async with server:
            _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
            for _ in range(100):
                if nodelay:
                    break
                await asyncio.sleep(0.01)
            writer.close()

    asyncio.run(main())
    assert nodelay and nodelay[0] != 0
