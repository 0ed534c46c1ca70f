"""Analysis answers as a server holds them: computed once per data version, then served as
GeoJSON and as vector tiles from memory.

An answer (hot spots, a period comparison) takes seconds to compute and is asked for again
and again: by the API, by every tile of the ``hotspots`` layer the web map loads, by the
popup. :class:`AnalysisService` keys each answer as the tile cache keys a tile
(:mod:`gisgrid.tiles.service`): what was asked (:func:`request_key`: the kind, the
parameters, the filters and the caller's scope as ``query_params`` has them) and the data
versions of ``areas`` and ``incidents``, which a web layer reads from the tile service's
:class:`~gisgrid.tiles.clock.VersionClock` after the request arrived. So a write to either
table makes the next request compute anew, and nothing else does.

An answer is computed in one REPEATABLE READ snapshot that also reads the versions, and is
held under the versions it saw (and under those the request brought, which are never newer).
Requests for the same thing wait for one computation instead of running their own (the web
map asks for a dozen tiles at once). Its tiles go into the tile service's
:class:`~gisgrid.tiles.cache.TileCache` under a key that holds the answer's, so they share the
tiles' memory budget and age out with them.

Examples
--------
>>> from gisgrid.tiles.filters import TileFilters
>>> what = request_key("hotspots", {"method": "gistar"}, TileFilters(), None)
>>> what
('hotspots', '{"method": "gistar"}', '{}')
>>> requested({"areas": 3, "incidents": 9, "units": 1})
(3, 9)
"""

from __future__ import annotations

import gzip
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import Connection, Engine

from gisgrid.access.scope import Scope
from gisgrid.analysis.geojson import feature_collection, plain
from gisgrid.errors import translate_db_errors
from gisgrid.store.reads import ReadRouter
from gisgrid.tiles.cache import CachedTile, TileCache
from gisgrid.tiles.filters import TileFilters, query_params
from gisgrid.tiles.frames import FrameTiles
from gisgrid.tiles.render import versions
from gisgrid.tiles.service import etag

if TYPE_CHECKING:
    import geopandas as gpd

TABLES = ("areas", "incidents")
ANSWERS = 16  # held answers; a city-wide answer at grid level is some tens of MB
# attrs that say how an answer was made inside the library, not what it means
_INTERNAL = ("boundary_key",)

RequestKey = tuple[str, str, str]


def request_key(
    kind: str, params: Mapping[str, Any], filters: TileFilters, scope: Scope | None
) -> RequestKey:
    """What was asked: the kind of answer, its canonical parameters, and the filters with the
    caller's scope (anonymous, all, or a level and area) as every tile function gets them."""
    return (
        kind,
        json.dumps(plain(params), sort_keys=True),
        json.dumps(query_params(filters, scope), sort_keys=True),
    )


def requested(now: Mapping[str, int]) -> tuple[int, ...]:
    """The versions an answer depends on, from a read of all the tables' versions."""
    return tuple(int(now.get(t, 0)) for t in TABLES)


@dataclass
class Answer:
    """A computed answer: the frame, the top-level members of its GeoJSON, what was asked and
    the data versions it was computed at. Bodies and tiles are made on first use."""

    frame: gpd.GeoDataFrame
    members: dict[str, Any]
    what: RequestKey
    versions: tuple[int, ...]
    _bodies: dict[bool, bytes] = field(default_factory=dict, repr=False)
    _tiles: dict[str, FrameTiles] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def body(self, geometry: bool = True) -> bytes:
        """The GeoJSON FeatureCollection, gzipped (as served to a client that accepts it)."""
        with self._lock:
            if geometry not in self._bodies:
                doc = feature_collection(self.frame, self.members, geometry)
                self._bodies[geometry] = gzip.compress(doc, compresslevel=6, mtime=0)
            return self._bodies[geometry]

    def etag(self, geometry: bool = True) -> str:
        return etag((self.what, self.versions, geometry))

    def tiles(self, layer: str, properties: tuple[str, ...]) -> FrameTiles:
        """The answer's units as tiles of ``layer`` with these properties (those the frame
        has), indexed on first use."""
        with self._lock:
            if layer not in self._tiles:
                props = [p for p in properties if p in self.frame.columns and p != "id"]
                self._tiles[layer] = FrameTiles(self.frame, layer, props)
            return self._tiles[layer]

    def unit(self, unit_id: int) -> gpd.GeoDataFrame:
        """The one row of a unit (empty when the answer has no such unit)."""
        return self.frame[self.frame["id"].to_numpy(np.int64) == unit_id]


