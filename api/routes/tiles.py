"""Tiles: MVT and PNG tiles, their TileJSON 3.0 documents, and the index of layers.

A tile response is cached in process under a key that holds the tables' data versions (see
:mod:`gisgrid.tiles.layers`; for an incident-derived layer, the tile's own, see
:meth:`gisgrid.tiles.service.TileService.key`), the filters and the caller's scope; its
ETag is made from the same key, so a client's conditional request is answered 304 without
rendering, and any write to a table the layer shows (or, per tile, any write that reaches
the tile) changes both. ``Cache-Control: no-cache`` makes browsers revalidate
every time: a tile is never stale. ``X-Cache: hit`` or ``miss`` says whether the request found
the tile in the cache (one that waited for another request's render of it counts as a miss).
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.deps import TileServiceDep
from api.errors import FieldErrorRoute
from api.hosts import base_url
from gisgrid.access.auth import Caller
from gisgrid.access.scope import Scope
from gisgrid.errors import InvalidInput, NotAuthenticated
from gisgrid.tiles.filters import (
    BOUNDARY_PARAMS,
    FILTER_PARAMS,
    TileFilters,
    parse_at,
    query_params,
)
from gisgrid.tiles.gate import client_key
from gisgrid.tiles.grid import MAX_ZOOM, check_tile
from gisgrid.tiles.layers import LAYERS, Layer, layer_of
from gisgrid.tiles.service import TileService, etag

MVT = "application/vnd.mapbox-vector-tile"
PNG = "image/png"
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad input; `field` names it"},
    401: {"description": "The layer needs credentials"},
}
router = APIRouter(tags=["Tiles"], route_class=FieldErrorRoute)

Z = Annotated[int, Path(ge=0, le=MAX_ZOOM, description="Zoom level")]
XY = Annotated[int, Path(ge=0, description="Tile column or row (XYZ scheme)")]


def _check_params(params: Mapping[str, str], layer: Layer) -> None:
    for name in params:
        if name in BOUNDARY_PARAMS:
            if not layer.versioned:
                raise InvalidInput(
                    f"layer {layer.id!r} draws no boundaries, so it takes no {name}", field=name
                )
            continue
        if name not in FILTER_PARAMS:
            allowed = [*FILTER_PARAMS, *BOUNDARY_PARAMS]
            raise InvalidInput(f"unknown parameter; tiles take {allowed}", field=name)
        if not layer.filtered:
            raise InvalidInput(f"layer {layer.id!r} takes no filters", field=name)


async def _filters(
    request: Request, service: TileService, now: dict[str, int] | None = None
) -> TileFilters:
    """The query string's filters (its names already passed :func:`_check_params`); category
    codes are checked against the store's, reloaded only when incident_categories' version
    (``now``, read from the clock if not given) moves."""
    params = request.query_params
    known: set[str] = set()
    if params.get("category"):
        if now is None:
            now = await service.versions()
        version = now.get("incident_categories", 0)
        held = service.held_categories(version)
        known = (
            held if held is not None else await run_in_threadpool(service.load_categories, version)
        )
    return TileFilters.parse(params, known)


def _base(request: Request) -> str:
    return base_url(request)


def _suffix(layer: Layer) -> str:
    return "png" if layer.kind == "raster" else "pbf"


async def tilejson(
    request: Request,
    service: TileService,
    layer: Layer,
    extra: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The layer's TileJSON; ``extra``: the layer's own parameters, already read by the
    library (the hot-spot layer's), which go into the tile URLs beside the filters."""
    if extra is None:
        _check_params(request.query_params, layer)
    filters = await _filters(request, service)
    at = parse_at(request.query_params) if layer.versioned else None
    when = {"at": at.isoformat()} if at is not None else {}
    query = urlencode({**(extra or {}), **filters.query_string(), **when})
    url = f"{_base(request)}/tiles/{layer.id}/{{z}}/{{x}}/{{y}}.{_suffix(layer)}"
    w, s, e, n = await run_in_threadpool(service.bounds)
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
                "at": layer.versioned,  # draws the boundaries in force at ?at=
                "minzoom": layer.minzoom,
                "maxzoom": layer.maxzoom,
                # drawn from an analysis answer: its TileJSON and tiles take the parameters
                # of GET /analysis/hotspots besides the filters
                "computed": layer.computed,
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
async def layer_tilejson(layer: str, request: Request, tiles: TileServiceDep) -> JSONResponse:
    doc = await tilejson(request, tiles, layer_of(layer))
    return JSONResponse(doc)


