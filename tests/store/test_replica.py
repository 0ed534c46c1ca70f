"""The streaming replica (gisgrid.store.replica) and where reads go (gisgrid.store.reads):
a read routed to the replica never misses a commit made before it, a lagging or stopped
replica is passed over for the primary, and `gisgrid db replica up|status|down`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from gisgrid.cli.main import app
from gisgrid.store.cluster import Cluster
from gisgrid.store.engine import make_engine
from gisgrid.store.reads import ReadRouter
from gisgrid.store.replica import replica_down, replica_of, replica_status, slot_name
from tests.support import scratch_engine, wait_for_table

DB = "replica_store_scratch"


@pytest.fixture(scope="module")
def primary(cluster: Cluster) -> Iterator[Engine]:
    with scratch_engine(cluster, DB, migrate=False) as engine:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE notes (id serial PRIMARY KEY, body text)"))
        yield engine


@pytest.fixture()
def router(primary: Engine, replica: Cluster) -> Iterator[ReadRouter]:
    wait_for_table(replica, DB, "notes")
    r = ReadRouter(primary, make_engine(replica.url(dbname=DB)), wait_s=5.0, retry_s=0.0)
    yield r
    r.dispose()


def _write(primary: Engine, body: str) -> int:
    with primary.begin() as conn:
        return int(
            conn.execute(
                text("INSERT INTO notes (body) VALUES (:b) RETURNING id"), {"b": body}
            ).scalar_one()
        )


def _count(router: ReadRouter, **kw: int) -> int:
    with router.connect(**kw) as conn:
        return int(conn.execute(text("SELECT count(*) FROM notes")).scalar_one())


def test_the_replica_streams_and_is_read_only(cluster: Cluster, replica: Cluster) -> None:
    status = replica_status(cluster, replica)
    assert status["running"] and status["in_recovery"] and status["streaming"]
    assert status["slot"] == slot_name(replica)
    with (
        psycopg.connect(replica.libpq_url()) as conn,
        pytest.raises(psycopg.errors.ReadOnlySqlTransaction),
    ):
        conn.execute("CREATE TABLE nope (x int)")


def test_a_read_after_a_write_sees_it_on_the_replica(router: ReadRouter, primary: Engine) -> None:
    # a write and at once a read, many times: the replica is read each time, and each read
    # holds the write (without the wait for replay, some of these reads miss it)
    start = _count(router)
    for i in range(1, 61):
        _write(primary, f"burst {i}")
        assert _count(router) == start + i, f"read {i} missed a committed write"
    assert router.counts["replica"] == 61
    assert router.counts["primary_lagging"] == router.counts["primary_replica_down"] == 0
    assert router.wait_stats()["waits"] == 61


def test_a_position_seen_with_the_versions_is_waited_for(
    router: ReadRouter, primary: Engine
) -> None:
    # the tile service records the WAL position read with the versions; connect_seen waits
    # for it without asking the primary again
    _write(primary, "seen")
    router.saw(router.primary_lsn())
    with router.connect_seen() as conn:
        assert conn.execute(text("SELECT count(*) FROM notes WHERE body = 'seen'")).scalar() == 1
    assert router.counts["replica"] == 1


def test_a_lagging_replica_is_passed_over_for_the_primary(
    router: ReadRouter, primary: Engine, replica: Cluster
) -> None:
    router.wait_s = 0.2
    with psycopg.connect(replica.libpq_url(), autocommit=True) as ctl:
        ctl.execute("SELECT pg_wal_replay_pause()")
        try:
            before = _count(router)
            _write(primary, "while paused")
            assert _count(router) == before + 1  # from the primary, after 0.2 s
            # (the read before the write may have gone there too: the primary writes WAL
            # of its own, e.g. checkpoints, which the paused replica has not replayed)
            assert router.counts["primary_lagging"] >= 1
        finally:
            ctl.execute("SELECT pg_wal_replay_resume()")
    replica_reads = router.counts["replica"]
    assert _count(router) == before + 1
    assert router.counts["replica"] == replica_reads + 1


def test_a_server_that_is_not_a_standby_is_not_read(primary: Engine) -> None:
    router = ReadRouter(primary, primary, retry_s=60.0)
    _count(router)
    assert router.counts == {"replica": 0, "primary_lagging": 0, "primary_replica_down": 1}
    _count(router)  # not tried again until retry_s has passed
    assert router.counts["primary_replica_down"] == 1


def test_a_stopped_replica_is_passed_over_then_used_again(
    router: ReadRouter, primary: Engine, replica: Cluster
) -> None:
    replica.stop()
    try:
        before = _count(router)
        _write(primary, "while stopped")
        assert _count(router) == before + 1
        assert router.counts["primary_replica_down"] == 2  # both reads tried it (retry_s 0)
    finally:
        replica.start()
    assert _count(router) == before + 1
    assert router.counts["replica"] == 1


@pytest.fixture()
def spare_replica(spare_cluster: Cluster) -> Iterator[Cluster]:
    """The spare cluster's replica, as the CLI names it; stopped and removed after."""
    spare_cluster.up(migrate=False)
    r = replica_of(spare_cluster)
    yield r
    replica_down(spare_cluster, r, remove=True)


