"""VersionClock: shared reads of tile_versions that never miss a committed write."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Engine, text

from gisgrid.errors import DatabaseUnavailable
from gisgrid.tiles.clock import VersionClock, libpq_url

SLOW = "SELECT layer, version FROM tile_versions, pg_sleep(0.4)"


def bump(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE places SET name = name WHERE false"))  # a statement, no row


def test_a_read_asked_for_after_a_commit_sees_it(engine: Engine) -> None:
    """A read in flight took its snapshot before the write; a caller who asks after the
    commit must not be handed that read, but the next one."""
    clock = VersionClock(libpq_url(str(engine.url.render_as_string(False))), sql=SLOW)

    async def scenario() -> tuple[int, int, int]:
        first = asyncio.create_task(clock.read())
        await asyncio.sleep(0.15)  # the slow read is in flight, its snapshot taken
        await asyncio.to_thread(bump, engine)
        second = await clock.read()
        got_first = await first
        await clock.close()
        return got_first["places"], second["places"], clock.reads

    before = VersionClock(libpq_url(str(engine.url.render_as_string(False))))
    start = asyncio.run(_read_once(before))["places"]
    first, second, reads = asyncio.run(scenario())
    assert first == start
    assert second == start + 1
    assert reads == 2


def test_callers_waiting_together_share_one_read(engine: Engine) -> None:
    clock = VersionClock(libpq_url(str(engine.url.render_as_string(False))), sql=SLOW)

    async def crowd() -> list[dict[str, int]]:
        first = asyncio.create_task(clock.read())
        await asyncio.sleep(0.1)
        rest = await asyncio.gather(*(clock.read() for _ in range(50)))
        out = [await first, *rest]
        await clock.close()
        return out

    got = asyncio.run(crowd())
    assert all(g == got[0] for g in got)
    assert clock.reads == 2, "one read in flight, then one for the 50 that waited"
    assert set(got[0]) >= {"areas", "buildings", "places", "units", "incidents"}


def test_a_dead_server_is_a_clear_error() -> None:
    clock = VersionClock("postgresql://nobody@/none?host=/nonexistent-gisgrid")
    with pytest.raises(DatabaseUnavailable, match="tile versions"):
        asyncio.run(_read_once(clock))


async def _read_once(clock: VersionClock) -> dict[str, int]:
    try:
        return await clock.read()
    finally:
        await clock.close()
