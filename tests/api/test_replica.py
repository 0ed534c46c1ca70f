"""Tiles and analytics served from a streaming replica (GISGRID_READ_REPLICA_URL): a write
committed on the primary shows in the very next tile and statistic, and a replica that lags
is passed over for the primary."""

from __future__ import annotations

import threading
import time
from typing import Any

import geopandas as gpd
import psycopg
import pytest
from fastapi.testclient import TestClient
from shapely import Point
from sqlalchemy import Connection, Engine, text

from gisgrid.analysis.service import TABLES, AnalysisService, request_key, requested
from gisgrid.store.cluster import Cluster
from gisgrid.store.reads import ReadRouter
from gisgrid.tiles.filters import TileFilters
from gisgrid.tiles.grid import tile_of
from gisgrid.tiles.render import versions
from tests.api.test_tiles import features, get_tile
from tests.city_support import point_in
from tests.support import wait_for_table

DB = "replica_api_scratch"


@pytest.fixture(scope="module")
def settings_overrides(replica: Cluster, store: Engine) -> dict[str, Any]:
    wait_for_table(replica, DB, "incidents")
    return {"read_replica_url": replica.url(dbname=DB), "replica_wait_s": 5.0}


def _insert(store: Engine, lon: float, lat: float) -> None:
    with store.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO incidents (category, reported_at, status, geom)"
                " VALUES ('0101', now(), 'reported', ST_SetSRID(ST_MakePoint(:x, :y), 4326))"
            ),
            {"x": lon, "y": lat},
        )


def _tile_count(
    client: TestClient, zxy: tuple[int, int, int], admin: dict[str, str], grid: int
) -> int:
    """The grid's incident count in its grids tile, as the API serves it."""
    _, decoded = get_tile(client, "grids", zxy, admin)
    (f,) = [f for f in features(decoded, "grids") if f["id"] == grid]
    return int(f["properties"]["incidents"])


def test_writes_show_in_the_next_tile_and_statistic_read_from_the_replica(
    client: TestClient, store: Engine, admin: dict[str, str], worker: tuple[dict[str, str], int]
) -> None:
    _, grid = worker
    lon, lat = point_in(store, grid)
    zxy = (13, *tile_of(lon, lat, 13))
    reads: ReadRouter = client.app.state.reads  # type: ignore[attr-defined]
    assert reads.replica is not None

    def reported() -> int:
        r = client.get("/stats/incidents", params={"by": "grid"}, headers=admin)
        assert r.status_code == 200, r.text
        return next((g["reported"] for g in r.json()["groups"] if g["id"] == grid), 0)

    tiles, stats = _tile_count(client, zxy, admin, grid), reported()
    for i in range(1, 16):
        _insert(store, lon, lat)
        assert _tile_count(client, zxy, admin, grid) == tiles + i, (
            f"tile {i} is older than a committed write"
        )
        assert reported() == stats + i, f"statistic {i} is older than a committed write"
    assert reads.counts["replica"] >= 32  # every render and statistic read the replica
    assert reads.counts["primary_lagging"] == reads.counts["primary_replica_down"] == 0


def test_a_lagging_replica_is_passed_over(
    client: TestClient,
    store: Engine,
    admin: dict[str, str],
    worker: tuple[dict[str, str], int],
    replica: Cluster,
) -> None:
    _, grid = worker
    lon, lat = point_in(store, grid)
    zxy = (14, *tile_of(lon, lat, 14))
    reads: ReadRouter = client.app.state.reads  # type: ignore[attr-defined]
    reads.wait_s = 0.2

    before = _tile_count(client, zxy, admin, grid)
    with psycopg.connect(replica.libpq_url(), autocommit=True) as ctl:
        ctl.execute("SELECT pg_wal_replay_pause()")
        try:
            _insert(store, lon, lat)
            lagging = reads.counts["primary_lagging"]
            assert (
                _tile_count(client, zxy, admin, grid) == before + 1
            )  # rendered on the primary after 0.2 s
            assert reads.counts["primary_lagging"] == lagging + 1
        finally:
            ctl.execute("SELECT pg_wal_replay_resume()")
            reads.wait_s = 5.0


def test_an_analysis_answer_waits_for_the_replica_to_replay_the_write(
    client: TestClient, store: Engine, worker: tuple[dict[str, str], int], replica: Cluster
) -> None:
    # the routes read the versions through the tile service (which records the primary's
    # WAL position with them), then ask the analysis service for an answer at those versions.
    # Replay is paused while the write commits and resumed 0.3 s later: the computation must
    # wait for it on the replica (reading the paused replica at once would miss the write)
    service: AnalysisService = client.app.state.analysis  # type: ignore[attr-defined]
    reads: ReadRouter = client.app.state.reads  # type: ignore[attr-defined]
    lon, lat = point_in(store, worker[1])
    count = text("SELECT count(*) FROM incidents")

    def compute(conn: Connection) -> gpd.GeoDataFrame:
        n = conn.execute(count).scalar_one()
        return gpd.GeoDataFrame({"id": [1], "n": [n]}, geometry=[Point(lon, lat)], crs=4326)

    on_replica = reads.counts["replica"]
    with psycopg.connect(replica.libpq_url(), autocommit=True) as ctl:
        ctl.execute("SELECT pg_wal_replay_pause()")
        resume = threading.Timer(0.3, lambda: ctl.execute("SELECT pg_wal_replay_resume()"))
        try:
            _insert(store, lon, lat)
            with store.connect() as conn:
                at = requested(dict(zip(TABLES, versions(conn, TABLES), strict=True)))
                expected = conn.execute(count).scalar_one()
            reads.saw(reads.primary_lsn())  # what TileService.versions does with the WAL row
            what = request_key("replica-count", {}, TileFilters(), None)
            resume.start()
            t0 = time.monotonic()
            answer = service.answer(what, at, compute, {}, TileFilters())
            waited = time.monotonic() - t0
        finally:
            resume.join()
            ctl.execute("SELECT pg_wal_replay_resume()")
    assert answer.versions == at, "computed on a snapshot older than the versions"
    assert int(answer.frame["n"].iloc[0]) == expected
    assert reads.counts["replica"] == on_replica + 1 and waited >= 0.3


def test_a_tile_render_waits_for_the_replica_to_replay_the_write(
    client: TestClient,
    store: Engine,
    admin: dict[str, str],
    worker: tuple[dict[str, str], int],
    replica: Cluster,
) -> None:
    # as above, through the tile route: replay paused while the write commits, resumed 0.3 s
    # after; the render waits on the replica for the position read with the versions
    _, grid = worker
    lon, lat = point_in(store, grid)
    zxy = (15, *tile_of(lon, lat, 15))
    reads: ReadRouter = client.app.state.reads  # type: ignore[attr-defined]

    before = _tile_count(client, zxy, admin, grid)
    on_replica = reads.counts["replica"]
    with psycopg.connect(replica.libpq_url(), autocommit=True) as ctl:
        ctl.execute("SELECT pg_wal_replay_pause()")
        resume = threading.Timer(0.3, lambda: ctl.execute("SELECT pg_wal_replay_resume()"))
        try:
            _insert(store, lon, lat)
            resume.start()
            t0 = time.monotonic()
            assert _tile_count(client, zxy, admin, grid) == before + 1, (
                "the tile is older than a committed write"
            )
            waited = time.monotonic() - t0
        finally:
            resume.join()
            ctl.execute("SELECT pg_wal_replay_resume()")
    assert reads.counts["replica"] == on_replica + 1 and waited >= 0.3
