"""Incidents: report, read, list, and move through the closed loop (gisgrid.incidents.workflow).

Every read is limited to the caller's scope (out of scope is 404, as if absent). A
transition names the version it applies to with ``If-Match: "<ETag>"`` (the ETag is the
incident's version): without it 428, with a stale one 412. Bad input is 400 naming the field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CallerDep, GridIndexDep, SessionDep, SettingsDep
from api.errors import FieldErrorRoute
from gisgrid.assign.locate import Crs
from gisgrid.errors import InvalidInput
from gisgrid.incidents import intake, lifecycle, workflow
from gisgrid.query.nearest import MAX_K, UnitHit

router = APIRouter(tags=["incidents"], route_class=FieldErrorRoute)

Priority = Literal["low", "normal", "high", "urgent"]
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad input; `field` names it"},
    401: {"description": "No valid bearer token"},
    403: {"description": "The caller's role may not do this"},
    404: {"description": "No such incident in the caller's scope"},
}
TRANSITION_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    409: {"description": "The status does not allow the action, or a concurrent change won"},
    412: {"description": "If-Match names a version that is not the current one"},
    428: {"description": "If-Match is missing"},
}


class IncidentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Any, not float: "abc", NaN and swapped lon/lat get gisgrid's own message
    lon: Any = Field(description="Longitude, in `crs`.", examples=[126.63])
    lat: Any = Field(description="Latitude, in `crs`.", examples=[45.75])
    category: str = Field(description="Incident category code (small item).", examples=["0101"])
    description: str | None = Field(default=None, max_length=4000)
    priority: Priority = "normal"
    crs: Crs = "wgs84"
    allow_nearest: bool = Field(
        default=False,
        description="Outside every grid, take the nearest grid within `max_distance_m`.",
    )
    max_distance_m: float | None = None
    photos: list[str] = Field(
        default_factory=list, description="SHA-256 of photos stored with POST /photos."
    )
    resolved_on_spot: bool = Field(
        default=False,
        description="就地解决: a grid worker fixed it at once; recorded closed (needs a photo).",
    )
    idempotency_key: str | None = Field(
        default=None,
        description="As the Idempotency-Key header: a resend with the same key returns the"
        " first case (200) instead of opening a twin.",
    )


class IncidentList(BaseModel):
    incidents: list[workflow.Incident]  # the library's dataclass serves as the schema
    next: str | None = Field(
        default=None, description="The next page (same filters, keyset cursor); absent at the end."
    )


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(
        default=None, description="Required for feedback, reject, return, escalate."
    )
    unit_id: int | None = Field(
        default=None, description="dispatch only; without it, the nearest capable unit."
    )


class EventList(BaseModel):
    incident_id: int
    events: list[workflow.Event]


class SuggestedUnits(BaseModel):
    incident_id: int
    units: list[UnitHit]  # as /units/nearest answers them (lon/lat WGS84)


@router.post(
    "/incidents",
    status_code=201,
    summary="Report an incident: grid and hierarchy assigned, due time set",
    responses={**ERRORS, 200: {"description": "The key was sent before: the first case"}},
)
def report_incident(
    body: IncidentIn,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    grids: GridIndexDep,
    caller: CallerDep,
    idempotency_key: Annotated[
        str | None, Header(description="A key per report (a UUID); a resend returns the first.")
    ] = None,
) -> workflow.Incident:
    """A point outside every grid is 400, unless ``allow_nearest`` with ``max_distance_m``
    lets it take the nearest grid within that distance. With an idempotency key (header or
    field), the same key from the same reporter answers 200 with the first case."""
    if body.allow_nearest and body.max_distance_m is None:
        raise InvalidInput("allow_nearest needs max_distance_m", field="max_distance_m")
    if idempotency_key and body.idempotency_key and idempotency_key != body.idempotency_key:
        raise InvalidInput(
            "the Idempotency-Key header and the idempotency_key field differ",
            field="idempotency_key",
        )
    got = intake.report(
        session,
        caller,
        grids.get(session),
        settings,
        lon=body.lon,
        lat=body.lat,
        category=body.category,
        description=body.description,
        priority=body.priority,
        max_distance_m=body.max_distance_m if body.allow_nearest else None,
        crs=body.crs,
        photos=body.photos,
        resolved_on_spot=body.resolved_on_spot,
        idempotency_key=idempotency_key or body.idempotency_key,
    )
    session.commit()
    inc = got.incident
    if not got.created:
        response.status_code = 200
    response.headers["Location"] = f"/incidents/{inc.id}"
    response.headers["ETag"] = lifecycle.etag(inc.version)
    return inc


@router.get("/incidents", summary="Incidents in the caller's scope", responses=ERRORS)
def list_incidents(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    status: Annotated[str | None, Query(description="Only this status.")] = None,
    overdue: Annotated[bool, Query(description="Only open ones past their due time.")] = False,
    limit: Annotated[int, Query(ge=1, le=workflow.MAX_LIST)] = 100,
    cursor: Annotated[
        str | None, Query(description="From the `next` link of the page before; opaque.")
    ] = None,
) -> IncidentList:
    """Newest first, a page at a time: follow `next` (keyset paging, no OFFSET)."""
    page = workflow.incident_page(
        session, caller, status=status, overdue=overdue, limit=limit, cursor=cursor
    )
    nxt = None
    if page.next_cursor is not None:
        nxt = str(request.url.include_query_params(cursor=page.next_cursor))
    return IncidentList(incidents=page.incidents, next=nxt)


@router.get("/incidents/{incident_id}", summary="One incident, with its ETag", responses=ERRORS)
def get_incident(
    incident_id: int, response: Response, session: SessionDep, caller: CallerDep
) -> workflow.Incident:
    inc = workflow.get_incident(session, caller, incident_id)
    response.headers["ETag"] = lifecycle.etag(inc.version)
    return inc


@router.get(
    "/incidents/{incident_id}/events",
    summary="Every transition of an incident, oldest first",
    responses=ERRORS,
)
def incident_events(incident_id: int, session: SessionDep, caller: CallerDep) -> EventList:
    evs = workflow.events(session, caller, incident_id)
    return EventList(
        incident_id=incident_id,
        events=evs,
    )


@router.get(
    "/incidents/{incident_id}/units",
    summary="The nearest available units that handle the incident's category",
    responses=ERRORS,
)
def suggested_units(
    incident_id: int,
    session: SessionDep,
    caller: CallerDep,
    k: Annotated[int, Query(ge=1, le=MAX_K)] = 5,
) -> SuggestedUnits:
    """What ``dispatch`` without a unit would choose is the first of these."""
    hits = workflow.suggest_units(session, caller, incident_id, k=k)
    return SuggestedUnits(incident_id=incident_id, units=hits)


@router.post(
    "/incidents/{incident_id}/{action}",
    summary="Move an incident on: accept, dispatch, start, feedback, close, send_back, reject,"
    " return, escalate",
    responses=TRANSITION_ERRORS,
)
def take_action(
    incident_id: int,
    action: str,
    response: Response,
    session: SessionDep,
    caller: CallerDep,
    if_match: Annotated[str | None, Header(description='The ETag, e.g. "3".')] = None,
    body: ActionIn | None = None,
) -> workflow.Incident:
    lifecycle.check_action(action)
    version = lifecycle.version_of(if_match)
    body = body or ActionIn()
    inc = workflow.act(
        session, caller, incident_id, action, version, note=body.note, unit_id=body.unit_id
    )
    session.commit()
    response.headers["ETag"] = lifecycle.etag(inc.version)
    return inc
