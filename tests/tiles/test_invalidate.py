"""Per-tile invalidation: a write dirties the tiles its point and its areas reach, no others.

Each test reads tiles the way the tile route does (versions from the clock, the key from the
service, the cache, a render on a miss) against the tiny city in a real PostGIS.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text

from gisgrid.settings import Settings
from gisgrid.store.cluster import Cluster
from gisgrid.tiles.clock import VersionClock, libpq_url
from gisgrid.tiles.grid import tile_of
from gisgrid.tiles.layers import LAYERS
from gisgrid.tiles.service import TileService
from tests.city_support import point_in, tiny_city

DB = "invalidate_scratch"


@pytest.fixture(scope="module")
def store(cluster: Cluster) -> Iterator[Engine]:
    with tiny_city(cluster, DB) as engine:
        yield engine


class Reader:
    """Tile reads as the route makes them, on one event loop."""

    def __init__(self, service: TileService) -> None:
        self.service = service
        self.loop = asyncio.new_event_loop()

    def get(self, layer: str, z: int, x: int, y: int) -> tuple[bool, bytes]:
        """(whether it was a cache hit, the tile's body)."""
        svc, lay = self.service, LAYERS[layer]
        now = self.loop.run_until_complete(svc.versions())
        key = svc.key(lay, z, x, y, {}, now)
        hit = svc.cache.get(key)
        if hit is not None:
            return True, hit.body
        return False, svc.render(lay, z, x, y, {}, key).body

    def at(self, layer: str, z: int, lon: float, lat: float) -> tuple[bool, bytes]:
        return self.get(layer, z, *tile_of(lon, lat, z))

    def close(self) -> None:
        self.loop.run_until_complete(self.service.close())
        self.loop.close()


def _reader(store: Engine, settings: Settings, mode: str = "tile") -> Reader:
    return Reader(TileService(store, settings.model_copy(update={"tile_invalidation": mode})))


@pytest.fixture()
def reader(store: Engine, settings: Settings) -> Iterator[Reader]:
    r = _reader(store, settings)
    yield r
    r.close()


@pytest.fixture(scope="module")
def corners(store: Engine) -> tuple[tuple[float, float], tuple[float, float], int, int]:
    """A point in the westernmost grid and one in the easternmost, and those grids."""
    with store.connect() as conn:
        west, east = conn.execute(
            text(
                "SELECT (array_agg(id ORDER BY ST_X(ST_Centroid(geom))))[1],"
                " (array_agg(id ORDER BY ST_X(ST_Centroid(geom)) DESC))[1]"
                " FROM areas WHERE level = 'grid' AND valid_to IS NULL"
            )
        ).one()
    return point_in(store, west), point_in(store, east), int(west), int(east)


def _insert(store: Engine, lon: float, lat: float, due: str = "NULL") -> int:
    with store.begin() as conn:
        case: int = conn.execute(
            text(
                "INSERT INTO incidents (category, reported_at, status, due_at, geom, grid_id)"
                " VALUES ('0101', now(), 'reported', " + due + ","
                " ST_SetSRID(ST_MakePoint(:x, :y), 4326),"
                " (SELECT id FROM areas WHERE level = 'grid' AND valid_to IS NULL"
                "  AND ST_Intersects(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326)) LIMIT 1))"
                " RETURNING id"
            ),
            {"x": lon, "y": lat},
        ).scalar_one()
    return case


def _delete(store: Engine, case: int) -> None:
    with store.begin() as conn:
        conn.execute(text("DELETE FROM incidents WHERE id = :i"), {"i": case})


def _apart(a: tuple[float, float], b: tuple[float, float], z: int) -> bool:
    (ax, ay), (bx, by) = tile_of(*a, z), tile_of(*b, z)
    return max(abs(ax - bx), abs(ay - by)) >= 2


ZOOMS = [13, 14, 16]


@pytest.mark.parametrize("layer", ["incidents", "hex", "heat", "grids"])
def test_a_write_in_one_corner_leaves_the_other_corner_cached(
    reader: Reader, store: Engine, corners: Any, layer: str
) -> None:
    west, east, _, _ = corners
    zooms = [z for z in ZOOMS if _apart(west, east, z) and z >= LAYERS[layer].minzoom]
    assert len(zooms) >= 2, "the tiny city's corners are too close for this test"
    before = {(z, p): reader.at(layer, z, *p) for z in zooms for p in (west, east)}
    low = reader.get(layer, 0, 0, 0) if LAYERS[layer].minzoom == 0 else None
    assert all(reader.at(layer, z, *p)[0] for z in zooms for p in (west, east)), "warm"
    case = _insert(store, *west)
    try:
        for z in zooms:
            hit, body = reader.at(layer, z, *west)
            assert not hit, (z, "the written corner's tile is rendered again")
            if layer != "grids" or z >= 13:  # grids show it in the counts
                assert body != before[(z, west)][1], (z, "and shows the write")
            hit, body = reader.at(layer, z, *east)
            assert hit, (z, "the other corner's tile is still cached")
            assert body == before[(z, east)][1]
        if low is not None:
            assert not reader.get(layer, 0, 0, 0)[0], "the world tile holds every point"
    finally:
        _delete(store, case)


def test_an_update_moving_a_point_dirties_both_tiles(
    reader: Reader, store: Engine, corners: Any
) -> None:
    west, east, _, _ = corners
    mid = ((west[0] + east[0]) / 2, (west[1] + east[1]) / 2)
    z = 16
    assert _apart(west, mid, z) and _apart(mid, east, z)
    case = _insert(store, *west)
    try:
        for p in (west, mid, east):
            reader.at("incidents", z, *p)
        with store.begin() as conn:
            conn.execute(
                text(
                    "UPDATE incidents SET geom = ST_SetSRID(ST_MakePoint(:x, :y), 4326)"
                    " WHERE id = :i"
                ),
                {"x": east[0], "y": east[1], "i": case},
            )
        assert not reader.at("incidents", z, *west)[0], "the old point's tile"
        assert not reader.at("incidents", z, *east)[0], "the new point's tile"
        assert reader.at("incidents", z, *mid)[0], "a tile neither point is in"
    finally:
        _delete(store, case)


def test_an_area_tile_is_dirtied_by_a_write_anywhere_in_its_area(
    reader: Reader, store: Engine, corners: Any
) -> None:
    """The grid's count shows in every grids tile its polygon reaches, not only the tile
    of the point; a tile of the incidents layer there is untouched."""
    west, _, grid, _ = corners
    with store.connect() as conn:
        x0, y0, x1, y1 = conn.execute(
            text(
                "SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom)"
                " FROM areas WHERE id = :g"
            ),
            {"g": grid},
        ).one()
    z = 17
    tiles = {tile_of(x, y, z) for x in (x0, x1) for y in (y0, y1)} - {tile_of(*west, z)}
    # a corner tile of the grid's box that the polygon itself meets
    far = None
    with store.connect() as conn:
        for tx, ty in sorted(tiles):
            meets = conn.execute(
                text(
                    "SELECT ST_Intersects(geom, ST_Transform(ST_TileEnvelope(:z, :x, :y), 4326))"
                    " FROM areas WHERE id = :g"
                ),
                {"z": z, "x": tx, "y": ty, "g": grid},
            ).scalar_one()
            point_tile = tile_of(*west, z)
            if meets and max(abs(tx - point_tile[0]), abs(ty - point_tile[1])) >= 2:
                far = (tx, ty)
                break
    assert far is not None, "the grid is too small for a tile of it away from the point"
    grids_before = reader.get("grids", z, *far)
    reader.get("incidents", z, *far)
    case = _insert(store, *west)
    try:
        hit, body = reader.get("grids", z, *far)
        assert not hit and body != grids_before[1], "the grid's count changed in this tile"
        assert reader.get("incidents", z, *far)[0], "no incident point reaches it"
        assert not reader.at("districts", 12, *west)[0], "the district counts it too"
    finally:
        _delete(store, case)


def test_a_due_time_passing_dirties_that_cases_tiles_only(
    reader: Reader, store: Engine, corners: Any
) -> None:
    west, east, _, _ = corners
    case = _insert(store, *west, due="clock_timestamp() + interval '1.5 seconds'")
    try:
        for layer in ("grids", "incidents"):
            for p in (west, east):
                reader.at(layer, 14, *p)
        old = reader.at("grids", 14, *west)
        assert old[0]
        time.sleep(2.0)  # no write from here on: the case turns overdue
        hit, body = reader.at("grids", 14, *west)
        assert not hit and body != old[1], "its grid's overdue count"
        assert not reader.at("incidents", 14, *west)[0], "its cluster's overdue count"
        assert reader.at("grids", 14, *east)[0], "another grid's tile keeps its cache"
        assert reader.at("incidents", 14, *east)[0]
    finally:
        _delete(store, case)


def test_a_statement_of_many_rows_dirties_every_tile(
    reader: Reader, store: Engine, corners: Any
) -> None:
    west, east, _, _ = corners
    reader.at("incidents", 16, *east)
    with store.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO incidents (category, reported_at, status, geom)"
                " SELECT '0101', now(), 'reported', ST_SetSRID(ST_MakePoint(:x, :y), 4326)"
                " FROM generate_series(1, 600)"
            ),
            {"x": west[0], "y": west[1]},
        )
    try:
        with store.connect() as conn:
            logged = conn.execute(
                text(
                    "SELECT count(*), bool_and(everything) FROM tile_dirty"
                    " WHERE seq = (SELECT max(seq) FROM tile_dirty)"
                )
            ).one()
        assert tuple(logged) == (1, True)
        assert not reader.at("incidents", 16, *east)[0]
    finally:
        with store.begin() as conn:
            conn.execute(
                text(
                    "DELETE FROM incidents WHERE grid_id IS NULL AND description IS NULL"
                    " AND reported_at > now() - interval '5 minutes'"
                )
            )


