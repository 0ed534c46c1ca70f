"""Tiles: MVT and PNG tiles, their TileJSON 3.0 documents, and the index of layers.

A tile response is cached in process under a key that holds the tables' data versions (see
:mod:`gisgrid.tiles.layers`), the filters and the caller's scope; its ETag is made from the same
key, so a client's conditional request is answered 304 without rendering, and any write to
a table the layer shows changes both. ``Cache-Control: no-cache`` makes browsers revalidate
every time: a tile is never stale.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from api.deps import EngineDep
from api.errors import FieldErrorRoute
from gisgrid.access.auth import Caller, caller_from_token, decode_token
from gisgrid.access.scope import Scope
from gisgrid.errors import InvalidInput, NotAuthenticated
from gisgrid.tiles.cache import CachedTile, TileCache
from gisgrid.tiles.filters import FILTER_PARAMS, TileFilters, known_categories, query_params
from gisgrid.tiles.grid import MAX_ZOOM, check_tile
from gisgrid.tiles.layers import LAYERS, Layer, layer_of
from gisgrid.tiles.mapview import data_extent
from gisgrid.tiles.render import render

MVT = "application/vnd.mapbox-vector-tile"
PNG = "image/png"
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad input; `field` names it"},
    401: {"description": "The layer needs credentials"},
}
BOUNDS_TTL_S = 300.0
CALLER_TTL_S = 10.0
CALLER_CACHE_SIZE = 10_000

router = APIRouter(tags=["Tiles"], route_class=FieldErrorRoute)

Z = Annotated[int, Path(ge=0, le=MAX_ZOOM, description="Zoom level")]
XY = Annotated[int, Path(ge=0, description="Tile column or row (XYZ scheme)")]


def tile_cache(request: Request) -> TileCache:
    cache: TileCache | None = getattr(request.app.state, "tile_cache", None)
    if cache is None:
        mb = request.app.state.settings.tile_cache_mb
        cache = request.app.state.tile_cache = TileCache(mb * 1024 * 1024)
    return cache


def _check_params(params: Mapping[str, str], layer: Layer) -> None:
    for name in params:
        if name not in FILTER_PARAMS:
            raise InvalidInput(f"unknown parameter; tiles take {list(FILTER_PARAMS)}", field=name)
        if not layer.filtered:
            raise InvalidInput(f"layer {layer.id!r} takes no filters", field=name)


async def _filters(
    request: Request, engine: Engine, now: dict[str, int] | None = None
) -> TileFilters:
    """The query string's filters (its names already passed :func:`_check_params`); category
    codes are checked against the store's, reloaded only when incident_categories' version
    (``now``, read from the clock if not given) moves."""
    params = request.query_params
    known: set[str] = set()
    if params.get("category"):
        if now is None:
            now = await request.app.state.tile_clock.read()
        known = await _known_categories(request, engine, now.get("incident_categories", 0))
    return TileFilters.parse(params, known)


def _bounds(request: Request, engine: Engine) -> list[float]:
    """Where the data is (:func:`gisgrid.tiles.mapview.data_extent`), cached for BOUNDS_TTL_S."""
    hit = getattr(request.app.state, "tile_bounds", None)
    now = time.monotonic()
    if hit is not None and now - hit[0] < BOUNDS_TTL_S:
        return list(hit[1])
    with engine.connect() as conn:
        box = data_extent(conn)
    bounds = [-180.0, -85.0511, 180.0, 85.0511] if box is None else list(box)
    request.app.state.tile_bounds = (now, bounds)
    return bounds


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _suffix(layer: Layer) -> str:
    return "png" if layer.kind == "raster" else "pbf"


async def tilejson(request: Request, layer: Layer, engine: Engine) -> dict[str, Any]:
    _check_params(request.query_params, layer)
    filters = await _filters(request, engine)
    query = urlencode(filters.query_string())
    url = f"{_base(request)}/tiles/{layer.id}/{{z}}/{{x}}/{{y}}.{_suffix(layer)}"
    w, s, e, n = await run_in_threadpool(_bounds, request, engine)
    doc: dict[str, Any] = {
        "tilejson": "3.0.0",
        "name": layer.title,
        "description": layer.description,
        "version": "1.0.0",
        "attribution": "gisgrid",
        "scheme": "xyz",
        "tiles": [f"{url}?{query}" if query else url],
        "minzoom": layer.minzoom,
        "maxzoom": layer.maxzoom,
        "bounds": [w, s, e, n],
        "center": [(w + e) / 2, (s + n) / 2, max(layer.minzoom, 10)],
    }
    if layer.kind == "vector":
        doc["vector_layers"] = [
            {
                "id": layer.id,
                "description": layer.description,
                "minzoom": layer.minzoom,
                "maxzoom": layer.maxzoom,
                "fields": layer.fields,
            }
        ]
    else:
        from gisgrid.tiles.raster import legend

        doc["tileSize"] = 256
        doc["legend"] = legend()
    return doc


@router.get("/tiles", summary="The tile layers, each with its TileJSON")
def index(request: Request) -> dict[str, Any]:
    return {
        "layers": [
            {
                "id": layer.id,
                "title": layer.title,
                "type": layer.kind,
                "tilejson": f"{_base(request)}/tiles/{layer.id}.json",
                "public": layer.public,
                "filters": list(FILTER_PARAMS) if layer.filtered else [],
                "minzoom": layer.minzoom,
                "maxzoom": layer.maxzoom,
            }
            for layer in LAYERS.values()
        ]
    }


@router.get("/tiles/heat/legend.json", summary="The heat layer's colour scale and bandwidth rule")
def heat_legend() -> dict[str, Any]:
    from gisgrid.tiles.raster import legend

    return legend()


@router.get(
    "/tiles/{layer}.json",
    summary="TileJSON 3.0 for one layer; filters on the query string go into its tile URLs",
    responses=ERRORS,
)
async def layer_tilejson(layer: str, request: Request, engine: EngineDep) -> JSONResponse:
    doc = await tilejson(request, layer_of(layer), engine)
    return JSONResponse(doc)


def _scope(layer: Layer, caller: Caller | None) -> Scope | None:
    if caller is None:
        if not layer.public:
            raise NotAuthenticated(f"layer {layer.id!r} needs credentials", field="Authorization")
        return None
    return caller.scope


def _etag(key: tuple[Any, ...]) -> str:
    return 'W/"' + hashlib.sha1(repr(key).encode(), usedforsecurity=False).hexdigest() + '"'


def _key(
    layer: Layer, z: int, x: int, y: int, qp: dict[str, Any], seen: tuple[int, ...]
) -> tuple[Any, ...]:
    return (layer.id, z, x, y, json.dumps(qp, sort_keys=True), seen)


async def _caller(request: Request) -> Caller | None:
    """The bearer token's caller, remembered for CALLER_TTL_S (never past the token's expiry):
    a tile request on a cache hit then touches the database only for the versions. A change
    to the account (deactivated, new scope) reaches tiles within CALLER_TTL_S."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    cache: dict[str, tuple[float, Caller]] | None = getattr(request.app.state, "tile_callers", None)
    if cache is None:
        cache = request.app.state.tile_callers = {}
    now = time.monotonic()
    hit = cache.get(token)
    if hit is not None and hit[0] > now:
        return hit[1]
    settings = request.app.state.settings

    def resolve() -> tuple[Caller, float]:
        claims = decode_token(token, settings)
        with request.app.state.session_factory() as session:
            return caller_from_token(session, token, settings), float(claims["exp"])

    caller, exp = await run_in_threadpool(resolve)
    if len(cache) > CALLER_CACHE_SIZE:
        cache.clear()
    cache[token] = (now + min(CALLER_TTL_S, exp - time.time()), caller)
    return caller


