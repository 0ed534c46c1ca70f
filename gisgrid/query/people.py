"""Residents (personal data): read in the caller's scope, every row read written to audit_log.

Only accounts whose role works with people (:data:`READ_ROLES`) read resident rows, and only
the residents assigned inside their scope; a resident outside it is :class:`NotFound`, as if
absent. ``id_hash`` and ``phone_hash`` are never returned. Each row returned is logged
(``audit_log``: account, ``read_resident``, ``residents``, row id) by the same statement that
reads it, so a read and its audit row commit or roll back together.

Analysts get :func:`resident_stats` too: counts by tag and age band, with cells under
:data:`MIN_CELL` suppressed (``None``), and a second age band hidden when one hidden band could
be recovered from the total.

Examples
--------
>>> age_band(2026 - 70, 2026)
'60-79'
>>> suppress({"a": 3, "b": 12, "c": 0})
{'a': None, 'b': 12, 'c': 0}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from gisgrid import vocab
from gisgrid.access.auth import Caller
from gisgrid.errors import InvalidInput, NotFound, PermissionDenied

Conn = Connection | Session

READ_ROLES = (
    "grid_worker",
    "community",
    "street_centre",
    "district_centre",
    "city_centre",
    "admin",
)
STATS_ROLES = (*READ_ROLES, "analyst")
MAX_LIST = 1000
MIN_CELL = 5
AGE_BANDS = ((0, 17, "0-17"), (18, 59, "18-59"), (60, 79, "60-79"), (80, 200, "80+"))

# Never id_hash or phone_hash.
_COLUMNS = (
    "r.id, r.household_id, r.name, r.birth_year, r.sex, r.tags,"
    " r.grid_id, r.community_id, r.street_id, r.district_id, r.version"
)


@dataclass(frozen=True)
class Resident:
    id: int
    household_id: int
    name: str
    birth_year: int | None
    sex: str | None
    tags: list[str]
    grid_id: int | None
    community_id: int | None
    street_id: int | None
    district_id: int | None
    version: int = 1  # the ETag of a tag edit (gisgrid.io.registers.set_tags)


@dataclass(frozen=True)
class Household:
    id: int
    address: str
    unit_no: str | None
    size: int | None
    tags: list[str]
    version: int
    grid_id: int | None
    lon: float | None
    lat: float | None
    residents: int


def check_role(caller: Caller, allowed: tuple[str, ...] = READ_ROLES) -> None:
    """PermissionDenied unless the caller's role is one of ``allowed``."""
    if caller.role not in allowed:
        raise PermissionDenied(
            f"role {caller.role!r} may not read this; allowed: {', '.join(allowed)}", field="role"
        )


def _read_audited(
    conn: Conn,
    caller: Caller,
    where: str,
    params: dict[str, Any],
    tail: str,
    detail: dict[str, Any],
) -> list[Resident]:
    # One statement reads the rows and logs them, so neither happens without the other.
    sql = (
        f"WITH hits AS (SELECT {_COLUMNS} FROM residents r WHERE {where}{tail}),"
        ' logged AS (INSERT INTO audit_log (account_id, action, "table", row_id, detail)'
        " SELECT :account_id, 'read_resident', 'residents', id, CAST(:detail AS jsonb)"
        " FROM hits)"
        " SELECT * FROM hits ORDER BY id"
    )
    rows = conn.execute(
        text(sql),
        {**params, "account_id": caller.account_id, "detail": json.dumps(detail)},
    )
    return [Resident(**r._mapping) for r in rows]


def list_residents(
    conn: Conn,
    caller: Caller,
    grid_code: str | None = None,
    tag: str | None = None,
    limit: int = 100,
) -> list[Resident]:
    """Residents in the caller's scope, by id; each one returned is audited.

    The caller commits the transaction (the audit rows are written in it).
    """
    check_role(caller)
    if not 1 <= limit <= MAX_LIST:
        raise InvalidInput(f"must be between 1 and {MAX_LIST} ({limit} given)", field="limit")
    if tag is not None and tag not in vocab.RESIDENT_TAGS:
        raise InvalidInput(f"tag={tag!r}; expected one of {list(vocab.RESIDENT_TAGS)}", field="tag")
    where, scope_params = caller.scope.rows_sql("r")
    params: dict[str, Any] = dict(scope_params)
    conds = [where]
    if grid_code is not None:
        conds.append(
            "r.grid_id IN (SELECT id FROM areas WHERE code = :grid_code AND level = 'grid')"
        )
        params = {**params, "grid_code": grid_code}
    if tag is not None:
        conds.append(":tag = ANY(r.tags)")
        params = {**params, "tag": tag}
    detail = {"query": {"grid_code": grid_code, "tag": tag, "limit": limit}}
    return _read_audited(
        conn,
        caller,
        " AND ".join(conds),
        {**params, "limit": limit},
        " ORDER BY r.id LIMIT :limit",
        detail,
    )


