"""What a map needs to start: where the city is, and the incident categories to filter on.

The start view is the extent of the current grids, not of the city polygon: a city's
boundary takes in its rural counties (Harbin's is 4.5 degrees wide), while its grids cover
where people live and incidents happen. Without grids, every current area counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

Conn = Connection | Session
Bounds = tuple[float, float, float, float]

_EXTENT_SQL = """
SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
FROM (SELECT ST_Extent(geom) AS e FROM areas
      WHERE valid_to IS NULL AND (level = 'grid' OR NOT :grids_only)) AS x
"""
_CITY_SQL = (
    "SELECT code, name FROM areas WHERE valid_to IS NULL"
    " ORDER BY array_position(ARRAY['city','district','street','community','grid'], level::text),"
    " code LIMIT 1"
)
_CATEGORIES_SQL = (
    "SELECT code, parent_code, name_zh, name_en FROM incident_categories ORDER BY code"
)


@dataclass(frozen=True)
class CityView:
    """The top area (name, code) and the extent of the current grids, lon/lat WGS84."""

    code: str | None
    name: str | None
    bounds: Bounds | None
    center: tuple[float, float] | None


@dataclass(frozen=True)
class CategoryItem:
    code: str
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class CategoryGroup:
    """A top-level category (大类) and its items (小类)."""

    code: str
    name_zh: str
    name_en: str
    items: list[CategoryItem] = field(default_factory=list)


def center_of(bounds: Bounds) -> tuple[float, float]:
    """The middle of a lon/lat box.

    Examples
    --------
    >>> center_of((126.0, 45.0, 127.0, 46.0))
    (126.5, 45.5)
    """
    minx, miny, maxx, maxy = bounds
    return ((minx + maxx) / 2, (miny + maxy) / 2)


def _extent(conn: Conn, grids_only: bool) -> Bounds | None:
    row: Any = conn.execute(text(_EXTENT_SQL), {"grids_only": grids_only}).one()
    if row[0] is None:
        return None
    return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))


def data_extent(conn: Conn) -> Bounds | None:
    """Where the data is: the current grids' extent, or every current area's without grids;
    None in an empty store."""
    return _extent(conn, grids_only=True) or _extent(conn, grids_only=False)


def city_view(conn: Conn) -> CityView:
    """The city to start a map on; every field is None in an empty store."""
    bounds = data_extent(conn)
    top = conn.execute(text(_CITY_SQL)).one_or_none()
    return CityView(
        code=None if top is None else str(top.code),
        name=None if top is None else str(top.name),
        bounds=bounds,
        center=None if bounds is None else center_of(bounds),
    )


def category_groups(conn: Conn) -> list[CategoryGroup]:
    """The two-level taxonomy from ``incident_categories``, groups and items in code order.

    Every group is listed, the sensitive ones too (Open311's services.json leaves them out
    because its requests are public): a command centre filters its own map on them, and a
    category's name says nothing about any incident.
    """
    rows = conn.execute(text(_CATEGORIES_SQL)).all()
    groups = {
        r.code: CategoryGroup(r.code, r.name_zh, r.name_en) for r in rows if r.parent_code is None
    }
    for r in rows:
        if r.parent_code is not None and r.parent_code in groups:
            groups[r.parent_code].items.append(CategoryItem(r.code, r.name_zh, r.name_en))
    return list(groups.values())
