"""Boundary versions: close areas at an instant, open their successors, move what lay in them.

Areas are versioned (``valid_from``/``valid_to``; current = ``valid_to`` null), so a redraw
never edits a boundary in place: :func:`open_versions` closes the old versions at ``at`` and
opens new ones from ``at``, inside the caller's transaction (a versioned load of an areas
file, a plan's publishing), and then, in the same transaction:

- **registers** (buildings, households, residents, places) and **open incidents** that lay in
  a closed grid, or in no grid and inside a new one, get the ids of the current grids: only
  those rows are read (locked), located in memory by a :class:`GridIndex` of the current
  grids around the change (``versions_index.sql``; a point in-polygon test per row in PostGIS
  cost ten times more) and written back where they changed (``reassign_update.sql``);
  households without a location follow their grid's successor, residents their household;
- **closed incidents and visit logs** keep the grid in force when they happened; only rows
  whose own time is at or after ``at`` (a backdated version) move, to the grids in force
  now, which are the ones in force then;
- **accounts and units** scoped to a closed area are re-scoped to its successor, the version
  of the same code (same code = same area); those of a code that has no successor (a retired
  grid) are left and listed in :attr:`VersionChange.unmapped_accounts`;
- **the hierarchy** stays right on both sides of ``at``: an area's parent link names one
  version, so the current areas below a closed one are closed too and reopened unchanged
  under its successor (a renamed community reopens its grids).

The tile caches (a statement trigger bumps ``tile_versions``) and the in-memory
:class:`gisgrid.assign.locate.GridIndexCache` (``grid_fingerprint.sql`` counts versions) see
the change as soon as it commits.

Examples
--------
>>> VersionChange.empty(parse_instant("2026-03-01", "at")).opened
{}
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import NDArray
from sqlalchemy import Connection, text

from gisgrid.assign.index import GridIndex
from gisgrid.errors import Conflict, InvalidInput, NotFound
from gisgrid.sql import load_sql, quote_ident
from gisgrid.times import TimeLike, parse_instant

STAGED = "_gisgrid_new_areas"
"""The temporary table a caller fills with the new versions before :func:`open_versions`."""
STAGED_COLUMNS = (
    "code",
    "name",
    "level",
    "parent_id",
    "responsible",
    "households",
    "population",
    "plan_id",
    "geom",
)
# An incident in one of these is over: it keeps the grid in force when it was reported
# (the complement of gisgrid.incidents.lifecycle.OPEN_STATUSES; a test holds them together).
FINAL_STATUSES = ("closed", "rejected")

# table -> (the point that stands for a row, its time column or None, which rows move)
_MOVED: dict[str, tuple[str, str | None, str]] = {
    "buildings": ("ST_PointOnSurface(t.geom)", None, "TRUE"),
    "places": ("t.geom", None, "TRUE"),
    "households": ("t.geom", None, "TRUE"),
    "incidents": (
        "t.geom",
        "reported_at",
        "t.status NOT IN ({}) OR t.reported_at >= :at".format(
            ", ".join(f"'{s}'" for s in FINAL_STATUSES)
        ),
    ),
    "visit_logs": ("t.geom", "visited_at", "t.visited_at >= :at"),
}


@dataclass
class VersionChange:
    """What :func:`open_versions` did: ``opened`` code -> new id, ``replaced`` closed id ->
    its successor's id, rows moved per table, accounts and units re-scoped."""

    at: datetime
    opened: dict[str, int] = field(default_factory=dict)
    replaced: dict[int, int] = field(default_factory=dict)
    closed: list[int] = field(default_factory=list)
    cascaded: int = 0  # areas reopened unchanged because one above them was replaced
    moved: dict[str, int] = field(default_factory=dict)
    rescoped_accounts: int = 0
    rescoped_units: int = 0
    unmapped_accounts: list[int] = field(default_factory=list)
    seconds: float = 0.0

    @classmethod
    def empty(cls, at: datetime) -> VersionChange:
        return cls(at)


