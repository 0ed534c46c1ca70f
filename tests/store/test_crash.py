"""Crash safety: a process killed with SIGKILL in the middle of a 200,000-row load or of a
store-wide update, and PostgreSQL itself killed in the middle of a load, leave the store as
it was (every table's rows and checksum, every index), and the next ``db up`` is clean.

The work runs in a child process that is killed once pg_stat_activity shows it inside the
statement (the load's COPY, the reassign's UPDATE). The "publish-sized update" is
:func:`gisgrid.assign.store.reassign` of every incident in one transaction (chunk_rows
above the table's size), which is what a publish will be; a chunked reassign commits
chunk by chunk on purpose, and its unit of atomicity is the chunk.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from gisgrid.assign.store import trigger_off
from gisgrid.cli.main import app
from gisgrid.io.load import load_file
from gisgrid.store.backup import table_fingerprints
from gisgrid.store.cluster import Cluster
from gisgrid.store.engine import make_engine
from gisgrid.store.migrate import _alembic_config, current_revision
from tests.city_support import grid_extent, tiny_city
from tests.io.support import reset

ROWS = 200_000
ROOT = Path(__file__).resolve().parents[2]
DB = "crash_scratch"
LOAD = (
    "import sys; from gisgrid.io.load import load_file; "
    "from gisgrid.store.engine import make_engine; "
    "load_file(make_engine(sys.argv[1]), 'incidents', sys.argv[2])"
)
REASSIGN = (
    "import sys; from gisgrid.assign.store import reassign; "
    "from gisgrid.store.engine import make_engine; "
    "reassign(make_engine(sys.argv[1]), 'incidents', chunk_rows=10**9)"
)


def _incidents_csv(path: Path, box: tuple[float, float, float, float], rows: int) -> Path:
    rng = np.random.default_rng(14)
    w, s, e, n = box
    seconds = rng.integers(0, 300 * 86400, rows).astype("timedelta64[s]")
    pd.DataFrame(
        {
            "category": "0101",
            "reported_at": (np.datetime64("2026-01-01T00:00:00") + seconds).astype(str),
            "description": "crash test",
            "lon": rng.uniform(w, e, rows).round(6),
            "lat": rng.uniform(s, n, rows).round(6),
        }
    ).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def city(cluster: Cluster) -> Iterator[Engine]:
    with tiny_city(cluster, DB) as engine:
        yield engine


@pytest.fixture(scope="module")
def big_file(city: Engine, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("crash")
    return _incidents_csv(folder / "incidents.csv", grid_extent(city), ROWS)


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _child(code: str, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _inside(
    libpq: str, db: str, statement: str, child: subprocess.Popen[bytes], timeout_s: float = 90
) -> int:
    """The backend pid once the child's session is running ``statement`` (a LIKE pattern)."""
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(libpq, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND state = 'active'"
                " AND query LIKE %s",
                (db, statement),
            ).fetchone()
            if row is not None:
                return int(row[0])
            if child.poll() is not None:
                stderr = child.stderr.read().decode() if child.stderr else ""
                pytest.fail(f"the child ended ({child.returncode}) before {statement}: {stderr}")
            time.sleep(0.005)
    child.kill()
    pytest.fail(f"the child never ran {statement}")


def _gone(libpq: str, pid: int, timeout_s: float = 90) -> None:
    """Wait until a backend has ended (after its client died it still finishes its step)."""
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(libpq, autocommit=True) as conn:
        while time.monotonic() < deadline:
            if not conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
                return
            time.sleep(0.05)
    pytest.fail(f"backend {pid} still running {timeout_s} s after its client was killed")


def _state(engine: Engine) -> dict[str, Any]:
    """Every table's rows and checksum, and every index (its definition and validity)."""
    with engine.connect() as conn:
        indexes = conn.execute(
            text(
                "SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indisvalid, i.indisready"
                " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
                " ORDER BY 1"
            )
        ).all()
    return {"tables": table_fingerprints(engine), "indexes": [tuple(r) for r in indexes]}


def _db_up_is_clean(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GISGRID_DATABASE_URL", url)
    up = CliRunner().invoke(app, ["db", "up"])
    assert up.exit_code == 0, up.output
    head = ScriptDirectory.from_config(_alembic_config(url)).get_current_head()
    assert current_revision(url) == head


def _kill_child_inside(engine: Engine, code: str, statement: str, *args: str) -> None:
    libpq = _url(engine).replace("+psycopg", "")
    child = _child(code, _url(engine), *args)
    pid = _inside(libpq, str(engine.url.database), statement, child)
    child.send_signal(signal.SIGKILL)
    assert child.wait(30) == -signal.SIGKILL
    _gone(libpq, pid)


def test_a_load_killed_in_its_copy_changes_nothing(
    city: Engine, big_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _state(city)
    _kill_child_inside(city, LOAD, "COPY _gisgrid_load%", str(big_file))
    assert _state(city) == before
    _db_up_is_clean(_url(city), monkeypatch)
    # nothing held on: no lock, no temporary table, no dropped index in the way
    small = _incidents_csv(tmp_path / "small.csv", grid_extent(city), 10)
    assert load_file(city, "incidents", small).inserted == 10


def test_a_store_wide_update_killed_midway_changes_nothing(
    city: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    w, s, e, n = grid_extent(city)
    with city.begin() as conn:
        # ROWS incidents whose ids are not filled in (the trigger is off, as a load does it
        # when it writes the ids itself): a reassign of all incidents rewrites every one
        trigger_off(conn)
        conn.execute(
            text(
                "INSERT INTO incidents (category, reported_at, description, geom)"
                " SELECT '0101', timestamptz '2026-01-01' + g * interval '1 minute', 'stale',"
                " ST_SetSRID(ST_MakePoint(:w + random() * (:e - :w), :s + random() * (:n - :s)),"
                " 4326) FROM generate_series(1, :rows) g"
            ),
            {"w": w, "e": e, "s": s, "n": n, "rows": ROWS},
        )
    before = _state(city)
    assert before["tables"]["incidents"].rows > ROWS
    # the statement starts with the SQL file's comments: match the UPDATE anywhere in it
    _kill_child_inside(city, REASSIGN, '%UPDATE "incidents" t%SET grid_id%')
    assert _state(city) == before
    _db_up_is_clean(_url(city), monkeypatch)


def test_postgres_killed_in_a_load_recovers_to_the_store_as_it_was(
    spare_cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spare_cluster.up()
    engine = make_engine(spare_cluster.url())
    try:
        reset(engine)  # a city and a district, the categories; no grids: rows unassigned
        path = _incidents_csv(tmp_path / "incidents.csv", (126.60, 45.70, 126.70, 45.80), ROWS)
        before = _state(engine)
        child = _child(LOAD, spare_cluster.url(), str(path))
        pid = _inside(
            spare_cluster.libpq_url(), spare_cluster.db_name, "COPY _gisgrid_load%", child
        )
        assert pid
        spare_cluster.kill(backends=True)
        assert child.wait(30) != 0  # the loader lost its server
        assert spare_cluster.running_pid() is None
        engine.dispose()
        info = spare_cluster.up()  # crash recovery replays the WAL, then migrates
        assert info["was_running"] is False
        assert _state(engine) == before
        _db_up_is_clean(spare_cluster.url(), monkeypatch)
    finally:
        engine.dispose()
