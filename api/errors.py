"""The one table that maps library errors to HTTP statuses."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy import exc as sa_exc

from gisgrid import errors as e

STATUS: dict[type[e.GisgridError], int] = {
    e.InvalidInput: 400,
    e.NotAuthenticated: 401,
    e.PermissionDenied: 403,
    e.NotFound: 404,
    e.Conflict: 409,
    e.PreconditionFailed: 412,
    e.PreconditionRequired: 428,
    e.DatabaseUnavailable: 503,
    e.ClusterError: 503,
}


log = logging.getLogger("gisgrid.api")

UNAVAILABLE = "the service is unavailable: its database cannot be reached; try again shortly"
"""What a 503 says. The library's own reason names the server (a socket path, a host and
port): that goes to the log, never to the client."""


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
    # RFC 6750: a 401 names the scheme the client should use.
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(status_code=status, content=public(exc).to_dict(), headers=headers)


def invalid_input(exc: RequestValidationError) -> e.InvalidInput:
    """The first of FastAPI's validation errors as InvalidInput naming the field.

    Examples
    --------
    >>> err = RequestValidationError([{"loc": ("query", "lat"), "msg": "not a number"}])
    >>> invalid_input(err).to_dict()
    {'error': 'InvalidInput', 'field': 'lat', 'reason': 'not a number'}
    """
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
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

    @app.exception_handler(sa_exc.DBAPIError)
    async def _db_error(request: Request, exc: sa_exc.DBAPIError) -> JSONResponse:
        translated = e.from_db_error(exc)
        if translated is None:
            raise exc
        return _response(translated)
