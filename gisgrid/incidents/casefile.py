"""Everything a console's case view shows, in one read: the case, its category's names, its
grid's outline, the nearest capable units with their open load, the photos, the timeline with
who did what, and the actions the caller may take now.

Scoped like every incident read (NotFound out of scope). The recommended unit is the one
``dispatch`` without a unit would choose: the nearest available capable unit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text

from gisgrid.access.auth import Caller
from gisgrid.incidents.actions import allowed_actions
from gisgrid.incidents.workflow import Conn, Incident, get_incident
from gisgrid.query.nearest import nearest_units

UNITS_SHOWN = 5


@dataclass(frozen=True)
class Step:
    """One event of the timeline, with the names a person reads."""

    at: datetime
    from_status: str | None
    to_status: str
    actor: str | None
    unit: str | None
    note: str | None


@dataclass(frozen=True)
class NearUnit:
    id: int
    name: str
    kind: str
    available: bool
    distance_m: float
    open_load: int
    lon: float
    lat: float
    recommended: bool
    code: str | None = None  # a unit's account is unit_<code> in the synthetic city


@dataclass(frozen=True)
class CaseFile:
    incident: Incident
    category_zh: str | None
    category_en: str | None
    grid_code: str | None
    grid_name: str | None
    grid_outline: dict[str, Any] | None  # GeoJSON geometry, WGS84
    assigned_unit: str | None
    photos: list[str]
    units: list[NearUnit]
    timeline: list[Step]
    actions: list[str]

    @property
    def last_step(self) -> Step | None:
        """Who changed the case last (what a stale caller is told)."""
        return self.timeline[-1] if self.timeline else None


def case_file(conn: Conn, caller: Caller, incident_id: int) -> CaseFile:
    """The case view of ``incident_id`` for ``caller`` (see the module)."""
    inc = get_incident(conn, caller, incident_id)
    row = conn.execute(
        text(
            "SELECT c.name_zh, c.name_en, g.code AS grid_code, g.name AS grid_name,"
            " ST_AsGeoJSON(g.geom, 6) AS outline, u.name AS unit_name, i.photos"
            " FROM incidents i JOIN incident_categories c ON c.code = i.category"
            " LEFT JOIN areas g ON g.id = i.grid_id LEFT JOIN units u ON u.id = i.assigned_unit_id"
            " WHERE i.id = :id"
        ),
        {"id": incident_id},
    ).one()
    return CaseFile(
        incident=inc,
        category_zh=row.name_zh,
        category_en=row.name_en,
        grid_code=row.grid_code,
        grid_name=row.grid_name,
        grid_outline=json.loads(row.outline) if row.outline else None,
        assigned_unit=row.unit_name,
        photos=list(row.photos or []),
        units=_units(conn, inc),
        timeline=timeline(conn, incident_id),
        actions=allowed_actions(caller, inc),
    )


def timeline(conn: Conn, incident_id: int) -> list[Step]:
    """The incident's events, oldest first, with the actor's and unit's names (the caller's
    right to see the incident is checked by :func:`case_file`)."""
    rows = conn.execute(
        text(
            "SELECT e.at, e.from_status, e.to_status, e.note,"
            " COALESCE(a.display_name, a.username) AS actor, u.name AS unit"
            " FROM incident_events e LEFT JOIN accounts a ON a.id = e.actor_id"
            " LEFT JOIN units u ON u.id = e.unit_id"
            " WHERE e.incident_id = :id ORDER BY e.at, e.id"
        ),
        {"id": incident_id},
    )
    return [Step(r.at, r.from_status, r.to_status, r.actor, r.unit, r.note) for r in rows]


def _units(conn: Conn, inc: Incident) -> list[NearUnit]:
    hits = nearest_units(conn, inc.lon, inc.lat, inc.category, k=UNITS_SHOWN, available_only=False)
    if not hits:
        return []
    loads: dict[int, int] = dict(
        conn.execute(
            text(
                "SELECT assigned_unit_id, count(*) FROM incidents"
                " WHERE assigned_unit_id = ANY(:ids) AND status NOT IN ('closed', 'rejected')"
                " GROUP BY assigned_unit_id"
            ),
            {"ids": [h.id for h in hits]},
        ).all()
    )
    first = next((h.id for h in hits if h.available), None)
    return [
        NearUnit(
            h.id,
            h.name,
            h.kind,
            h.available,
            h.distance_m,
            int(loads.get(h.id, 0)),
            h.lon,
            h.lat,
            h.id == first,
            h.code,
        )
        for h in hits
    ]
