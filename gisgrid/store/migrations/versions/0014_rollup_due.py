"""rollup_due: the per-grid rollup one row a grid, the due hours of open cases a table apart

Revision ID: 0014_rollup_due
Revises: 0013_rollup

``incident_rollup_grid`` kept a row per grid x sensitive x due hour, so an unfiltered tile
read a row per open case's due hour: at 10M incidents most of the table, and the tiles grew
with the history. Now ``incident_rollup_grid`` is one row a grid (n, open, and ``open_due``:
the open ones with a due time; each again for the sensitive groups) and
``incident_rollup_due`` per due hour x grid x sensitive holds the open cases with a due time;
a reader takes the overdue as ``open_due`` less the hours not yet passed, a short range at
the front of the due-hour key. The triggers and functions are rollup.sql's (a repeatable
step), run here before the fill, with incidents locked against writers, as 0013 did.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gisgrid.sql import load_sql

revision: str = "0014_rollup_due"
down_revision: str | None = "0013_rollup"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _run(name: str) -> None:
    raw = op.get_bind().connection.driver_connection
    raw.execute(load_sql(name))


def upgrade() -> None:
    op.execute("LOCK TABLE incidents IN SHARE ROW EXCLUSIVE MODE")
    _run("rollup_drop")
    op.drop_table("incident_rollup_grid")
    op.create_table(
        "incident_rollup_grid",
        sa.Column("grid_id", sa.BigInteger(), nullable=False),
        *[
            sa.Column(name, sa.Integer(), nullable=False)
            for name in (
                "n",
                "open",
                "open_due",
                "n_sensitive",
                "open_sensitive",
                "open_due_sensitive",
            )
        ],
        sa.PrimaryKeyConstraint("grid_id", name=op.f("pk_incident_rollup_grid")),
    )
    op.create_table(
        "incident_rollup_due",
        sa.Column("due_hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("grid_id", sa.BigInteger(), nullable=False),
        sa.Column("sensitive", sa.Boolean(), nullable=False),
        sa.Column("open", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "due_hour", "grid_id", "sensitive", name=op.f("pk_incident_rollup_due")
        ),
    )
    _run("rollup")
    op.execute("SELECT gisgrid_rollup_derive()")


def downgrade() -> None:
    # back to 0013's table, filled as its gisgrid_rollup_rebuild() did; the triggers go, and
    # rollup.sql's record with them, so the code that runs next installs its own text
    op.execute("LOCK TABLE incidents IN SHARE ROW EXCLUSIVE MODE")
    op.drop_table("incident_rollup_due")
    op.drop_table("incident_rollup_grid")
    op.create_table(
        "incident_rollup_grid",
        sa.Column("grid_id", sa.BigInteger(), nullable=False),
        sa.Column("sensitive", sa.Boolean(), nullable=False),
        sa.Column("due_hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("open", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "grid_id", "sensitive", "due_hour", name=op.f("pk_incident_rollup_grid")
        ),
    )
    _run("rollup_grid_0013")
    _run("rollup_drop")
    op.execute("DELETE FROM gisgrid_sql_state WHERE name = 'rollup'")