async def _known_categories(request: Request, engine: Engine, version: int) -> set[str]:
    """Category codes, reloaded when incident_categories' version moves."""
    held = getattr(request.app.state, "tile_categories", None)
    if held is not None and held[0] == version:
        return set(held[1])

    def load() -> set[str]:
        with engine.connect() as conn:
            return known_categories(conn)

    known = await run_in_threadpool(load)
    request.app.state.tile_categories = (version, frozenset(known))
    return known


def _render(
    engine: Engine, cache: TileCache, lay: Layer, z: int, x: int, y: int, qp: dict[str, Any]
) -> CachedTile:
    with engine.connect() as conn:
        if lay.kind == "vector":  # one statement: no BEGIN/COMMIT round trips around it
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        body, seen = render(conn, lay, z, x, y, qp)
    if body and lay.kind == "vector":
        body = gzip.compress(body, compresslevel=6, mtime=0)
    key = _key(lay, z, x, y, qp, seen)
    tile = CachedTile(body, _etag(key))
    cache.put(key, tile)
    return tile


@router.get(
    "/tiles/{layer}/{z}/{x}/{y}.{fmt}",
    summary="One tile: MVT (.pbf) for vector layers, PNG (.png) for the heat layer",
    responses={
        **ERRORS,
        200: {"content": {MVT: {}, PNG: {}}, "description": "The tile"},
        204: {"description": "No feature in this tile"},
        304: {"description": "Not modified since the ETag the client holds"},
    },
    response_class=Response,
)
async def tile(layer: str, z: Z, x: XY, y: XY, fmt: str, request: Request) -> Response:
    """Asynchronous so that a cache hit never waits for a thread: the versions come from the
    app's :class:`~gisgrid.tiles.clock.VersionClock`, the caller from a short cache; only a
    miss renders, in a worker thread."""
    lay = layer_of(layer)
    if fmt != _suffix(lay):
        raise InvalidInput(f".{fmt}; layer {lay.id!r} is served as .{_suffix(lay)}", field="fmt")
    check_tile(z, x, y)
    caller = await _caller(request)
    scope = _scope(lay, caller)
    _check_params(request.query_params, lay)
    engine: Engine = request.app.state.engine
    now = await request.app.state.tile_clock.read()
    qp = query_params(await _filters(request, engine, now), scope)
    key = _key(lay, z, x, y, qp, tuple(now.get(name, 0) for name in lay.tables))
    etag = _etag(key)
    held = request.headers.get("if-none-match")
    if held and etag in [v.strip() for v in held.split(",")]:
        return Response(status_code=304, headers=_headers(etag, caller))
    cache = tile_cache(request)
    hit = cache.get(key)
    if hit is None:
        hit = await run_in_threadpool(_render, engine, cache, lay, z, x, y, qp)
    headers = _headers(hit.etag, caller)
    if not hit.body:
        return Response(status_code=204, headers=headers)
    body = hit.body
    if lay.kind == "vector":
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
        else:
            body = gzip.decompress(body)
    return Response(body, media_type=MVT if lay.kind == "vector" else PNG, headers=headers)


def _headers(etag: str, caller: Caller | None) -> dict[str, str]:
    return {
        "ETag": etag,
        # revalidate every time: the ETag makes that a 304 when nothing changed
        "Cache-Control": ("private, " if caller is not None else "public, ") + "no-cache",
        "Vary": "Authorization, Accept-Encoding",
    }
