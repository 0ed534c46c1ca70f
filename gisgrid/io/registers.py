"""Register writes from the field: visit logs (民情日志) and household and resident tags.

A grid worker (or a community account) writes only about the households and residents
assigned inside their scope: anything else is NotFound, as if absent. Each write is checked
as a load row of its layer is (:func:`gisgrid.io.checks.parse_field` with the layer's field
specs from :mod:`gisgrid.io.layers`: lengths, vocabularies, times), so a visit log typed on a
phone and one loaded from a file meet the same rules; the first problem is InvalidInput
naming its field. Each write is written to ``audit_log`` in the same transaction: who
(``account_id``), when (``at``), what (``action``, table, row) and the change (``detail``:
``before`` and ``after``).

A tag edit names the version it applies to (If-Match): a stale one is PreconditionFailed, so
two workers editing one household do not overwrite each other silently.

Examples
--------
>>> check_tags("residents", ["elderly_alone", "elderly_alone", "disabled"])
['elderly_alone', 'disabled']
>>> check_tags("households", ["mansion"])
Traceback (most recent call last):
...
gisgrid.errors.InvalidInput: tags: unknown tag 'mansion'; expected one of rental, vacant, \
elderly_only, low_income, special_care, military_family
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from gisgrid import vocab
from gisgrid.access.auth import Caller
from gisgrid.errors import InvalidInput, NotFound, PermissionDenied, PreconditionFailed

Conn = Connection | Session

WRITE_ROLES = ("grid_worker", "community")
TAGS = {"households": vocab.HOUSEHOLD_TAGS, "residents": vocab.RESIDENT_TAGS}
MAX_NOTE = 4000


@dataclass(frozen=True)
class VisitLog:
    id: int
    worker_id: int
    household_id: int
    visited_at: datetime
    need_category: str | None
    mood: str | None
    note: str | None
    grid_id: int | None
    lon: float
    lat: float


@dataclass(frozen=True)
class Tags:
    """A household's or resident's tags after an edit, and its new version (the ETag)."""

    id: int
    tags: list[str]
    version: int


def check_role(caller: Caller) -> None:
    if caller.role not in WRITE_ROLES:
        raise PermissionDenied(
            f"role {caller.role!r} may not write registers; allowed: {', '.join(WRITE_ROLES)}",
            field="role",
        )


def check_tags(table: str, tags: Any) -> list[str]:
    """The tags in order without repeats, each from the table's vocabulary."""
    allowed = TAGS[table]
    if not isinstance(tags, list | tuple) or not all(isinstance(t, str) for t in tags):
        raise InvalidInput(f"{tags!r} is not a list of tags", field="tags")
    for t in tags:
        if t not in allowed:
            shown = t if len(t) <= 40 else t[:40] + "..."
            raise InvalidInput(
                f"unknown tag {shown!r}; expected one of {', '.join(allowed)}", field="tags"
            )
    return list(dict.fromkeys(tags))


def _check_row(layer: str, row: dict[str, Any]) -> dict[str, Any]:
    """One row checked as the loader checks a file's rows; the first problem is raised."""
    # here, not at the top: the layers read the SQLAlchemy models, which a served process
    # does not import until it needs them (tests/api/test_constraint_errors.py)
    from gisgrid.io.checks import Problems, parse_field
    from gisgrid.io.layers import get_layer

    specs = get_layer(layer).fields
    problems = Problems(1)
    out: dict[str, Any] = {}
    for name, value in row.items():
        parsed = parse_field(specs[name], pd.Series([value], dtype=object), problems)
        v = parsed.iloc[0]
        out[name] = None if pd.isna(v) else v
    found = problems.rows(lambda pos: pos)
    if found:
        raise InvalidInput(found[0].reason, field=found[0].field)
    return out


def _household(conn: Conn, caller: Caller, household_id: int, lock: bool = False) -> Any:
    where, params = caller.scope.rows_sql("h")
    row = conn.execute(
        text(
            "SELECT h.id, h.tags, h.version, h.grid_id, h.community_id, h.street_id,"
            " h.district_id, ST_X(p) AS lon, ST_Y(p) AS lat"
            " FROM households h LEFT JOIN buildings b ON b.id = h.building_id,"
            " LATERAL coalesce(h.geom, ST_PointOnSurface(b.geom)) p"
            f" WHERE h.id = :id AND {where}" + (" FOR UPDATE OF h" if lock else "")
        ),
        {**params, "id": household_id},
    ).one_or_none()
    if row is None:
        raise NotFound(f"no household {household_id} in the caller's scope", field="household_id")
    return row


def _audit(
    conn: Conn, caller: Caller, action: str, table: str, row_id: int, detail: dict[str, Any]
) -> None:
    conn.execute(
        text(
            'INSERT INTO audit_log (account_id, action, "table", row_id, detail)'
            " VALUES (:a, :action, :table, :row, CAST(:detail AS jsonb))"
        ),
        {
            "a": caller.account_id,
            "action": action,
            "table": table,
            "row": row_id,
            "detail": json.dumps(detail, default=str, ensure_ascii=False),
        },
    )


