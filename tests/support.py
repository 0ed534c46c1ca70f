"""Helpers shared by several test modules."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy import Engine

from gisgrid.store.cluster import Cluster
from gisgrid.store.engine import make_engine
from gisgrid.store.migrate import migrate_to_head


@contextmanager
def scratch_engine(
    cluster: Cluster, name: str, migrate: bool = True, template: str | None = None
) -> Iterator[Engine]:
    """A fresh database ``name`` in the test cluster, dropped after: a copy of ``template``
    (CREATE DATABASE ... TEMPLATE, seconds cheaper than building it again), or an empty one,
    migrated unless told not."""
    with psycopg.connect(cluster.libpq_url("postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
    url = cluster.url(dbname=name)
    if migrate and not template:
        migrate_to_head(url)
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        with psycopg.connect(cluster.libpq_url("postgres"), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def database_exists(cluster: Cluster, name: str) -> bool:
    with psycopg.connect(cluster.libpq_url("postgres"), autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None


def wait_for_table(replica: Cluster, dbname: str, table: str, timeout_s: float = 30) -> None:
    """Wait until a replica has replayed the creation of ``dbname`` and ``table`` in it."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with psycopg.connect(replica.libpq_url(dbname)) as conn:
                if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone() != (None,):
                    return
        except psycopg.OperationalError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"the replica has no {dbname}.{table} after {timeout_s} s")
        time.sleep(0.05)