def stage_areas(conn: Connection) -> str:
    """Create the (transaction-local) table of new versions, :data:`STAGED`, and return its
    name; fill it with :data:`STAGED_COLUMNS` (``parent_id`` may name a version being closed:
    it is pointed at that area's successor), then call :func:`open_versions`."""
    conn.execute(
        text(
            f"CREATE TEMP TABLE IF NOT EXISTS {STAGED} (code varchar(32) NOT NULL, name text,"
            " level varchar(16), parent_id bigint, responsible text, households integer,"
            " population integer, plan_id bigint, geom geometry) ON COMMIT DROP"
        )
    )
    conn.execute(text(f"TRUNCATE {STAGED}"))
    return STAGED


def _lock_current(conn: Connection, ids: list[int], at: datetime) -> None:
    """Lock the versions to close; each must exist, be current and have begun before ``at``."""
    rows = conn.execute(
        text(
            "SELECT id, code, valid_from, valid_to FROM areas WHERE id = ANY(:ids) "
            "ORDER BY id FOR UPDATE"
        ),
        {"ids": ids},
    ).all()
    missing = sorted(set(ids) - {int(r.id) for r in rows})
    if missing:
        raise NotFound(f"no area has id {missing[0]}", field="area")
    ended = [r for r in rows if r.valid_to is not None]
    if ended:
        r = ended[0]
        raise Conflict(
            f"area {r.code} (id {r.id}) was closed at {r.valid_to.isoformat()}: someone "
            "changed these boundaries first",
            field="area",
        )
    late = [r for r in rows if r.valid_from >= at]
    if late:
        r = late[0]
        raise InvalidInput(
            f"{at.isoformat()} is not after valid_from={r.valid_from.isoformat()} of the "
            f"current version of {r.code}; a new version must begin after the one it replaces",
            field="valid_from",
        )


def _check_staged(conn: Connection, ids: list[int]) -> None:
    """A staged code must be new, or the code of a version being closed."""
    taken = conn.execute(
        text(
            f"SELECT a.code FROM {STAGED} s JOIN areas a ON a.code = s.code "
            "AND a.valid_to IS NULL AND a.id <> ALL(:ids) ORDER BY a.code LIMIT 1"
        ),
        {"ids": ids},
    ).scalar()
    if taken is not None:
        raise Conflict(
            f"code {taken!r} is a current area that is not being closed; close it too",
            field="code",
        )
    twice = conn.execute(
        text(f"SELECT code FROM {STAGED} GROUP BY code HAVING count(*) > 1 LIMIT 1")
    ).scalar()
    if twice is not None:
        raise InvalidInput(f"code {twice!r} is staged twice", field="code")


_WHICH = {
    "closed": "t.grid_id = ANY(:closed)",
    "unassigned": (
        "t.grid_id IS NULL AND EXISTS (SELECT 1 FROM areas n WHERE n.id = ANY(:opened)"
        " AND n.geom && t.geom AND ST_Intersects(n.geom, t.geom))"
    ),
}


def _rows_sql(table: str, which: str) -> str:
    point, _, moves = _MOVED[table]
    return load_sql("versions_move").format(
        table=quote_ident(table), point=point, moves=moves, which=_WHICH[which]
    )


def _update_sql(table: str) -> str:
    unassigned = ", unassigned = v.grid_id IS NULL" if table == "incidents" else ""
    return load_sql("reassign_update").format(table=quote_ident(table), unassigned=unassigned)


def _index(conn: Connection, ids: list[int]) -> GridIndex:
    """A GridIndex of the current grids that can cover the moved rows, and the areas above."""
    frame = gpd.read_postgis(
        text(load_sql("versions_index")), conn, geom_col="geom", params={"ids": ids}
    )
    return GridIndex.from_frame(frame)


