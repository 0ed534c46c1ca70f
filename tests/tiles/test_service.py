"""TileService: the caches a tile request reads before it renders, and when they reload."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from gisgrid.access.auth import issue_token
from gisgrid.errors import NotAuthenticated
from gisgrid.settings import Settings
from gisgrid.store.cluster import Cluster
from gisgrid.tiles.service import WORLD, TileService
from tests.support import scratch_engine


@pytest.fixture()
def service(cluster: Cluster, settings: Settings) -> Iterator[TileService]:
    with scratch_engine(cluster, "tile_service_scratch") as engine:
        svc = TileService(engine, settings)
        yield svc
        asyncio.run(svc.close())


def _write(engine: Engine, sql: str) -> None:
    with engine.begin() as conn:
        conn.execute(text(sql))


def test_a_caller_is_read_once_then_held(service: TileService, settings: Settings) -> None:
    _write(service.engine, "INSERT INTO accounts (id, username, role) VALUES (7, 'ops', 'admin')")
    token = issue_token(7, "admin", settings).access_token
    assert service.held_caller(token) is None
    caller = service.resolve_caller(token)
    assert caller.account_id == 7
    # deactivated: the held caller stands for CALLER_TTL_S; a fresh read refuses it
    _write(service.engine, "UPDATE accounts SET active = false WHERE id = 7")
    assert service.held_caller(token) == caller
    with pytest.raises(NotAuthenticated, match="inactive"):
        service.resolve_caller(token)


def test_category_codes_reload_when_their_version_moves(service: TileService) -> None:
    _write(
        service.engine,
        "INSERT INTO incident_categories (code, parent_code, name_zh, name_en) VALUES"
        " ('09', NULL, '其他', 'Other'), ('0901', '09', '其他', 'Other')",
    )
    assert service.held_categories(1) is None
    assert service.load_categories(1) == {"09", "0901"}
    assert service.held_categories(1) == {"09", "0901"}
    assert service.held_categories(2) is None  # another version: load again


def test_bounds_are_the_world_without_data_and_held(service: TileService) -> None:
    assert service.bounds() == WORLD
    _write(
        service.engine,
        "INSERT INTO areas (code, name, level, geom) VALUES ('23', 'H', 'city',"
        " ST_Multi(ST_MakeEnvelope(126, 45, 127, 46, 4326)))",
    )
    assert service.bounds() == WORLD  # held for BOUNDS_TTL_S
    service._bounds = None  # as when BOUNDS_TTL_S has passed
    assert service.bounds() == [126.0, 45.0, 127.0, 46.0]
