"""The data versions of the tiled tables, read in batches so a cache hit costs almost nothing.

A tile cache is exact only if every request reads ``tile_versions`` after it arrived: a write
committed before the request must show. Reading once per request costs a database round
trip on every cache hit. :class:`VersionClock` keeps that guarantee and shares the reads:
callers that ask while a read is in flight wait for the *next* read, which starts after
they asked, and one read answers all of them. Under load one query serves a crowd of
requests; alone, a request waits one round trip.

With ``track=True`` the same read also brings what changed since the previous one (the log
of incident writes past the counter it last saw, and the open cases whose due time has
passed since its last read: ``gisgrid_dirty_changes`` in ``gisgrid/sql/tile_dirty.sql``) and
marks the tiles those reach (:class:`~gisgrid.tiles.dirty.DirtyMap`), so a tile's key can
hold the tile's own version (:meth:`VersionClock.tile_version`) instead of the whole
incidents table's: still one round trip, however many requests share it.

Examples
--------
>>> asyncio.run(VersionClock("postgresql://nobody@/none?host=/nonexistent").close())
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from gisgrid.errors import DatabaseUnavailable
from gisgrid.tiles.dirty import DirtyMap

VERSIONS_SQL = "SELECT layer, version FROM gisgrid_tile_versions()"
CHANGES_SQL = "SELECT * FROM gisgrid_dirty_changes(%s, %s, %s)"
# changes more than this in one read: start over (every tile dirty once) rather than mark them
MAX_CHANGES = 5000


def libpq_url(sqlalchemy_url: str) -> str:
    """A libpq connection URI from an SQLAlchemy URL (``postgresql+psycopg://`` ...).

    >>> libpq_url("postgresql+psycopg://postgres@/gisgrid?host=/tmp/run&port=5432")
    'postgresql://postgres@/gisgrid?host=%2Ftmp%2Frun&port=5432'
    """
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(False)


class VersionClock:
    """Batched, always-fresh reads of ``tile_versions`` over one asynchronous connection."""

    def __init__(self, conninfo: str, sql: str = VERSIONS_SQL, track: bool = False) -> None:
        self.conninfo = conninfo
        self.sql = sql  # tests slow it down to hold a read in flight
        self.track = track
        self.changes_sql = CHANGES_SQL  # as sql, for the tracking read
        self.reads = 0
        # what reached each tile: incident writes (by the incidents counter) and due times
        # passed (microseconds); None until the first read sets their floors
        self.writes: DirtyMap | None = None
        self.dues: DirtyMap | None = None
        self._seen_seq = 0
        self._seen_now = 0
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._pending: asyncio.Future[dict[str, int]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def read(self) -> dict[str, int]:
        """The versions as of a read that started after this call."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # a connection and futures belong to one event loop (test clients make several)
            self._loop, self._conn, self._pending, self._task = loop, None, None, None
        if self._pending is None:
            self._pending = loop.create_future()
        pending = self._pending
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._serve())
        return await asyncio.shield(pending)

    async def _serve(self) -> None:
        while self._pending is not None:
            # from here on, new callers make a new batch: they asked after this read began
            batch, self._pending = self._pending, None
            try:
                batch.set_result(await self._query())
            except Exception as exc:  # every waiter of the batch gets the error
                batch.set_exception(exc)
                batch.exception()  # a batch nobody awaits any more must not warn

    async def _query(self) -> dict[str, int]:
        for attempt in (1, 2):
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = await psycopg.AsyncConnection.connect(
                        self.conninfo, autocommit=True
                    )
                if not self.track:
                    cur = await self._conn.execute(self.sql)
                    rows = await cur.fetchall()
                    self.reads += 1
                    return {str(r[0]): int(r[1]) for r in rows}
                since = None if self.writes is None else self._seen_seq
                due_since = None if self.dues is None else self._seen_now
                cur = await self._conn.execute(self.changes_sql, (since, due_since, MAX_CHANGES))
                rows = await cur.fetchall()
                self.reads += 1
                return self._apply(rows)
            except psycopg.OperationalError as exc:
                # a server restart leaves a dead connection: reconnect once, then give up
                if self._conn is not None:
                    await self._conn.close()
                self._conn = None
                if attempt == 2:
                    raise DatabaseUnavailable(f"reading tile versions: {exc}") from exc
        raise AssertionError("unreachable")

    def _apply(self, rows: list[Any]) -> dict[str, int]:
        """Mark what the read's changes reach; return the tables' versions."""
        versions: dict[str, int] = {}
        writes: list[Any] = []
        dues: list[Any] = []
        for r in rows:
            if r[2] is None:
                versions[str(r[0])] = int(r[1])
            elif r[0] == "dirty":
                writes.append(r)
            else:
                dues.append(r)
        seq, now = versions.get("incidents", 0), versions.pop("now")
        if self.writes is None or self.dues is None:
            self.writes, self.dues = DirtyMap(floor=seq), DirtyMap(floor=now)
        elif len(writes) > MAX_CHANGES or versions.get("incidents_log", 0) > self._seen_seq:
            # too much to mark, or the log was pruned past what we saw: start over
            self.writes.restart(seq)
        else:
            # in counter order: an "all" row starts over, and what came after it stays marked
            writes.sort(key=lambda r: int(r[1]))
            for _, value, kind, x0, y0, x1, y1 in writes:
                self.writes.touch(int(value), kind, x0, y0, x1, y1)
        if len(dues) > MAX_CHANGES:
            self.dues.restart(now)
        else:
            for _, value, kind, x0, y0, x1, y1 in dues:
                self.dues.touch(int(value), kind, x0, y0, x1, y1)
        self._seen_seq, self._seen_now = seq, now
        return versions

    def tile_version(self, layer: str, z: int, x: int, y: int) -> tuple[int, int]:
        """The latest incident write and the latest passed due time that reached this tile
        of ``layer`` (a family of :data:`gisgrid.tiles.dirty.FAMILIES`), as of the last
        read: call after :meth:`read`."""
        if self.writes is None or self.dues is None:
            raise RuntimeError("tile_version before the first read of a tracking clock")
        return self.writes.version(layer, z, x, y), self.dues.version(layer, z, x, y)

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            await asyncio.gather(self._task, return_exceptions=True)
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
