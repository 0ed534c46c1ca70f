"""tiles: tile_versions, the triggers that bump it, and the MVT tile functions

Revision ID: 0004
Revises: 0003

The functions and triggers live in gisgrid/sql/tiles.sql (idempotent: a later migration that
changes them runs it again) and gisgrid/sql/tiles_drop.sql.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gisgrid.sql import load_sql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _run(name: str) -> None:
    raw = op.get_bind().connection.driver_connection
    raw.execute(load_sql(name))


def upgrade() -> None:
    op.create_table(
        "tile_versions",
        sa.Column("layer", sa.String(length=32), nullable=False),
        sa.Column("version", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("layer", name=op.f("pk_tile_versions")),
    )
    # tiles count a grid's incidents from the index alone (index-only scans)
    op.drop_index("ix_incidents_grid_time", table_name="incidents")
    op.create_index(
        "ix_incidents_grid_time",
        "incidents",
        ["grid_id", "reported_at"],
        postgresql_include=["category", "status", "due_at"],
    )
    op.create_index(
        "ix_incidents_open_due",
        "incidents",
        ["due_at"],
        postgresql_where=sa.text("status NOT IN ('closed', 'rejected')"),
    )
    _run("tiles")


def downgrade() -> None:
    _run("tiles_drop")
    op.drop_index("ix_incidents_open_due", table_name="incidents")
    op.drop_index("ix_incidents_grid_time", table_name="incidents")
    op.create_index("ix_incidents_grid_time", "incidents", ["grid_id", "reported_at"])
    op.drop_table("tile_versions")
