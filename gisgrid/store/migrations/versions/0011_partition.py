"""incidents partitioned by month of reported_at; incident_keys holds what is unique

Revision ID: 0011_partition
Revises: 0010

A city reports millions of incidents a year, and nearly every read asks for a time range:
``incidents`` becomes a range-partitioned table on ``reported_at``, one partition per city
month (Asia/Shanghai, so a month's query reads one partition), named ``incidents_pYYYYMM``,
plus ``incidents_default`` for a time no partition covers yet. The partitions span the
data's months and the next twelve; ``gisgrid_incident_partitions(lo, hi)``
(gisgrid/sql/partitions.sql) makes more, and a load or the sweeper calls it ahead of time.

A unique constraint on a partitioned table must contain the partition key, so:

- the primary key is ``(id, reported_at)``;
- what must be unique over every month moves to ``incident_keys (id PRIMARY KEY, code
  UNIQUE, reporter_id, idempotency_key)`` with the unique index
  ``ux_incidents_reporter_idempotency`` (intake's resend rule keeps its name), kept by
  triggers on incidents: an insert or a key change upserts the row (an UPDATE that moves a
  case to another month is a DELETE and an INSERT underneath, the INSERT upserts), a second
  live row with an existing id is refused as ``pk_incidents``, and a DELETE statement drops the
  keys of the ids it removed;
- ``incident_events.incident_id`` references ``incident_keys(id) ON DELETE CASCADE``:
  deleting a case still deletes its events.

Upgrade: rename the table away, create the partitioned parent like it, its partitions, move
the rows with one INSERT ... SELECT, then build the indexes on the parent (each partition
builds its own) and re-add the constraints; drop the old table. The function files are
installed again after the upgrade (their triggers went with the old table).
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from gisgrid.sql import load_sql

revision: str = "0011_partition"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AHEAD = "12 months"
UNIQUE_KEY = "ux_incidents_reporter_idempotency"

# indexes on incidents that are not constraints, as pg_get_indexdef gives them
_INDEX_DEFS = """
SELECT c.relname, pg_get_indexdef(i.indexrelid)
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = CAST(:t AS regclass)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
ORDER BY c.relname
"""
_CONSTRAINTS = """
SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid = CAST(:t AS regclass) AND contype IN ('f', 'p', 'u')
ORDER BY conname
"""


def _ddl(sql: str) -> None:
    op.execute(sa.text(sql))


def _script(name: str) -> None:
    """A SQL file of several statements and dollar-quoted bodies, as one script."""
    raw = op.get_bind().connection.driver_connection
    assert raw is not None
    raw.execute(load_sql(name))


def _set_aside(partition_by: str = "") -> tuple[Sequence[Any], Sequence[Any]]:
    """Drop incidents' indexes and constraints (returned, to make again), rename the table
    ``incidents_old`` and create an empty ``incidents`` like it (``partition_by``: its
    PARTITION BY clause); the id sequence moves to the new table."""
    conn = op.get_bind()
    conn.execute(sa.text("SET LOCAL maintenance_work_mem = '512MB'"))
    indexes = conn.execute(sa.text(_INDEX_DEFS), {"t": "incidents"}).all()
    constraints = conn.execute(sa.text(_CONSTRAINTS), {"t": "incidents"}).all()
    for name, _ in indexes:
        _ddl(f'DROP INDEX "{name}"')
    for name, _, _ in constraints:
        _ddl(f'ALTER TABLE incidents DROP CONSTRAINT "{name}"')
    _ddl("ALTER TABLE incidents RENAME TO incidents_old")
    _ddl("ALTER SEQUENCE incidents_id_seq OWNED BY NONE")
    _ddl(
        "CREATE TABLE incidents (LIKE incidents_old INCLUDING DEFAULTS INCLUDING CONSTRAINTS"
        f" INCLUDING STORAGE INCLUDING COMMENTS) {partition_by}"
    )
    _ddl("ALTER SEQUENCE incidents_id_seq OWNED BY incidents.id")
    return indexes, constraints


def upgrade() -> None:
    _ddl("ALTER TABLE incident_events DROP CONSTRAINT fk_incident_events_incident_id")
    indexes, constraints = _set_aside("PARTITION BY RANGE (reported_at)")
    _ddl("CREATE TABLE incidents_default PARTITION OF incidents DEFAULT")
    _script("partitions")  # the function that makes months, used right here
    # its key triggers come back with the function files after the upgrade; the rows moved
    # here fill incident_keys in one INSERT below, not row by row
    _ddl("DROP TRIGGER gisgrid_incident_keys_upsert ON incidents")
    _ddl("DROP TRIGGER gisgrid_incident_keys_delete ON incidents")
    _ddl(
        "SELECT gisgrid_incident_partitions("
        f" LEAST((SELECT min(reported_at) FROM incidents_old), now()),"
        f" GREATEST((SELECT max(reported_at) FROM incidents_old), now()) + interval '{AHEAD}')"
    )
    _ddl("INSERT INTO incidents SELECT * FROM incidents_old")
    _ddl("DROP TABLE incidents_old")

    _ddl("ALTER TABLE incidents ADD CONSTRAINT pk_incidents PRIMARY KEY (id, reported_at)")
    for name, ddl in indexes:
        if name != UNIQUE_KEY:
            _ddl(ddl)
    for name, kind, ddl in constraints:
        if kind == "f":
            _ddl(f'ALTER TABLE incidents ADD CONSTRAINT "{name}" {ddl}')

    _ddl(
        "CREATE TABLE incident_keys (id bigint NOT NULL, code varchar(40),"
        " reporter_id bigint, idempotency_key varchar(64),"
        " CONSTRAINT pk_incident_keys PRIMARY KEY (id),"
        " CONSTRAINT uq_incidents_code UNIQUE (code))"
    )
    _ddl(
        "INSERT INTO incident_keys (id, code, reporter_id, idempotency_key)"
        " SELECT id, code, reporter_id, idempotency_key FROM incidents"
    )
    _ddl(
        f"CREATE UNIQUE INDEX {UNIQUE_KEY} ON incident_keys (reporter_id, idempotency_key)"
        " WHERE idempotency_key IS NOT NULL"
    )
    _ddl(
        "ALTER TABLE incident_events ADD CONSTRAINT fk_incident_events_incident_id"
        " FOREIGN KEY (incident_id) REFERENCES incident_keys (id) ON DELETE CASCADE"
    )
    # every function file again: the assign triggers went with the old table
    _ddl("DELETE FROM gisgrid_sql_state")


def downgrade() -> None:
    _script("partitions_drop")
    _ddl("DROP TABLE incident_keys CASCADE")  # and the events' foreign key to it
    indexes, constraints = _set_aside()
    _ddl("INSERT INTO incidents SELECT * FROM incidents_old")
    _ddl("DROP TABLE incidents_old CASCADE")
    _ddl("ALTER TABLE incidents ADD CONSTRAINT pk_incidents PRIMARY KEY (id)")
    _ddl("ALTER TABLE incidents ADD CONSTRAINT uq_incidents_code UNIQUE (code)")
    for _, ddl in indexes:
        _ddl(ddl.replace(" ON ONLY ", " ON "))
    _ddl(
        f"CREATE UNIQUE INDEX {UNIQUE_KEY} ON incidents (reporter_id, idempotency_key)"
        " WHERE idempotency_key IS NOT NULL"
    )
    for name, kind, ddl in constraints:
        if kind == "f":
            _ddl(f'ALTER TABLE incidents ADD CONSTRAINT "{name}" {ddl}')
    _ddl(
        "ALTER TABLE incident_events ADD CONSTRAINT fk_incident_events_incident_id"
        " FOREIGN KEY (incident_id) REFERENCES incidents (id) ON DELETE CASCADE"
    )
    _ddl("DELETE FROM gisgrid_sql_state")