def test_table_mode_keeps_the_whole_table_versions(
    store: Engine, settings: Settings, corners: Any
) -> None:
    west, east, _, _ = corners
    reader = _reader(store, settings, "table")
    try:
        reader.at("incidents", 16, *east)
        assert reader.at("incidents", 16, *east)[0]
        case = _insert(store, *west)
        try:
            assert not reader.at("incidents", 16, *east)[0], "any write dirties every tile"
        finally:
            _delete(store, case)
    finally:
        reader.close()


def test_a_read_asked_for_after_a_commit_sees_its_tiles_dirty(store: Engine, corners: Any) -> None:
    """A read in flight took its snapshot before the write; a caller who asks after the
    commit is handed the next read, in which the write's tile has moved."""
    west, east, _, _ = corners
    slow = "SELECT c.* FROM gisgrid_dirty_changes(%s, %s, %s) c, pg_sleep(0.4)"
    clock = VersionClock(libpq_url(store.url.render_as_string(False)), track=True)
    clock.changes_sql = slow
    z, (wx, wy), (ex, ey) = 15, tile_of(*west, 15), tile_of(*east, 15)

    async def scenario() -> list[tuple[int, int]]:
        await clock.read()
        start = [clock.tile_version("incidents", z, wx, wy), clock.tile_version("hex", z, ex, ey)]
        first = asyncio.create_task(clock.read())
        await asyncio.sleep(0.15)  # the slow read is in flight, its snapshot taken
        case = await asyncio.to_thread(_insert, store, *west)
        await clock.read()
        after = [clock.tile_version("incidents", z, wx, wy), clock.tile_version("hex", z, ex, ey)]
        await first
        await asyncio.to_thread(_delete, store, case)
        await clock.close()
        return [*start, *after]

    w0, e0, w1, e1 = asyncio.run(scenario())
    assert w1[0] > w0[0], "the written tile has a new version"
    assert e1 == e0, "a tile far away keeps its version"


