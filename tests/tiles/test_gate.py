"""gisgrid.tiles.gate: each client's share of tile rendering (no database: the gate alone)."""

from __future__ import annotations

import asyncio

import pytest

from gisgrid.errors import TooManyRequests
from gisgrid.tiles.gate import RenderGate, client_key


async def _burst(gate: RenderGate, client: str, n: int, log: list[str]) -> list[str]:
    """n renders of one client at once, each holding its slot for a moment."""

    async def render(i: int) -> str:
        try:
            async with gate.admit(client):
                log.append(f"{client} start")
                await asyncio.sleep(0.01)
                log.append(f"{client} end")
            return "ok"
        except TooManyRequests:
            return "429"

    return list(await asyncio.gather(*(render(i) for i in range(n))))


def test_one_client_renders_at_most_its_share_and_the_rest_waits() -> None:
    gate = RenderGate(per_client=2, queue=100)
    log: list[str] = []
    results = asyncio.run(_burst(gate, "addr:a", 20, log))
    assert results == ["ok"] * 20  # a map view's burst waits; nothing is refused
    assert gate.peak["addr:a"] == 2
    running = peak = 0
    for event in log:
        running += 1 if event.endswith("start") else -1
        peak = max(peak, running)
    assert peak == 2


def test_past_the_queue_a_client_is_told_to_slow_down() -> None:
    gate = RenderGate(per_client=1, queue=3)
    results = asyncio.run(_burst(gate, "addr:a", 10, []))
    assert results.count("ok") == 4 and results.count("429") == 6
    assert gate.refused == 6


def test_another_client_is_served_beside_a_busy_one() -> None:
    gate = RenderGate(per_client=1, queue=100)
    log: list[str] = []

    async def both() -> None:
        busy = asyncio.create_task(_burst(gate, "addr:a", 10, log))
        await asyncio.sleep(0.015)  # a is one render in, nine waiting
        await _burst(gate, "addr:b", 1, log)
        await busy

    asyncio.run(both())
    b_done = log.index("addr:b end")
    assert log[:b_done].count("addr:a end") < 5, "b waited for a's queue"
    assert gate.peak == {"addr:a": 1, "addr:b": 1}


def test_a_client_is_forgotten_when_it_has_nothing_left() -> None:
    gate = RenderGate(per_client=1, queue=0)
    asyncio.run(_burst(gate, "addr:a", 1, []))
    assert gate._load == {} and gate._slots == {}


@pytest.mark.parametrize(
    ("account", "address", "key"),
    [(7, "10.0.0.1", "account:7"), (None, "10.0.0.1", "addr:10.0.0.1"), (None, None, "addr:-")],
)
def test_client_key(account: int | None, address: str | None, key: str) -> None:
    assert client_key(account, address) == key