def _check_need(conn: Conn, need_category: str | None) -> None:
    if need_category is None:
        return
    found = conn.execute(
        text("SELECT 1 FROM incident_categories WHERE code = :c"), {"c": need_category}
    ).first()
    if found is None:
        raise InvalidInput(f"unknown category {need_category!r}", field="need_category")


def add_visit_log(
    conn: Conn,
    caller: Caller,
    household_id: int,
    *,
    need_category: str | None = None,
    mood: str | None = None,
    note: str | None = None,
    visited_at: datetime | str | None = None,
) -> VisitLog:
    """A visit log for a household in the caller's scope, at the household's point.

    ``need_category`` is a category code of the taxonomy (the needs are under 06), ``mood``
    one of :data:`gisgrid.vocab.MOODS`, ``visited_at`` an ISO 8601 time (default now; a
    time without a zone is city time). A household with no point of its own takes its
    building's; with neither it is InvalidInput naming ``household_id``.
    """
    check_role(caller)
    if note is not None and len(note) > MAX_NOTE:
        raise InvalidInput(f"must have at most {MAX_NOTE} characters", field="note")
    if note is not None and "\x00" in note:
        raise InvalidInput("contains a NUL character", field="note")
    row = _check_row(
        "visit_logs",
        {
            "subject_type": "household",
            "visited_at": visited_at if visited_at is not None else datetime.now(UTC),
            "need_category": need_category,
            "mood": mood,
            "note": (note or "").strip() or None,
        },
    )
    _check_need(conn, row["need_category"])
    h = _household(conn, caller, household_id)
    if h.lon is None:
        raise InvalidInput(
            f"household {household_id} has no point (nor a building)", field="household_id"
        )
    at = pd.Timestamp(row["visited_at"]).to_pydatetime()
    new_id = conn.execute(
        text(
            "INSERT INTO visit_logs (worker_id, subject_type, subject_id, visited_at, note,"
            " need_category, mood, geom, grid_id, community_id, street_id, district_id)"
            " VALUES (:w, 'household', :h, :at, :note, :need, :mood,"
            " ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :g, :c, :s, :d) RETURNING id"
        ),
        {
            "w": caller.account_id,
            "h": household_id,
            "at": at,
            "note": row["note"],
            "need": row["need_category"],
            "mood": row["mood"],
            "lon": h.lon,
            "lat": h.lat,
            "g": h.grid_id,
            "c": h.community_id,
            "s": h.street_id,
            "d": h.district_id,
        },
    ).scalar_one()
    log = VisitLog(
        id=int(new_id),
        worker_id=caller.account_id,
        household_id=household_id,
        visited_at=at,
        need_category=row["need_category"],
        mood=row["mood"],
        note=row["note"],
        grid_id=h.grid_id,
        lon=float(h.lon),
        lat=float(h.lat),
    )
    after = {k: v for k, v in log.__dict__.items() if k not in ("id", "lon", "lat")}
    _audit(conn, caller, "add_visit_log", "visit_logs", log.id, {"before": None, "after": after})
    return log


def set_tags(
    conn: Conn,
    caller: Caller,
    table: str,
    row_id: int,
    tags: Any,
    expected_version: int,
) -> Tags:
    """Replace the tags of a household or resident (``table``) in the caller's scope.

    The row must be at ``expected_version`` (PreconditionFailed otherwise); the version goes
    up by one and the change is audited (``before``/``after`` tags and the versions).
    """
    if table not in TAGS:
        raise ValueError(f"table={table!r}; expected one of {list(TAGS)}")
    check_role(caller)
    new = check_tags(table, tags)
    if table == "households":
        cur = _household(conn, caller, row_id, lock=True)
    else:
        where, params = caller.scope.rows_sql("r")
        cur = conn.execute(
            text(
                "SELECT r.id, r.tags, r.version FROM residents r"
                f" WHERE r.id = :id AND {where} FOR UPDATE OF r"
            ),
            {**params, "id": row_id},
        ).one_or_none()
        if cur is None:
            raise NotFound(f"no resident {row_id} in the caller's scope", field="id")
    if cur.version != expected_version:
        raise PreconditionFailed(
            f"{table[:-1]} {row_id} is at version {cur.version}, not {expected_version}",
            field="version",
        )
    version = conn.execute(
        text(
            f"UPDATE {table} SET tags = CAST(:tags AS text[]), version = version + 1"
            " WHERE id = :id RETURNING version"
        ),
        {"tags": new, "id": row_id},
    ).scalar_one()
    detail = {
        "before": {"tags": list(cur.tags), "version": cur.version},
        "after": {"tags": new, "version": int(version)},
    }
    _audit(conn, caller, "update_tags", table, row_id, detail)
    return Tags(id=row_id, tags=new, version=int(version))
