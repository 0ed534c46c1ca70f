"""The console's reads: the queue (gisgrid.incidents.queue), today's figures
(gisgrid.incidents.figures) and the actions a caller may take on a case now
(gisgrid.incidents.actions).

``GET /queue`` answers with an ETag; a client that polls with ``If-None-Match`` gets 304 and
no body while its answer would be the same.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel, Field

from api.deps import CallerDep, SessionDep
from api.errors import FieldErrorRoute
from gisgrid.incidents import actions, figures, lifecycle, queue, workflow

router = APIRouter(tags=["console"], route_class=FieldErrorRoute)

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad input; `field` names it"},
    401: {"description": "No valid bearer token"},
}


class QueueOut(BaseModel):
    incidents: list[workflow.Incident]
    next: str | None = Field(
        default=None, description="The next page (same filters, keyset cursor); absent at the end."
    )


class ActionsOut(BaseModel):
    incident_id: int
    version: int
    actions: list[str] = Field(description="What the caller may do now, for the case's buttons.")


@router.get(
    "/queue",
    summary="The caller's open cases, least time left on the SLA first",
    responses={**ERRORS, 304: {"description": "Unchanged since the ETag in If-None-Match"}},
)
def get_queue(
    request: Request,
    response: Response,
    session: SessionDep,
    caller: CallerDep,
    status: Annotated[str | None, Query(description="One open status.")] = None,
    category: Annotated[
        str | None, Query(description="A category code (a group takes its items).")
    ] = None,
    grid: Annotated[str | None, Query(description="A grid id or grid code.")] = None,
    overdue: Annotated[bool, Query(description="Only cases past their due time.")] = False,
    escalated: Annotated[
        bool, Query(description="Only cases escalated to the caller's centre level.")
    ] = False,
    unit_id: Annotated[int | None, Query(description="Only cases assigned to this unit.")] = None,
    limit: Annotated[int, Query(ge=1, le=workflow.MAX_LIST)] = 50,
    cursor: Annotated[
        str | None, Query(description="From the `next` link of the page before; opaque.")
    ] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Any:
    """Overdue first (most overdue first), then by due time; ties by id. Follow `next`."""
    filters = queue.check_filters(
        status=status,
        category=category,
        grid=grid,
        overdue=overdue,
        escalated=escalated,
        unit_id=unit_id,
    )
    tag = queue.queue_etag(session, caller, filters, extra=f"{limit}:{cursor}")
    headers = {"ETag": tag, "Cache-Control": "private, no-cache"}
    if if_none_match is not None and tag in [t.strip() for t in if_none_match.split(",")]:
        return Response(status_code=304, headers=headers)
    page = queue.queue_page(session, caller, filters, limit=limit, cursor=cursor)
    response.headers.update(headers)
    nxt = None
    if page.next_cursor is not None:
        nxt = str(request.url.include_query_params(cursor=page.next_cursor))
    return QueueOut(incidents=page.incidents, next=nxt)


@router.get(
    "/queue/figures",
    summary="Today's figures of the caller's cases (the city's day)",
    responses=ERRORS,
)
def get_figures(session: SessionDep, caller: CallerDep) -> figures.Figures:
    return figures.today(session, caller)


@router.get(
    "/incidents/{incident_id}/actions",
    summary="The actions the caller may take on the case now",
    responses={**ERRORS, 404: {"description": "No such incident in the caller's scope"}},
)
def get_actions(
    incident_id: int, response: Response, session: SessionDep, caller: CallerDep
) -> ActionsOut:
    inc = workflow.get_incident(session, caller, incident_id)
    response.headers["ETag"] = lifecycle.etag(inc.version)
    return ActionsOut(
        incident_id=inc.id, version=inc.version, actions=actions.allowed_actions(caller, inc)
    )
