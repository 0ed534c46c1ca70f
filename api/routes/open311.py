"""Open311 GeoReport v2 (JSON): services, service requests, and sending one
(gisgrid.incidents.open311).

Reads are public, with no key and no token: Open311 requests are public by design in 311
systems. They list every category except the sensitive groups (03 public security hazards,
04 disputes) and carry public fields only (never the reporter or a staff note). Sending a
request (POST, form-encoded) needs an ``api_key`` from ``GISGRID_OPEN311_API_KEYS``; the
incident is made with source ``open311`` and no account behind it.

Errors have GeoReport's shape, a list ``[{"code": <HTTP status>, "description": "<field>:
<reason>"}]``: 400 bad input (the field named), 403 missing or wrong key, 404 not found.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy import exc as sa_exc

from api.deps import GridIndexDep, SessionDep, SettingsDep
from api.errors import invalid_input, public, status_for
from gisgrid.errors import GisgridError, PermissionDenied, from_db_error
from gisgrid.incidents import open311
from gisgrid.settings import Settings
from gisgrid.times import CITY_TZ

PREFIX = "/open311/v2"
DATE_HELP = f"ISO 8601 date or date-time; no zone means {CITY_TZ.key}, a bare date a day there."
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": 'Bad input: `[{"code": 400, "description": "<field>: <reason>"}]`'},
    404: {"description": "No such service or public request"},
}


def error_body(exc: GisgridError) -> list[dict[str, Any]]:
    """GeoReport's error list for a library error.

    Examples
    --------
    >>> from gisgrid.errors import InvalidInput
    >>> error_body(InvalidInput("is required", field="service_code"))
    [{'code': 400, 'description': 'service_code: is required'}]
    """
    exc = public(exc)
    where = f"{exc.field}: " if exc.field else ""
    return [{"code": status_for(exc), "description": f"{where}{exc.reason}"}]


class Open311Route(APIRoute):
    """A route whose errors (library, database, validation) answer in GeoReport's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                err: GisgridError = invalid_input(exc)
            except GisgridError as exc:
                err = exc
            except sa_exc.DBAPIError as exc:
                translated = from_db_error(exc)
                if translated is None:
                    raise
                err = translated
            return JSONResponse(status_code=status_for(err), content=error_body(err))

        return route_handler


router = APIRouter(prefix=PREFIX, tags=["open311"], route_class=Open311Route)


def check_api_key(settings: Settings, api_key: str | None) -> None:
    """PermissionDenied unless ``api_key`` is one of GISGRID_OPEN311_API_KEYS."""
    if not api_key:
        raise PermissionDenied("an api_key is required to send a request", field="api_key")
    given = api_key.encode()
    # compare with every key, in constant time: no early exit that times out a prefix
    ok = False
    for key in settings.open311_api_keys:
        ok |= secrets.compare_digest(given, key.get_secret_value().encode())
    if not ok:
        raise PermissionDenied("api_key is not valid", field="api_key")


@router.get("/services.json", summary="Every service (leaf category)", responses=ERRORS)
def list_services(session: SessionDep) -> list[dict[str, Any]]:
    return open311.services(session)


@router.get("/services/{service_code}.json", summary="One service", responses=ERRORS)
def get_service(service_code: str, session: SessionDep) -> list[dict[str, Any]]:
    # GeoReport answers a one-item list here too
    return [open311.service(session, service_code)]


@router.get(
    "/requests.json",
    summary="Public service requests, newest first (the last 90 days by default)",
    responses=ERRORS,
)
def list_requests(
    session: SessionDep,
    service_code: Annotated[str | None, Query(description="One or more, comma-separated.")] = None,
    status: Annotated[str | None, Query(description="open or closed.")] = None,
    start_date: Annotated[str | None, Query(description=DATE_HELP)] = None,
    end_date: Annotated[str | None, Query(description=f"{DATE_HELP} Included.")] = None,
    limit: Annotated[int, Query(ge=1, le=open311.MAX_REQUESTS)] = open311.MAX_REQUESTS,
) -> list[dict[str, Any]]:
    return open311.requests(
        session,
        service_code=service_code,
        status=status,
        start_date=start_date or None,
        end_date=end_date or None,
        limit=limit,
    )


@router.get("/requests/{request_id}.json", summary="One public service request", responses=ERRORS)
def get_request(request_id: str, session: SessionDep) -> list[dict[str, Any]]:
    return [open311.request(session, request_id)]


@router.post(
    "/requests.json",
    summary="Send a service request (form-encoded, with api_key)",
    responses={**ERRORS, 403: {"description": "Missing or wrong api_key"}},
)
def create_request(
    session: SessionDep,
    settings: SettingsDep,
    grids: GridIndexDep,
    api_key: Annotated[str | None, Form()] = None,
    service_code: Annotated[str | None, Form()] = None,
    lat: Annotated[str | None, Form(description="WGS84.")] = None,
    long: Annotated[str | None, Form(description="WGS84.")] = None,
    description: Annotated[str | None, Form()] = None,
    address_string: Annotated[str | None, Form()] = None,
    email: Annotated[str | None, Form()] = None,
    first_name: Annotated[str | None, Form()] = None,
    last_name: Annotated[str | None, Form()] = None,
    media_url: Annotated[str | None, Form()] = None,
) -> list[dict[str, Any]]:
    """``[{service_request_id, service_notice, account_id}]``; account_id is always null
    (the public sends without an account here)."""
    check_api_key(settings, api_key)
    out = open311.create_request(
        session,
        grids.get(session),
        service_code=service_code,
        lat=lat,
        long=long,
        description=description,
        address_string=address_string,
        email=email,
        first_name=first_name,
        last_name=last_name,
        media_url=media_url,
        holidays=settings.holidays,
    )
    session.commit()
    return out
