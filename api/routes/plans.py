"""Plans: a planner's redraw of the grids under one parent (gisgrid.planning).

Create, list, read (GeoJSON with the plan's summary and its ETag), discard, and the edits:
split, merge, move buildings, reshape, rename. Every edit and the discard name the version
they apply to with ``If-Match: "<ETag>"``: without it 428, with a stale one 412. A plan
outside the caller's scope is 404, as if absent; a stale plan (its parent redrawn since it
started) is 409; bad input is 400 naming the field. The rules are the library's; these
routes only pass things through.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CallerDep, SessionDep, SettingsDep
from api.errors import FieldErrorRoute
from gisgrid.incidents.lifecycle import etag, version_of
from gisgrid.media import GEOJSON
from gisgrid.planning import plans, publish, reports, service

router = APIRouter(tags=["plans"], route_class=FieldErrorRoute)

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad input; `field` names it"},
    401: {"description": "No valid bearer token"},
    403: {"description": "The caller's role may not do this"},
    404: {"description": "No such plan in the caller's scope"},
}
EDIT_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    409: {"description": "The plan is stale (its parent was redrawn) or no longer a draft"},
    412: {"description": "If-Match names a version that is not the current one"},
    428: {"description": "If-Match is missing"},
}
IfMatch = Annotated[str | None, Header(description='The plan\'s ETag, e.g. "3".')]


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Any: an id or a code; the library words what is wrong with it
    parent: Any = Field(description="The community, street or district: its id or its code.")
    name: Any = Field(description="The plan's name.", examples=["阳谊街道 2027"])


class PlanList(BaseModel):
    plans: list[plans.PlanSummary]


class SplitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Any = Field(description="The grid to split.")
    cut: Any = Field(
        description="GeoJSON LineString crossing the grid edge to edge, or a Polygon (the grid"
        " outside and inside it), lon/lat."
    )


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    codes: Any = Field(description="Two or more grids of one community that touch along a line.")


class MoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: Any = Field(description="The grid the buildings go to; it touches their grid.")
    building_ids: Any = Field(default=None, description="The buildings to move, or a lasso.")
    lasso: Any = Field(default=None, description="GeoJSON Polygon: the buildings centred in it.")


class ReshapeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Any = Field(description="The grid to reshape.")
    polygon: Any = Field(description="GeoJSON Polygon: its new outline, inside its community.")


class RenameIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Any = Field(description="The grid to rename (its code stays).")
    name: Any = Field(description="The new name.")


@router.post(
    "/plans", status_code=201, summary="Start a plan of a parent's grids", responses=ERRORS
)
def create_plan(
    body: PlanIn, response: Response, session: SessionDep, caller: CallerDep
) -> plans.PlanSummary:
    """A copy of every current grid under the parent (a community, a street or a district)."""
    summary = plans.create_plan(session, caller, body.parent, body.name)
    session.commit()
    response.headers["Location"] = f"/plans/{summary.id}"
    response.headers["ETag"] = etag(summary.version)
    return summary


@router.get("/plans", summary="The plans in the caller's scope", responses=ERRORS)
def list_plans(
    session: SessionDep,
    caller: CallerDep,
    parent: Annotated[str | None, Query(description="Only this parent (id or code).")] = None,
    status: Annotated[
        str | None, Query(description="Only this status (default: not discarded).")
    ] = None,
) -> PlanList:
    return PlanList(plans=plans.list_plans(session, caller, parent=parent, status=status))


@router.get(
    "/plans/{plan_id}",
    summary="A plan's draft grids (GeoJSON) with the plan as its `plan` member, and its ETag",
    responses={**ERRORS, 200: {"content": {GEOJSON: {}}}},
    response_class=JSONResponse,
)
def get_plan(plan_id: int, session: SessionDep, caller: CallerDep) -> JSONResponse:
    body = plans.plan_geojson(session, caller, plan_id)
    return JSONResponse(
        body, media_type=GEOJSON, headers={"ETag": etag(int(body["plan"]["version"]))}
    )


@router.delete("/plans/{plan_id}", summary="Discard a plan", responses=EDIT_ERRORS)
def discard_plan(
    plan_id: int,
    response: Response,
    session: SessionDep,
    caller: CallerDep,
    if_match: IfMatch = None,
) -> plans.PlanSummary:
    summary = plans.discard_plan(session, caller, plan_id, version_of(if_match, "plan"))
    session.commit()
    response.headers["ETag"] = etag(summary.version)
    return summary


class AutosplitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Any = Field(description="The grid to split in two by households.")


EDIT_ROUTES: dict[str, tuple[type[BaseModel], str]] = {
    "split": (SplitIn, "Split a grid by a line or polygon"),
    "merge": (MergeIn, "Merge grids that touch"),
    "move": (MoveIn, "Move buildings to a neighbouring grid; the boundary follows"),
    "reshape": (ReshapeIn, "Give a grid a new outline; its neighbours follow"),
    "rename": (RenameIn, "Rename a grid"),
    "autosplit": (AutosplitIn, "Split a grid in two by households, across its longer axis"),
}


def _edit_route(kind: str, body_model: type[BaseModel], summary: str) -> None:
    """POST /plans/{plan_id}/<kind>: one edit of the library's (service.apply_edit) on the
    version If-Match names; the answer carries the plan's new ETag."""

    def edit(
        plan_id: int,
        body: BaseModel,
        response: Response,
        session: SessionDep,
        caller: CallerDep,
        settings: SettingsDep,
        if_match: IfMatch = None,
    ) -> service.Edited:
        out = service.apply_edit(
            session,
            caller,
            plan_id,
            version_of(if_match, "plan"),
            kind,
            body.model_dump(),
            settings,
        )
        session.commit()
        response.headers["ETag"] = etag(out.plan.version)
        return out

    # the body's model is the edit's own (FastAPI reads it from the annotation)
    edit.__annotations__["body"] = body_model
    router.add_api_route(
        f"/plans/{{plan_id}}/{kind}",
        edit,
        methods=["POST"],
        name=kind,
        summary=summary,
        responses=EDIT_ERRORS,
    )


