"""Spatial questions: where is this point, which units are nearest, what lies inside.

``crs`` (wgs84, gcj02, bd09) says in which system the caller's coordinates are given and
wants them back; everything is stored and computed in WGS84. Bad input is 400 naming the
field (this router's routes turn request validation errors into InvalidInput).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import CallerDep, GridIndexDep, OptionalCallerDep, SessionDep
from api.errors import FieldErrorRoute
from gisgrid.assign.locate import Crs, Location, locate
from gisgrid.query.nearest import MAX_K, UnitHit, nearest_units
from gisgrid.query.within import MAX_ITEMS, parse_region, within

router = APIRouter(tags=["query"], route_class=FieldErrorRoute)

# str, not float: "abc" and "NaN" get gisgrid's own message, naming the field
Lon = Annotated[str, Query(description="Longitude, in `crs`.", examples=["126.63"])]
Lat = Annotated[str, Query(description="Latitude, in `crs`.", examples=["45.75"])]
CrsQuery = Annotated[Crs, Query(description="System of the coordinates given and returned.")]

ERRORS: dict[int | str, dict[str, Any]] = {400: {"description": "Bad input; `field` names it"}}


@router.get(
    "/locate",
    summary="The grid (and community, street, district) a point lies in, and its workers",
    responses={**ERRORS, 404: {"description": "The point lies outside every grid"}},
)
def locate_point(
    lon: Lon,
    lat: Lat,
    session: SessionDep,
    grids: GridIndexDep,
    caller: OptionalCallerDep,
    crs: CrsQuery = "wgs84",
    max_distance_m: Annotated[
        float | None,
        Query(description="Outside every grid, take the nearest grid within this distance."),
    ] = None,
    at: Annotated[
        str | None,
        Query(
            description="Where the point lay at this instant: the grid and areas in force then,"
            " with their names then (ISO 8601; a bare date is 00:00 of that day in the city,"
            " a time without a zone is city time). Default: now.",
            examples=["2026-03-01T08:00:00+08:00"],
        ),
    ] = None,
) -> Location:
    """Open to anonymous callers, who get the areas but not the workers' account names; an
    authenticated caller gets them only for a grid in their scope."""
    # the library's dataclass serves as the schema
    return locate(
        session, grids.get(session), lon, lat, max_distance_m, caller=caller, crs=crs, at=at
    )


class NearestOut(BaseModel):
    category: str
    crs: Crs
    units: list[UnitHit]  # the library's dataclass serves as the schema


@router.get(
    "/units/nearest",
    summary="The k nearest units that handle a category",
    responses=ERRORS,
)
def units_nearest(
    lon: Lon,
    lat: Lat,
    category: Annotated[str, Query(description="Incident category code (item or group).")],
    session: SessionDep,
    k: Annotated[int, Query(ge=1, le=MAX_K)] = 5,
    available: Annotated[
        bool, Query(description="true: only available units; false: every unit.")
    ] = True,
    crs: CrsQuery = "wgs84",
) -> NearestOut:
    """Units are public reference data: the caller's scope does not hide any, and no token
    is needed. Distances are geodesic metres from the given point."""
    units = nearest_units(session, lon, lat, category, k=k, available_only=available, crs=crs)
    return NearestOut(category=category, crs=crs, units=units)


class WithinIn(BaseModel):
    """A GeoJSON (Multi)Polygon in ``geometry``, or ``point`` ([lon, lat] or a GeoJSON
    Point) with ``radius_m``."""

    geometry: dict[str, Any] | None = None
    point: list[Any] | dict[str, Any] | None = None
    radius_m: Any = Field(default=None, description="Metres, with point.")
    limit: int = Field(default=1000, ge=0, le=MAX_ITEMS, description="At most this many items.")


class WithinOut(BaseModel):
    crs: Crs
    scope: dict[str, Any]
    counts: dict[str, int]
    incident_categories: dict[str, int]
    incidents: list[dict[str, Any]]
    truncated: bool


@router.post(
    "/query/within",
    summary="Counts by layer and the incidents inside a polygon or circle, in the caller's scope",
    responses={**ERRORS, 401: {"description": "No valid bearer token"}},
)
def query_within(
    body: WithinIn, session: SessionDep, caller: CallerDep, crs: CrsQuery = "wgs84"
) -> WithinOut:
    """Every count and item is limited to the caller's scope (a grid worker: their grid)."""
    region = parse_region(body.geometry, body.point, body.radius_m, crs)
    res = within(session, region, caller.scope, limit=body.limit, crs=crs)
    return WithinOut(
        crs=crs,
        scope={"level": caller.scope.level, "area_id": caller.scope.area_id},
        counts=res.counts,
        incident_categories=res.incident_categories,
        incidents=res.incidents,
        truncated=res.truncated,
    )
