"""A tile server's state in one object: what a tile request reads before it renders.

:class:`TileService` holds the rendered tiles (:class:`~gisgrid.tiles.cache.TileCache`), the
data versions (:class:`~gisgrid.tiles.clock.VersionClock`), each client's share of rendering
(:class:`~gisgrid.tiles.gate.RenderGate`: a miss renders through it) and three short caches:
the caller
of each bearer token, the category codes the filters are checked against, and where the data
is (TileJSON's bounds). It knows nothing of HTTP: a web layer makes one per process (the API
in its lifespan), awaits :meth:`TileService.versions`, and runs the blocking methods (named
as such) in a worker thread, so a cache hit never waits for one.

A tile's key holds the versions of the tables its layer reads, the filters and the caller's
scope (:func:`tile_key`); its ETag is made from the key (:func:`etag`), so a write to a
table the layer shows changes both, and a client's conditional request needs no rendering.
With ``tile_invalidation="tile"`` (the default) an incident-derived layer's key holds, instead
of the whole incidents table's versions, the tile's own (:meth:`TileService.key`): the latest
incident write and passed due time that reached it (:mod:`gisgrid.tiles.dirty`), so a report
in one corner of the city leaves the rest of the cache warm.

Examples
--------
>>> from gisgrid.tiles.layers import LAYERS
>>> key = tile_key(LAYERS["grids"], 12, 3400, 1400, {"status": ["reported"]}, (7,))
>>> key[:4], etag(key) == etag(key), etag(key).startswith('W/"')
(('grids', 12, 3400, 1400), True, True)
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
import time
from typing import Any

from sqlalchemy import Engine

from gisgrid.access.auth import Caller, caller_from_token, decode_token
from gisgrid.settings import Settings
from gisgrid.store.reads import ReadRouter, with_wal_lsn
from gisgrid.tiles.cache import CachedTile, TileCache
from gisgrid.tiles.clock import VERSIONS_SQL, VersionClock, libpq_url
from gisgrid.tiles.dirty import LAYER_FAMILY
from gisgrid.tiles.filters import known_categories
from gisgrid.tiles.gate import RenderGate
from gisgrid.tiles.layers import Layer
from gisgrid.tiles.mapview import data_extent
from gisgrid.tiles.render import render

BOUNDS_TTL_S = 300.0
CALLER_TTL_S = 10.0
CALLER_CACHE_SIZE = 10_000
WORLD = [-180.0, -85.0511, 180.0, 85.0511]


def tile_key(
    layer: Layer, z: int, x: int, y: int, qp: dict[str, Any], seen: tuple[int, ...]
) -> tuple[Any, ...]:
    """The cache key of a tile: layer, position, query_params and the versions it shows."""
    return (layer.id, z, x, y, json.dumps(qp, sort_keys=True), seen)


def etag(key: tuple[Any, ...]) -> str:
    """A weak ETag made from a tile's key."""
    return 'W/"' + hashlib.sha1(repr(key).encode(), usedforsecurity=False).hexdigest() + '"'


