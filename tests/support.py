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
def scratch_engine(cluster: Cluster, name: str, migrate: bool = True) -> Iterator[Engine]:
    """A fresh database ``name`` in the test cluster (migrated unless told not), dropped after."""
    with psycopg.connect(cluster.libpq_url("postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    url = cluster.url(dbname=name)
    if migrate:
        migrate_to_head(url)
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        with psycopg.connect(cluster.libpq_url("postgres"), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
