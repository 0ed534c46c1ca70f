"""rollup: incident counts per grid x day x category x state, kept by the writer's triggers

Revision ID: 0013_rollup
Revises: 0012_invalidate

Tiles at low zoom, the area counts and the hotspot cube read these instead of every incident
row, so their cost follows the number of grids and days, not the length of the history. The
triggers and functions live in gisgrid/sql/rollup.sql (a repeatable step); this migration
runs it too, in its own transaction and before the fill, with incidents locked against
writers, so no write falls between the fill and the first trigger. ``areas`` gains a
grid's label point in Web Mercator (``label_x``, ``label_y``, generated from the geometry):
where a low-zoom cluster or hexagon puts a grid's incidents.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gisgrid.sql import load_sql

revision: str = "0013_rollup"
down_revision: str | None = "0012_invalidate"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LABEL_X = "6378137.0 * radians(ST_X(ST_PointOnSurface(geom)))"
LABEL_Y = "6378137.0 * ln(tan(pi() / 4 + radians(ST_Y(ST_PointOnSurface(geom))) / 2))"


def _run(name: str) -> None:
    raw = op.get_bind().connection.driver_connection
    raw.execute(load_sql(name))


def upgrade() -> None:
    op.add_column("areas", sa.Column("label_x", sa.Float(), sa.Computed(LABEL_X, persisted=True)))
    op.add_column("areas", sa.Column("label_y", sa.Float(), sa.Computed(LABEL_Y, persisted=True)))
    op.create_table(
        "incident_rollup",
        sa.Column("grid_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("due_hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("on_spot", sa.Boolean(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("handling_s", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "grid_id",
            "day",
            "category",
            "status",
            "due_hour",
            "late",
            "on_spot",
            name=op.f("pk_incident_rollup"),
        ),
    )
    op.create_index("ix_incident_rollup_day", "incident_rollup", ["day"])
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
    op.execute("LOCK TABLE incidents IN SHARE ROW EXCLUSIVE MODE")
    # rollup.sql is today's text, which may name tables of later migrations (0014's
    # incident_rollup_due): its bodies are checked when called, and only the cube, whose
    # shape is this migration's, is filled through it
    op.execute("SET LOCAL check_function_bodies = off")
    _run("rollup_drop")
    _run("rollup")
    op.execute("SELECT gisgrid_rollup_fill_cube()")
    _run("rollup_grid_0013")


def downgrade() -> None:
    _run("rollup_drop")
    op.drop_table("incident_rollup_grid")
    op.drop_index("ix_incident_rollup_day", table_name="incident_rollup")
    op.drop_table("incident_rollup")
    op.drop_column("areas", "label_y")
    op.drop_column("areas", "label_x")
