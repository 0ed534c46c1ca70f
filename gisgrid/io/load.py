"""Load GIS files into the store, all or nothing, and export layers back out.

``load_file`` reads GeoJSON, GeoPackage, Shapefile (also zipped), CSV (lon/lat or WKT) and
GeoParquet; checks every row (vectorised: :mod:`gisgrid.io.checks`); and then either loads
every row in one transaction or raises :class:`gisgrid.errors.LoadError` with every bad row.
Rows travel by COPY into a temporary table and one INSERT ... SELECT per chunk, so the
database does the typing and the indexes once, not a million round trips.

Areas are versioned: a load of areas with ``key="code"`` never overwrites a boundary. A row
whose code is a current area and whose geometry or attributes differ closes that version at
``valid_from`` (default now) and opens a new one from then; unchanged rows stay as they are;
new codes open with ``valid_from``; the registers and open incidents of a replaced grid move
to the new version (:func:`gisgrid.assign.versions.open_versions`, which a plan's publishing
uses too).

``export_layer`` writes GeoPackage, GeoParquet, GeoJSON (RFC 7946) or CSV, filtered by bbox,
by an area's current boundary and by a time range.

The layers, and the fields each requires and accepts, are in :mod:`gisgrid.io.layers`.
"""

from __future__ import annotations

import io as _io
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from sqlalchemy import Engine, text

from gisgrid.assign.store import ASSIGNED_SQL_TYPES, assigned_columns, trigger_off
from gisgrid.assign.versions import STAGED, VersionChange, open_versions, stage_areas
from gisgrid.errors import InvalidInput, LoadError, translate_db_errors
from gisgrid.io.checks import (
    Problems,
    check_duplicates,
    check_geometries,
    check_order,
    gather_extras,
    parse_field,
)
from gisgrid.io.export import EXPORT_FORMATS, export_layer
from gisgrid.io.layers import LAYERS, Layer, get_layer
from gisgrid.io.read import Frame, read_frame
from gisgrid.sql import quote_ident
from gisgrid.times import TimeLike, parse_instant

__all__ = [
    "EXPORT_FORMATS",
    "LAYERS",
    "LoadReport",
    "describe_layers",
    "export_layer",
    "load_file",
    "read_frame",
]

# An upload larger than this is refused before it is read (the API passes its own limit).
MAX_FILE_BYTES = 4 * 1024**3
# Rows per COPY write and per INSERT: big enough that per-statement cost vanishes, small
# enough that the progress bar moves.
CHUNK_ROWS = 200_000
# A load of at least this many rows into a table with fewer rows than the load rebuilds the
# secondary indexes once instead of maintaining them row by row (see _drop_secondary_indexes).
BULK_MIN_ROWS = 50_000
FROM_SYSTEMS = ("gcj02", "bd09")
_TMP = "_gisgrid_load"

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class LoadReport:
    """What a load did."""

    layer: str
    table: str
    path: str
    rows: int
    inserted: int
    updated: int
    repaired: int
    ignored_columns: tuple[str, ...]
    seconds: float
    unchanged: int = 0  # a versioned load of areas: rows equal to the current version
    versions: VersionChange | None = None

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


# -- checking ---------------------------------------------------------------------------------
def match_columns(df: pd.DataFrame, layer: Layer) -> pd.DataFrame:
    """Field names matched without regard to case or surrounding spaces."""
    wanted = {f.lower(): f for f in layer.fields}
    return df.rename(columns={c: wanted.get(str(c).strip().lower(), c) for c in df.columns})


