"""The data versions of the tiled tables, read in batches so a cache hit costs almost nothing.

A tile cache is exact only if every request reads ``tile_versions`` after it arrived: a write
committed before the request must show. Reading once per request costs a database round
trip on every cache hit. :class:`VersionClock` keeps that guarantee and shares the reads:
callers that ask while a read is in flight wait for the *next* read, which starts after
they asked, and one read answers all of them. Under load one query serves a crowd of
requests; alone, a request waits one round trip.

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

VERSIONS_SQL = "SELECT layer, version FROM gisgrid_tile_versions()"


def libpq_url(sqlalchemy_url: str) -> str:
    """A libpq connection URI from an SQLAlchemy URL (``postgresql+psycopg://`` ...).

    >>> libpq_url("postgresql+psycopg://postgres@/gisgrid?host=/tmp/run&port=5432")
    'postgresql://postgres@/gisgrid?host=%2Ftmp%2Frun&port=5432'
    """
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(False)


class VersionClock:
    """Batched, always-fresh reads of ``tile_versions`` over one asynchronous connection."""

    def __init__(self, conninfo: str, sql: str = VERSIONS_SQL) -> None:
        self.conninfo = conninfo
        self.sql = sql  # tests slow it down to hold a read in flight
        self.reads = 0
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
                cur = await self._conn.execute(self.sql)
                rows = await cur.fetchall()
                self.reads += 1
                return {str(r[0]): int(r[1]) for r in rows}
            except psycopg.OperationalError as exc:
                # a server restart leaves a dead connection: reconnect once, then give up
                if self._conn is not None:
                    await self._conn.close()
                self._conn = None
                if attempt == 2:
                    raise DatabaseUnavailable(f"reading tile versions: {exc}") from exc
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            await asyncio.gather(self._task, return_exceptions=True)
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