for _kind, (_model, _summary) in EDIT_ROUTES.items():
    _edit_route(_kind, _model, _summary)


# -- checks, stats, diff (helper "plan-checks" adds its GET routes below this line) ------------


# -- plan-checks: GET /plans/{id}/checks, /plans/{id}/stats, /plans/{id}/diff ------------------
# (a block of its own: the reports of a plan, computed from the store as it is now, each with
# the plan's ETag; nothing is written)

REPORT_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad input; `field` names it"},
    401: {"description": "No valid bearer token"},
    403: {"description": "The caller's role reads no plans"},
    404: {"description": "No such plan in the caller's scope"},
}
NOW = Annotated[
    datetime | None,
    Query(description="Count 'the last 12 months' and 'open now' as of this instant."),
]


REPORT_SUMMARIES = {
    "checks": "The plan's checks: hard failures block publishing, soft ones are advice",
    "stats": "Workload per draft grid, its spread, and the current boundaries' spread",
    "diff": "Kept, changed, new and retired grids, what moves, and workers to re-scope",
}


def _report_route(kind: str) -> None:
    """GET /plans/{plan_id}/<kind>: one of the plan's reports, with the plan's ETag."""

    def report(
        plan_id: int,
        session: SessionDep,
        caller: CallerDep,
        settings: SettingsDep,
        response: Response,
        now: NOW = None,
    ) -> dict[str, Any]:
        r = reports.plan_report(session, caller, plan_id, kind, settings, now=now)
        response.headers["ETag"] = etag(r.version)
        return r.body

    router.add_api_route(
        f"/plans/{{plan_id}}/{kind}",
        report,
        methods=["GET"],
        name=f"plan_{kind}",
        summary=REPORT_SUMMARIES[kind],
        responses=REPORT_ERRORS,
    )


for _kind in reports.KINDS:
    _report_route(_kind)


# -- publish: auto-balance, publish (helper "publish") --------------------------------------------

PUBLISH_ERRORS: dict[int | str, dict[str, Any]] = {
    **EDIT_ERRORS,
    403: {"description": "Not a centre account (street, district, city) or admin"},
    422: {"description": "A hard check fails; `failures` lists them; nothing changed"},
}


class BalanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weights: Any = Field(
        default=None,
        description='Workload weights, e.g. {"households": 1, "residents": 0.3,'
        ' "incidents_12m": 2}; the settings\' by default.',
    )
    seed: int = Field(default=0, description="The solver's seed (the same seed, the same plan).")


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: Any = Field(
        default=None,
        description="When the new boundaries take effect (ISO 8601); now by default.",
    )


@router.post(
    "/plans/{plan_id}/balance",
    summary="Replace the draft with an auto-balanced proposal for the parent",
    responses=EDIT_ERRORS,
)
def balance(
    plan_id: int,
    response: Response,
    session: SessionDep,
    caller: CallerDep,
    settings: SettingsDep,
    body: BalanceIn | None = None,
    if_match: IfMatch = None,
) -> service.Edited:
    b = body or BalanceIn()
    out = service.balance(
        session, caller, plan_id, version_of(if_match, "plan"), settings,
        weights=b.weights, seed=b.seed,
    )  # fmt: skip
    session.commit()
    response.headers["ETag"] = etag(out.plan.version)
    return out


@router.post(
    "/plans/{plan_id}/publish",
    summary="Publish the plan: its grids become the boundaries from `at` (a centre or admin)",
    responses=PUBLISH_ERRORS,
)
def publish_plan(
    plan_id: int,
    response: Response,
    session: SessionDep,
    caller: CallerDep,
    settings: SettingsDep,
    body: PublishIn | None = None,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    version = version_of(if_match, "plan")
    at = body.at if body is not None else None
    out = publish.publish(session.connection(), caller, plan_id, version, at, settings=settings)
    session.commit()
    response.headers["ETag"] = etag(out.plan.version)
    return publish.published_json(out)
