"""AnalysisService over the tiny city: an answer is computed once however many ask at the same
time, held under the data versions it saw, dropped least recently used first, and its tiles
go into the tile cache."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import geopandas as gpd
import pytest
from sqlalchemy import Connection, Engine, text

from gisgrid.analysis.params import HotspotParams
from gisgrid.analysis.service import AnalysisService, request_key, requested
from gisgrid.store.cluster import Cluster
from gisgrid.tiles.cache import TileCache
from gisgrid.tiles.filters import TileFilters
from gisgrid.tiles.render import versions
from tests.city_support import tiny_city

PARAMS = HotspotParams(level="hex", cell_m=300.0, permutations=0)


@pytest.fixture(scope="module")
def store(cluster: Cluster) -> Iterator[Engine]:
    with tiny_city(cluster, "service_scratch") as engine:
        yield engine


def now(engine: Engine) -> tuple[int, ...]:
    with engine.connect() as conn:
        return requested(
            dict(zip(("areas", "incidents"), versions(conn, ("areas", "incidents")), strict=True))
        )


def test_one_computation_for_many_callers(store: Engine) -> None:
    service = AnalysisService(store, TileCache(1 << 20))
    what = request_key("hotspots", PARAMS.as_dict(), TileFilters(), None)
    started, release = threading.Event(), threading.Event()
    calls = []

    def compute(conn: Connection) -> gpd.GeoDataFrame:
        calls.append(1)
        started.set()
        release.wait(10)  # hold the first computation while the others arrive
        return PARAMS.run(conn)

    at = now(store)
    got: list[Any] = []
    threads = [
        threading.Thread(
            target=lambda: got.append(
                service.answer(what, at, compute, PARAMS.as_dict(), TileFilters())
            )
        )
        for _ in range(4)
    ]
    threads[0].start()
    started.wait(10)
    for t in threads[1:]:
        t.start()
    release.set()
    for t in threads:
        t.join(30)
    assert len(calls) == 1 and service.computed == 1
    assert len(got) == 4 and all(a is got[0] for a in got)
    assert got[0].versions == at
    assert service.held(what, at) is got[0]


def test_a_write_makes_a_new_answer_and_old_ones_age_out(store: Engine) -> None:
    service = AnalysisService(store, TileCache(1 << 20), size=2)
    filters = TileFilters()

    def ask(method: str, cell_m: float = 300.0) -> Any:
        p = HotspotParams(method=method, level="hex", cell_m=cell_m, permutations=0)
        what = request_key("hotspots", p.as_dict(), filters, None)
        answer = service.answer(what, now(store), lambda c: p.run(c), p.as_dict(), filters)
        return what, answer

    gistar, first = ask("gistar")
    assert ask("gistar")[1] is first and service.computed == 1
    with store.begin() as conn:
        conn.execute(text("UPDATE areas SET name = name WHERE id = 1"))
    _, second = ask("gistar")
    assert second is not first and service.computed == 2
    # areas moved, incidents did not
    assert second.versions == (first.versions[0] + 1, first.versions[1])
    lisa, _ = ask("lisa")  # two held: gistar at the first versions is dropped
    assert service.held(gistar, first.versions) is None
    ask("lisa")
    ask("gistar")  # hits, most recently used last: lisa, gistar
    assert service.computed == 3
    ask("gistar", cell_m=400.0)  # a third answer pushes out the least recently used
    assert service.held(lisa, second.versions) is None
    assert service.held(gistar, second.versions) is second


def test_tiles_go_into_the_tile_cache(store: Engine) -> None:
    cache = TileCache(1 << 20)
    service = AnalysisService(store, cache)
    what = request_key("hotspots", PARAMS.as_dict(), TileFilters(), None)
    answer = service.answer(
        what, now(store), lambda c: PARAMS.run(c), PARAMS.as_dict(), TileFilters()
    )
    w, s, e, n = answer.frame.total_bounds
    from gisgrid.tiles.grid import tile_of

    x, y = tile_of((w + e) / 2, (s + n) / 2, 12)
    assert service.held_tile(answer, "hotspots", 12, x, y) is None
    tile = service.tile(answer, "hotspots", ("class", "z"), 12, x, y)
    assert tile.body and len(cache) == 1
    assert service.held_tile(answer, "hotspots", 12, x, y) is tile
