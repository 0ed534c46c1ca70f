"""plans: every grid code a plan has issued, so a retired draft code is never issued again

Revision ID: 0010
Revises: 0009

A plan's edits give new grids the next free code of their community. A draft grid that is
merged away leaves ``plan_areas``, and with it the plan's memory of its code; ``issued_codes``
keeps every code the plan ever gave out, so the next free code skips it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "plans",
        sa.Column(
            "issued_codes",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("plans", "issued_codes")
