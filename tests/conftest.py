"""A throwaway PostGIS for the whole run, started with gisgrid's own cluster code.

Each test that takes ``db`` runs inside a transaction that is rolled back afterwards, so every
test starts from the same clean state.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from gisgrid.settings import Settings
from gisgrid.store.cluster import Cluster
from gisgrid.store.engine import make_engine
from tests.city_support import tiny_city

TEST_PORT = 55432


def pytest_configure(config: pytest.Config) -> None:
    # Starlette's TestClient sends Host: testserver; the apps the tests make answer to it
    # (api.hosts refuses a Host that is not trusted when GISGRID_PUBLIC_URL is unset)
    del config
    os.environ.setdefault("GISGRID_TRUSTED_HOSTS", "testserver")
    # no escalation sweeper in the apps tests make (it would change their cases under them);
    # tests/api/test_escalation.py turns it on
    os.environ.setdefault("GISGRID_ESCALATION_SWEEP_S", "0")


def _fresh_base(prefix: str) -> Path:
    # /tmp is world-traversable, so the postgres user can reach it when we run as root.
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    base = _fresh_base("gisgrid-test-")
    c = Cluster(base=base, port=TEST_PORT)
    c.up()
    try:
        yield c
    finally:
        c.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def settings(cluster: Cluster) -> Settings:
    return Settings(data_dir=cluster.base, db_port=cluster.port)


@pytest.fixture(scope="session")
def engine(cluster: Cluster) -> Iterator[Engine]:
    eng = make_engine(cluster.url())
    yield eng
    eng.dispose()


@pytest.fixture()
def db(engine: Engine) -> Iterator[Session]:
    """A session in a transaction that is rolled back after the test."""
    conn = engine.connect()
    outer = conn.begin()
    session = Session(bind=conn, join_transaction_mode="create_savepoint")
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        conn.close()


@pytest.fixture(scope="module")
def spare_cluster() -> Iterator[Cluster]:
    """A second cluster that tests may stop, kill and restart."""
    base = _fresh_base("gisgrid-spare-")
    c = Cluster(base=base, port=TEST_PORT + 1)
    try:
        yield c
    finally:
        c.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def store(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """This module's own tiny city, copied from the run's template and dropped after."""
    default = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_") + "_scratch"
    with tiny_city(cluster, getattr(request.module, "DB", default)) as engine:
        yield engine


@pytest.fixture(scope="session")
def replica(cluster: Cluster) -> Iterator[Cluster]:
    """A streaming replica of the run's cluster (pg_basebackup -R), removed at the end."""
    from gisgrid.store.replica import replica_down, replica_of, replica_up

    r = replica_of(cluster, port=TEST_PORT + 8)
    replica_up(cluster, r)
    try:
        yield r
    finally:
        replica_down(cluster, r, remove=True)
