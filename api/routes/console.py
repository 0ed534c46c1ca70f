"""The command-centre console (``/console``): a page for centre and unit accounts.

The page itself is a public shell (``console.html``); everything with data is an HTML fragment
fetched by htmx with the signed-in account's bearer token (kept in sessionStorage, as the web
map does: no cookie, so no CSRF to defend). Fragments come from the same library calls as the
JSON API: the queue (gisgrid.incidents.queue, with its ETag: a poll that changes nothing is a
304), today's figures, the case file (gisgrid.incidents.casefile) and the actions
(gisgrid.incidents.workflow.act, with If-Match). A stale If-Match renders the case as it is
now, with who changed it last; any other refusal renders the case with the library's message.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Header, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from api.deps import CallerDep, SessionDep, SettingsDep
from api.errors import FieldErrorRoute, status_for
from api.routes.photos import _read_limited
from gisgrid.analysis import evaluation
from gisgrid.errors import GisgridError, InvalidInput, PreconditionFailed
from gisgrid.incidents import casefile, figures, lifecycle, photos, queue, workflow
from gisgrid.incidents.lifecycle import NOTE_REQUIRED
from gisgrid.numbers import as_int
from gisgrid.times import CITY_TZ

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")

router = APIRouter(tags=["console"], route_class=FieldErrorRoute, include_in_schema=False)


def _local(t: datetime | None) -> str:
    return t.astimezone(CITY_TZ).strftime("%Y-%m-%d %H:%M") if t else "—"


TEMPLATES.env.filters["local"] = _local
# the Chinese beside each English word, as the web map labels things
TEMPLATES.env.globals["STATUS_ZH"] = {
    "reported": "已上报",
    "accepted": "已受理",
    "dispatched": "已派遣",
    "in_progress": "处置中",
    "feedback": "已反馈",
    "closed": "已办结",
    "rejected": "不予受理",
    "returned": "已退回",
    "escalated": "已上报上级",
}
# who holds a case, in words: a new case ("grid") is its street centre's (lifecycle.HOLDER_LEVEL)
CENTRE_WORDS = {
    "street": "street centre 街道中心",
    "district": "district centre 区中心",
    "city": "city centre 市中心",
}
TEMPLATES.env.globals["HOLDER"] = {
    level: CENTRE_WORDS[lifecycle.LEVEL_OF_RANK[rank]]
    for level, rank in lifecycle.HOLDER_LEVEL.items()
}
TEMPLATES.env.globals["OPEN_STATUSES"] = lifecycle.OPEN_STATUSES
TEMPLATES.env.globals["ACTION_ZH"] = {
    "accept": "受理",
    "dispatch": "派遣",
    "start": "开始处置",
    "feedback": "反馈",
    "close": "办结",
    "send_back": "退回重办",
    "reject": "不予受理",
    "return": "退回",
    "escalate": "上报上级",
}


def _render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(
        request, name, context, status_code=status_code, headers={"Cache-Control": "no-store"}
    )


@router.get("/console", response_class=HTMLResponse)
def console_page(request: Request) -> HTMLResponse:
    """The shell: sign-in, the figures strip, filters, the queue and the case pane."""
    return TEMPLATES.TemplateResponse(
        request,
        "console.html",
        {"statuses": lifecycle.OPEN_STATUSES},
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/console/queue", response_class=HTMLResponse)
def queue_rows(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    status: Annotated[str | None, Query()] = None,
    category: Annotated[str | None, Query()] = None,
    grid: Annotated[str | None, Query()] = None,
    overdue: Annotated[bool, Query()] = False,
    escalated: Annotated[bool, Query()] = False,
    limit: Annotated[int, Query(ge=1, le=workflow.MAX_LIST)] = 50,
    cursor: Annotated[str | None, Query()] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    cursor = cursor or None  # the form sends an empty one for the first page
    try:
        filters = queue.check_filters(
            status=status or None,
            category=category or None,
            grid=grid or None,
            overdue=overdue,
            escalated=escalated,
        )
        tag = queue.queue_etag(session, caller, filters, extra=f"html:{limit}:{cursor}")
        if if_none_match is not None and tag in [t.strip() for t in if_none_match.split(",")]:
            return Response(status_code=304, headers={"ETag": tag})
        page = queue.queue_page(session, caller, filters, limit=limit, cursor=cursor)
    except GisgridError as exc:  # a bad filter: the message where the rows would be
        return _render(request, "problem.html", status_code=status_for(exc), error=exc)
    nxt = None
    if page.next_cursor is not None:
        nxt = str(request.url.include_query_params(cursor=page.next_cursor))
    resp = _render(request, "queue_rows.html", incidents=page.incidents, next=nxt, cursor=cursor)
    resp.headers["ETag"] = tag
    return resp


@router.get("/console/figures", response_class=HTMLResponse)
def figures_strip(request: Request, session: SessionDep, caller: CallerDep) -> HTMLResponse:
    return _render(request, "figures.html", f=figures.today(session, caller))


@router.get("/console/evaluation", response_class=HTMLResponse)
def evaluation_table(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    by: Annotated[str, Query()] = "grid",
) -> HTMLResponse:
    now = datetime.now(UTC)
    start, end = evaluation.period(None, None, now)
    rates = evaluation.incident_rates(session, caller.scope, by, start, end, now, 50)
    return _render(request, "evaluation.html", rates=rates, by=by)


@router.get("/console/evaluation/grids.geojson")
def evaluation_grids(session: SessionDep, caller: CallerDep) -> dict[str, Any]:
    """The per-grid rates with their outlines: the choropleth of on-time rate."""
    return evaluation.grid_rate_features(session, caller.scope, None, None, datetime.now(UTC))


@router.get("/console/cases/{incident_id}", response_class=HTMLResponse)
def case_view(
    request: Request, incident_id: int, session: SessionDep, caller: CallerDep
) -> HTMLResponse:
    return _case(request, session, caller, incident_id)


@router.post("/console/cases/{incident_id}/{action}", response_class=HTMLResponse)
def case_action(
    request: Request,
    incident_id: int,
    action: str,
    session: SessionDep,
    settings: SettingsDep,
    caller: CallerDep,
    note: Annotated[str | None, Form()] = None,
    unit_id: Annotated[str | None, Form()] = None,
    photo: UploadFile | None = None,
    if_match: Annotated[str | None, Header()] = None,
) -> HTMLResponse:
    """Take the action; the case as it is after, or as it is now with the reason it was not."""
    try:
        lifecycle.check_action(action)
        version = lifecycle.version_of(if_match)
        unit = _unit_id(unit_id)
        if photo is not None and photo.filename:
            workflow.get_incident(session, caller, incident_id)  # scope before storing
            sha = photos.store_photo(_read_limited(photo, settings.max_photo_bytes), settings)
            photos.attach_photo(session, caller, incident_id, sha)
        workflow.act(session, caller, incident_id, action, version, note=note, unit_id=unit)
        session.commit()
    except GisgridError as exc:
        session.rollback()  # nothing half-written: a photo sent with a refused action goes too
        stale = isinstance(exc, PreconditionFailed)
        status = status_for(exc)
        return _case(request, session, caller, incident_id, error=exc, stale=stale, status=status)
    return _case(request, session, caller, incident_id, done=action)


def _unit_id(value: str | None) -> int | None:
    if not value:
        return None
    n = as_int(value)
    if n is None:
        raise InvalidInput(f"unit_id={value!r}; expected a unit id", field="unit_id")
    return n


def _case(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    incident_id: int,
    *,
    error: Exception | None = None,
    stale: bool = False,
    status: int = 200,
    done: str | None = None,
) -> HTMLResponse:
    case = casefile.case_file(session, caller, incident_id)
    return _render(
        request,
        "case.html",
        status_code=status,
        case=case,
        inc=case.incident,
        error=error,
        stale=stale,
        done=done,
        note_required=NOTE_REQUIRED,
        now=datetime.now(UTC),
    )
