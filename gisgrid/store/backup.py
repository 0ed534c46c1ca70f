"""Backups of the store: ``pg_dump`` custom format out, ``pg_restore`` back in, all or nothing.

The tools come from the same bin folder as the local cluster's server
(:func:`gisgrid.store.cluster.find_pg_bin_dir`, or ``GISGRID_PG_BIN_DIR``), so a dump is
never made by an older ``pg_dump`` than the server. They run as the calling user: they are
clients over the cluster's socket, and the backup file belongs to whoever asked for it.

A backup is written beside its target and renamed over it only once ``pg_restore --list``
has read it back whole, so a crash mid-backup never leaves a truncated file under the name.

A restore replaces the contents of the configured database, which must exist (``gisgrid db
up`` makes it, empty or migrated): ``pg_restore --clean --if-exists --single-transaction``
drops what the archive holds and creates it again in one transaction, so a restore that
fails (a bad archive, a table the archive does not know holding on to PostGIS) leaves the
store exactly as it was. A store that holds rows is refused unless ``force`` is given.
Stop the servers first: a restore waits for their locks.

Examples
--------
>>> Fingerprint(rows=3, md5="0" * 32)
Fingerprint(rows=3, md5='00000000000000000000000000000000')
>>> libpq_url("postgresql+psycopg://postgres@/gisgrid?host=%2Ftmp%2Frun&port=5432")
'postgresql://postgres@/gisgrid?host=%2Ftmp%2Frun&port=5432'
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import Engine, text

from gisgrid.errors import BackupError, Conflict, InvalidInput, translate_db_errors
from gisgrid.sql import quote_ident
from gisgrid.store.cluster import find_pg_bin_dir
from gisgrid.store.engine import COUNTED_TABLES
from gisgrid.store.partitions import PARTITION


class Fingerprint(NamedTuple):
    """A table's row count and an order-free checksum of its rows."""

    rows: int
    md5: str


@dataclass(frozen=True)
class BackupReport:
    path: str
    bytes: int
    tables: int
    seconds: float


@dataclass(frozen=True)
class RestoreReport:
    path: str
    rows_before: int
    tables: int
    seconds: float


