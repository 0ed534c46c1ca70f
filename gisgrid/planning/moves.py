"""Move buildings between a plan's draft grids, the boundary following.

The planner thinks in buildings, not vertices (Districtr-style painting): buildings (ids, or
those whose footprint centre lies in a lasso) of one grid go to a grid of the same community
that touches it along a line, and the region of the source grid nearer to the moved
footprints than to its other buildings (a Voronoi of points along every footprint's outline,
in metres) goes with them. Refused, naming the field, when the buildings lie in more than
one grid, the target does not touch their grid, the source would be left empty or in two
pieces, or a lasso reaches outside the plan's area; nothing is written then.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Engine, text

from gisgrid.access.auth import Caller
from gisgrid.errors import InvalidInput
from gisgrid.numbers import as_id, shown
from gisgrid.planning.drafts import Building, Edit, buildings_in, load_grid, run_edit, write
from gisgrid.planning.plans import Conn
from gisgrid.planning.shapes import (
    EDGE_TOLERANCE_M2,
    POLYGON,
    Metric,
    check_code,
    check_piece,
    one_polygon,
    parse_geometry,
    polygonal,
    shared_length,
)

VORONOI_STEP_M = 5.0
"""Footprint outlines are sampled every this many metres for the Voronoi of a move."""


def move_buildings(
    conn: Conn | Engine,
    caller: Caller,
    plan_id: int,
    expected_version: int,
    to: object,
    building_ids: object = None,
    lasso: object = None,
) -> Edit:
    """Move buildings (``building_ids``, or those whose footprint centre lies in ``lasso``)
    from their grid to the grid ``to``, which must touch it along a line; the boundary
    follows (the source's region nearer to the moved footprints than to its other buildings
    goes to ``to``)."""
    to_code = check_code(to, "to")
    if (building_ids is None) == (lasso is None):
        raise InvalidInput("give building_ids or a lasso (one of them)", field="building_ids")
    ids: list[int] = []
    lasso_geom = None
    if building_ids is not None:
        if not isinstance(building_ids, list | tuple) or not building_ids:
            raise InvalidInput(f"{shown(building_ids)}: give a list of ids", field="building_ids")
        for b in building_ids:
            k = as_id(b)
            if k is None:
                raise InvalidInput(f"{shown(b)} is not a building id", field="building_ids")
            ids.append(k)
    else:
        lasso_geom = parse_geometry(lasso, "lasso", POLYGON)

    def work(c: Conn) -> list[str]:
        target = load_grid(c, plan_id, to_code, "to")
        field = "building_ids" if lasso_geom is None else "lasso"
        moving = _moving(c, plan_id, ids, lasso_geom)
        sources = {r.code for r in moving}
        if len(sources) > 1:
            by = {s: sorted(r.id for r in moving if r.code == s) for s in sorted(sources)}
            raise InvalidInput(
                f"the buildings lie in more than one grid ({by}); move from one grid at a time",
                field=field,
            )
        source = load_grid(c, plan_id, sources.pop(), field)
        if source.code == target.code:
            raise InvalidInput(f"the buildings already lie in grid {to_code}", field="to")
        if source.parent_id != target.parent_id:
            raise InvalidInput(
                f"grid {to_code} lies in another community than grid {source.code}", field="to"
            )
        if shared_length(source.geom, target.geom) <= 0:
            raise InvalidInput(
                f"grid {to_code} does not touch grid {source.code} along a line", field="to"
            )
        moved_ids = {r.id for r in moving}
        everyone = [b for b in buildings_in(c, source.geom) if _centre_in(b.geom, source.geom)]
        staying = [b for b in everyone if b.id not in moved_ids]
        if not staying:
            raise InvalidInput(
                f"grid {source.code} would be left without buildings: merge it instead",
                field=field,
            )
        going = [b for b in everyone if b.id in moved_ids]
        m = Metric(source.geom)
        region = _nearer_region(m, source.geom, going, staying)
        new_source = polygonal(shapely.difference(source.geom, region))
        new_target = polygonal(shapely.union(target.geom, region))
        if not one_polygon(new_source):
            raise InvalidInput(
                f"grid {source.code} would fall in two pieces: move buildings along its edge"
                f" with grid {to_code}",
                field=field,
            )
        if not one_polygon(new_target):
            raise InvalidInput(
                f"the buildings' region does not border grid {to_code}: move buildings next to it",
                field="to",
            )
        check_piece(m, new_source, field, f"grid {source.code}")
        write(
            c,
            plan_id,
            changed=[replace(source, geom=new_source), replace(target, geom=new_target)],
        )
        return [source.code, target.code]

    return run_edit(conn, caller, plan_id, expected_version, work)


@dataclass(frozen=True)
class _Moving:
    id: int
    code: str


def _moving(conn: Conn, plan_id: int, ids: list[int], lasso: BaseGeometry | None) -> list[_Moving]:
    """The buildings to move and the draft grid each lies in (by its footprint's centre)."""
    if lasso is not None:
        outside = conn.execute(
            text(
                "SELECT ST_Area(ST_Difference(l, u)::geography) FROM"
                " (SELECT ST_GeomFromWKB(:l, 4326) AS l) a,"
                " (SELECT ST_Union(geom) AS u FROM plan_areas WHERE plan_id = :p) b"
            ),
            {"l": shapely.to_wkb(lasso), "p": plan_id},
        ).scalar_one()
        if float(outside or 0) > EDGE_TOLERANCE_M2:
            raise InvalidInput(
                f"the lasso crosses the edge of the plan's area ({float(outside):,.0f} m^2"
                " outside it)",
                field="lasso",
            )
        where, params = (
            "ST_Within(ST_PointOnSurface(b.geom), ST_GeomFromWKB(:l, 4326))",
            {"l": shapely.to_wkb(lasso)},
        )
        field = "lasso"
    else:
        where, params, field = "b.id = ANY(:ids)", {"ids": ids}, "building_ids"
    rows = conn.execute(
        text(
            "SELECT b.id, pa.code FROM buildings b LEFT JOIN plan_areas pa ON pa.plan_id = :p"
            f" AND ST_Contains(pa.geom, ST_PointOnSurface(b.geom)) WHERE {where} ORDER BY b.id"
        ),
        {**params, "p": plan_id},
    ).all()
    if lasso is None:
        unknown = sorted(set(ids) - {r.id for r in rows})
        if unknown:
            raise InvalidInput(f"no buildings {unknown}", field=field)
    elif not rows:
        raise InvalidInput("the lasso holds no building", field=field)
    outside_plan = sorted(r.id for r in rows if r.code is None)
    if outside_plan:
        raise InvalidInput(f"buildings {outside_plan} lie outside the plan's grids", field=field)
    return [_Moving(int(r.id), str(r.code)) for r in rows]


def _centre_in(footprint: BaseGeometry, grid: BaseGeometry) -> bool:
    return bool(grid.contains(footprint.point_on_surface()))


def _nearer_region(
    m: Metric, grid: BaseGeometry, going: list[Building], staying: list[Building]
) -> BaseGeometry:
    """The part of ``grid`` nearer to the ``going`` footprints than to the ``staying`` ones:
    the Voronoi cells of points sampled along every footprint's outline, those of the going
    buildings joined (in metres), then clipped to the grid in lon/lat."""
    pts: list[np.ndarray] = []
    tags: list[np.ndarray] = []
    for flag, group in ((True, going), (False, staying)):
        for b in group:
            outline = shapely.segmentize(m.to_m(b.geom).boundary, VORONOI_STEP_M)
            xy = shapely.get_coordinates(outline)
            pts.append(xy)
            tags.append(np.full(len(xy), flag))
    xy = np.concatenate(pts)
    tag = np.concatenate(tags)
    xy, first = np.unique(np.round(xy, 3), axis=0, return_index=True)
    tag = tag[first]
    grid_m = m.to_m(grid)
    frame = grid_m.envelope.buffer(grid_m.length)
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=frame, ordered=True)
    )
    region_m = shapely.union_all(cells[tag])
    region = m.to_lonlat(region_m)
    # the moved footprints themselves go whole, whatever the sampling did at their corners
    region = shapely.union_all([region, *(b.geom for b in going)])
    region = shapely.difference(region, shapely.union_all([b.geom for b in staying]))
    return polygonal(shapely.intersection(grid, region))