def _parse(
    frame: Frame, layer: Layer, key: str | None, problems: Problems
) -> tuple[dict[str, pd.Series], tuple[str, ...]]:
    df = match_columns(frame.df, layer)
    values: dict[str, pd.Series] = {}
    for name, spec in layer.fields.items():
        if name in df.columns:
            values[name] = parse_field(spec, df[name], problems)
        elif spec.required:
            problems.whole_file(name, f"required column {name!r} is missing from the file")
    # Columns of the table that a file does not set (id, grid ids ... as an export writes
    # them) are ignored; any other unknown column is a place's attribute, or ignored.
    table_columns = {c.name for c in _table_columns(layer)}
    extras = tuple(str(c) for c in df.columns if c not in layer.fields)
    if layer.extras_to and extras:
        foreign = [c for c in extras if c not in table_columns]
        if foreign:
            values[layer.extras_to] = gather_extras(df, foreign, values.get(layer.extras_to))
        extras = tuple(c for c in extras if c in table_columns)
    if key is not None:
        if key not in df.columns:
            problems.whole_file(key, f"key column {key!r} is missing from the file")
        else:
            problems.add(values[key].isna().to_numpy(), key, "is the key: must not be blank")
    check_order(layer, values, problems)
    for col in layer.keys:
        if col in values:
            check_duplicates(values[col], problems, col, frame.row_of)
    return values, extras


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value (for the driver, and for messages)."""
    return value.item() if hasattr(value, "item") else value


def _present(values: pd.Series) -> pd.Series:
    return values[values.notna().to_numpy()]


def _db_checks(
    cur: Any, layer: Layer, values: dict[str, pd.Series], key: str | None, problems: Problems
) -> None:
    """Checks that need the store: referenced rows exist, and no key is stored twice."""
    for name, spec in layer.fields.items():
        if spec.ref is None or name not in values:
            continue
        ref_table, ref_col = spec.ref
        given = _present(values[name])
        distinct = [_plain(v) for v in given.unique()]
        if not distinct:
            continue
        cur.execute(
            f"SELECT {quote_ident(ref_col)} FROM {quote_ident(ref_table)} "
            f"WHERE {quote_ident(ref_col)} = ANY(%s)",
            (distinct,),
        )
        missing = set(distinct) - {r[0] for r in cur.fetchall()}
        if missing:
            where = values[name].isin(missing).to_numpy()
            bad_values = [_plain(v) for v in values[name][where]]
            if ref_table == "incident_categories":
                reasons = [f"unknown {name} {v!r}: not in {ref_table}" for v in bad_values]
            else:
                reasons = [f"no row in {ref_table} has {ref_col} = {v!r}" for v in bad_values]
            problems.add(where, name, reasons)
    for col in layer.keys:
        if col == key or col not in values:
            continue
        distinct = [_plain(v) for v in _present(values[col]).unique()]
        if not distinct:
            continue
        extra = f" AND {layer.key_where[col]}" if col in layer.key_where else ""
        cur.execute(
            f"SELECT {quote_ident(col)} FROM {quote_ident(layer.table)} "
            f"WHERE {quote_ident(col)} = ANY(%s){extra}",
            (distinct,),
        )
        taken = {r[0] for r in cur.fetchall()}
        if taken:
            where = values[col].isin(taken).to_numpy()
            problems.add(
                where,
                col,
                [
                    f"{col} {v!r} is already in {layer.table}; load with key={col!r} to update it"
                    for v in values[col][where]
                ],
            )


# -- writing ----------------------------------------------------------------------------------
def _geom_columns(layer: Layer) -> list[tuple[str, str]]:
    """The temporary table's geometry columns: x/y for points, WKB hex for polygons."""
    if layer.geom == "point":
        return [("__x", "float8"), ("__y", "float8")]
    return [("__wkb", "geometry")]


def _geom_expr(layer: Layer) -> str:
    # Points travel as two numbers: writing and parsing them is several times cheaper than
    # WKB on both sides, and float text round-trips exactly.
    if layer.geom == "point":
        return "ST_SetSRID(ST_MakePoint(t.__x, t.__y), 4326)"
    return "ST_SetSRID(t.__wkb, 4326)"


def _arrow_table(layer: Layer, values: dict[str, pd.Series], geoms: NDArray[np.object_]) -> Any:
    import pyarrow as pa

    cols: dict[str, Any] = {"__row": pa.array(np.arange(len(geoms), dtype=np.int64))}
    for name, series in values.items():
        cols[name] = pa.Array.from_pandas(series.reset_index(drop=True))
    missing = shapely.is_missing(geoms)
    if layer.geom == "point":
        x = np.full(len(geoms), np.nan)
        y = np.full(len(geoms), np.nan)
        x[~missing], y[~missing] = shapely.get_x(geoms[~missing]), shapely.get_y(geoms[~missing])
        cols["__x"] = pa.array(x, from_pandas=True)
        cols["__y"] = pa.array(y, from_pandas=True)
    else:
        cols["__wkb"] = pa.array(shapely.to_wkb(geoms, hex=True), type=pa.string())
    return pa.table(cols)