class TileService:
    """The tile cache, the version clock and the caches in front of them, for one engine."""

    def __init__(self, engine: Engine, settings: Settings, reads: ReadRouter | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.cache = TileCache(settings.tile_cache_mb * 1024 * 1024)
        # renders read through ``reads`` (a replica, when one is configured): the versions
        # read then also returns the primary's WAL position, which a replica render waits for
        self.reads = reads or ReadRouter(engine)
        url = libpq_url(engine.url.render_as_string(False))
        with_lsn = self.reads.replica is not None
        self.per_tile = settings.tile_invalidation == "tile"
        self.clock = VersionClock(
            url, with_wal_lsn(VERSIONS_SQL) if with_lsn else VERSIONS_SQL, track=self.per_tile
        )
        if with_lsn:  # the tracking read's rows are seven columns wide
            self.clock.changes_sql = with_wal_lsn(self.clock.changes_sql, width=7)
        self.gate = RenderGate(settings.tile_renders_per_client, settings.tile_render_queue)
        self._lock = threading.Lock()  # the blocking methods run in several worker threads
        self._callers: dict[str, tuple[float, Caller]] = {}
        self._categories: tuple[int, frozenset[str]] | None = None
        self._bounds: tuple[float, list[float]] | None = None

    async def versions(self) -> dict[str, int]:
        """The tables' data versions, as of a read that started after this call."""
        return self.reads.take_lsn(dict(await self.clock.read()))

    def key(
        self, layer: Layer, z: int, x: int, y: int, qp: dict[str, Any], now: dict[str, int]
    ) -> tuple[Any, ...]:
        """The tile's cache key as of ``now`` (what :meth:`versions` returned, awaited by
        this request): the versions of the layer's tables; for an incident-derived layer
        under per-tile invalidation, the tile's own incidents and overdue versions in place
        of the whole table's."""
        if not self.per_tile or layer.id not in LAYER_FAMILY:
            return tile_key(layer, z, x, y, qp, tuple(now.get(t, 0) for t in layer.tables))
        wrote, due = self.clock.tile_version(layer.id, z, x, y)
        own = {"incidents": wrote, "overdue": due}
        return tile_key(layer, z, x, y, qp, tuple(own.get(t, now.get(t, 0)) for t in layer.tables))

    # -- callers ------------------------------------------------------------------------
    def held_caller(self, token: str) -> Caller | None:
        """The token's caller if resolved less than CALLER_TTL_S ago (and the token has not
        expired since), else None: then :meth:`resolve_caller`."""
        hit = self._callers.get(token)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return None

    def resolve_caller(self, token: str) -> Caller:
        """Blocking: the token's caller read from the store, remembered for CALLER_TTL_S
        (never past the token's expiry). A change to the account (deactivated, new scope)
        reaches tiles within CALLER_TTL_S. Raises NotAuthenticated for a bad token."""
        now = time.monotonic()
        claims = decode_token(token, self.settings)
        with self.engine.connect() as conn:
            caller = caller_from_token(conn, token, self.settings)
        until = now + min(CALLER_TTL_S, float(claims["exp"]) - time.time())
        with self._lock:
            if len(self._callers) > CALLER_CACHE_SIZE:
                self._callers.clear()
            self._callers[token] = (until, caller)
        return caller

    # -- category codes -----------------------------------------------------------------
    def held_categories(self, version: int) -> set[str] | None:
        """The category codes if loaded at this version of incident_categories, else None."""
        held = self._categories
        if held is not None and held[0] == version:
            return set(held[1])
        return None

    def load_categories(self, version: int) -> set[str]:
        """Blocking: every leaf and group code, kept until incident_categories' version moves."""
        with self.engine.connect() as conn:
            known = known_categories(conn)
        self._categories = (version, frozenset(known))
        return known

    # -- where the data is --------------------------------------------------------------
    def bounds(self) -> list[float]:
        """Blocking: the data's extent (:func:`gisgrid.tiles.mapview.data_extent`), or the
        world without data, read at most every BOUNDS_TTL_S."""
        hit = self._bounds
        now = time.monotonic()
        if hit is not None and now - hit[0] < BOUNDS_TTL_S:
            return list(hit[1])
        with self.engine.connect() as conn:
            box = data_extent(conn)
        bounds = list(WORLD) if box is None else list(box)
        self._bounds = (now, bounds)
        return bounds

    # -- tiles --------------------------------------------------------------------------
    def render(
        self,
        layer: Layer,
        z: int,
        x: int,
        y: int,
        qp: dict[str, Any],
        key: tuple[Any, ...] | None = None,
    ) -> CachedTile:
        """Blocking: render a tile (a vector tile gzipped, as served), keyed and cached by the
        versions it was rendered at; under per-tile invalidation, by ``key`` (the request's
        :meth:`key`: the render started after the read that made it, so it shows at least
        what the key stands for). With a replica, the render reads it once it has replayed
        the primary's WAL up to the last :meth:`versions` read (so never older than the
        versions a request brought), else the primary."""
        with self.reads.connect_seen() as conn:
            if layer.kind == "vector":  # one statement: no BEGIN/COMMIT round trips around it
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            body, seen = render(conn, layer, z, x, y, qp)
        if body and layer.kind == "vector":
            body = gzip.compress(body, compresslevel=6, mtime=0)
        if key is None or not self.per_tile:
            key = tile_key(layer, z, x, y, qp, seen)
        tile = CachedTile(body, etag(key))
        self.cache.put(key, tile)
        return tile

    async def close(self) -> None:
        await self.clock.close()
