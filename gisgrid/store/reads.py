"""Where a read goes: a streaming replica once it has caught up, else the primary.

Tiles and analysis answers are cached under data versions read on the primary after the
request arrived (:mod:`gisgrid.tiles.clock`). A replica replays the primary's WAL a little
later, so a tile rendered there could show older data than the versions it is cached under.
:class:`ReadRouter` closes that gap: the versions read also returns the primary's WAL
position (:func:`with_wal_lsn`, in the same statement, so it is at or past the commit of
every write those versions count, and past every commit made before the request); a read
on the replica first waits until ``pg_last_wal_replay_lsn()`` has reached that position, so
its snapshot holds every such write. A replica that does not catch up within ``wait_s``, is
down, or is not a standby, is passed over: the read goes to the primary. A replica that
could not be reached is tried again after ``retry_s``.

Examples
--------
>>> from sqlalchemy import create_engine
>>> router = ReadRouter(create_engine("postgresql+psycopg://u@/db?host=/nonexistent"))
>>> router.replica is None, router.seen_lsn
(True, 0)
>>> router.saw(5000); router.saw(42); router.seen_lsn
5000
>>> with_wal_lsn("SELECT layer, version FROM gisgrid_tile_versions()")[:40]
'SELECT * FROM (SELECT layer, version FRO'
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from gisgrid.errors import translate_db_errors
from gisgrid.settings import Settings

log = logging.getLogger(__name__)

WAL_KEY = "_wal_lsn"
"""The row :func:`with_wal_lsn` adds to a versions read: the primary's WAL position."""

PRIMARY_LSN_SQL = "SELECT (pg_current_wal_lsn() - '0/0')::bigint"
REPLAY_LSN_SQL = "SELECT (pg_last_wal_replay_lsn() - '0/0')::bigint"
POLL_S = 0.002
WAITS_KEPT = 10_000


def with_wal_lsn(versions_sql: str, width: int = 2) -> str:
    """A versions read (rows of name and version, then ``width - 2`` more columns, NULL in
    the added row) that also returns the primary's WAL position as the row :data:`WAL_KEY`.
    One statement: its snapshot is taken before the position is read, so the position is at
    or past every commit the versions count (a commit is flushed before it becomes visible).

    >>> with_wal_lsn("SELECT a, b, c FROM t", width=3).endswith("::bigint, NULL")
    True
    """
    pad = ", NULL" * (width - 2)
    return (
        f"SELECT * FROM ({versions_sql}) AS v"
        f" UNION ALL SELECT '{WAL_KEY}', (pg_current_wal_lsn() - '0/0')::bigint{pad}"
    )


class ReadRouter:
    """Connections for reads: on ``replica`` when it has replayed the primary's WAL up to a
    position, else on ``primary``. Without a replica every read goes to the primary."""

    def __init__(
        self,
        primary: Engine,
        replica: Engine | None = None,
        wait_s: float = 0.5,
        retry_s: float = 5.0,
    ) -> None:
        self.primary = primary
        self.replica = replica
        self.wait_s = wait_s
        self.retry_s = retry_s
        self.seen_lsn = 0
        self.counts = {"replica": 0, "primary_lagging": 0, "primary_replica_down": 0}
        self.waits_s: deque[float] = deque(maxlen=WAITS_KEPT)  # the replica reads' waits
        self._down_until = 0.0
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, primary: Engine, settings: Settings) -> ReadRouter:
        """The router for these settings: a replica engine when a replica is configured
        (:func:`gisgrid.store.replica.replica_url`), else none."""
        from gisgrid.store.engine import make_engine
        from gisgrid.store.replica import replica_url

        url = replica_url(settings)
        replica = None if url is None else make_engine(url, pool_size=settings.pool_size)
        return cls(primary, replica, wait_s=settings.replica_wait_s)

    def saw(self, lsn: int) -> None:
        """Record a primary WAL position read with the data versions: later reads through
        :meth:`connect` see at least every commit up to it."""
        with self._lock:
            self.seen_lsn = max(self.seen_lsn, lsn)

    def take_lsn(self, versions: dict[str, int]) -> dict[str, int]:
        """``versions`` without the :data:`WAL_KEY` row, whose position is recorded."""
        lsn = versions.pop(WAL_KEY, None)
        if lsn is not None:
            self.saw(lsn)
        return versions

    def primary_lsn(self) -> int:
        """The primary's WAL position now."""
        with translate_db_errors(), self.primary.connect() as conn:
            return int(conn.execute(text(PRIMARY_LSN_SQL)).scalar_one())

    @contextmanager
    def connect(self, lsn: int | None = None) -> Iterator[Connection]:
        """A connection whose next snapshot holds every commit up to ``lsn`` (default: every
        commit made before this call, from the primary's WAL position read now): the
        replica's once it has replayed that far, else the primary's. Database errors
        become GisgridErrors."""
        conn = None
        if self.replica is not None and time.monotonic() >= self._down_until:
            conn = self._caught_up(self.replica, self.primary_lsn() if lsn is None else lsn)
        with translate_db_errors():
            if conn is None:
                with self.primary.connect() as primary:
                    yield primary
                return
            try:
                yield conn
            finally:
                conn.close()

    def connect_seen(self) -> AbstractContextManager[Connection]:
        """:meth:`connect` up to the highest position :meth:`saw` recorded (the last data
        versions read, which a cache keys by): no round trip to the primary. Before any
        was recorded, up to the primary's position now."""
        return self.connect(self.seen_lsn or None)

    def _caught_up(self, replica: Engine, target: int) -> Connection | None:
        """A replica connection once it has replayed up to ``target``; None (and the
        reason counted) when it is down, not a standby, or still behind after wait_s."""
        started = time.monotonic()
        try:
            conn = replica.connect()
        except DBAPIError as exc:
            self._mark_down(f"cannot connect: {exc.orig}")
            return None
        try:
            while True:
                got = conn.execute(text(REPLAY_LSN_SQL)).scalar_one()
                if got is None:  # not in recovery: a primary, not a replica of ours
                    self._mark_down("it is not a standby (pg_last_wal_replay_lsn() is NULL)")
                    conn.close()
                    return None
                if int(got) >= target:
                    conn.commit()  # the read's snapshot is taken after this point
                    self.waits_s.append(time.monotonic() - started)
                    self.counts["replica"] += 1
                    return conn
                if time.monotonic() - started >= self.wait_s:
                    self.counts["primary_lagging"] += 1
                    conn.close()
                    return None
                time.sleep(POLL_S)
        except DBAPIError as exc:
            conn.close()
            self._mark_down(f"failed: {exc.orig}")
            return None

    def _mark_down(self, why: str) -> None:
        self.counts["primary_replica_down"] += 1
        self._down_until = time.monotonic() + self.retry_s
        log.warning("read replica %s; reading the primary for %.0f s", why, self.retry_s)

    def wait_stats(self) -> dict[str, Any]:
        """The replica reads' waits for replay (count, p50, p95, max, in ms) and how many
        reads went where."""
        waits = sorted(self.waits_s)

        def pct(q: float) -> float | None:
            return (
                round(waits[min(len(waits) - 1, int(q * len(waits)))] * 1e3, 2) if waits else None
            )

        return {
            "waits": len(waits),
            "p50_ms": pct(0.5),
            "p95_ms": pct(0.95),
            "max_ms": pct(1.0),
            **self.counts,
        }

    def dispose(self) -> None:
        """Close the replica's connections (the primary engine is the caller's)."""
        if self.replica is not None:
            self.replica.dispose()