def _copy_rows(cur: Any, table: Any, columns: list[str]) -> None:
    import pyarrow.csv as pcsv

    options = pcsv.WriteOptions(include_header=False, quoting_style="needed")
    names = ", ".join(quote_ident(c) for c in columns)
    with cur.copy(f"COPY {_TMP} ({names}) FROM STDIN (FORMAT csv)") as copy:
        for start in range(0, table.num_rows, CHUNK_ROWS):
            buf = _io.BytesIO()
            pcsv.write_csv(table.slice(start, CHUNK_ROWS), buf, write_options=options)
            copy.write(buf.getbuffer())


def _insert_sql(layer: Layer, columns: list[str], key: str | None) -> str:
    targets, exprs = [], []
    for name in columns:
        spec = layer.fields.get(name)
        col = f"t.{quote_ident(name)}"
        if spec is not None and spec.default_sql is not None:
            col = f"COALESCE({col}, {spec.default_sql})"
        targets.append(quote_ident(name))
        exprs.append(col)
    for name, spec in layer.fields.items():
        if spec.default_on_load and name not in columns:
            targets.append(quote_ident(name))
            exprs.append(str(spec.default_sql))
    table = quote_ident(layer.table)
    targets.append("geom")
    exprs.append(_geom_expr(layer))
    sql = (
        f"INSERT INTO {table} ({', '.join(targets)}) SELECT {', '.join(exprs)} "
        f"FROM {_TMP} t WHERE t.__row >= %s AND t.__row < %s ORDER BY t.__row"
    )
    if key is not None:
        updates = [
            f"{quote_ident(c)} = EXCLUDED.{quote_ident(c)}" for c in [*columns, "geom"] if c != key
        ]
        all_cols = {c.name for c in _table_columns(layer)}
        if "updated_at" in all_cols:
            updates.append("updated_at = now()")
        if "version" in all_cols:
            # A row changed under a client's feet must fail that client's version check.
            updates.append(f"version = {table}.version + 1")
        where = f" WHERE {layer.key_where[key]}" if key in layer.key_where else ""
        sql += f" ON CONFLICT ({quote_ident(key)}){where} DO UPDATE SET {', '.join(updates)}"
    if key is None:  # every row is new (and a partitioned table has no xmax to return)
        return sql + " RETURNING id, true"
    # xmax = 0 only on a freshly inserted row version: tells inserts from updates.
    return sql + " RETURNING id, (xmax = 0)"


def _table_columns(layer: Layer) -> list[Any]:
    from gisgrid.store import models

    return list(models.Base.metadata.tables[layer.table].columns)


def _after_load(conn: Any, layer: Layer, ids: NDArray[np.int64]) -> None:
    """Hook run inside the load's transaction, after the rows are in, before the commit.

    ``ids`` are the inserted and updated rows' ids. The grid ids are not filled here: they
    travel with the rows (:func:`gisgrid.assign.store.assigned_columns`), so each row is
    written once, and rows a load leaves without them get them from the assign trigger.
    """
    del conn, layer, ids


def _versioned(layer: Layer, key: str | None) -> bool:
    """Areas loaded by code open new versions instead of overwriting the current ones."""
    return layer.table == "areas" and key == "code"