def test_the_cli_makes_reports_stops_and_removes_a_replica(
    spare_cluster: Cluster, spare_replica: Cluster
) -> None:
    env = {
        "GISGRID_DATA_DIR": str(spare_cluster.base),
        "GISGRID_DB_PORT": str(spare_cluster.port),
    }
    runner = CliRunner()
    r = spare_replica
    assert r.port == spare_cluster.port + 1

    def status() -> tuple[int, dict[str, object]]:
        got = runner.invoke(app, ["db", "replica", "status", "--json"], env=env)
        return got.exit_code, json.loads(got.stdout)

    code, info = status()
    assert code == 3 and info["running"] is False and info["initialised"] is False

    up = runner.invoke(app, ["db", "replica", "up"], env=env)
    assert up.exit_code == 0, up.output
    assert "started (new, from a base backup)" in up.output
    code, info = status()
    assert code == 0 and info["in_recovery"] is True and info["streaming"] is True
    # the lag is known once the standby has sent its first reply (the walsender streams
    # before that, with no replay position yet)
    for _ in range(100):
        if info["lag_bytes"] is not None:
            break
        time.sleep(0.1)
        code, info = status()
    assert info["port"] == r.port and info["lag_bytes"] is not None
    again = runner.invoke(app, ["db", "replica", "up"], env=env)
    assert "already running" in again.output

    down = runner.invoke(app, ["db", "replica", "down"], env=env)
    assert down.exit_code == 0 and "stopped" in down.output
    assert status()[0] == 3
    assert _slots(spare_cluster) == [slot_name(r)]  # kept: the replica catches up later

    removed = runner.invoke(app, ["db", "replica", "down", "--remove"], env=env)
    assert removed.exit_code == 0 and "removed" in removed.output
    assert not Path(r.base).exists()
    assert _slots(spare_cluster) == []

    # a reset deletes the replica too: it could not follow the new cluster
    assert runner.invoke(app, ["db", "replica", "up"], env=env).exit_code == 0
    reset = runner.invoke(app, ["db", "reset", "--yes"], env=env)
    assert reset.exit_code == 0, reset.output
    assert not Path(r.base).exists() and r.running_pid() is None


def test_the_cli_refuses_a_replica_of_an_external_database() -> None:
    env = {"GISGRID_DATABASE_URL": "postgresql://u@db.example.org/gisgrid"}
    got = CliRunner().invoke(app, ["db", "replica", "up"], env=env)
    assert got.exit_code == 1
    assert "GISGRID_READ_REPLICA_URL" in got.output


def _slots(c: Cluster) -> list[str]:
    with psycopg.connect(c.libpq_url("postgres")) as conn:
        return [str(r[0]) for r in conn.execute("SELECT slot_name FROM pg_replication_slots")]