def test_the_log_is_written_under_the_counter_its_statement_set(
    store: Engine, corners: Any
) -> None:
    """The log triggers fire after tile_version_bump: a reader that has seen counter N and
    reads every row past N cannot miss a write."""
    west, _, _, _ = corners
    case = _insert(store, *west)
    try:
        with store.connect() as conn:
            seq, version = conn.execute(
                text(
                    "SELECT (SELECT max(seq) FROM tile_dirty),"
                    " (SELECT version FROM tile_versions WHERE layer = 'incidents')"
                )
            ).one()
        assert seq == version
    finally:
        _delete(store, case)


def test_a_reader_behind_the_pruned_log_starts_over(store: Engine, corners: Any) -> None:
    west, _, _, _ = corners
    clock = VersionClock(libpq_url(store.url.render_as_string(False)), track=True)
    z, (x, y) = 16, tile_of(*west, 16)

    async def scenario() -> tuple[int, int, int]:
        await clock.read()
        before = clock.tile_version("incidents", z, x, y)[0]
        # more statements than the log keeps (gisgrid_dirty_keep), none touching a row
        await asyncio.to_thread(
            _run,
            store,
            "DO $$ BEGIN FOR i IN 1..(gisgrid_dirty_keep() + 1000) LOOP"
            " UPDATE incidents SET status = status WHERE false; END LOOP; END $$",
        )
        await clock.read()
        after = clock.tile_version("incidents", z, x, y)[0]
        await clock.close()
        return before, after, clock._seen_seq

    before, after, seen = asyncio.run(scenario())
    assert after > before and after == seen, "every tile is dirty once: the floor moved up"


def _run(store: Engine, sql: str) -> None:
    with store.begin() as conn:
        conn.execute(text(sql))
