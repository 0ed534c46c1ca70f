"""``GET /stats/incidents``: closure rate, on-time rate and mean handling time per grid, unit or
worker, for the caller's scope (aggregates: analysts may read them too)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import CallerDep, ReadConnectionDep
from api.errors import FieldErrorRoute
from gisgrid.analysis import evaluation
from gisgrid.times import CITY_TZ

router = APIRouter(tags=["evaluation"], route_class=FieldErrorRoute)

# Text, parsed by the library (gisgrid.times): FastAPI's own datetime would take a number
# such as 0.5 as a Unix time and read a bare date as UTC midnight.
SINCE_HELP = (
    f"From (ISO 8601 date or date-time; no zone means {CITY_TZ.key}, a bare date is the start "
    "of that day there). Default: the 90 days up to until."
)
UNTIL_HELP = "Until, included (a bare date includes that whole day). Default: now."


@router.get("/stats/incidents", summary="Closure and on-time rates per grid, unit or worker")
def stats_incidents(
    reads: ReadConnectionDep,
    caller: CallerDep,
    by: Annotated[str, Query(description="grid, unit or worker (who reported)")] = "grid",
    since: Annotated[str | None, Query(description=SINCE_HELP)] = None,
    until: Annotated[str | None, Query(description=UNTIL_HELP)] = None,
    limit: Annotated[int, Query(description="Groups to return, most reported first")] = 1000,
) -> dict[str, Any]:
    now = datetime.now(UTC)
    start, end = evaluation.period(since, until, now)
    rates = evaluation.incident_rates(reads, caller.scope, by, start, end, now, limit)
    return {"by": by, "since": start, "until": end, "groups": [asdict(r) for r in rates]}
