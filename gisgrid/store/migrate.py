"""The migration runner: Alembic up and down, the repeatable function step, and the revision a
database is at."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, create_engine, pool, text

from gisgrid.store.functions import MIGRATE_LOCK, install_functions


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "gisgrid.store:migrations")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@contextmanager
def _migration_lock(url: str) -> Iterator[Connection]:
    """A connection that holds the store's migration lock (a session advisory lock) until
    the block ends: a second process that migrates meanwhile waits, then finds it done."""
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATE_LOCK})
            conn.commit()
            try:
                yield conn
            finally:
                conn.rollback()
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATE_LOCK})
                conn.commit()
    finally:
        engine.dispose()


def migrate_to_head(url: str) -> list[str]:
    """Apply every Alembic migration up to head, then install the function files whose
    checksum the store does not hold (:mod:`gisgrid.store.functions`); returns their names.
    ``gisgrid db up`` runs this, so a store always runs the functions of the code in hand."""
    from alembic import command

    with _migration_lock(url) as conn:
        command.upgrade(_alembic_config(url), "head")
        return install_functions(conn)


def migrate_down(url: str, revision: str = "base") -> None:
    """Downgrade to ``revision``; below 0005 the checksums go, and the next upgrade to head
    installs every function file again."""
    from alembic import command

    with _migration_lock(url):
        command.downgrade(_alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