def libpq_url(url: str) -> str:
    """The libpq form of a SQLAlchemy URL, as pg_dump and psql take it."""
    for prefix in ("postgresql+psycopg://", "postgresql+psycopg2://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url.removeprefix(prefix)
    return url


def _tool(name: str, bin_dir: Path | None) -> str:
    return str(find_pg_bin_dir(bin_dir) / name)


def _run(args: list[str], what: str) -> subprocess.CompletedProcess[str]:
    # the URL holds no password (the local cluster trusts its socket); an external
    # server's password comes from PGPASSWORD or ~/.pgpass, as for psql
    proc = subprocess.run(args, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()[-1500:]
        raise BackupError(f"{what} failed ({proc.returncode}): {detail}")
    return proc


# pg_restore --clean (PostgreSQL 15) drops a partition's inherited primary key and attached
# indexes before the parent's, which the server refuses; dropping the parent drops them all.
_PARTITION_DROP = re.compile(
    rf"^(ALTER TABLE IF EXISTS ONLY public\.{PARTITION.pattern} DROP CONSTRAINT IF EXISTS "
    rf"|DROP INDEX IF EXISTS public\.{PARTITION.pattern}_)"
)


def _restore_script(source: Path, dbname: str, bin_dir: Path | None) -> None:
    """pg_restore --clean as a script, without the drops a partition refuses, into psql in
    one transaction that stops at the first error."""
    restore = subprocess.Popen(
        [_tool("pg_restore", bin_dir), "--clean", "--if-exists", "--file=-", str(source)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    psql = subprocess.Popen(
        [
            _tool("psql", bin_dir),
            "--single-transaction",
            "--no-psqlrc",
            "--quiet",
            "--no-password",
            "--set=ON_ERROR_STOP=1",
            f"--dbname={dbname}",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert restore.stdout is not None and psql.stdin is not None
    try:
        for line in restore.stdout:
            if not _PARTITION_DROP.match(line.decode("utf-8", "replace")):
                psql.stdin.write(line)
        psql.stdin.close()
    except BrokenPipeError:
        pass  # psql stopped at an error: its exit code says so
    assert psql.stderr is not None and restore.stderr is not None
    psql_err = psql.stderr.read()
    psql.wait()
    restore.stdout.close()
    restore_err = restore.stderr.read()
    restore.wait()
    # psql first: when it stops at an error, pg_restore fails too, on the pipe
    for proc, err, what in ((psql, psql_err, "psql"), (restore, restore_err, "pg_restore")):
        if proc.returncode != 0:
            detail = err.decode("utf-8", "replace").strip()[-1500:]
            raise BackupError(f"{what} (nothing was changed) failed ({proc.returncode}): {detail}")


def _table_entries(path: Path, bin_dir: Path | None) -> int:
    """How many tables' data an archive holds; BackupError if pg_restore cannot read it."""
    listing = _run([_tool("pg_restore", bin_dir), "--list", str(path)], "pg_restore --list")
    return sum(1 for line in listing.stdout.splitlines() if " TABLE DATA " in line)


def backup_store(
    url: str, path: str | Path, *, overwrite: bool = False, bin_dir: Path | None = None
) -> BackupReport:
    """Dump the database at ``url`` to ``path`` in pg_dump's custom format.

    Examples
    --------
    >>> backup_store("postgresql://u@/db?host=/nowhere", "/etc")
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: file: /etc exists; give overwrite (--force) to replace it
    """
    started = time.perf_counter()
    target = Path(path)
    if target.exists() and (target.is_dir() or not overwrite):
        raise InvalidInput(f"{target} exists; give overwrite (--force) to replace it", field="file")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        _run(
            [
                _tool("pg_dump", bin_dir),
                "--format=custom",
                "--no-password",
                f"--file={partial}",
                f"--dbname={libpq_url(url)}",
            ],
            "pg_dump",
        )
        tables = _table_entries(partial, bin_dir)
        with partial.open("rb") as fh:
            os.fsync(fh.fileno())
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return BackupReport(
        path=str(target),
        bytes=target.stat().st_size,
        tables=tables,
        seconds=time.perf_counter() - started,
    )


def store_rows(engine: Engine) -> int:
    """Rows in gisgrid's tables (those that exist): 0 for an empty or unmigrated store."""
    with translate_db_errors(), engine.connect() as conn:
        present = [
            t for t in COUNTED_TABLES if conn.execute(text(f"SELECT to_regclass('{t}')")).scalar()
        ]
        if not present:
            return 0
        sql = " + ".join(f"(SELECT count(*) FROM {quote_ident(t)})" for t in present)
        return int(conn.execute(text(f"SELECT {sql}")).scalar_one())


def restore_store(
    engine: Engine, path: str | Path, *, force: bool = False, bin_dir: Path | None = None
) -> RestoreReport:
    """Replace the contents of the engine's database with a backup, in one transaction.

    Refuses (Conflict, field ``force``) a store that holds rows unless ``force``. The
    archive's schema revision comes with it: run the migrations after (``gisgrid db
    restore`` does) to bring an older backup up to this version of gisgrid.

    Examples
    --------
    >>> from gisgrid.store.engine import make_engine
    >>> restore_store(make_engine("postgresql+psycopg://u@/db?host=/x"), "/no/such.dump")
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: file: no such file: /no/such.dump
    """
    started = time.perf_counter()
    source = Path(path)
    if not source.is_file():
        raise InvalidInput(f"no such file: {source}", field="file")
    try:
        tables = _table_entries(source, bin_dir)
    except BackupError as exc:
        raise InvalidInput(
            f"{source} is not a pg_dump custom-format archive ({exc.reason})", field="file"
        ) from exc
    rows = store_rows(engine)
    if rows and not force:
        raise Conflict(
            f"the store holds {rows:,} rows; a restore replaces them: give force (--force)",
            field="force",
        )
    url = engine.url.render_as_string(hide_password=False)
    _restore_script(source, libpq_url(url), bin_dir)
    return RestoreReport(
        path=str(source), rows_before=rows, tables=tables, seconds=time.perf_counter() - started
    )


def table_fingerprints(engine: Engine, schema: str = "public") -> dict[str, Fingerprint]:
    """Every table of ``schema``: its row count and the MD5 of its rows' MD5s in order,
    which two stores share exactly when they hold the same rows (for a backup's round
    trip, and for what a crash must not change)."""
    with translate_db_errors(), engine.connect() as conn:
        names = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = :s ORDER BY tablename"),
            {"s": schema},
        ).scalars()
        out: dict[str, Fingerprint] = {}
        for name in list(names):
            table = f"{quote_ident(schema)}.{quote_ident(name)}"
            n, digest = conn.execute(
                text(
                    "SELECT count(*), md5(coalesce(string_agg(h, '' ORDER BY h), ''))"
                    f" FROM (SELECT md5(t::text) AS h FROM {table} t) s"
                )
            ).one()
            out[name] = Fingerprint(int(n), str(digest))
    return out
