"""What the plan tests share: callers, a snapshot of a plan's rows, the tiling check, and
lines and polygons drawn over a draft grid (lon/lat, shapely)."""

from __future__ import annotations

from typing import Any

import pytest
import shapely
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection, text

from gisgrid.access.auth import Caller
from gisgrid.access.scope import Scope
from gisgrid.errors import InvalidInput
from gisgrid.planning.plans import PlanSummary

STREET = "230108001"  # the tiny city's one street
COMMUNITY = "230108001001"  # its first community (7 grids)
# Areas are compared in square degrees scaled to m^2 around the tiny city (45.7 N): edits work
# in lon/lat, and a vertex added on a long straight edge changes a projected area by square
# metres (the edge is not straight in UTM), which would hide a real gap or overlap.
M2_PER_DEG2 = 111_320.0 * 0.6988 * 110_574.0


def admin(conn: Connection) -> Caller:
    aid = conn.execute(text("SELECT id FROM accounts WHERE role = 'admin' LIMIT 1")).scalar_one()
    return Caller(int(aid), "admin", None, "admin", None, Scope.everything())


def planner(conn: Connection, scope_code: str | None = None) -> Caller:
    """The first planner (city scope), or as if scoped to the area ``scope_code``."""
    aid = conn.execute(
        text("SELECT id FROM accounts WHERE role = 'planner' ORDER BY id LIMIT 1")
    ).scalar_one()
    if scope_code is None:
        return Caller(int(aid), "planner", None, "planner", None, Scope("city", None))
    area, level = conn.execute(
        text("SELECT id, level FROM areas WHERE code = :c AND valid_to IS NULL"),
        {"c": scope_code},
    ).one()
    return Caller(int(aid), "planner", None, "planner", None, Scope(level, int(area)))


def snapshot(conn: Connection, plan_id: int) -> tuple[Any, ...]:
    """Everything an edit may change: the plan row and every draft grid."""
    plan = conn.execute(
        text(
            "SELECT status, version, updated_at, issued_codes, base_grid_ids FROM plans"
            " WHERE id = :p"
        ),
        {"p": plan_id},
    ).one()
    rows = conn.execute(
        text(
            "SELECT code, name, parent_id, replaces_area_id, md5(ST_AsBinary(geom)) FROM"
            " plan_areas WHERE plan_id = :p ORDER BY code"
        ),
        {"p": plan_id},
    ).all()
    return tuple(plan), tuple(tuple(r) for r in rows)


def areas_m2(conn: Connection, plan_id: int) -> tuple[float, float]:
    """(area of the union, sum of the areas) of the plan's draft grids, in m^2."""
    union, total = conn.execute(
        text(
            "SELECT ST_Area(ST_Union(geom)), sum(ST_Area(geom)) FROM plan_areas WHERE plan_id = :p"
        ),
        {"p": plan_id},
    ).one()
    return float(union) * M2_PER_DEG2, float(total) * M2_PER_DEG2


def base_m2(conn: Connection, plan_id: int) -> tuple[float, float]:
    """(area of the union, sum of the areas) of the grids the plan started from."""
    union, total = conn.execute(
        text(
            "SELECT ST_Area(ST_Union(geom)), sum(ST_Area(geom)) FROM areas"
            " WHERE id = ANY(ARRAY(SELECT unnest(base_grid_ids) FROM plans WHERE id = :p))"
        ),
        {"p": plan_id},
    ).one()
    return float(union) * M2_PER_DEG2, float(total) * M2_PER_DEG2


def assert_tiles(conn: Connection, plan_id: int) -> None:
    """The draft covers what the plan started from (union within 1 m^2) and adds no overlap
    (the sum of the areas is what it was, within 1 m^2), every grid one valid polygon."""
    union, total = areas_m2(conn, plan_id)
    base_union, base_total = base_m2(conn, plan_id)
    assert abs(union - base_union) < 1.0, (union, base_union)
    assert abs(total - base_total) < 1.0, (total, base_total)
    bad = conn.execute(
        text(
            "SELECT code FROM plan_areas WHERE plan_id = :p"
            " AND (NOT ST_IsValid(geom) OR ST_NumGeometries(geom) <> 1)"
        ),
        {"p": plan_id},
    ).scalars()
    assert list(bad) == []


def draft(conn: Connection, plan_id: int, code: str) -> BaseGeometry:
    wkb = conn.execute(
        text("SELECT ST_AsBinary(geom) FROM plan_areas WHERE plan_id = :p AND code = :c"),
        {"p": plan_id, "c": code},
    ).scalar_one()
    return shapely.from_wkb(bytes(wkb))


def codes(conn: Connection, plan_id: int) -> list[str]:
    return list(
        conn.execute(
            text("SELECT code FROM plan_areas WHERE plan_id = :p ORDER BY code"), {"p": plan_id}
        ).scalars()
    )


def vertical(geom: BaseGeometry, frac: float = 0.5, x: float | None = None) -> dict[str, Any]:
    """A north-south line across ``geom`` at ``frac`` of its width (or at ``x``), reaching
    past it on both sides."""
    minx, miny, maxx, maxy = geom.bounds
    at = minx + frac * (maxx - minx) if x is None else x
    return mapping(shapely.LineString([(at, miny - 0.01), (at, maxy + 0.01)]))


def neighbours(conn: Connection, plan_id: int, code: str) -> list[str]:
    """The draft grids of the same community that share an edge with grid ``code``."""
    return list(
        conn.execute(
            text(
                "SELECT b.code FROM plan_areas a JOIN plan_areas b ON b.plan_id = a.plan_id"
                " AND b.code <> a.code AND b.parent_id = a.parent_id"
                " WHERE a.plan_id = :p AND a.code = :c"
                " AND ST_Length(ST_Intersection(ST_Boundary(a.geom), ST_Boundary(b.geom))) > 0"
                " ORDER BY b.code"
            ),
            {"p": plan_id, "c": code},
        ).scalars()
    )


def buildings_of(conn: Connection, plan_id: int, code: str) -> list[int]:
    """The buildings whose footprint centre lies in draft grid ``code``."""
    return list(
        conn.execute(
            text(
                "SELECT b.id FROM buildings b JOIN plan_areas pa ON pa.plan_id = :p"
                " AND pa.code = :c AND ST_Contains(pa.geom, ST_PointOnSurface(b.geom))"
                " ORDER BY b.id"
            ),
            {"p": plan_id, "c": code},
        ).scalars()
    )


def refused(
    conn: Connection, plan: PlanSummary, field: str, edit: Any, *args: Any, **kw: Any
) -> str:
    """Run ``edit`` as the planner; it must be InvalidInput naming ``field`` and change
    nothing. Its reason."""
    before = snapshot(conn, plan.id)
    with pytest.raises(InvalidInput) as err:
        edit(conn, planner(conn), plan.id, plan.version, *args, **kw)
    assert err.value.field == field, err.value
    assert snapshot(conn, plan.id) == before
    return err.value.reason
