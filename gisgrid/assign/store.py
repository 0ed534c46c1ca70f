"""Assignment in the store: ids for rows being loaded, and re-assignment after a redraw.

Three ways a stored row gets its grid, community, street and district ids, one semantics
(the module docstring of :mod:`gisgrid.assign.index`):

- a bulk load computes them in Python (:func:`assigned_columns`, called by
  :func:`gisgrid.io.load.load_file`) and writes them with the rows, once;
- any other INSERT without ``grid_id``, or an UPDATE that moves a row, gets them from the
  ``gisgrid_assign_row`` trigger, which calls ``gisgrid_assign_point(geom, at)``: the PostGIS
  twin of :class:`gisgrid.assign.index.GridIndex` (``gisgrid/sql/assign_store.sql``);
- after boundaries change, :func:`reassign` recomputes stored rows chunk by chunk and writes
  only the rows that moved.

Which point and which time stand for a row, per table:

| table      | point                         | time          |
|------------|-------------------------------|---------------|
| incidents  | geom                          | reported_at   |
| visit_logs | geom                          | visited_at    |
| places     | geom                          | current grids |
| households | geom (none: left as it is)    | current grids |
| buildings  | a point on the footprint      | current grids |
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from sqlalchemy import Connection, Engine, text

from gisgrid.assign.index import GridIndex
from gisgrid.errors import InvalidInput, NotFound, translate_db_errors
from gisgrid.sql import load_sql, quote_ident
from gisgrid.store.models import HIERARCHY
from gisgrid.times import TimeLike, parse_instant

# The assigned tables, in the order "all" works through them, and the time of each row.
ASSIGNED_TABLES: dict[str, str | None] = {
    "incidents": "reported_at",
    "visit_logs": "visited_at",
    "places": None,
    "buildings": None,
    "households": None,
}
# The columns a load adds to a row when it assigns, with their SQL types.
ASSIGNED_SQL_TYPES = {**dict.fromkeys(HIERARCHY, "bigint"), "unassigned": "boolean"}
# Below this many rows a load leaves the ids to the trigger: building a GridIndex of the
# whole city (about 5 s for 30k grids) costs more than ~0.1 ms per row in PostGIS.
PYTHON_MIN_ROWS = 5_000
REASSIGN_CHUNK_ROWS = 100_000
_NONE = "(none)"

Progress = Callable[[str, int, int], None]


def trigger_off(conn: Any) -> None:
    """Tell the assign triggers that this transaction writes the ids itself.

    ``conn`` is a SQLAlchemy connection or a DB-API cursor. The setting is transaction-local:
    it ends with the commit or rollback.
    """
    sql = "SELECT set_config('gisgrid.assign_trigger', 'off', true)"
    if isinstance(conn, Connection):
        conn.execute(text(sql))
    else:
        conn.execute(sql)


def representative_points(table: str, geoms: NDArray[np.object_]) -> NDArray[np.object_]:
    """The point that stands for each row: a point on a building's footprint, else the geometry.

    Examples
    --------
    >>> pts = representative_points("buildings", np.array([shapely.box(0, 0, 2, 2)]))
    >>> shapely.within(pts, shapely.box(0, 0, 2, 2)).tolist()
    [True]
    """
    if table == "buildings":
        out = np.full(len(geoms), None, dtype=object)
        ok = ~shapely.is_missing(geoms)
        # point_on_surface (GEOS InteriorPoint) is what ST_PointOnSurface computes too
        out[ok] = shapely.point_on_surface(geoms[ok])
        return out
    return geoms


def _ids_series(values: NDArray[np.int64]) -> pd.Series:
    """-1 (the engine's "none") as a missing value, for the database's NULL."""
    return pd.Series(pd.array(values, dtype="Int64")).mask(values < 0)


def assigned_columns(
    engine: Engine,
    table: str,
    geoms: NDArray[np.object_],
    times: pd.Series | None,
    *,
    max_distance_m: float | None = None,
    index: GridIndex | None = None,
) -> dict[str, pd.Series]:
    """grid_id, community_id, street_id, district_id (and incidents' unassigned) for rows
    about to be written, or ``{}`` when the trigger should assign them instead.

    ``geoms`` are the rows' checked geometries (missing ones get no ids); ``times`` the rows'
    time column for incidents and visit logs. The index of every grid version is built once
    per call unless one is given. Small loads without ``max_distance_m`` return ``{}``: the
    trigger assigns them with the same rules, cheaper than building the index.

    Examples
    --------
    Units are not assigned to grids, so they get nothing:

    >>> from gisgrid.store.engine import make_engine
    >>> assigned_columns(make_engine("postgresql+psycopg://u@/db"), "units", np.array([]), None)
    {}
    """
    if table not in ASSIGNED_TABLES:
        return {}
    n = len(geoms)
    if index is None and max_distance_m is None and n < PYTHON_MIN_ROWS:
        return {}
    if max_distance_m is not None and not max_distance_m > 0:
        raise InvalidInput("must be a positive number of metres", field="max_distance_m")
    if index is None:
        index = GridIndex.from_areas(engine)
    pts = representative_points(table, np.asarray(geoms, dtype=object))
    ok = ~shapely.is_missing(pts)
    out = {c: np.full(n, -1, dtype=np.int64) for c in HIERARCHY}
    if ok.any():
        at = None
        if ASSIGNED_TABLES[table] is not None and times is not None:
            at = times[ok].reset_index(drop=True)
        x, y = shapely.get_x(pts[ok]), shapely.get_y(pts[ok])
        res = index.assign(x, y, at, max_distance_m)
        for col in HIERARCHY:
            out[col][ok] = getattr(res, col)
    cols = {c: _ids_series(v) for c, v in out.items()}
    if table == "incidents":
        cols["unassigned"] = pd.Series(pd.array(out["grid_id"] < 0, dtype="boolean"))
    return cols


# -- re-assignment ----------------------------------------------------------------------------
@dataclass
class TableReassign:
    """What re-assigning one table found (and, unless a dry run, wrote)."""

    table: str
    checked: int = 0
    moved: int = 0  # grid_id changed
    hierarchy_only: int = 0  # same grid; an id above it (or the unassigned flag) changed
    now_unassigned: int = 0
    now_assigned: int = 0
    skipped: int = 0  # changed by someone else between our read and our write


@dataclass
class ReassignReport:
    """Per table counts and the moves between grids, by code."""

    tables: dict[str, TableReassign]
    moves: Counter[tuple[str, str]] = field(default_factory=Counter)
    dry_run: bool = False
    seconds: float = 0.0

    @property
    def moved(self) -> int:
        return sum(t.moved for t in self.tables.values())

    @property
    def changed(self) -> int:
        return sum(t.moved + t.hierarchy_only for t in self.tables.values())

    def top_moves(self, n: int = 10) -> list[tuple[str, str, int]]:
        """The ``n`` most common moves as (from code, to code, rows); "(none)" is no grid."""
        return [(a, b, k) for (a, b), k in self.moves.most_common(n)]


def _tables(table: str) -> list[str]:
    if table == "all":
        return list(ASSIGNED_TABLES)
    if table not in ASSIGNED_TABLES:
        allowed = ", ".join([*ASSIGNED_TABLES, "all"])
        raise InvalidInput(f"table={table!r}; expected one of {allowed}", field="table")
    return [table]


def _chunk_sql(table: str, since: bool, area: bool) -> str:
    time_col = ASSIGNED_TABLES[table]
    time = f"t.{quote_ident(time_col)}" if time_col else "NULL::timestamptz"
    return load_sql("reassign_chunk").format(
        table=quote_ident(table),
        point="ST_PointOnSurface(t.geom)" if table == "buildings" else "t.geom",
        time=time,
        unassigned="t.unassigned" if table == "incidents" else "NULL::boolean",
        since=f"AND {time} >= :since" if since and time_col else "",
        area=load_sql("reassign_area") if area else "",
    )


def _update_sql(table: str) -> str:
    unassigned = ", unassigned = v.grid_id IS NULL" if table == "incidents" else ""
    return load_sql("reassign_update").format(table=quote_ident(table), unassigned=unassigned)


def _as_ids(values: Sequence[Any]) -> NDArray[np.int64]:
    return np.array([-1 if v is None else int(v) for v in values], dtype=np.int64)


def _nullable(values: NDArray[np.int64]) -> list[int | None]:
    return [None if v < 0 else int(v) for v in values.tolist()]


def _reassign_chunk(
    engine: Engine,
    table: str,
    index: GridIndex,
    params: dict[str, Any],
    flags: tuple[bool, bool],
    max_distance_m: float | None,
    dry_run: bool,
    codes: dict[int, str],
    report: ReassignReport,
) -> None:
    stats = report.tables[table]
    with translate_db_errors(), engine.begin() as conn:
        rows = conn.execute(text(_chunk_sql(table, *flags)), params).all()
        if not rows:
            return
        cols = list(zip(*rows, strict=True))
        x = np.array(cols[1], dtype=np.float64)
        y = np.array(cols[2], dtype=np.float64)
        # utc=True: the driver hands times in the session's zone, whose offset may vary
        times = pd.to_datetime(pd.Series(cols[3]), utc=True) if ASSIGNED_TABLES[table] else None
        old = {c: _as_ids(cols[4 + i]) for i, c in enumerate(HIERARCHY)}
        res = index.assign(x, y, times, max_distance_m)
        new = {c: getattr(res, c) for c in HIERARCHY}
        moved = old["grid_id"] != new["grid_id"]
        changed = moved.copy()
        for c in HIERARCHY[1:]:
            changed |= old[c] != new[c]
        if table == "incidents":
            flag = np.array([bool(v) for v in cols[8]])
            changed |= flag != (new["grid_id"] < 0)
        stats.checked += len(rows)
        sel = np.flatnonzero(changed)
        if not len(sel):
            return
        written = np.ones(len(sel), dtype=bool)
        if not dry_run:
            ids = np.array(cols[0], dtype=np.int64)[sel]
            payload: dict[str, Any] = {c: _nullable(new[c][sel]) for c in HIERARCHY}
            payload["id"] = ids.tolist()
            payload["xmin"] = [cols[9][i] for i in sel]
            got = conn.execute(text(_update_sql(table)), payload).all()
            written = np.isin(ids, np.array([r[0] for r in got], dtype=np.int64))
            stats.skipped += int((~written).sum())
        sel = sel[written]
        stats.moved += int(moved[sel].sum())
        stats.hierarchy_only += int((~moved[sel]).sum())
        stats.now_unassigned += int(((new["grid_id"][sel] < 0) & (old["grid_id"][sel] >= 0)).sum())
        stats.now_assigned += int(((new["grid_id"][sel] >= 0) & (old["grid_id"][sel] < 0)).sum())
        pairs = zip(old["grid_id"][sel[moved[sel]]], new["grid_id"][sel[moved[sel]]], strict=True)
        report.moves.update((codes.get(int(a), _NONE), codes.get(int(b), _NONE)) for a, b in pairs)


def _area_ids(engine: Engine, code: str) -> list[int]:
    with engine.connect() as conn:
        ids = conn.execute(text("SELECT id FROM areas WHERE code = :c"), {"c": code}).scalars()
        found = [int(i) for i in ids]
    if not found:
        raise NotFound(f"no area has code {code!r}", field="area")
    return found


def reassign(
    engine: Engine,
    table: str = "all",
    *,
    since: TimeLike | None = None,
    area: str | None = None,
    max_distance_m: float | None = None,
    dry_run: bool = False,
    chunk_rows: int = REASSIGN_CHUNK_ROWS,
    progress: Progress | None = None,
    index: GridIndex | None = None,
) -> ReassignReport:
    """Recompute stored assignments against the areas as they are now; write what changed.

    Works through each table by id ranges of ``chunk_rows``, each range in its own
    transaction, so a long run holds no lock for long and a failure keeps the finished
    ranges. ``since`` limits incidents and visit logs to rows at or after that time, read
    by :func:`gisgrid.times.parse_instant` (a bare date is 00:00 of that city day; the
    other tables follow the current grids and are always checked); ``area`` (a code) limits
    every table to rows inside any version of that area or assigned to one. Give the
    ``max_distance_m`` that the rows were loaded with, or nearest-grid rows lose their grid.
    ``dry_run`` reports what would change and writes nothing. ``progress(table, done, total)``
    counts ids.

    Examples
    --------
    With a running store (``gisgrid db up``):

    >>> from gisgrid.store.engine import make_engine
    >>> from gisgrid.settings import get_settings
    >>> report = reassign(make_engine(get_settings()), "places", dry_run=True)  # doctest: +SKIP
    >>> report.dry_run  # doctest: +SKIP
    True
    """
    started = time.perf_counter()
    tables = _tables(table)
    if chunk_rows < 1:
        raise InvalidInput("must be at least 1", field="chunk_rows")
    if max_distance_m is not None and not max_distance_m > 0:
        raise InvalidInput("must be a positive number of metres", field="max_distance_m")
    since_at = parse_instant(since, "since") if since is not None else None
    area_ids = _area_ids(engine, area) if area is not None else None
    if index is None:
        index = GridIndex.from_areas(engine)
    with translate_db_errors(), engine.connect() as conn:
        codes = {int(i): str(c) for i, c in conn.execute(text("SELECT id, code FROM areas"))}
    report = ReassignReport({t: TableReassign(t) for t in tables}, dry_run=dry_run)
    for name in tables:
        with translate_db_errors(), engine.connect() as conn:
            lo, hi = conn.execute(text(f"SELECT min(id), max(id) FROM {quote_ident(name)}")).one()
        if lo is None:
            if progress:
                progress(name, 0, 0)
            continue
        total = int(hi) - int(lo) + 1
        flags = (since_at is not None, area_ids is not None)
        for start in range(int(lo), int(hi) + 1, chunk_rows):
            params: dict[str, Any] = {"lo": start, "hi": start + chunk_rows}
            if since_at is not None:
                params["since"] = since_at
            if area_ids is not None:
                params["area_ids"] = area_ids
            _reassign_chunk(
                engine, name, index, params, flags, max_distance_m, dry_run, codes, report
            )
            if progress:
                progress(name, min(start + chunk_rows - int(lo), total), total)
    report.seconds = time.perf_counter() - started
    return report
