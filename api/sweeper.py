"""The server's escalation sweeper: :func:`gisgrid.incidents.escalation.sweep` every
``Settings.escalation_sweep_s`` seconds, in a worker thread, while the app runs.

The first sweep runs as the app starts (a server that was down catches up at once), then one
every interval after the last one ended. A failed sweep (the database away) is logged and
tried again at the next interval; it never stops the server. On shutdown the running sweep
ends after its current batch, and the lifespan waits for it before the engine goes. Every
worker process of ``serve --workers`` runs its own sweeper: the sweep is safe beside others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from sqlalchemy import Engine

from gisgrid.incidents.escalation import EscalationPolicy, SweepResult, sweep
from gisgrid.settings import Settings

log = logging.getLogger("gisgrid.api.sweeper")


class Sweeper:
    """A background task sweeping ``engine`` every ``every_s`` seconds by ``policy``."""

    def __init__(self, engine: Engine, policy: EscalationPolicy, every_s: float) -> None:
        self.engine = engine
        self.policy = policy
        self.every_s = every_s
        self.sweeps = 0  # completed sweeps, for tests and diagnostics
        self.last: SweepResult | None = None
        self._halt = threading.Event()  # seen by the sweep's thread between batches
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, engine: Engine, settings: Settings) -> Sweeper | None:
        """The app's sweeper, or None when ``escalation_sweep_s`` is 0 (turned off)."""
        if settings.escalation_sweep_s <= 0:
            return None
        policy = EscalationPolicy.from_settings(settings)
        return cls(engine, policy, settings.escalation_sweep_s)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="escalation-sweeper")

    async def stop(self) -> None:
        """Ask the sweeper to stop and wait until it has (its sweep ends after a batch)."""
        self._halt.set()
        self._stopping.set()
        if self._task is not None:
            await self._task

    @property
    def stopped(self) -> bool:
        """Started and ended without an exception."""
        t = self._task
        return t is not None and t.done() and not t.cancelled() and t.exception() is None

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                result = await asyncio.to_thread(
                    sweep, self.engine, None, self.policy, stop=self._halt
                )
            except Exception:  # a sweep may fail (the database away); the server goes on
                log.exception("escalation sweep failed; next try in %g s", self.every_s)
            else:
                self.sweeps += 1
                self.last = result
                if result.escalated:
                    log.info("escalated %d overdue cases: %s", len(result.ids), result.by_level)
            with contextlib.suppress(TimeoutError):  # the interval passed: sweep again
                await asyncio.wait_for(self._stopping.wait(), timeout=self.every_s)
