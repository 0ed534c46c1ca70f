"""``GET /stats/incidents``: closure rate, on-time rate and mean handling time per grid or
per unit, for the caller's scope (aggregates: analysts may read them too)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import CallerDep, SessionDep
from api.errors import FieldErrorRoute
from gisgrid.analysis.evaluation import incident_rates

router = APIRouter(tags=["evaluation"], route_class=FieldErrorRoute)


@router.get("/stats/incidents", summary="Closure and on-time rates per grid or unit")
def stats_incidents(
    session: SessionDep,
    caller: CallerDep,
    by: Annotated[str, Query(description="grid or unit")] = "grid",
    since: Annotated[datetime | None, Query(description="From (default: 90 days ago)")] = None,
    until: Annotated[datetime | None, Query(description="Until, exclusive (default: now)")] = None,
    limit: Annotated[int, Query(description="Groups to return, most reported first")] = 1000,
) -> dict[str, Any]:
    now = datetime.now(UTC)
    until = until or now
    since = since or until - timedelta(days=90)
    if since.tzinfo is None or until.tzinfo is None:
        from gisgrid.errors import InvalidInput

        raise InvalidInput("times need a zone (e.g. 2026-10-01T00:00:00+08:00)", field="since")
    rates = incident_rates(session, caller.scope, by, since, until, now, limit)
    return {"by": by, "since": since, "until": until, "groups": [asdict(r) for r in rates]}
