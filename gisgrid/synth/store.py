"""Write a generated city into PostGIS with COPY, in one transaction."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, Engine, text

from gisgrid.errors import Conflict, translate_db_errors
from gisgrid.sql import quote_ident
from gisgrid.store.partitions import ensure_months
from gisgrid.synth.city import City

# Load order (parents first) and the columns written for each table.
TABLES: dict[str, list[str]] = {
    "incident_categories": ["code", "parent_code", "name_zh", "name_en", "sla_hours", "unit_kind"],
    "areas": ["id", "code", "name", "level", "parent_id", "households", "population",
              "valid_from", "geom"],
    "units": ["id", "code", "name", "kind", "categories", "available", "phone", "area_id", "geom"],
    "accounts": ["id", "username", "display_name", "role", "scope_area_id", "unit_id"],
    "buildings": ["id", "code", "address", "floors", "household_count", "use", "geom",
                  "grid_id", "community_id", "street_id", "district_id"],
    "households": ["id", "building_id", "address", "unit_no", "size", "geom",
                   "grid_id", "community_id", "street_id", "district_id"],
    "residents": ["id", "household_id", "name", "id_hash", "birth_year", "sex", "tags",
                  "grid_id", "community_id", "street_id", "district_id"],
    "places": ["id", "code", "kind", "name", "address", "building_id", "geom",
               "grid_id", "community_id", "street_id", "district_id"],
    "incidents": ["id", "code", "category", "description", "address", "source", "reported_at",
                  "reporter_id", "reporter_name", "status", "escalation_level", "priority",
                  "assigned_unit_id", "due_at", "closed_at", "updated_at", "version", "geom",
                  "grid_id", "community_id", "street_id", "district_id"],
    "incident_events": ["id", "incident_id", "at", "actor_id", "from_status", "to_status",
                        "unit_id", "note"],
    "visit_logs": ["id", "worker_id", "subject_type", "subject_id", "visited_at", "note",
                   "need_category", "mood", "geom", "grid_id", "community_id", "street_id",
                   "district_id"],
}  # fmt: skip
CHUNK = 200_000
# the tables a streamed city (City.incident_chunks) writes chunk by chunk
STREAMED = ("incidents", "incident_events")


def _pg_array(values: Any) -> str:
    items = list(values) if values is not None else []
    return "{" + ",".join('"' + str(v).replace('"', '\\"') + '"' for v in items) + "}"


def _csv_chunk(df: pd.DataFrame, columns: list[str]) -> str:
    out = pd.DataFrame(index=df.index)
    for c in columns:
        col = df[c]
        if c in ("geom", "service_area"):
            g = shapely.set_srid(np.asarray(col.to_numpy(), dtype=object), 4326)
            out[c] = shapely.to_wkb(g, hex=True, include_srid=True)
        elif c in ("tags", "categories", "photos"):
            out[c] = [_pg_array(v) for v in col]
        elif col.dtype.kind == "f" and (c == "id" or c.endswith("_id")):
            out[c] = col.astype("Int64")  # NaN made an integer column float
        elif isinstance(col.dtype, pd.DatetimeTZDtype):
            out[c] = col.dt.strftime("%Y-%m-%dT%H:%M:%S%z").where(col.notna(), None)
        elif col.dtype == object and len(col) and isinstance(col.iloc[0], pd.Timestamp):
            out[c] = pd.to_datetime(col, utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S%z")
        else:
            out[c] = col
    buf = io.StringIO()
    out.to_csv(buf, header=False, index=False)
    return buf.getvalue()


def copy_frame(
    conn: Connection,
    table: str,
    df: pd.DataFrame,
    columns: list[str],
    progress: Callable[[int], None] | None = None,
) -> int:
    """COPY a DataFrame into a table (CSV; geometries as hex EWKB)."""
    raw = conn.connection.driver_connection
    assert raw is not None
    cols = ", ".join(quote_ident(c) for c in columns)
    sql = f"COPY {quote_ident(table)} ({cols}) FROM STDIN WITH (FORMAT csv)"
    with raw.cursor() as cur, cur.copy(sql) as cp:
        for start in range(0, len(df), CHUNK):
            part = df.iloc[start : start + CHUNK]
            cp.write(_csv_chunk(part, columns))
            if progress:
                progress(len(part))
    return len(df)


def store_is_empty(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(text("SELECT NOT EXISTS (SELECT 1 FROM areas)")).scalar_one()


def clear(conn: Connection) -> None:
    names = ", ".join(quote_ident(t) for t in [*TABLES, "incident_keys", "plans", "plan_areas"])
    conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


_FK_SQL = """
SELECT c.conrelid::regclass::text AS tbl, c.conname, pg_get_constraintdef(c.oid) AS def
FROM pg_constraint c
WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
  AND c.conrelid::regclass::text = ANY(:tables)
"""
_UQ_SQL = """
SELECT c.conrelid::regclass::text AS tbl, c.conname, pg_get_constraintdef(c.oid) AS def
FROM pg_constraint c
WHERE c.contype = 'u' AND c.connamespace = 'public'::regnamespace
  AND c.conrelid::regclass::text = ANY(:tables)
