"""Plans made with SQL for the planning tests: a plans row and a copy of the parent's current
grids in plan_areas (the plan-edits helper's create_plan is not there to call yet), and
helpers that reshape draft grids with shapely."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyproj
import shapely
from sqlalchemy import Connection, text

from gisgrid.crs import metric_crs

# the current grids under an area, walking parent_id through current areas
UNDER = (
    "WITH RECURSIVE down(id) AS (SELECT CAST(:p AS bigint)"
    " UNION ALL SELECT c.id FROM areas c JOIN down d ON c.parent_id = d.id"
    " WHERE c.valid_to IS NULL)"
    " SELECT a.id FROM areas a WHERE a.id IN (SELECT id FROM down) AND a.level = 'grid'"
    " AND a.valid_to IS NULL"
)


def make_plan(conn: Connection, parent_id: int, name: str = "test plan") -> int:
    """A draft plan of ``parent_id`` holding a copy of its current grids; its id."""
    plan_id: int = conn.execute(
        text(
            f"WITH g AS ({UNDER}) INSERT INTO plans (name, parent_area_id, base_grid_ids,"
            " base_version) SELECT :n, :p, array_agg(a.id ORDER BY a.id), max(a.valid_from)"
            " FROM areas a WHERE a.id IN (SELECT id FROM g) RETURNING id"
        ),
        {"p": parent_id, "n": name},
    ).scalar_one()
    conn.execute(
        text(
            "INSERT INTO plan_areas (plan_id, code, name, parent_id, replaces_area_id, geom)"
            f" SELECT :plan, a.code, a.name, a.parent_id, a.id, a.geom FROM areas a"
            f" WHERE a.id IN ({UNDER})"
        ),
        {"plan": plan_id, "p": parent_id},
    )
    return plan_id


def area_id(conn: Connection, level: str, nth: int = 0) -> int:
    """The ``nth`` current area of a level, by code."""
    found: int = conn.execute(
        text(
            "SELECT id FROM areas WHERE level = :l AND valid_to IS NULL ORDER BY code"
            " OFFSET :k LIMIT 1"
        ),
        {"l": level, "k": nth},
    ).scalar_one()
    return found


def draft(conn: Connection, plan_id: int) -> dict[str, Any]:
    """code -> shapely polygon (lon/lat) of a plan's draft grids."""
    rows = conn.execute(
        text("SELECT code, ST_AsBinary(geom) FROM plan_areas WHERE plan_id = :p ORDER BY code"),
        {"p": plan_id},
    ).all()
    return {c: shapely.from_wkb(bytes(g)) for c, g in rows}


def set_geom(conn: Connection, plan_id: int, code: str, geom: Any) -> None:
    """Store a new polygon (lon/lat) for one draft grid (repaired when the trip through metres
    left it invalid)."""
    geom = _polygonal(geom)
    conn.execute(
        text(
            "UPDATE plan_areas SET geom = ST_Multi(ST_GeomFromWKB(:g, 4326))"
            " WHERE plan_id = :p AND code = :c"
        ),
        {"g": shapely.to_wkb(geom), "p": plan_id, "c": code},
    )


def _polygonal(geom: Any) -> Any:
    if shapely.is_valid(geom):
        return geom
    parts = shapely.get_parts(shapely.get_parts(shapely.make_valid(geom)))
    return shapely.union_all(parts[shapely.get_type_id(parts) == 3])


def add_grid(
    conn: Connection, plan_id: int, code: str, geom: Any, replaces: int | None = None
) -> None:
    """A new draft grid (under the same community as the plan's first grid)."""
    conn.execute(
        text(
            "INSERT INTO plan_areas (plan_id, code, name, parent_id, replaces_area_id, geom)"
            " SELECT :p, :c, :name, parent_id, :r, ST_Multi(ST_GeomFromWKB(:g, 4326))"
            " FROM plan_areas WHERE plan_id = :p ORDER BY code LIMIT 1"
        ),
        {
            "p": plan_id,
            "c": code,
            "name": code,
            "r": replaces,
            "g": shapely.to_wkb(_polygonal(geom)),
        },
    )


def metric(geom: Any) -> tuple[Any, Any]:
    """A geometry in metres, and the function that brings a metric one back to lon/lat."""
    c = geom.centroid
    crs = metric_crs(c.x, c.y)
    fwd = pyproj.Transformer.from_crs(4326, crs, always_xy=True)
    back = pyproj.Transformer.from_crs(crs, 4326, always_xy=True)

    def move(t: pyproj.Transformer) -> Any:
        def xy(c: Any) -> Any:
            return np.column_stack(t.transform(c[:, 0], c[:, 1]))

        return xy

    def there(g: Any) -> Any:
        return shapely.transform(g, move(back))

    return shapely.transform(geom, move(fwd)), there
