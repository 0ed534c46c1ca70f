"""The repeatable step: the store runs the function SQL of the code in hand.

Functions, triggers, types and views are not tables: a migration that runs a SQL file fixes
the text of the day it ran, and a later edit of the file never reaches a database migrated
before it. So the files in :data:`FUNCTION_FILES` are installed after every upgrade to head
(:func:`gisgrid.store.migrate.migrate_to_head`, which ``gisgrid db up`` runs), each keyed by
the sha256 of its text in ``gisgrid_sql_state`` (migration 0005): a file whose checksum
differs from its row is installed again, the others are left alone.

Installing a file runs its drop file first, then the file, so a function whose return type
or arguments changed (which ``CREATE OR REPLACE`` refuses or adds beside the old one) and a
function the file no longer makes are gone, not kept. Every changed file goes in one
transaction, under an advisory lock that :func:`gisgrid.store.migrate.migrate_to_head` also
holds around Alembic: two processes migrating at once take turns, and the second finds
nothing to do.

Examples
--------
>>> [f.name for f in FUNCTION_FILES]
['assign_store', 'rollup', 'tiles', 'tile_dirty', 'partitions']
>>> len(FUNCTION_FILES[2].sha256)
64
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import Connection, text

from gisgrid.sql import load_sql

# pg_advisory_lock key of every migration of a gisgrid store: the first 8 bytes of
# sha256("gisgrid.store.migrate"), as a signed bigint.
MIGRATE_LOCK = int.from_bytes(
    hashlib.sha256(b"gisgrid.store.migrate").digest()[:8], "big", signed=True
)


@dataclass(frozen=True)
class FunctionFile:
    """``gisgrid/sql/<name>.sql`` and ``<drop>.sql``, which drops whatever any released
    text of it made."""

    name: str
    drop: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(load_sql(self.name).encode("utf-8")).hexdigest()


# In the order they are installed: a file may use what an earlier one makes.
FUNCTION_FILES: tuple[FunctionFile, ...] = (
    FunctionFile("assign_store", drop="assign_store_drop"),
    FunctionFile("rollup", drop="rollup_drop"),
    FunctionFile("tiles", drop="tiles_drop"),
    FunctionFile("tile_dirty", drop="tile_dirty_drop"),
    FunctionFile("partitions", drop="partitions_drop"),
)

_UPSERT = text(
    "INSERT INTO gisgrid_sql_state (name, sha256, installed_at) VALUES (:name, :sha256, now())"
    " ON CONFLICT (name) DO UPDATE SET sha256 = excluded.sha256, installed_at = now()"
)


def installed(conn: Connection) -> dict[str, str]:
    """The checksum each function file was last installed with, by name."""
    rows = conn.execute(text("SELECT name, sha256 FROM gisgrid_sql_state")).all()
    return {str(name): str(digest) for name, digest in rows}


def install_functions(
    conn: Connection, files: tuple[FunctionFile, ...] = FUNCTION_FILES
) -> list[str]:
    """Install every file whose checksum differs from the store's record; return their names.

    ``conn`` must not be in a transaction: the files go in one transaction of their own,
    committed at the end or rolled back whole.

    Examples
    --------
    With a store migrated to head (``gisgrid db up``), nothing changed since:

    >>> from gisgrid.store.engine import make_engine
    >>> from gisgrid.settings import get_settings
    >>> with make_engine(get_settings()).connect() as conn:  # doctest: +SKIP
    ...     install_functions(conn)
    []
    """
    done: list[str] = []
    with conn.begin():
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATE_LOCK})
        held = installed(conn)  # read after the lock: a process before us has committed
        # The files hold several statements and dollar-quoted bodies: the driver's simple
        # query protocol runs each as one script, in this transaction.
        raw = conn.connection.driver_connection
        assert raw is not None
        for f in files:
            digest = f.sha256
            if held.get(f.name) == digest:
                continue
            raw.execute(load_sql(f.drop))
            raw.execute(load_sql(f.name))
            conn.execute(_UPSERT, {"name": f.name, "sha256": digest})
            done.append(f.name)
    return done
