"""OGC API - Features, Part 1 core: landing page, conformance, collections and items.

The routes of every collection come from one small factory, :class:`CollectionRoutes`, so
the OpenAPI document lists each collection's own filter parameters. The SQL lives in
:mod:`gisgrid.query.features`; this module parses the query string (unknown or malformed
parameters are a 400 naming them), builds links and pages, and applies the caller's scope.

Scope: areas and units are public. Incidents, buildings and places are filtered by the
caller's scope in SQL and answer 401 to a caller without credentials (a bearer token from
``POST /token``; GDAL sends one with ``GDAL_HTTP_HEADERS="Authorization: Bearer ..."``).

``datetime`` applies to incidents.reported_at, and to the area collections as time travel:
the boundary versions in force then instead of the current ones
(:mod:`gisgrid.query.features`). Buildings, places and units have no temporal property, so a
datetime filter leaves them whole (every item is answered).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine

from api.deps import EngineDep, OptionalCallerDep
from api.hosts import base_url, self_url
from api.routes import ogc_html, webmap
from gisgrid.access.scope import Scope
from gisgrid.errors import InvalidInput, NotAuthenticated
from gisgrid.media import GEOJSON
from gisgrid.query import features as ft
from gisgrid.times import CITY_TZ

JSON = "application/json"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
]
EXTENT_TTL_S = 300.0
_ITEMS_PARAMS = ("limit", "cursor", "offset", "bbox", "datetime", "f")

router = APIRouter(tags=["OGC API - Features"])


def _answers(media_type: str, what: str) -> dict[int | str, dict[str, Any]]:
    """The 200 of an OGC route: ``media_type``, or the HTML view (``f=html`` or a browser's
    Accept)."""
    return {
        200: {
            "description": f"{what}, or its HTML view",
            "content": {
                media_type: {"schema": {"type": "object"}},
                ogc_html.HTML: {"schema": {"type": "string"}},
            },
        }
    }


def scope_for_request(request: Request, caller: OptionalCallerDep) -> Scope | None:
    """The caller's scope, or None for an anonymous caller (a bad token is already a 401)."""
    del request
    return None if caller is None else caller.scope


ScopeDep = Annotated[Scope | None, Depends(scope_for_request)]


# ---------------------------------------------------------------- helpers


def _url(
    request: Request, path: str, query: dict[str, str] | list[tuple[str, str]] | None = None
) -> str:
    url = f"{base_url(request)}{path}"
    return f"{url}?{urlencode(query)}" if query else url


def _format(request: Request) -> None:
    f = request.query_params.get("f")
    if f is not None and f not in ("json", "geojson", "html"):
        raise InvalidInput(f"{f!r}; expected json or html", field="f")


def _with_f(request: Request, f: str) -> str:
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "f"]
    return _url(request, request.url.path, [*kept, ("f", f)])


def _respond(
    request: Request, title: str, body: dict[str, Any], media_type: str = JSON
) -> Response:
    """The document as JSON, or as the html page when the client asks for html."""
    if ogc_html.wants_html(request):
        body["links"] = [
            *body.get("links", []),
            {"href": _with_f(request, "json"), "rel": "alternate", "type": media_type},
        ]
        return ogc_html.render(title, body)
    body["links"] = [
        *body.get("links", []),
        {"href": _with_f(request, "html"), "rel": "alternate", "type": ogc_html.HTML},
    ]
    return JSONResponse(body, media_type=media_type)


def _extent(request: Request, engine: Engine, collection: ft.Collection) -> ft.Extent:
    """The collection's extent, cached per app for EXTENT_TTL_S (it scans the table)."""
    cache: dict[str, tuple[float, ft.Extent]] | None = getattr(
        request.app.state, "ogc_extents", None
    )
    if cache is None:
        cache = request.app.state.ogc_extents = {}
    hit = cache.get(collection.id)
    now = time.monotonic()
    if hit is not None and now - hit[0] < EXTENT_TTL_S:
        return hit[1]
    with engine.connect() as conn:
        ext = ft.extent(conn, collection)
    cache[collection.id] = (now, ext)
    return ext


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _collection_doc(request: Request, engine: Engine, c: ft.Collection) -> dict[str, Any]:
    ext = _extent(request, engine, c)
    path = f"/collections/{c.id}"
    return {
        "id": c.id,
        "title": c.title,
        "description": c.description,
        "itemType": "feature",
        "crs": [CRS84],
        "extent": {
            "spatial": {"bbox": [list(ext.bbox)] if ext.bbox else [], "crs": CRS84},
            "temporal": {
                "interval": [[_iso(ext.interval[0]), _iso(ext.interval[1])]],
                "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
            },
        },
        "links": [
            {"href": _url(request, path), "rel": "self", "type": JSON, "title": c.title},
            {"href": _url(request, f"{path}/items"), "rel": "items", "type": GEOJSON},
        ],
    }


