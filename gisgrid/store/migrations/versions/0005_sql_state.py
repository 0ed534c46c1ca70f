"""gisgrid_sql_state: which text of each function file the store runs

Revision ID: 0005
Revises: 0004

From here on the function files (gisgrid/sql/assign_store.sql, tiles.sql) are a repeatable
step, not a migration: after every upgrade to head, gisgrid.store.functions re-installs each
file whose sha256 differs from the one recorded here. Dropping the table on the way down
forgets every checksum, so the next upgrade installs the files again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gisgrid_sql_state",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "installed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_gisgrid_sql_state")),
    )


def downgrade() -> None:
    op.drop_table("gisgrid_sql_state")
