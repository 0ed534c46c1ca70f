"""The nearest responsible units that handle an incident category.

Units are public reference data (every caller may see where the fire station is), so the
caller's scope does not hide any unit here; it does limit which incidents a caller sees.

Examples
--------
>>> check_k(5)
5
>>> check_k(0)
Traceback (most recent call last):
...
gisgrid.errors.InvalidInput: k: must be between 1 and 100 (0 given)
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from gisgrid.assign.locate import check_crs, check_lonlat, from_wgs84, to_wgs84
from gisgrid.errors import InvalidInput
from gisgrid.sql import load_sql

MAX_K = 100


@dataclass(frozen=True)
class UnitHit:
    id: int
    code: str | None
    name: str
    kind: str
    available: bool
    phone: str | None
    area_id: int | None
    lon: float
    lat: float
    distance_m: float


def check_k(k: int) -> int:
    if not 1 <= k <= MAX_K:
        raise InvalidInput(f"must be between 1 and {MAX_K} ({k} given)", field="k")
    return k


def check_category(conn: Connection | Session, category: str) -> str:
    """The category code if the taxonomy has it; InvalidInput naming it otherwise."""
    found = conn.execute(
        text("SELECT 1 FROM incident_categories WHERE code = :c"), {"c": category}
    ).first()
    if found is None:
        raise InvalidInput(f"unknown category {category!r}", field="category")
    return category


def nearest_units(
    conn: Connection | Session,
    lon: float | str,
    lat: float | str,
    category: str,
    k: int = 5,
    available_only: bool = True,
    crs: str = "wgs84",
) -> list[UnitHit]:
    """The ``k`` units nearest to a point that handle ``category``, nearest first.

    The point is given in ``crs`` (wgs84, gcj02, bd09) and the units' ``lon``/``lat`` come
    back in it. A top-level category matches units handling any item under it.
    ``distance_m`` is the geodesic distance (WGS84 spheroid); ties go to the lower unit id.
    """
    lon, lat = check_lonlat(lon, lat)
    crs = check_crs(crs)
    lon, lat = to_wgs84(lon, lat, crs)
    check_k(k)
    check_category(conn, category)
    rows = conn.execute(
        text(load_sql("nearest_units")),
        {"lon": lon, "lat": lat, "category": category, "k": k, "available_only": available_only},
    )
    hits = []
    for r in rows:
        x, y = from_wgs84(float(r.lon), float(r.lat), crs)
        hits.append(
            UnitHit(
                id=r.id,
                code=r.code,
                name=r.name,
                kind=r.kind,
                available=r.available,
                phone=r.phone,
                area_id=r.area_id,
                lon=x,
                lat=y,
                distance_m=float(r.distance_m),
            )
        )
    return hits