def _scope_or_401(c: ft.Collection, scope: Scope | None) -> Scope | None:
    if c.public:
        return None
    if scope is None:
        raise NotAuthenticated(f"{c.id} needs credentials", field="Authorization")
    return scope


# ---------------------------------------------------------------- landing, conformance


@router.get(
    "/",
    summary="Landing page",
    description="JSON, or the HTML view with `f=html`. A browser that asks for text/html"
    " first and gives no `f` gets the web map instead (`/static/index.html`).",
    responses=_answers(JSON, "The landing page"),
)
def landing(request: Request) -> Response:
    _format(request)
    if "f" not in request.query_params and ogc_html.wants_html(request):
        return webmap.page()
    return _respond(
        request,
        request.app.title,
        {
            "title": request.app.title,
            "description": request.app.description,
            "links": [
                {"href": _url(request, "/"), "rel": "self", "type": JSON},
                {
                    "href": _url(request, "/openapi.json"),
                    "rel": "service-desc",
                    "type": "application/vnd.oai.openapi+json;version=3.1",
                },
                {"href": _url(request, "/docs"), "rel": "service-doc", "type": "text/html"},
                {"href": _url(request, "/conformance"), "rel": "conformance", "type": JSON},
                {"href": _url(request, "/collections"), "rel": "data", "type": JSON},
            ],
        },
    )


@router.get("/conformance", summary="Conformance classes", responses=_answers(JSON, "The classes"))
def conformance(request: Request) -> Response:
    _format(request)
    return _respond(request, "Conformance", {"conformsTo": CONFORMANCE})


@router.get(
    "/collections", summary="Feature collections", responses=_answers(JSON, "The collections")
)
def collections(request: Request, engine: EngineDep) -> Response:
    _format(request)
    return _respond(
        request,
        "Collections",
        {
            "links": [{"href": _url(request, "/collections"), "rel": "self", "type": JSON}],
            "collections": [_collection_doc(request, engine, c) for c in ft.COLLECTIONS.values()],
        },
    )


# ---------------------------------------------------------------- per-collection routes


def parse_items_query(c: ft.Collection, request: Request) -> ft.ItemQuery:
    """Check every query parameter; unknown ones are a 400 that names them."""
    qp = request.query_params
    allowed = {*_ITEMS_PARAMS, *c.filters}
    unknown = sorted(k for k in qp if k not in allowed)
    if unknown:
        raise InvalidInput(
            f"unknown query parameter(s) {', '.join(unknown)}; "
            f"expected {', '.join(sorted(allowed))}",
            field=unknown[0],
        )
    repeated = sorted({k for k in qp if len(qp.getlist(k)) > 1})
    if repeated:
        raise InvalidInput(f"{repeated[0]} is given more than once", field=repeated[0])
    _format(request)
    return ft.item_query(c, qp)


def _page_links(
    request: Request, path: str, query: ft.ItemQuery, page: ft.ItemsPage
) -> list[dict[str, str]]:
    # next carries the last id as a cursor (keyset: deep pages cost what the first costs);
    # prev exists only for offset pages, the older and slower way in
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("offset", "cursor")]
    links = [{"href": self_url(request), "rel": "self", "type": GEOJSON}]
    if page.next_cursor is not None:
        href = _url(request, path, [*kept, ("cursor", page.next_cursor)])
        links.append({"href": href, "rel": "next", "type": GEOJSON})
    if query.offset > 0:
        back = max(0, query.offset - query.limit)
        href = _url(request, path, [*kept, ("offset", str(back))] if back else kept)
        links.append({"href": href, "rel": "prev", "type": GEOJSON})
    parent = path.rsplit("/", 1)[0]
    links.append({"href": _url(request, parent), "rel": "collection", "type": JSON})
    return links


