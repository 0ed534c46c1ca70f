"""Tiles: MVT and PNG tiles, their TileJSON 3.0 documents, and the index of layers.

A tile response is cached in process under a key that holds the tables' data versions (see
:mod:`gisgrid.tiles`), the filters and the caller's scope; its ETag is made from the same
key, so a client's conditional request is answered 304 without rendering, and any write to
a table the layer shows changes both. ``Cache-Control: no-cache`` makes browsers revalidate
every time: a tile is never stale.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text

from api.deps import EngineDep, OptionalCallerDep
from api.errors import FieldErrorRoute
from gisgrid import tiles as t
from gisgrid.errors import InvalidInput, NotAuthenticated
from gisgrid.scope import Scope
from gisgrid.tilecache import CachedTile, TileCache

MVT = "application/vnd.mapbox-vector-tile"
PNG = "image/png"
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad input; `field` names it"},
    401: {"description": "The layer needs credentials"},
}
BOUNDS_TTL_S = 300.0

router = APIRouter(tags=["Tiles"], route_class=FieldErrorRoute)

Z = Annotated[int, Path(ge=0, le=t.MAX_ZOOM, description="Zoom level")]
XY = Annotated[int, Path(ge=0, description="Tile column or row (XYZ scheme)")]


def tile_cache(request: Request) -> TileCache:
    cache: TileCache | None = getattr(request.app.state, "tile_cache", None)
    if cache is None:
        mb = request.app.state.settings.tile_cache_mb
        cache = request.app.state.tile_cache = TileCache(mb * 1024 * 1024)
    return cache


def _filters(request: Request, layer: t.Layer, engine: Engine) -> t.TileFilters:
    params = request.query_params
    for name in params:
        if name not in t.FILTER_PARAMS:
            raise InvalidInput(f"unknown parameter; tiles take {list(t.FILTER_PARAMS)}", field=name)
        if not layer.filtered:
            raise InvalidInput(f"layer {layer.id!r} takes no filters", field=name)
    known: set[str] = set()
    if params.get("category"):
        with engine.connect() as conn:
            known = t.known_categories(conn)
    return t.TileFilters.parse(params, known)


def _bounds(request: Request, engine: Engine) -> list[float]:
    """Where the data is: the extent of the current grids (of the districts when there are
    no grids yet), cached for BOUNDS_TTL_S."""
    hit = getattr(request.app.state, "tile_bounds", None)
    now = time.monotonic()
    if hit is not None and now - hit[0] < BOUNDS_TTL_S:
        return list(hit[1])
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM"
                " (SELECT COALESCE("
                "   (SELECT ST_Extent(geom) FROM areas WHERE valid_to IS NULL AND level = 'grid'),"
                "   (SELECT ST_Extent(geom) FROM areas WHERE valid_to IS NULL"
                "     AND level IN ('city', 'district'))) AS e) s"
            )
        ).one()
    bounds = [-180.0, -85.0511, 180.0, 85.0511] if row[0] is None else [float(v) for v in row]
    request.app.state.tile_bounds = (now, bounds)
    return bounds


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _suffix(layer: t.Layer) -> str:
    return "png" if layer.kind == "raster" else "pbf"


def tilejson(request: Request, layer: t.Layer, engine: Engine) -> dict[str, Any]:
    filters = _filters(request, layer, engine)
    query = urlencode(filters.query_string())
    url = f"{_base(request)}/tiles/{layer.id}/{{z}}/{{x}}/{{y}}.{_suffix(layer)}"
    w, s, e, n = _bounds(request, engine)
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
        from gisgrid.heat import legend

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
                "filters": list(t.FILTER_PARAMS) if layer.filtered else [],
                "minzoom": layer.minzoom,
                "maxzoom": layer.maxzoom,
            }
            for layer in t.LAYERS.values()
        ]
    }


@router.get("/tiles/heat/legend.json", summary="The heat layer's colour scale and bandwidth rule")
def heat_legend() -> dict[str, Any]:
    from gisgrid.heat import legend

    return legend()


@router.get(
    "/tiles/{layer}.json",
    summary="TileJSON 3.0 for one layer; filters on the query string go into its tile URLs",
    responses=ERRORS,
)
def layer_tilejson(layer: str, request: Request, engine: EngineDep) -> JSONResponse:
    doc = tilejson(request, t.layer_of(layer), engine)
    return JSONResponse(doc)


def _scope(layer: t.Layer, caller: Any) -> Scope | None:
    if caller is None:
        if not layer.public:
            raise NotAuthenticated(f"layer {layer.id!r} needs credentials", field="Authorization")
        return None
    scope: Scope = caller.scope
    return scope


def _etag(key: tuple[Any, ...]) -> str:
    return 'W/"' + hashlib.sha1(repr(key).encode(), usedforsecurity=False).hexdigest() + '"'


def _key(
    layer: t.Layer, z: int, x: int, y: int, qp: dict[str, Any], seen: tuple[int, ...]
) -> tuple[Any, ...]:
    return (layer.id, z, x, y, json.dumps(qp, sort_keys=True), seen)


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
def tile(
    layer: str,
    z: Z,
    x: XY,
    y: XY,
    fmt: str,
    request: Request,
    engine: EngineDep,
    caller: OptionalCallerDep,
) -> Response:
    lay = t.layer_of(layer)
    if fmt != _suffix(lay):
        raise InvalidInput(f".{fmt}; layer {lay.id!r} is served as .{_suffix(lay)}", field="fmt")
    t.check_tile(z, x, y)
    scope = _scope(lay, caller)
    filters = _filters(request, lay, engine)
    qp = t.query_params(filters, scope)
    cache = tile_cache(request)
    with engine.connect() as conn:
        key = _key(lay, z, x, y, qp, t.versions(conn, lay.tables))
        etag = _etag(key)
        held = request.headers.get("if-none-match")
        if held and etag in [v.strip() for v in held.split(",")]:
            return Response(status_code=304, headers=_headers(etag, caller))
        hit = cache.get(key)
        if hit is None:
            body, seen = t.render(conn, lay, z, x, y, qp)
            if body and lay.kind == "vector":
                body = gzip.compress(body, compresslevel=6, mtime=0)
            key = _key(lay, z, x, y, qp, seen)
            hit = CachedTile(body, _etag(key))
            cache.put(key, hit)
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


def _headers(etag: str, caller: Any) -> dict[str, str]:
    return {
        "ETag": etag,
        # revalidate every time: the ETag makes that a 304 when nothing changed
        "Cache-Control": ("private, " if caller is not None else "public, ") + "no-cache",
        "Vary": "Authorization, Accept-Encoding",
    }