def _scope(layer: Layer, caller: Caller | None) -> Scope | None:
    if caller is None:
        if not layer.public:
            raise NotAuthenticated(f"layer {layer.id!r} needs credentials", field="Authorization")
        return None
    return caller.scope


async def _caller(request: Request, service: TileService) -> Caller | None:
    """The bearer token's caller, from the tile service's short cache
    (:meth:`~gisgrid.tiles.service.TileService.held_caller`): a tile request on a cache hit
    then touches the database only for the versions."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    caller = service.held_caller(token)
    if caller is None:
        caller = await run_in_threadpool(service.resolve_caller, token)
    return caller


@router.get(
    "/tiles/{layer}/{z}/{x}/{y}.{fmt}",
    summary="One tile: MVT (.pbf) for vector layers, PNG (.png) for the heat layer",
    responses={
        **ERRORS,
        200: {"content": {MVT: {}, PNG: {}}, "description": "The tile"},
        204: {"description": "No feature in this tile"},
        304: {"description": "Not modified since the ETag the client holds"},
        429: {
            "description": "Too many of this client's tiles waiting to be rendered;"
            " Retry-After says when to try again"
        },
    },
    response_class=Response,
)
async def tile(
    layer: str, z: Z, x: XY, y: XY, fmt: str, request: Request, tiles: TileServiceDep
) -> Response:
    """Asynchronous so that a cache hit never waits for a thread: the versions come from the
    tile service's :class:`~gisgrid.tiles.clock.VersionClock`, the caller from its short
    cache; only a miss renders, in a worker thread."""
    lay = layer_of(layer)
    if fmt != _suffix(lay):
        raise InvalidInput(f".{fmt}; layer {lay.id!r} is served as .{_suffix(lay)}", field="fmt")
    check_tile(z, x, y)
    caller = await _caller(request, tiles)
    scope = _scope(lay, caller)
    _check_params(request.query_params, lay)
    now = await tiles.versions()
    qp = query_params(
        await _filters(request, tiles, now),
        scope,
        parse_at(request.query_params),
        rollup=tiles.settings.tile_rollup,
    )
    key = tiles.key(lay, z, x, y, qp, now)
    tag = etag(key)
    held = request.headers.get("if-none-match")
    if held and tag in [v.strip() for v in held.split(",")]:
        return Response(status_code=304, headers=_headers(tag, caller))
    hit = tiles.cache.get(key)
    cached = hit is not None
    if hit is None:
        # a miss renders within the client's share (gisgrid.tiles.gate): one client's varying
        # from/to cannot take every render slot
        address = request.client.host if request.client else None
        who = client_key(caller.account_id if caller else None, address)
        async with tiles.gate.admit(who):
            hit = tiles.cache.get(key)  # rendered meanwhile by another of its requests?
            if hit is None:
                hit = await run_in_threadpool(tiles.render, lay, z, x, y, qp, key)
    headers = _headers(hit.etag, caller)
    # whether this request found the tile rendered: how a load test reads the hit rate
    headers["X-Cache"] = "hit" if cached else "miss"
    if not hit.body:
        return Response(status_code=204, headers=headers)
    body = hit.body
    if lay.kind == "vector":
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
        else:
            body = gzip.decompress(body)
    return Response(body, media_type=MVT if lay.kind == "vector" else PNG, headers=headers)


def _headers(tag: str, caller: Caller | None) -> dict[str, str]:
    return {
        "ETag": tag,
        # revalidate every time: the ETag makes that a 304 when nothing changed
        "Cache-Control": ("private, " if caller is not None else "public, ") + "no-cache",
        "Vary": "Authorization, Accept-Encoding",
    }
