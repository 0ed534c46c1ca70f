"""The grid worker's field app: the duplicate warning, support of a case, visit logs and the
household and resident registers (gisgrid.incidents.duplicates, gisgrid.incidents.intake,
gisgrid.io.registers, gisgrid.query.people).

Included before the incidents router: ``/incidents/duplicates`` is not an incident id, and
``POST /incidents/{id}/support`` is not a transition. Tag edits name the version they apply
to with ``If-Match`` (428 without, 412 stale); the ETag is the row's ``version``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CallerDep, SessionDep, SettingsDep
from api.errors import FieldErrorRoute
from gisgrid.assign.locate import Crs
from gisgrid.incidents import duplicates, intake, lifecycle, workflow
from gisgrid.io import registers
from gisgrid.query import people

router = APIRouter(tags=["field"], route_class=FieldErrorRoute)

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad input; `field` names it"},
    401: {"description": "No valid bearer token"},
    403: {"description": "The caller's role may not do this"},
    404: {"description": "No such object in the caller's scope"},
}
EDIT_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    412: {"description": "If-Match names a version that is not the current one"},
    428: {"description": "If-Match is missing"},
}


class DuplicateList(BaseModel):
    radius_m: float
    days: int
    duplicates: list[duplicates.Duplicate]


class SupportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=4000)
    photos: list[str] = Field(
        default_factory=list, description="SHA-256 of photos stored with POST /photos."
    )


class SupportOut(BaseModel):
    incident: workflow.Incident
    event_id: int
    supporters: int = Field(description="Reports added to this case, this one included.")


class VisitLogIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    household_id: int
    need_category: str | None = Field(default=None, description="A category code (06..).")
    mood: str | None = Field(default=None, description="calm, worried, upset, urgent.")
    note: str | None = None
    visited_at: datetime | str | None = Field(
        default=None, description="ISO 8601; without a zone, city time. Default now."
    )


class HouseholdList(BaseModel):
    households: list[people.Household]


class TagsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tags: list[str] = Field(description="The whole new set of tags (replaces the old one).")


@router.get(
    "/incidents/duplicates",
    summary="Open cases of a category near a point: the warning before a report is sent",
    responses=ERRORS,
)
def find_duplicates(
    session: SessionDep,
    caller: CallerDep,
    lon: Annotated[str, Query(description="Longitude, in `crs`.")],
    lat: Annotated[str, Query(description="Latitude, in `crs`.")],
    category: Annotated[str, Query(description="Category code.")],
    radius_m: Annotated[str, Query(description="1 to 500 m.")] = str(duplicates.RADIUS_M),
    days: Annotated[str, Query(description="Reported in the last 1 to 365 days.")] = str(
        duplicates.DAYS
    ),
    crs: Crs = "wgs84",
) -> DuplicateList:
    r, d = duplicates.check_window(radius_m, days)
    hits = duplicates.duplicates(
        session, caller, lon=lon, lat=lat, category=category, radius_m=r, days=d, crs=crs
    )
    return DuplicateList(radius_m=r, days=d, duplicates=hits)


@router.post(
    "/incidents/{incident_id}/support",
    status_code=201,
    summary="Add the caller's report (note, photos) to an open case instead of a twin",
    responses={**ERRORS, 409: {"description": "The case is closed or rejected"}},
)
def support_incident(
    incident_id: int,
    body: SupportIn,
    session: SessionDep,
    settings: SettingsDep,
    caller: CallerDep,
) -> SupportOut:
    got = intake.support(session, caller, settings, incident_id, note=body.note, photos=body.photos)
    session.commit()
    return SupportOut(incident=got.incident, event_id=got.event_id, supporters=got.supporters)


@router.post(
    "/visit-logs",
    status_code=201,
    summary="A visit log (民情日志) for a household in the caller's scope (audited)",
    responses=ERRORS,
)
def add_visit_log(body: VisitLogIn, session: SessionDep, caller: CallerDep) -> registers.VisitLog:
    log = registers.add_visit_log(
        session,
        caller,
        body.household_id,
        need_category=body.need_category,
        mood=body.mood,
        note=body.note,
        visited_at=body.visited_at,
    )
    session.commit()
    return log


@router.get("/households", summary="Households in the caller's scope (audited)", responses=ERRORS)
def list_households(
    session: SessionDep,
    caller: CallerDep,
    grid_code: Annotated[str | None, Query(description="Only this grid.")] = None,
    limit: Annotated[int, Query(ge=1, le=people.MAX_LIST)] = 500,
) -> HouseholdList:
    found = people.list_households(session, caller, grid_code=grid_code, limit=limit)
    session.commit()
    return HouseholdList(households=found)


def _edit_tags(
    table: str,
    row_id: int,
    body: TagsIn,
    response: Response,
    session: SessionDep,
    caller: CallerDep,
    if_match: str | None,
) -> registers.Tags:
    version = lifecycle.version_of(if_match)
    got = registers.set_tags(session, caller, table, row_id, body.tags, version)
    session.commit()
    response.headers["ETag"] = lifecycle.etag(got.version)
    return got


@router.patch(
    "/households/{household_id}",
    summary="Replace a household's tags (If-Match: its version; audited)",
    responses=EDIT_ERRORS,
)
def edit_household(
    household_id: int,
    body: TagsIn,
    response: Response,
    session: SessionDep,
    caller: CallerDep,
    if_match: Annotated[str | None, Header(description='The version, e.g. "3".')] = None,
) -> registers.Tags:
    return _edit_tags("households", household_id, body, response, session, caller, if_match)


@router.patch(
    "/residents/{resident_id}",
    summary="Replace a resident's tags (If-Match: its version; audited)",
    responses=EDIT_ERRORS,
)
def edit_resident(
    resident_id: int,
    body: TagsIn,
    response: Response,
    session: SessionDep,
    caller: CallerDep,
    if_match: Annotated[str | None, Header(description='The version, e.g. "3".')] = None,
) -> registers.Tags:
    return _edit_tags("residents", resident_id, body, response, session, caller, if_match)