def _openapi_params(c: ft.Collection) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {
            "name": "limit",
            "in": "query",
            "schema": {
                "type": "integer",
                "minimum": 1,
                "maximum": ft.MAX_LIMIT,
                "default": ft.DEFAULT_LIMIT,
            },
        },
        {
            "name": "cursor",
            "in": "query",
            "description": "Opaque, from a page's next link: the page after it (keyset paging).",
            "schema": {"type": "string"},
        },
        {
            "name": "offset",
            "in": "query",
            "description": "Skip this many items (slower for deep pages than following next).",
            "schema": {"type": "integer", "minimum": 0},
        },
        {
            "name": "bbox",
            "in": "query",
            "style": "form",
            "explode": False,
            "schema": {
                "type": "array",
                "minItems": 4,
                "maxItems": 6,
                "items": {"type": "number"},
            },
        },
        {
            "name": "datetime",
            "in": "query",
            "description": (
                f"An instant or an interval (a/b, ../b, a/..) on {c.time_column}, both ends "
                f"included; a bare date is a day in {CITY_TZ.key}, a time without a zone is "
                f"{CITY_TZ.key} time"
                if c.time_column
                else (
                    "Time travel: the versions in force at the instant, or at some instant of"
                    " the interval (a/b, ../b, a/..), instead of the current ones; a bare date"
                    f" is a day in {CITY_TZ.key}, a time without a zone is {CITY_TZ.key} time"
                )
                if c.versioned
                else "accepted; this collection has no temporal property, so every item matches"
            ),
            "schema": {"type": "string"},
        },
        {"name": "f", "in": "query", "schema": {"type": "string", "enum": ["json", "html"]}},
    ]
    types = {"text": "string", "int": "integer", "bool": "boolean"}
    for name, kind in c.filters.items():
        params.append({"name": name, "in": "query", "schema": {"type": types[kind]}})
    return params


class CollectionRoutes:
    """The three routes of one collection: its description, its items, one item."""

    def __init__(self, collection: ft.Collection) -> None:
        self.collection = collection

    def register(self, router: APIRouter) -> None:
        c = self.collection
        path = f"/collections/{c.id}"

        def describe(request: Request, engine: EngineDep) -> Response:
            _format(request)
            return _respond(request, c.title, _collection_doc(request, engine, c))

        def items(request: Request, engine: EngineDep, scope: ScopeDep) -> Response:
            query = parse_items_query(c, request)
            allowed = _scope_or_401(c, scope)
            with engine.connect() as conn:
                page = ft.items_page(conn, c, query, allowed)
            body: dict[str, Any] = {"type": "FeatureCollection", "features": page.features}
            if page.matched is not None:  # optional in OGC API Features; not on cursor pages
                body["numberMatched"] = page.matched
            body["numberReturned"] = len(page.features)
            body["timeStamp"] = _iso(datetime.now(UTC))
            body["links"] = _page_links(request, f"{path}/items", query, page)
            return _respond(request, f"{c.title}: items", body, GEOJSON)

        def one(request: Request, fid: str, engine: EngineDep, scope: ScopeDep) -> Response:
            _format(request)
            allowed = _scope_or_401(c, scope)
            with engine.connect() as conn:
                feat = ft.item(conn, c, fid, allowed)
            feat["links"] = [
                {"href": self_url(request), "rel": "self", "type": GEOJSON},
                {"href": _url(request, path), "rel": "collection", "type": JSON},
            ]
            return _respond(request, f"{c.title}: {fid}", feat, GEOJSON)

        router.add_api_route(
            path,
            describe,
            methods=["GET"],
            summary=f"{c.title}: description",
            name=c.id,
            responses=_answers(JSON, "The collection"),
        )
        router.add_api_route(
            f"{path}/items",
            items,
            methods=["GET"],
            summary=f"{c.title}: items",
            name=f"{c.id}_items",
            response_class=JSONResponse,
            responses=_answers(GEOJSON, "A GeoJSON FeatureCollection, one page"),
            openapi_extra={"parameters": _openapi_params(c)},
        )
        router.add_api_route(
            f"{path}/items/{{fid}}",
            one,
            methods=["GET"],
            summary=f"{c.title}: one item",
            name=f"{c.id}_item",
            responses=_answers(GEOJSON, "A GeoJSON Feature"),
        )


for _c in ft.COLLECTIONS.values():
    CollectionRoutes(_c).register(router)
