"""A plan's draft grids in the store: read one or a community's, the buildings under a shape,
write an edit's result (all in one savepoint, with a new plan version), new grid codes, and
the frame every edit runs in (:func:`run_edit`: the gate, the work, the plan after).

New codes: the community's code and the next 3-digit sequence never used by any version of
``areas`` nor ever issued by this plan (``plans.issued_codes``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Engine, text

from gisgrid.access.auth import Caller
from gisgrid.errors import InvalidInput
from gisgrid.numbers import shown
from gisgrid.planning.plans import (
    Conn,
    PlanSummary,
    bump,
    get_plan,
    open_for_edit,
    transaction,
)
from gisgrid.planning.shapes import polygonal

MAX_SEQUENCE = 999


@dataclass(frozen=True)
class Edit:
    """What an edit returns: the plan after it (its new version) and the codes it changed
    (reshaped, split, new, merged or retired)."""

    plan: PlanSummary
    changed: list[str]


@dataclass(frozen=True)
class Draft:
    """One draft grid of a plan (lon/lat)."""

    code: str
    name: str
    parent_id: int | None
    replaces_area_id: int | None
    geom: BaseGeometry


# -- the store -----------------------------------------------------------------------------------


def _draft_of(row: Any) -> Draft:
    return Draft(
        str(row.code),
        str(row.name),
        row.parent_id,
        row.replaces_area_id,
        shapely.from_wkb(bytes(row.wkb)),
    )


_DRAFT_COLUMNS = "code, name, parent_id, replaces_area_id, ST_AsBinary(geom) AS wkb"


def load_grid(conn: Conn, plan_id: int, code: str, field: str) -> Draft:
    row = conn.execute(
        text(f"SELECT {_DRAFT_COLUMNS} FROM plan_areas WHERE plan_id = :p AND code = :c"),
        {"p": plan_id, "c": code},
    ).one_or_none()
    if row is None:
        raise InvalidInput(f"plan {plan_id} has no grid {shown(code)}", field=field)
    d = _draft_of(row)
    return replace(d, geom=polygonal(d.geom))


def siblings(conn: Conn, plan_id: int, parent_id: int | None) -> list[Draft]:
    rows = conn.execute(
        text(
            f"SELECT {_DRAFT_COLUMNS} FROM plan_areas WHERE plan_id = :p"
            " AND parent_id IS NOT DISTINCT FROM :parent ORDER BY code"
        ),
        {"p": plan_id, "parent": parent_id},
    ).all()
    return [replace(d, geom=polygonal(d.geom)) for d in map(_draft_of, rows)]


@dataclass(frozen=True)
class Building:
    id: int
    geom: BaseGeometry
    households: int = 0


def buildings_in(conn: Conn, geom: BaseGeometry) -> list[Building]:
    """Buildings whose footprint meets ``geom`` (the GiST index on buildings finds them)."""
    rows = conn.execute(
        text(
            "SELECT id, ST_AsBinary(geom) AS wkb, coalesce(household_count, 0) AS hh"
            " FROM buildings"
            " WHERE ST_Intersects(geom, ST_GeomFromWKB(:g, 4326)) ORDER BY id"
        ),
        {"g": shapely.to_wkb(geom)},
    ).all()
    return [Building(int(r.id), shapely.from_wkb(bytes(r.wkb)), int(r.hh)) for r in rows]


def write(
    conn: Conn,
    plan_id: int,
    changed: Sequence[Draft] = (),
    new: Sequence[Draft] = (),
    retired: Sequence[str] = (),
) -> None:
    for d in [*changed, *new]:
        if not d.geom.is_valid:  # a bug here, not the caller's input: say what went wrong
            raise InvalidInput(
                f"the edit would make grid {d.code} invalid: {shapely.is_valid_reason(d.geom)}",
                field="geom",
            )
    with conn.begin_nested():
        if retired:
            conn.execute(
                text("DELETE FROM plan_areas WHERE plan_id = :p AND code = ANY(:codes)"),
                {"p": plan_id, "codes": list(retired)},
            )
        for d in changed:
            conn.execute(
                text(
                    "UPDATE plan_areas SET geom = ST_Multi(ST_GeomFromWKB(:g, 4326)), name = :n"
                    " WHERE plan_id = :p AND code = :c"
                ),
                {"g": shapely.to_wkb(d.geom), "n": d.name, "p": plan_id, "c": d.code},
            )
        for d in new:
            conn.execute(
                text(
                    "INSERT INTO plan_areas"
                    " (plan_id, code, name, parent_id, replaces_area_id, geom)"
                    " VALUES (:p, :c, :n, :parent, :r, ST_Multi(ST_GeomFromWKB(:g, 4326)))"
                ),
                {
                    "p": plan_id,
                    "c": d.code,
                    "n": d.name,
                    "parent": d.parent_id,
                    "r": d.replaces_area_id,
                    "g": shapely.to_wkb(d.geom),
                },
            )
        bump(conn, plan_id, [d.code for d in new])


def new_codes(conn: Conn, plan_id: int, parent_id: int | None, n: int) -> list[tuple[str, str]]:
    """``n`` new (code, name) pairs under the community ``parent_id``: its code and the next
    3-digit sequences after every code any version of ``areas``, this plan's grids and the
    codes this plan ever issued have used."""
    parent = conn.execute(
        text("SELECT code, name FROM areas WHERE id = :i"), {"i": parent_id}
    ).one_or_none()
    if parent is None:
        raise InvalidInput("the grid has no parent area to number it under", field="code")
    pattern = f"^{parent.code}[0-9]{{3}}$"
    top = conn.execute(
        text(
            "SELECT max(CAST(right(c, 3) AS int)) FROM ("
            " SELECT code AS c FROM areas WHERE code ~ :pat"
            " UNION ALL SELECT code FROM plan_areas WHERE plan_id = :p AND code ~ :pat"
            " UNION ALL SELECT c FROM plans, unnest(issued_codes) c WHERE id = :p AND c ~ :pat"
            ") s"
        ),
        {"pat": pattern, "p": plan_id},
    ).scalar_one()
    start = int(top or 0) + 1
    if start + n - 1 > MAX_SEQUENCE:
        raise InvalidInput(
            f"community {parent.code} has no free grid code left (up to {MAX_SEQUENCE})",
            field="code",
        )
    return [(f"{parent.code}{s:03d}", f"{parent.name}第{s}网格") for s in range(start, start + n)]


def run_edit(
    conn: Conn | Engine,
    caller: Caller,
    plan_id: int,
    expected_version: int,
    work: Callable[[Conn], list[str]],
) -> Edit:
    with transaction(conn) as c:
        open_for_edit(c, caller, plan_id, expected_version)
        changed = work(c)
        return Edit(get_plan(c, caller, plan_id, fresh=True), changed)