def _move_table(
    conn: Connection,
    table: str,
    index: GridIndex,
    params: dict[str, Any],
    old_geoms: dict[int, Any],
    successor: dict[int, int],
) -> int:
    got = [
        *conn.execute(text(_rows_sql(table, "closed")), params).all(),
        *conn.execute(text(_rows_sql(table, "unassigned")), params).all(),
    ]
    if not got:
        return 0
    cols = list(zip(*got, strict=True))
    x = np.array(cols[1], dtype=np.float64)
    y = np.array(cols[2], dtype=np.float64)
    old = [np.array([-1 if v is None else int(v) for v in c], dtype=np.int64) for c in cols[3:7]]
    res = index.assign(x, y)
    new = [res.grid_id.copy(), res.community_id, res.street_id, res.district_id]
    # a row no grid covers that lay outside its old grid too had been given the nearest grid
    # on purpose: it keeps that grid's successor (and the successor's hierarchy)
    for i in np.flatnonzero(new[0] < 0):
        g = int(old[0][i])
        if g in successor and not shapely.covers(old_geoms[g], shapely.Point(x[i], y[i])):
            new[0][i] = successor[g]
    missing = new[0] >= 0
    missing &= res.grid_id < 0
    if missing.any():
        above = _above(conn, new[0][missing])
        for k in range(1, 4):
            new[k] = new[k].copy()
            new[k][missing] = above[k - 1]
    changed = np.zeros(len(got), dtype=bool)
    for a, b in zip(old, new, strict=True):
        changed |= a != b
    sel = np.flatnonzero(changed)
    if not len(sel):
        return 0
    # imported here: a served process starts without the models (plans' routes import this)
    from gisgrid.store.models import HIERARCHY

    payload: dict[str, Any] = {
        name: [None if v < 0 else int(v) for v in arr[sel].tolist()]
        for name, arr in zip(HIERARCHY, new, strict=True)
    }
    payload["id"] = [int(cols[0][i]) for i in sel]
    payload["xmin"] = [cols[7][i] for i in sel]
    return len(conn.execute(text(_update_sql(table)), payload).all())


def _above(conn: Connection, grid_ids: NDArray[np.int64]) -> list[NDArray[np.int64]]:
    """community, street and district ids above each grid (the store's own walk)."""
    rows = conn.execute(
        text(
            "SELECT g.i, u.community_id, u.street_id, u.district_id FROM unnest(CAST(:g AS"
            " bigint[])) WITH ORDINALITY AS g(id, i) CROSS JOIN LATERAL gisgrid_area_above(g.id) u"
            " ORDER BY g.i"
        ),
        {"g": grid_ids.tolist()},
    ).all()
    return [
        np.array([-1 if r[k] is None else r[k] for r in rows], dtype=np.int64) for k in (1, 2, 3)
    ]


def _move_rows(
    conn: Connection, change: VersionChange, grids: list[int], opened: list[int]
) -> None:
    params = {"at": change.at, "closed": grids, "opened": opened}
    succ = {"old_ids": list(change.replaced), "new_ids": list(change.replaced.values())}
    if grids or opened:
        index = _index(conn, grids + opened)
        old_geoms = {
            int(i): shapely.from_wkb(bytes(g))
            for i, g in conn.execute(
                text("SELECT id, ST_AsBinary(geom) FROM areas WHERE id = ANY(:ids)"), {"ids": grids}
            )
        }
        for table in _MOVED:
            change.moved[table] = _move_table(
                conn, table, index, params, old_geoms, change.replaced
            )
    # a household without a location follows its grid's successor
    change.moved["households"] = (
        change.moved.get("households", 0)
        + conn.execute(
            text(
                "UPDATE households h SET grid_id = s.new, community_id = u.community_id,"
                " street_id = u.street_id, district_id = u.district_id"
                " FROM unnest(CAST(:old_ids AS bigint[]), CAST(:new_ids AS bigint[]))"
                " AS s(old, new) CROSS JOIN LATERAL gisgrid_area_above(s.new) u"
                " WHERE h.geom IS NULL AND h.grid_id = s.old"
            ),
            succ,
        ).rowcount
    )
    # residents have no location: they are where their household is
    change.moved["residents"] = conn.execute(
        text(
            "UPDATE residents r SET grid_id = h.grid_id, community_id = h.community_id,"
            " street_id = h.street_id, district_id = h.district_id"
            " FROM households h WHERE h.id = r.household_id AND r.grid_id = ANY(:closed)"
            " AND (r.grid_id, r.community_id, r.street_id, r.district_id) IS DISTINCT FROM"
            " (h.grid_id, h.community_id, h.street_id, h.district_id)"
        ),
        params,
    ).rowcount


