"""The one table that maps library errors to HTTP statuses."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY

from gisgrid import errors as e

STATUS: dict[type[e.GisgridError], int] = {
    e.InvalidInput: 400,
    e.NotAuthenticated: 401,
    e.PermissionDenied: 403,
    e.NotFound: 404,
    e.Conflict: 409,
    e.PreconditionFailed: 412,
    e.PreconditionRequired: 428,
    e.TooLarge: 413,
    e.Unprocessable: 422,
    e.TooManyRequests: 429,
    e.DatabaseUnavailable: 503,
    e.ClusterError: 503,
}


log = logging.getLogger("gisgrid.api")

UNAVAILABLE = "the service is unavailable: its database cannot be reached; try again shortly"
"""What a 503 says. The library's own reason names the server (a socket path, a host and
port): that goes to the log, never to the client."""


# Starlette's HTTPException statuses, named as the library's classes are
HTTP_ERRORS = {
    400: "InvalidInput",
    401: "NotAuthenticated",
    403: "PermissionDenied",
    404: "NotFound",
    405: "MethodNotAllowed",
}


def status_for(exc: e.GisgridError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def public(exc: e.GisgridError) -> e.GisgridError:
    """The error as a client may see it: a 503 says only that the service is unavailable
    (the detail is logged); every other error is shown as it is.

    Examples
    --------
    >>> public(e.DatabaseUnavailable("no socket /srv/.s.PGSQL.5432")).reason
    'the service is unavailable: its database cannot be reached; try again shortly'
    >>> public(e.InvalidInput("bad", field="lon")).reason
    'bad'
    """
    if status_for(exc) != 503:
        return exc
    log.warning("503 %s: %s", type(exc).__name__, exc)
    return type(exc)(UNAVAILABLE)


def _response(exc: e.GisgridError) -> JSONResponse:
    status = status_for(exc)
    headers = {}
    if status == 401:  # RFC 6750: a 401 names the scheme the client should use
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, e.TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after_s)
    return JSONResponse(status_code=status, content=public(exc).to_dict(), headers=headers)


def too_large(limit: int | None) -> e.TooLarge:
    """The 413 of a request body over ``limit`` bytes (the route's, or GISGRID_MAX_BODY_BYTES).

    Examples
    --------
    >>> too_large(1024).to_dict()["reason"]
    'the request body is larger than the limit of 1024 bytes for this route'
    """
    where = f"the limit of {limit} bytes for this route" if limit is not None else "the limit"
    return e.TooLarge(f"the request body is larger than {where}")


def invalid_input(exc: RequestValidationError) -> e.InvalidInput:
    """The first of FastAPI's validation errors as InvalidInput naming the field.

    Examples
    --------
    >>> err = RequestValidationError([{"loc": ("query", "lat"), "msg": "not a number"}])
    >>> invalid_input(err).to_dict()
    {'error': 'InvalidInput', 'field': 'lat', 'reason': 'not a number'}
    >>> bad_json = {"type": "json_invalid", "loc": ("body", 39), "ctx": {"error": "Expecting ','"}}
    >>> invalid_input(RequestValidationError([bad_json])).to_dict()
    {'error': 'InvalidInput', 'field': 'body', 'reason': "is not valid JSON: Expecting ',' at \
character 39"}
    """
    first: dict[str, Any] = dict(exc.errors()[0]) if exc.errors() else {"loc": ()}
    if first.get("type") == "json_invalid":
        # FastAPI's loc is ("body", <character offset>): the field is the body itself
        at = first.get("loc", ("body", "?"))[-1]
        why = (first.get("ctx") or {}).get("error", "not JSON")
        return e.InvalidInput(f"is not valid JSON: {why} at character {at}", field="body")
    loc = [str(p) for p in first.get("loc", ())]
    field = ".".join(loc[1:] if loc and loc[0] in ("query", "body", "path", "header") else loc)
    return e.InvalidInput(str(first.get("msg", "invalid")), field=field or None)


class FieldErrorRoute(APIRoute):
    """A route whose request validation errors are 400 naming the field, like InvalidInput.

    Used by routers that promise "400 with the field named" for bad input; other routers
    keep FastAPI's 422.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return _response(invalid_input(exc))

        return route_handler


def install(app: FastAPI) -> None:
    @app.exception_handler(e.GisgridError)
    async def _gisgrid_error(request: Request, exc: e.GisgridError) -> JSONResponse:
        return _response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        # every route: 400 naming the field, as the library's InvalidInput (FieldErrorRoute
        # does the same inside its routers), never FastAPI's 422 {"detail": ...}
        return _response(invalid_input(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # Starlette's and FastAPI's own errors (a body over the limit, broken multipart, an
        # unknown path, a wrong method) in the {error, field, reason} shape too
        if exc.status_code == 413:
            return _response(too_large(request.scope.get(MAX_BODY_SIZE_SCOPE_KEY)))
        if exc.status_code == 304 or exc.status_code < 400:
            return await http_exception_handler(request, exc)
        name = HTTP_ERRORS.get(exc.status_code, "HTTPError")
        body = {"error": name, "field": None, "reason": str(exc.detail)}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(sa_exc.DBAPIError)
    async def _db_error(request: Request, exc: sa_exc.DBAPIError) -> JSONResponse:
        translated = e.from_db_error(exc)
        if translated is None:
            raise exc
        return _response(translated)
