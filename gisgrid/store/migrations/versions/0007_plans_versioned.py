"""plans: a version for If-Match, the boundary version a plan started from, its diff

Revision ID: 0007
Revises: 0006

A plan redraws the grids under one parent area. It records the parent's current grids when it
started (``base_grid_ids``) and the newest ``valid_from`` among them (``base_version``), so a
plan whose parent has been redrawn since is stale and cannot be published. ``version`` is
raised by every edit (the ETag of the plan; an edit sends it back in If-Match). A draft grid
knows the community it falls under (``plan_areas.parent_id``), and each area version knows the
plan that opened it (``areas.plan_id``), so a stale plan's 409 can name the newer version.
Codes are unique within a plan.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "plans", sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False)
    )
    op.create_check_constraint(op.f("ck_plans_version"), "plans", "version >= 1")
    op.add_column(
        "plans",
        sa.Column(
            "base_grid_ids",
            postgresql.ARRAY(sa.BigInteger()),
            server_default=sa.text("'{}'::bigint[]"),
            nullable=False,
        ),
    )
    op.add_column("plans", sa.Column("base_version", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "plans",
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )
    for name in ("diff", "weights"):
        op.add_column(
            "plans",
            sa.Column(
                name,
                postgresql.JSONB(astext_type=sa.Text()),
                server_default=sa.text("'{}'::jsonb"),
                nullable=False,
            ),
        )
    op.create_index(op.f("ix_plans_parent_area_id"), "plans", ["parent_area_id"])
    op.add_column("plan_areas", sa.Column("parent_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(
        op.f("fk_plan_areas_parent_id"), "plan_areas", "areas", ["parent_id"], ["id"]
    )
    op.create_unique_constraint(
        op.f("uq_plan_areas_plan_id_code"), "plan_areas", ["plan_id", "code"]
    )
    op.add_column("areas", sa.Column("plan_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(op.f("fk_areas_plan_id"), "areas", "plans", ["plan_id"], ["id"])


def downgrade() -> None:
    op.drop_constraint(op.f("fk_areas_plan_id"), "areas", type_="foreignkey")
    op.drop_column("areas", "plan_id")
    op.drop_constraint(op.f("uq_plan_areas_plan_id_code"), "plan_areas", type_="unique")
    op.drop_constraint(op.f("fk_plan_areas_parent_id"), "plan_areas", type_="foreignkey")
    op.drop_column("plan_areas", "parent_id")
    op.drop_index(op.f("ix_plans_parent_area_id"), table_name="plans")
    for name in ("weights", "diff", "updated_at", "base_version", "base_grid_ids"):
        op.drop_column("plans", name)
    op.drop_constraint(op.f("ck_plans_version"), "plans", type_="check")
    op.drop_column("plans", "version")
