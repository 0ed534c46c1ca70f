"""tiles: tile_dirty, the log of where incident writes landed, for per-tile invalidation

Revision ID: 0012_invalidate
Revises: 0011_partition

Each statement that writes incidents logs the points and grids of the rows it touched (old
and new) under the incidents counter it bumped; a tile server reads what changed since the
counter it last saw and dirties only the tiles those points and areas reach
(:mod:`gisgrid.tiles.dirty`). The triggers live in gisgrid/sql/tile_dirty.sql, a repeatable
step (gisgrid.store.functions); on the way down this migration drops them and forgets the
file's checksum, so the next upgrade installs it again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gisgrid.sql import load_sql

revision: str = "0012_invalidate"
down_revision: str | None = "0011_partition"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tile_dirty",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("grid_id", sa.BigInteger(), nullable=True),
        sa.Column("everything", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tile_dirty")),
    )
    op.create_index("ix_tile_dirty_seq", "tile_dirty", ["seq"])


def downgrade() -> None:
    op.get_bind().connection.driver_connection.execute(load_sql("tile_dirty_drop"))
    op.execute("DELETE FROM gisgrid_sql_state WHERE name = 'tile_dirty'")
    op.execute("DELETE FROM tile_versions WHERE layer = 'incidents_log'")
    op.drop_index("ix_tile_dirty_seq", table_name="tile_dirty")
    op.drop_table("tile_dirty")