"""
# Plain indexes: not the ones that back a primary key, unique or exclusion constraint.
_IX_SQL = """
SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
FROM pg_index i
WHERE i.indrelid::regclass::text = ANY(:tables)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
"""


def _drop_for_bulk(conn: Connection, tables: list[str]) -> list[str]:
    """Drop foreign keys, unique constraints and plain indexes; return the DDL that restores
    them. Building an index once over loaded rows, and checking a foreign key with one join,
    is many times faster than maintaining them row by row during COPY (pg_restore's order)."""
    params = {"tables": tables}
    fks = conn.execute(text(_FK_SQL), params).all()
    uqs = conn.execute(text(_UQ_SQL), params).all()
    ixs = conn.execute(text(_IX_SQL), params).all()
    for tbl, name, _ in fks:
        conn.execute(text(f"ALTER TABLE {quote_ident(tbl)} DROP CONSTRAINT {quote_ident(name)}"))
    for tbl, name, _ in uqs:
        conn.execute(text(f"ALTER TABLE {quote_ident(tbl)} DROP CONSTRAINT {quote_ident(name)}"))
    for name, _ in ixs:
        conn.execute(text(f"DROP INDEX {quote_ident(name)}"))
    # a partitioned table's index is defined ON ONLY the parent; restored over it, it is built
    # on every partition
    restore = [d.replace(" ON ONLY ", " ON ") for _, d in ixs]
    restore += [
        f"ALTER TABLE {quote_ident(t)} ADD CONSTRAINT {quote_ident(n)} {d}" for t, n, d in uqs
    ]
    restore += [
        f"ALTER TABLE {quote_ident(t)} ADD CONSTRAINT {quote_ident(n)} {d}" for t, n, d in fks
    ]
    return restore


def _partitions_for(conn: Connection, df: pd.DataFrame) -> None:
    """Make the months a chunk of incidents needs before it is copied (migration 0011)."""
    if len(df):
        times = df["reported_at"]
        ensure_months(conn, times.min().to_pydatetime(), times.max().to_pydatetime())


def _copy_table(
    conn: Connection,
    table: str,
    df: pd.DataFrame,
    columns: list[str],
    progress: Callable[[str, int, int], None] | None,
) -> int:
    done = 0

    def tick(k: int) -> None:
        nonlocal done
        done += k
        if progress:
            progress(table, done, len(df))

    n = copy_frame(conn, table, df, columns, tick)
    if progress and len(df) == 0:
        progress(table, 0, 0)
    return n


def _copy_streamed(
    conn: Connection, city: City, progress: Callable[[str, int, int], None] | None
) -> dict[str, int]:
    """COPY the incidents and their events a chunk (a month) at a time, as generated."""
    assert city.incident_chunks is not None
    n_inc = n_ev = 0
    for inc, ev in city.incident_chunks:
        _partitions_for(conn, inc)
        n_inc += copy_frame(conn, "incidents", inc, TABLES["incidents"])
        n_ev += copy_frame(conn, "incident_events", ev, TABLES["incident_events"])
        if progress:
            progress("incidents", n_inc, city.incident_count)
    return {"incidents": n_inc, "incident_events": n_ev}


def write_city(
    engine: Engine,
    city: City,
    replace: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, int]:
    """Load every table of the city in one transaction; all or nothing."""
    counts: dict[str, int] = {}
    with translate_db_errors(), engine.begin() as conn:
        if replace:
            clear(conn)
        elif not conn.execute(text("SELECT NOT EXISTS (SELECT 1 FROM areas)")).scalar_one():
            raise Conflict("the store already holds a city; pass replace=True", field="areas")
        conn.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
        restore = _drop_for_bulk(conn, list(TABLES))
        # incident_keys is filled once after the copy, not row by row by its trigger
        conn.execute(text("ALTER TABLE incidents DISABLE TRIGGER gisgrid_incident_keys_upsert"))
        for table, columns in TABLES.items():
            if table in STREAMED and city.incident_chunks is not None:
                if table == "incidents":
                    counts.update(_copy_streamed(conn, city, progress))
            else:
                if table == "incidents":
                    _partitions_for(conn, city.tables[table])
                counts[table] = _copy_table(conn, table, city.tables[table], columns, progress)
            if "id" in columns:
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"GREATEST((SELECT max(id) FROM {quote_ident(table)}), 1))"
                    )
                )
        conn.execute(
            text(
                "INSERT INTO incident_keys (id, code, reporter_id, idempotency_key)"
                " SELECT id, code, reporter_id, idempotency_key FROM incidents"
            )
        )
        conn.execute(text("ALTER TABLE incidents ENABLE TRIGGER gisgrid_incident_keys_upsert"))
        for i, ddl in enumerate(restore, start=1):
            conn.execute(text(ddl))
            if progress:
                progress("indexes and keys", i, len(restore))
    with engine.connect() as conn:
        auto = conn.execution_options(isolation_level="AUTOCOMMIT")
        # VACUUM sets the visibility map, so tiles count incidents by index-only scans
        auto.execute(text("VACUUM (ANALYZE) incidents"))
        auto.execute(text("ANALYZE"))
    return counts
