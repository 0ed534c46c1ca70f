"""assignment in the store: gisgrid_assign_point() and the assign triggers

Revision ID: 0002
Revises: 0001

The SQL lives in gisgrid/sql/assign_store.sql (idempotent: a later migration that changes it
runs it again) and gisgrid/sql/assign_store_drop.sql. Functions and triggers are not tables,
so autogenerate neither sees nor compares them: models.py stays the source of truth for tables.
"""

from collections.abc import Sequence

from alembic import op

from gisgrid.sql import load_sql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _run(name: str) -> None:
    # The file holds several statements and dollar-quoted bodies: the driver's simple query
    # protocol runs them as one script, where a prepared statement takes only one.
    raw = op.get_bind().connection.driver_connection
    raw.execute(load_sql(name))


def upgrade() -> None:
    _run("assign_store")


def downgrade() -> None:
    _run("assign_store_drop")