def members_of(frame: gpd.GeoDataFrame, params: Mapping[str, Any], filters: TileFilters) -> dict:
    """The top-level members of an answer's GeoJSON: ``parameters`` (what was asked, and what
    the computation reports: thresholds, islands, periods), ``filters`` and ``summary`` (the
    number of units, and of units in each class where the answer has classes)."""
    attrs = {k: v for k, v in frame.attrs.items() if k not in _INTERNAL}
    summary: dict[str, Any] = {"units": len(frame)}
    if "class" in frame.columns:
        classes = frame["class"].value_counts()
        summary["classes"] = {str(k): int(v) for k, v in classes.items()}
    return {
        "parameters": plain({**params, **attrs}),
        "filters": filters.query_string(),
        "summary": summary,
    }


Compute = Callable[[Connection], "gpd.GeoDataFrame"]


class AnalysisService:
    """Held answers for one engine, and their tiles in ``tile_cache``."""

    def __init__(
        self,
        engine: Engine,
        tile_cache: TileCache,
        size: int = ANSWERS,
        reads: ReadRouter | None = None,
    ) -> None:
        self.engine = engine
        # computations read through ``reads``: the replica once it has replayed up to the
        # tile service's last versions read (share the tile service's router), else engine
        self.reads = reads or ReadRouter(engine)
        self.tile_cache = tile_cache
        self.size = size
        self.computed = 0  # answers computed (not served from memory), for tests
        self._answers: OrderedDict[tuple[RequestKey, tuple[int, ...]], Answer] = OrderedDict()
        self._guard = threading.Lock()
        self._computing: dict[RequestKey, threading.Lock] = {}

    def held(self, what: RequestKey, now: tuple[int, ...]) -> Answer | None:
        """The answer to ``what`` at these data versions, if held."""
        with self._guard:
            hit = self._answers.get((what, now))
            if hit is not None:
                self._answers.move_to_end((what, now))
            return hit

    def answer(
        self,
        what: RequestKey,
        now: tuple[int, ...],
        compute: Compute,
        params: Mapping[str, Any],
        filters: TileFilters,
    ) -> Answer:
        """Blocking: the held answer, or ``compute(conn)`` in a snapshot, held. One
        computation per ``what`` at a time; the others wait for it and take its answer."""
        hit = self.held(what, now)
        if hit is not None:
            return hit
        with self._guard:
            lock = self._computing.setdefault(what, threading.Lock())
        with lock:
            hit = self.held(what, now)
            if hit is not None:
                return hit
            with translate_db_errors(), self.reads.connect_seen() as conn:
                rr = conn.execution_options(isolation_level="REPEATABLE READ")
                with rr.begin():
                    seen = versions(rr, TABLES)
                    frame = compute(rr)
            answer = Answer(frame, members_of(frame, params, filters), what, seen)
            self.computed += 1
            with self._guard:
                for at in {seen, now}:
                    self._answers[(what, at)] = answer
                    self._answers.move_to_end((what, at))
                while len(self._answers) > self.size:
                    self._answers.popitem(last=False)
                if len(self._computing) > 4 * self.size:
                    for key in [k for k, v in self._computing.items() if not v.locked()]:
                        del self._computing[key]
        return answer

    def held_tile(self, answer: Answer, layer: str, z: int, x: int, y: int) -> CachedTile | None:
        """The answer's tile if drawn before and still in the tile cache."""
        return self.tile_cache.get(_tile_key(answer, layer, z, x, y))

    def tile(
        self, answer: Answer, layer: str, properties: tuple[str, ...], z: int, x: int, y: int
    ) -> CachedTile:
        """Blocking: the answer's tile (gzipped MVT, empty bytes for an empty tile), cached
        in the tile cache under the answer's key and the tile's position."""
        key = _tile_key(answer, layer, z, x, y)
        hit = self.tile_cache.get(key)
        if hit is not None:
            return hit
        body = answer.tiles(layer, properties).tile(z, x, y)
        if body:
            body = gzip.compress(body, compresslevel=6, mtime=0)
        tile = CachedTile(body, etag(key))
        self.tile_cache.put(key, tile)
        return tile


def _tile_key(answer: Answer, layer: str, z: int, x: int, y: int) -> tuple[Any, ...]:
    return ("answer", layer, answer.what, answer.versions, z, x, y)