def _check_options(
    layer: Layer, key: str | None, src_crs: Any, from_: str | None, valid_from: TimeLike | None
) -> None:
    if key is not None and key not in layer.keys:
        allowed = ", ".join(layer.keys) if layer.keys else f"none ({layer.table} has no unique"
        raise InvalidInput(
            f"{key!r} is not a unique column of {layer.table}; expected one of {allowed}"
            + (" column: rows can only be appended)" if not layer.keys else ""),
            field="key",
        )
    if valid_from is not None and not _versioned(layer, key):
        raise InvalidInput(
            "applies to a versioned load of areas only (layer areas with key code)",
            field="valid_from",
        )
    if from_ is not None and from_ not in FROM_SYSTEMS:
        raise InvalidInput(
            f"from={from_!r}; expected one of {', '.join(FROM_SYSTEMS)}", field="from"
        )
    if from_ is not None and src_crs is not None:
        raise InvalidInput(
            "GCJ-02/BD-09 input is lon/lat already: give from or crs, not both", field="from"
        )
    if src_crs is not None:
        import pyproj

        try:
            pyproj.CRS.from_user_input(src_crs)
        except pyproj.exceptions.CRSError as exc:
            raise InvalidInput(f"unknown CRS {src_crs!r}: {exc}", field="crs") from exc


def load_file(
    engine: Engine,
    layer: str,
    path: str | Path,
    *,
    key: str | None = None,
    src_crs: Any = None,
    from_: str | None = None,
    make_valid: bool = False,
    lon_col: str = "lon",
    lat_col: str = "lat",
    progress: Progress | None = None,
    max_bytes: int = MAX_FILE_BYTES,
    bulk: bool | None = None,
    max_distance_m: float | None = None,
    valid_from: TimeLike | None = None,
) -> LoadReport:
    """Load a file into a layer's table: every row in one transaction, or nothing.

    Raises :class:`~gisgrid.errors.LoadError` with every bad row ``(row, field, reason)``;
    rows are 1-based feature numbers, or line numbers for CSV (the header is line 1).
    With ``key`` (a unique column such as ``"code"``) a re-load updates instead of adding;
    areas by ``code`` are versioned instead (the module docstring): ``valid_from`` (read by
    :func:`gisgrid.times.parse_instant`; default now) must be after the ``valid_from`` of
    each version it replaces, else InvalidInput naming ``valid_from``; the file's own
    ``valid_from``/``valid_to``/``plan_id`` columns are ignored then.
    ``bulk`` (default: when the load at least doubles a table, from 50,000 rows) rebuilds
    the table's non-unique indexes after the insert, holding an exclusive lock until commit.
    Rows of incidents, visit logs, places, buildings and households are stored with their
    grid and hierarchy ids; a point outside every grid gets none (an incident is flagged
    ``unassigned``) unless ``max_distance_m`` allows the nearest grid within that distance.

    Examples
    --------
    With a running store (``gisgrid db up``), a CSV of two shops, the second one bad:

    >>> import tempfile
    >>> from gisgrid.store.engine import make_engine
    >>> from gisgrid.settings import get_settings
    >>> engine = make_engine(get_settings())
    >>> path = Path(tempfile.mkdtemp()) / "shops.csv"
    >>> _ = path.write_text("code,kind,name,lon,lat\\n"
    ...                     "S1,small_shop,Pharmacy,126.6,45.7\\n"
    ...                     "S2,shop,Bakery,45.7,126.6\\n")
    >>> load_file(engine, "places", path)  # doctest: +SKIP
    Traceback (most recent call last):
    ...
    gisgrid.errors.LoadError: places.geom: 2 bad rows; row 3: lon/lat swapped? ...
    >>> load_file(engine, "households", path, key="code")
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: key: 'code' is not a unique column of households; \
expected one of none (households has no unique column: rows can only be appended)
    """
    started = time.perf_counter()
    spec = get_layer(layer)
    path = Path(path)
    _check_options(spec, key, src_crs, from_, valid_from)
    if not path.exists():
        raise InvalidInput(f"no such file: {path}", field="file")
    size = path.stat().st_size
    if size > max_bytes:
        raise InvalidInput(f"is {size:,} bytes; at most {max_bytes:,}", field="file")

    frame = read_frame(path, spec, lon_col=lon_col, lat_col=lat_col, src_crs=src_crs)
    problems = frame.pre_bad
    # Rows whose lon/lat did not parse already have their error; no geometry to check.
    skip = problems.bad()
    values, ignored = _parse(frame, spec, key, problems)
    versioned = _versioned(spec, key)
    at = None
    if versioned:
        at = parse_instant(valid_from, "valid_from") if valid_from else datetime.now(UTC)
        dropped = tuple(c for c in ("valid_from", "valid_to", "plan_id") if c in values)
        for c in dropped:
            del values[c]
        ignored += dropped
    geoms, repaired = check_geometries(
        frame.geoms,
        spec,
        problems,
        make_valid=make_valid,
        labels=frame.labels,
        from_=from_,
        skip=skip,
    )
    n = len(geoms)
    if not len(problems):
        times = values.get(spec.time_column) if spec.time_column else None
        values.update(
            assigned_columns(engine, spec.table, geoms, times, max_distance_m=max_distance_m)
        )
    with translate_db_errors(), engine.connect() as conn, conn.begin():
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cur:
            _db_checks(cur, spec, values, key, problems)
            if len(problems):
                raise LoadError(problems.rows(frame.row_of), table=spec.table)
            if at is not None:
                _copy_to_tmp(cur, spec, values, geoms)
            else:
                inserted, ids = _write(cur, spec, values, geoms, key, progress, bulk)
        change = None
        if at is not None:
            change = _write_versions(conn, spec, list(values), at)
            ids = np.array(sorted(change.opened.values()), dtype=np.int64)
            # the file's rows: new codes, and replaced versions (not the ones below them
            # that were reopened unchanged)
            inserted = len(change.opened) - len(change.replaced)
            updated = len(change.replaced) - change.cascaded
        else:
            updated = len(ids) - inserted
        _after_load(conn, spec, ids)
    return LoadReport(
        layer=spec.name,
        table=spec.table,
        path=str(path),
        rows=n,
        inserted=inserted,
        updated=updated,
        repaired=repaired,
        ignored_columns=ignored,
        seconds=time.perf_counter() - started,
        unchanged=n - inserted - updated if change is not None else 0,
        versions=change,
    )


