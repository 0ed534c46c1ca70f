"""Analysis answers: ``GET /analysis/hotspots`` (Gi*, local Moran's I, emerging hot spots),
``GET /analysis/compare`` (this month against the previous one and a year before), and the
``hotspots`` vector-tile layer drawn from the same answers (``/tiles/hotspots.json`` and its
tiles; registered before the generic tile routes, which serve the SQL layers).

Everything is the library's: the parameters are read by
:class:`gisgrid.analysis.params.HotspotParams` and :class:`gisgrid.analysis.compare.CompareParams`,
the filters as the tiles read them, the caller as the tiles resolve it (an anonymous caller
gets counts without the sensitive groups, a signed-in one their scope's rule), and answers are
held by :class:`gisgrid.analysis.service.AnalysisService` on the data versions the tile
service's clock reads. A route only passes them along and picks the representation.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import Connection

from api.deps import TileServiceDep
from api.errors import FieldErrorRoute
from api.routes.tiles import MVT, XY, Z, _caller, _filters, _headers, tilejson
from gisgrid.access.auth import Caller
from gisgrid.analysis.compare import CompareParams
from gisgrid.analysis.params import DESCRIPTIONS, HotspotParams, parse_bool
from gisgrid.analysis.service import AnalysisService, Answer, request_key, requested
from gisgrid.media import GEOJSON
from gisgrid.tiles.grid import check_tile
from gisgrid.tiles.layers import layer_of
from gisgrid.tiles.service import TileService

LAYER = "hotspots"

router = APIRouter(tags=["Analysis"], route_class=FieldErrorRoute)


async def get_analysis(request: Request) -> AnalysisService:
    """The app's analysis service (made in the lifespan)."""
    service: AnalysisService = request.app.state.analysis
    return service


AnalysisDep = Annotated[AnalysisService, Depends(get_analysis)]

FILTER_DOCS = {
    "category": "Category leaf or group codes, comma-separated",
    "status": "Incident statuses, comma-separated",
    "from": "Reported from (ISO 8601; a bare date is that day in the city)",
    "to": "Reported until, included (a bare date includes that whole day)",
}
GEOMETRY_DOC = "false: every Feature with a null geometry (the statistics only)"


def _documented(params: Mapping[str, str]) -> dict[str, Any]:
    """OpenAPI query parameters for names the library reads from the raw query string."""
    return {
        "parameters": [
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
                "description": doc,
            }
            for name, doc in params.items()
        ]
    }


HOTSPOT_DOCS = {**DESCRIPTIONS, **FILTER_DOCS}
COMPARE_DOCS = {
    "level": "district, street, community or grid",
    "month": "YYYY-MM in the city; default: the month of the latest incident",
    "within": "an area id: only the areas under it",
    "alpha": "significance level in (0, 1) (default 0.05)",
    "fdr": "Benjamini-Hochberg across the areas tested (default true)",
    "category": FILTER_DOCS["category"],
    "status": FILTER_DOCS["status"],
}
ERRORS: dict[int | str, dict[str, Any]] = {400: {"description": "Bad input; `field` names it"}}


def _without(request: Request, *names: str) -> dict[str, str]:
    return {k: v for k, v in request.query_params.items() if k not in names}


async def _answer(
    request: Request,
    tiles: TileService,
    service: AnalysisService,
    kind: str,
    params: HotspotParams | CompareParams,
) -> tuple[Answer, Caller | None]:
    """The held answer for this caller and the data as it is now, computed on a miss (in a
    worker thread, once however many requests ask for it at the same time)."""
    caller = await _caller(request, tiles)
    scope = caller.scope if caller is not None else None
    now = await tiles.versions()
    filters = await _filters(request, tiles, now)
    what = request_key(kind, params.as_dict(), filters, scope)
    at = requested(now)
    hit = service.held(what, at)
    if hit is None:
        compute: Callable[[Connection], Any] = lambda conn: params.run(conn, filters, scope)  # noqa: E731
        hit = await run_in_threadpool(service.answer, what, at, compute, params.as_dict(), filters)
    return hit, caller


def _geojson(request: Request, answer: Answer, caller: Caller | None, geometry: bool) -> Response:
    tag = answer.etag(geometry)
    headers = _headers(tag, caller)
    held = request.headers.get("if-none-match")
    if held and tag in [v.strip() for v in held.split(",")]:
        return Response(status_code=304, headers=headers)
    body = answer.body(geometry)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
    else:
        body = gzip.decompress(body)
    return Response(body, media_type=GEOJSON, headers=headers)


def _geometry_flag(request: Request) -> bool:
    raw = request.query_params.get("geometry", "")
    return parse_bool("geometry", raw) if raw else True