def get_resident(conn: Conn, caller: Caller, resident_id: int) -> Resident:
    """One resident in the caller's scope (audited); NotFound when absent or out of scope."""
    check_role(caller)
    where, params = caller.scope.rows_sql("r")
    found = _read_audited(
        conn, caller, f"r.id = :id AND {where}", {**params, "id": resident_id}, "", {}
    )
    if not found:
        raise NotFound(f"no resident {resident_id}", field="id")
    return found[0]


def list_households(
    conn: Conn, caller: Caller, grid_code: str | None = None, limit: int = 500
) -> list[Household]:
    """Households in the caller's scope (optionally one grid), by id, with their point (their
    own, else their building's) and resident count; each one returned is audited
    (``read_household``), as resident reads are. The caller commits."""
    check_role(caller)
    if not 1 <= limit <= MAX_LIST:
        raise InvalidInput(f"must be between 1 and {MAX_LIST} ({limit} given)", field="limit")
    where, params = caller.scope.rows_sql("h")
    conds = [where]
    if grid_code is not None:
        conds.append(
            "h.grid_id IN (SELECT id FROM areas WHERE code = :grid_code AND level = 'grid')"
        )
        params = {**params, "grid_code": grid_code}  # type: ignore[dict-item]
    sql = (
        "WITH hits AS (SELECT h.id, h.address, h.unit_no, h.size, h.tags, h.version,"
        " h.grid_id, ST_X(p) AS lon, ST_Y(p) AS lat,"
        " (SELECT count(*) FROM residents r WHERE r.household_id = h.id) AS residents"
        " FROM households h LEFT JOIN buildings b ON b.id = h.building_id,"
        " LATERAL coalesce(h.geom, ST_PointOnSurface(b.geom)) p"
        f" WHERE {' AND '.join(conds)} ORDER BY h.id LIMIT :limit),"
        ' logged AS (INSERT INTO audit_log (account_id, action, "table", row_id, detail)'
        " SELECT :account_id, 'read_household', 'households', id, CAST(:detail AS jsonb)"
        " FROM hits)"
        " SELECT * FROM hits ORDER BY id"
    )
    detail = {"query": {"grid_code": grid_code, "limit": limit}}
    rows = conn.execute(
        text(sql),
        {**params, "limit": limit, "account_id": caller.account_id, "detail": json.dumps(detail)},
    )
    return [Household(**{**r._mapping, "residents": int(r.residents)}) for r in rows]


def age_band(birth_year: int, year: int) -> str:
    """The age band of someone born in ``birth_year``, in ``year``."""
    age = year - birth_year
    for low, high, name in AGE_BANDS:
        if low <= age <= high:
            return name
    return "unknown"


def suppress(
    counts: dict[str, int], min_cell: int = MIN_CELL, partition: bool = False
) -> dict[str, int | None]:
    """Counts with every cell under ``min_cell`` (but not 0) replaced by None.

    ``partition``: the cells add up to a published total, so a single hidden cell could be
    recovered by subtraction; then the smallest other non-zero cell is hidden too.

    Examples
    --------
    >>> suppress({"a": 2, "b": 7, "c": 30}, partition=True)
    {'a': None, 'b': None, 'c': 30}
    """
    out: dict[str, int | None] = {k: (None if 0 < v < min_cell else v) for k, v in counts.items()}
    hidden = [k for k, v in out.items() if v is None]
    if partition and len(hidden) == 1:
        shown = sorted((v, k) for k, v in counts.items() if out[k] is not None and v > 0)
        if shown:
            out[shown[0][1]] = None
    return out


@dataclass(frozen=True)
class ResidentStats:
    total: int | None
    by_tag: dict[str, int | None]
    by_age_band: dict[str, int | None]
    min_cell: int


def resident_stats(conn: Conn, caller: Caller, year: int | None = None) -> ResidentStats:
    """Counts of the residents in the caller's scope by tag and by age band (no rows, no
    audit: nothing personal leaves). Cells under :data:`MIN_CELL` are None."""
    check_role(caller, STATS_ROLES)
    year = year or datetime.now(UTC).year
    where, params = caller.scope.rows_sql("r")
    bands = " ".join(
        f"WHEN :year - r.birth_year BETWEEN {low} AND {high} THEN '{name}'"
        for low, high, name in AGE_BANDS
    )
    total = int(
        conn.execute(text(f"SELECT count(*) FROM residents r WHERE {where}"), params).scalar_one()
    )
    tag_rows = conn.execute(
        text(f"SELECT t, count(*) FROM residents r, unnest(r.tags) t WHERE {where} GROUP BY t"),
        params,
    ).all()
    band_rows = conn.execute(
        text(
            f"SELECT CASE {bands} ELSE 'unknown' END AS band, count(*)"
            f" FROM residents r WHERE {where} GROUP BY 1"
        ),
        {**params, "year": year},
    ).all()
    by_tag = {t: 0 for t in vocab.RESIDENT_TAGS} | {str(t): int(n) for t, n in tag_rows}
    by_band = {name: 0 for _, _, name in AGE_BANDS} | {"unknown": 0}
    by_band |= {str(b): int(n) for b, n in band_rows}
    return ResidentStats(
        total=suppress({"t": total})["t"],
        by_tag=suppress(by_tag),
        by_age_band=suppress(by_band, partition=True),
        min_cell=MIN_CELL,
    )