def _rescope(conn: Connection, change: VersionChange) -> None:
    params = {"old_ids": list(change.replaced), "new_ids": list(change.replaced.values())}
    succ = "unnest(CAST(:old_ids AS bigint[]), CAST(:new_ids AS bigint[])) AS s(old, new)"
    change.rescoped_accounts = conn.execute(
        text(
            f"UPDATE accounts a SET scope_area_id = s.new FROM {succ} WHERE a.scope_area_id = s.old"
        ),
        params,
    ).rowcount
    change.rescoped_units = conn.execute(
        text(f"UPDATE units u SET area_id = s.new FROM {succ} WHERE u.area_id = s.old"), params
    ).rowcount
    change.unmapped_accounts = [
        int(i)
        for i in conn.execute(
            text("SELECT id FROM accounts WHERE scope_area_id = ANY(:closed) ORDER BY id"),
            {"closed": change.closed},
        ).scalars()
    ]


def open_versions(conn: Connection, at: TimeLike, close_ids: Sequence[int]) -> VersionChange:
    """Close the areas ``close_ids`` at ``at`` and open the rows staged in :data:`STAGED`
    (:func:`stage_areas`) as new versions from ``at``; move the rows that lay in the closed
    grids and re-scope accounts by code (the module docstring has the rules). Runs in the
    caller's transaction: commit or roll back all of it together.

    ``at`` is read by :func:`gisgrid.times.parse_instant` (a bare date is 00:00 of that city
    day). InvalidInput naming ``valid_from`` when ``at`` is not after the ``valid_from`` of a
    version it closes; Conflict when one of them is closed already (someone else changed these
    boundaries first; the lock taken here makes a concurrent second change wait and then fail
    so) or when a staged code is current and not being closed.

    Examples
    --------
    With a running store, rename a grid from tomorrow (its rows stay where they are):

    >>> from gisgrid.store.engine import make_engine
    >>> from gisgrid.settings import get_settings
    >>> with make_engine(get_settings()).begin() as conn:  # doctest: +SKIP
    ...     _ = stage_areas(conn)
    ...     _ = conn.execute(text(
    ...         f"INSERT INTO {STAGED} SELECT code, 'New name', level, parent_id, responsible,"
    ...         " households, population, NULL, geom FROM areas WHERE id = 42"))
    ...     open_versions(conn, "2026-03-02", [42]).replaced  # doctest: +SKIP
    {42: 30001}
    """
    started = time.perf_counter()
    when = parse_instant(at, "valid_from")
    change = VersionChange(when)
    ids = sorted({int(i) for i in close_ids})
    if ids:
        _lock_current(conn, ids, when)
    _check_staged(conn, ids)
    cascade = [
        int(i) for i in conn.execute(text(load_sql("versions_cascade")), {"ids": ids}).scalars()
    ]
    if cascade:
        _lock_current(conn, cascade, when)
        cols = ", ".join(STAGED_COLUMNS)
        conn.execute(
            text(
                f"INSERT INTO {STAGED} ({cols}) SELECT code, name, level, parent_id, "
                "responsible, households, population, plan_id, geom FROM areas "
                "WHERE id = ANY(:ids)"
            ),
            {"ids": cascade},
        )
        change.cascaded = len(cascade)
    change.closed = ids + cascade
    closed = conn.execute(
        text("UPDATE areas SET valid_to = :at WHERE id = ANY(:ids) RETURNING id, code, level"),
        {"at": when, "ids": change.closed},
    ).all()
    new = conn.execute(text(load_sql("versions_open")), {"at": when}).all()
    change.opened = {str(r.code): int(r.id) for r in new}
    change.replaced = {
        int(r.id): change.opened[str(r.code)] for r in closed if str(r.code) in change.opened
    }
    if change.replaced:
        # a new version's parent named a closed version: point it at that one's successor
        conn.execute(
            text(
                "UPDATE areas n SET parent_id = s.new"
                " FROM unnest(CAST(:old_ids AS bigint[]), CAST(:new_ids AS bigint[]))"
                " AS s(old, new) WHERE n.id = ANY(:opened) AND n.parent_id = s.old"
            ),
            {
                "old_ids": list(change.replaced),
                "new_ids": list(change.replaced.values()),
                "opened": list(change.opened.values()),
            },
        )
    grids = [int(r.id) for r in closed if r.level == "grid"]
    new_grids = [int(r.id) for r in new if r.level == "grid"]
    _move_rows(conn, change, grids, new_grids)
    _rescope(conn, change)
    change.seconds = time.perf_counter() - started
    return change