@router.get(
    "/analysis/hotspots",
    summary="Hot and cold spots of incidents: Gi*, local Moran's I or emerging hot spots",
    response_class=Response,
    responses={
        **ERRORS,
        200: {"content": {GEOJSON: {}}, "description": "A GeoJSON FeatureCollection"},
        304: {"description": "Not modified since the ETag the client holds"},
    },
    openapi_extra=_documented({**HOTSPOT_DOCS, "geometry": GEOMETRY_DOC}),
)
async def hotspots(request: Request, tiles: TileServiceDep, service: AnalysisDep) -> Response:
    """One Feature per unit with its statistics (Gi*: z, p, p_sim, class; LISA: I, quadrant,
    p, p_sim, class; emerging: category as class, trend_tau, trend_p, hot_steps, cold_steps
    and z per step), ``count`` and ``counts`` (per step of ``parameters.series_step``).
    Top-level members: ``parameters`` (what was asked and what the computation reports:
    thresholds, islands, periods), ``filters`` and ``summary`` (units per class).

    Answers are held per caller's scope and data version: asking again costs a version read,
    and a write to areas or incidents makes the next request compute anew."""
    params = HotspotParams.parse(_without(request, "geometry"))
    geometry = _geometry_flag(request)
    answer, caller = await _answer(request, tiles, service, "hotspots", params)
    return _geojson(request, answer, caller, geometry)


@router.get(
    "/analysis/compare",
    summary="This month against the previous month (环比) and a year before (同比), per area",
    response_class=Response,
    responses={
        **ERRORS,
        200: {"content": {GEOJSON: {}}, "description": "A GeoJSON FeatureCollection"},
        304: {"description": "Not modified since the ETag the client holds"},
    },
    openapi_extra=_documented({**COMPARE_DOCS, "geometry": GEOMETRY_DOC}),
)
async def compare(request: Request, tiles: TileServiceDep, service: AnalysisDep) -> Response:
    """One Feature per area: count (this month, to the end of the data), and for ``mom``
    (the previous month) and ``yoy`` (the same month a year before): ``*_count``,
    ``*_expected`` (scaled to the same length), ``*_ratio``, ``*_p`` (conditional binomial
    test, two-sided) and ``*_class`` (up, down, not_significant after the Benjamini-Hochberg
    correction). ``parameters.comparisons`` says which comparisons were made: one whose
    period lies before the store's first incident is not (null columns)."""
    params = CompareParams.parse(_without(request, "geometry"))
    geometry = _geometry_flag(request)
    answer, caller = await _answer(request, tiles, service, "compare", params)
    return _geojson(request, answer, caller, geometry)


@router.get(
    f"/tiles/{LAYER}.json",
    summary="TileJSON 3.0 of the hot-spot layer; its parameters go into the tile URLs",
    responses=ERRORS,
    openapi_extra=_documented(HOTSPOT_DOCS),
)
async def hotspots_tilejson(request: Request, tiles: TileServiceDep) -> JSONResponse:
    params = HotspotParams.parse(request.query_params)
    doc = await tilejson(request, tiles, layer_of(LAYER), extra=params.query_string())
    return JSONResponse(doc)


@router.get(
    f"/tiles/{LAYER}/{{z}}/{{x}}/{{y}}.pbf",
    summary="One tile of the hot-spot layer (MVT), drawn from the held answer",
    response_class=Response,
    responses={
        **ERRORS,
        200: {"content": {MVT: {}}, "description": "The tile"},
        204: {"description": "No unit in this tile"},
        304: {"description": "Not modified since the ETag the client holds"},
    },
    openapi_extra=_documented(HOTSPOT_DOCS),
)
async def hotspots_tile(
    z: Z,
    x: XY,
    y: XY,
    request: Request,
    tiles: TileServiceDep,
    service: AnalysisDep,
) -> Response:
    check_tile(z, x, y)
    layer = layer_of(LAYER)
    params = HotspotParams.parse(request.query_params)
    if z < layer.minzoom:
        return Response(status_code=204)
    answer, caller = await _answer(request, tiles, service, "hotspots", params)
    fields = tuple(layer.fields)
    tile = service.held_tile(answer, LAYER, z, x, y)
    if tile is None:
        tile = await run_in_threadpool(service.tile, answer, LAYER, fields, z, x, y)
    headers = _headers(tile.etag, caller)
    held = request.headers.get("if-none-match")
    if held and tile.etag in [v.strip() for v in held.split(",")]:
        return Response(status_code=304, headers=headers)
    if not tile.body:
        return Response(status_code=204, headers=headers)
    body = tile.body
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
    else:
        body = gzip.decompress(body)
    return Response(body, media_type=MVT, headers=headers)
