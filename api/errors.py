"""The one table that maps library errors to HTTP statuses."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc

from gisgrid import errors as e

STATUS: dict[type[e.GisgridError], int] = {
    e.InvalidInput: 400,
    e.NotAuthenticated: 401,
    e.PermissionDenied: 403,
    e.NotFound: 404,
    e.Conflict: 409,
    e.PreconditionFailed: 412,
    e.DatabaseUnavailable: 503,
    e.ClusterError: 503,
}


def status_for(exc: e.GisgridError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def install(app: FastAPI) -> None:
    @app.exception_handler(e.GisgridError)
    async def _gisgrid_error(request: Request, exc: e.GisgridError) -> JSONResponse:
        return JSONResponse(status_code=status_for(exc), content=exc.to_dict())

    @app.exception_handler(sa_exc.DBAPIError)
    async def _db_error(request: Request, exc: sa_exc.DBAPIError) -> JSONResponse:
        translated = e.from_db_error(exc)
        if translated is None:
            raise exc
        return JSONResponse(status_code=status_for(translated), content=translated.to_dict())
