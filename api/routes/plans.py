"""Plans: a planner's redraw of the grids under one parent (gisgrid.planning).

A planner or an admin whose scope holds the plan's parent reads it; any other caller gets 404,
as if the plan did not exist.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

from api.deps import CallerDep, SessionDep, SettingsDep
from api.errors import FieldErrorRoute
from gisgrid.access.auth import Caller
from gisgrid.incidents.lifecycle import etag
from gisgrid.planning import reports
from gisgrid.settings import Settings

router = APIRouter(tags=["plans"], route_class=FieldErrorRoute)


# -- plan-checks: GET /plans/{id}/checks, /plans/{id}/stats, /plans/{id}/diff ------------------
# (a block of its own: the reports of a plan, computed from the store as it is now, each with
# the plan's ETag; nothing is written)

REPORT_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad input; `field` names it"},
    401: {"description": "No valid bearer token"},
    404: {"description": "No such plan that the caller may read (planner or admin in scope)"},
}
NOW = Annotated[
    datetime | None,
    Query(description="Count 'the last 12 months' and 'open now' as of this instant."),
]


def _report(
    kind: str,
    plan_id: int,
    session: Session,
    caller: Caller,
    settings: Settings,
    response: Response,
    now: datetime | None,
) -> dict[str, Any]:
    r = reports.plan_report(session, caller, plan_id, kind, settings, now=now)
    response.headers["ETag"] = etag(r.version)
    return r.body


@router.get(
    "/plans/{plan_id}/checks",
    summary="The plan's checks: hard failures block publishing, soft ones are advice",
    responses=REPORT_ERRORS,
)
def plan_checks(
    plan_id: int,
    session: SessionDep,
    caller: CallerDep,
    settings: SettingsDep,
    response: Response,
    now: NOW = None,
) -> dict[str, Any]:
    return _report("checks", plan_id, session, caller, settings, response, now)


@router.get(
    "/plans/{plan_id}/stats",
    summary="Workload per draft grid, its spread, and the current boundaries' spread",
    responses=REPORT_ERRORS,
)
def plan_stats(
    plan_id: int,
    session: SessionDep,
    caller: CallerDep,
    settings: SettingsDep,
    response: Response,
    now: NOW = None,
) -> dict[str, Any]:
    return _report("stats", plan_id, session, caller, settings, response, now)


@router.get(
    "/plans/{plan_id}/diff",
    summary="Kept, changed, new and retired grids, what moves, and workers to re-scope",
    responses=REPORT_ERRORS,
)
def plan_diff(
    plan_id: int,
    session: SessionDep,
    caller: CallerDep,
    settings: SettingsDep,
    response: Response,
    now: NOW = None,
) -> dict[str, Any]:
    return _report("diff", plan_id, session, caller, settings, response, now)