# The attributes a versioned load compares and carries (the geometry too); a column the
# file lacks is carried over from the version it replaces.
_VERSIONED_ATTRIBUTES = ("name", "level", "parent_id", "responsible", "households", "population")


def _write_versions(conn: Any, layer: Layer, columns: list[str], at: datetime) -> VersionChange:
    """Open new versions of the file's changed and new areas (the temporary table), closing
    the current versions they replace; unchanged rows are left alone."""
    given = [c for c in _VERSIONED_ATTRIBUTES if c in columns]

    def value(c: str) -> str:
        spec = layer.fields[c]
        col = f"t.{quote_ident(c)}"
        return f"COALESCE({col}, {spec.default_sql})" if spec.default_sql else col

    differs = " OR ".join(
        ["NOT ST_Equals(a.geom, ST_SetSRID(t.__wkb, 4326))"]
        + [f"{value(c)} IS DISTINCT FROM a.{quote_ident(c)}" for c in given]
    )
    changed = [
        int(i)
        for i in conn.execute(
            text(
                f"SELECT a.id FROM {_TMP} t JOIN areas a ON a.code = t.code "
                f"AND a.valid_to IS NULL WHERE {differs}"
            )
        ).scalars()
    ]
    stage_areas(conn)
    picks = ", ".join(
        value(c) if c in given else f"a.{quote_ident(c)}" for c in _VERSIONED_ATTRIBUTES
    )
    conn.execute(
        text(
            f"INSERT INTO {STAGED} (code, {', '.join(_VERSIONED_ATTRIBUTES)}, geom) "
            f"SELECT t.code, {picks}, ST_SetSRID(t.__wkb, 4326) FROM {_TMP} t "
            "LEFT JOIN areas a ON a.code = t.code AND a.valid_to IS NULL "
            "WHERE a.id IS NULL OR a.id = ANY(:changed) ORDER BY t.__row"
        ),
        {"changed": changed},
    )
    return open_versions(conn, at, changed)


