"""assign triggers that pg_restore can re-create

Revision ID: 0007
Revises: 0006

The update triggers of gisgrid/sql/assign_store.sql compared points with
``OLD.geom IS DISTINCT FROM NEW.geom``. pg_dump cannot schema-qualify the operator of an
IS DISTINCT FROM, and pg_restore runs with an empty search_path, so restoring any backup
failed at the first of them ("operator is not unique: geometry = geometry"). The file now
compares the points' EWKB (``::bytea``); this runs it again, as its header asks of a
migration that changes it. Downgrading keeps the new triggers: they decide the same.
"""

from collections.abc import Sequence

from alembic import op

from gisgrid.sql import load_sql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    raw = op.get_bind().connection.driver_connection
    raw.execute(load_sql("assign_store"))


def downgrade() -> None:
    pass
