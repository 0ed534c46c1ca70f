"""Residents: personal data for the roles that work with people, in their scope, audited.

``GET /residents`` and ``GET /residents/{id}``: grid workers, community and centre accounts
and admins; other roles (analyst, planner, unit) are 403; a resident outside the caller's
scope is 404, as if absent. Every resident row returned is written to ``audit_log`` in the
same transaction. ``GET /stats/residents`` gives counts only (analysts too), small cells
suppressed.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import CallerDep, SessionDep
from api.errors import FieldErrorRoute
from gisgrid.query import people

router = APIRouter(tags=["residents"], route_class=FieldErrorRoute)

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad input; `field` names it"},
    401: {"description": "No valid bearer token"},
    403: {"description": "The caller's role may not read this"},
    404: {"description": "No such resident in the caller's scope"},
}


class ResidentList(BaseModel):
    residents: list[people.Resident]  # the library's dataclass serves as the schema


class ResidentStatsOut(BaseModel):
    scope: dict[str, Any]
    total: int | None
    by_tag: dict[str, int | None]
    by_age_band: dict[str, int | None]
    min_cell: int


@router.get("/residents", summary="Residents in the caller's scope (audited)", responses=ERRORS)
def list_residents(
    session: SessionDep,
    caller: CallerDep,
    grid_code: Annotated[str | None, Query(description="Only this grid.")] = None,
    tag: Annotated[str | None, Query(description="Only residents with this tag.")] = None,
    limit: Annotated[int, Query(ge=1, le=people.MAX_LIST)] = 100,
) -> ResidentList:
    found = people.list_residents(session, caller, grid_code=grid_code, tag=tag, limit=limit)
    session.commit()
    return ResidentList(residents=list(found))


@router.get("/residents/{resident_id}", summary="One resident (audited)", responses=ERRORS)
def get_resident(resident_id: int, session: SessionDep, caller: CallerDep) -> people.Resident:
    r = people.get_resident(session, caller, resident_id)
    session.commit()
    return r


@router.get(
    "/stats/residents",
    summary="Resident counts by tag and age band in the caller's scope; cells under 5 are null",
    responses=ERRORS,
)
def resident_stats(session: SessionDep, caller: CallerDep) -> ResidentStatsOut:
    s = people.resident_stats(session, caller)
    return ResidentStatsOut(
        scope={"level": caller.scope.level, "area_id": caller.scope.area_id}, **s.__dict__
    )