def _copy_to_tmp(
    cur: Any, layer: Layer, values: dict[str, pd.Series], geoms: NDArray[np.object_]
) -> None:
    """The checked rows into the temporary table the INSERT (or the versioning) reads."""
    columns = list(values)
    types = {
        c: (layer.fields[c].sql_type if c in layer.fields else ASSIGNED_SQL_TYPES[c])
        for c in columns
    }
    defs = [f"{quote_ident(c)} {types[c]}" for c in columns]
    defs += [f"{name} {sql_type}" for name, sql_type in _geom_columns(layer)]
    # Times travel as UTC text; the session zone must not reinterpret them.
    cur.execute("SET LOCAL TimeZone = 'UTC'")
    if "grid_id" in values:
        trigger_off(cur)  # the ids are in the rows, nearest-grid ones included
    cur.execute(f"CREATE TEMP TABLE {_TMP} (__row bigint, {', '.join(defs)}) ON COMMIT DROP")
    _copy_rows(
        cur,
        _arrow_table(layer, values, geoms),
        ["__row", *columns] + [name for name, _ in _geom_columns(layer)],
    )
    cur.execute(f"CREATE INDEX ON {_TMP} (__row)")


def _write(
    cur: Any,
    layer: Layer,
    values: dict[str, pd.Series],
    geoms: NDArray[np.object_],
    key: str | None,
    progress: Progress | None,
    bulk: bool | None,
) -> tuple[int, NDArray[np.int64]]:
    n = len(geoms)
    _copy_to_tmp(cur, layer, values, geoms)
    columns = list(values)
    if bulk is None:
        bulk = n >= BULK_MIN_ROWS and _rows_up_to(cur, layer.table, n) < n
    rebuild = _drop_secondary_indexes(cur, layer.table) if bulk else []
    if layer.table == "incidents" and "reported_at" in values:
        # the months the rows need, made before they arrive (gisgrid.store.partitions)
        cur.execute(
            f"SELECT gisgrid_incident_partitions(min(reported_at), max(reported_at)) FROM {_TMP}"
        )
    sql = _insert_sql(layer, columns, key)
    ids: list[NDArray[np.int64]] = []
    inserted = 0
    if progress:
        progress(0, n)
    for start in range(0, n, CHUNK_ROWS):
        cur.execute(sql, (start, start + CHUNK_ROWS))
        got = cur.fetchall()
        if got:
            arr = np.array(got, dtype=np.int64)
            ids.append(arr[:, 0])
            inserted += int(arr[:, 1].sum())
        if progress:
            progress(min(start + CHUNK_ROWS, n), n)
    for definition in rebuild:
        cur.execute(definition)
    return inserted, (np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64))


def _rows_up_to(cur: Any, table: str, limit: int) -> int:
    """The table's row count, counted no further than ``limit`` (cheap on a big table)."""
    cur.execute(f"SELECT count(*) FROM (SELECT 1 FROM {quote_ident(table)} LIMIT %s) s", (limit,))
    return int(cur.fetchone()[0])


def _drop_secondary_indexes(cur: Any, table: str) -> list[str]:
    """Drop the table's non-unique indexes; returns the statements that re-create them.

    Maintaining eight indexes row by row costs more than building them once when a load
    at least doubles a table (measured in bench/load.py). Unique and constraint indexes
    stay: they enforce keys and serve ON CONFLICT. DDL is transactional, so a failed load
    gets its indexes back with the rollback. The price is an exclusive lock on the table
    until the commit, which is why this is only automatic when the table is small.
    """
    cur.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid = %s::regclass AND NOT i.indisunique AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
        (quote_ident(table),),
    )
    found = cur.fetchall()
    for name, _ in found:
        cur.execute(f"DROP INDEX {name}")
    # a partitioned table's index is ON ONLY the parent; re-created ON it, on every partition
    return [definition.replace(" ON ONLY ", " ON ") for _, definition in found]


def describe_layers() -> dict[str, dict[str, list[str]]]:
    """Which fields each layer requires and accepts (for help texts and the API).

    Examples
    --------
    >>> describe_layers()["places"]["required"]
    ['geom', 'kind', 'name']
    """
    return {
        name: {
            "required": (["geom"] if lay.geom_required else []) + lay.required,
            "accepted": lay.accepted + ([] if lay.geom_required else ["geom"]),
            "keys": list(lay.keys),
        }
        for name, lay in LAYERS.items()
    }
