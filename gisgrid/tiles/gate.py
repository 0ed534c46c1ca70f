"""A fair share of tile rendering per client.

A cached tile costs nothing; an uncached one is a render in the database, about a second for
a low-zoom hexagon tile over a city, and any ``from``/``to`` the client chooses makes a new
one (the audit: anonymous z0-5 hex tiles with varying dates, 1.0-1.3 s each). So a client (an
account, or an address for an anonymous caller) gets at most ``per_client`` renders at once;
its further misses wait their turn without holding a thread or a database connection, and
past ``queue`` waiting ones it is told to slow down (TooManyRequests, 429 with Retry-After).
One client then costs the server at most ``per_client`` render slots, whatever it asks for,
and every other client is served beside it. A map view's burst of twenty tiles waits; it is
not refused.

Examples
--------
>>> import asyncio
>>> gate = RenderGate(per_client=1, queue=0)
>>> async def two_at_once():
...     async with gate.admit("addr:10.0.0.1"):
...         async with gate.admit("addr:10.0.0.1"):
...             pass
>>> asyncio.run(two_at_once())
Traceback (most recent call last):
...
gisgrid.errors.TooManyRequests: too many tiles rendering for this client at once; \
try again in a moment
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gisgrid.errors import TooManyRequests

MAX_PEAKS = 10_000


def client_key(account_id: int | None, address: str | None) -> str:
    """Who a render is counted against: the account of a signed-in caller (wherever it
    calls from), else the address.

    Examples
    --------
    >>> client_key(7, "10.0.0.1"), client_key(None, "10.0.0.1")
    ('account:7', 'addr:10.0.0.1')
    """
    return f"account:{account_id}" if account_id is not None else f"addr:{address or '-'}"


class RenderGate:
    """At most ``per_client`` renders at once per client, at most ``queue`` more waiting."""

    def __init__(self, per_client: int = 2, queue: int = 100) -> None:
        self.per_client = per_client
        self.queue = queue
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._load: dict[str, int] = {}  # rendering or waiting, per client
        self._running: dict[str, int] = {}
        self.peak: dict[str, int] = {}  # the most renders a client has had at once
        self.refused = 0

    @asynccontextmanager
    async def admit(self, client: str) -> AsyncIterator[None]:
        """Wait for one of the client's render slots; TooManyRequests when too many wait."""
        load = self._load.get(client, 0)
        if load >= self.per_client + self.queue:
            self.refused += 1
            raise TooManyRequests(
                "too many tiles rendering for this client at once; try again in a moment",
                retry_after_s=1,
            )
        slots = self._slots.setdefault(client, asyncio.Semaphore(self.per_client))
        self._load[client] = load + 1
        try:
            async with slots:
                running = self._running.get(client, 0) + 1
                self._running[client] = running
                if len(self.peak) > MAX_PEAKS:  # diagnostics only: keep them bounded
                    self.peak.clear()
                self.peak[client] = max(self.peak.get(client, 0), running)
                try:
                    yield
                finally:
                    self._running[client] -= 1
        finally:
            self._load[client] -= 1
            if not self._load[client]:  # nobody of this client left: forget it
                for held in (self._load, self._slots, self._running):
                    held.pop(client, None)
