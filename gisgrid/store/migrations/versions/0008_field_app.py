"""field app: resolved on the spot, idempotent reports, support events, register versions

Revision ID: 0008
Revises: 0007

- ``incidents.resolved_on_spot``: a grid worker fixed the item at once (就地解决); the case is
  recorded closed and the evaluation counts it apart.
- ``incidents.idempotency_key``: a report sent again with the same key by the same reporter
  (an offline queue resending) finds the first case; unique per reporter where set.
- ``incident_events.kind``: ``transition`` (a status change, every row so far) or ``support``
  (another report added to the case: note and photo, the status unchanged).
- ``households.tags`` and ``households.version``, ``residents.version``: tags a worker keeps
  up to date, and the version an edit names in If-Match.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HOUSEHOLD_TAGS = (
    "rental",
    "vacant",
    "elderly_only",
    "low_income",
    "special_care",
    "military_family",
)


def upgrade() -> None:
    op.add_column(
        "incidents",
        sa.Column(
            "resolved_on_spot", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
    )
    op.add_column("incidents", sa.Column("idempotency_key", sa.String(length=64), nullable=True))
    op.create_index(
        "ux_incidents_reporter_idempotency",
        "incidents",
        ["reporter_id", "idempotency_key"],
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.add_column(
        "incident_events",
        sa.Column(
            "kind", sa.String(length=16), server_default=sa.text("'transition'"), nullable=False
        ),
    )
    op.create_check_constraint(
        op.f("ck_incident_events_kind"), "incident_events", "kind IN ('transition', 'support')"
    )
    op.create_check_constraint(
        op.f("ck_incident_events_support_status"),
        "incident_events",
        "kind <> 'support' OR from_status = to_status",
    )
    op.add_column(
        "households",
        sa.Column(
            "tags",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
    )
    tags = ", ".join(f"'{t}'" for t in HOUSEHOLD_TAGS)
    op.create_check_constraint(
        op.f("ck_households_tags"), "households", f"tags <@ ARRAY[{tags}]::text[]"
    )
    for table in ("households", "residents"):
        op.add_column(
            table,
            sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        )
        op.create_check_constraint(op.f(f"ck_{table}_version"), table, "version >= 1")


def downgrade() -> None:
    for table in ("residents", "households"):
        op.drop_constraint(op.f(f"ck_{table}_version"), table, type_="check")
        op.drop_column(table, "version")
    op.drop_constraint(op.f("ck_households_tags"), "households", type_="check")
    op.drop_column("households", "tags")
    op.drop_constraint(op.f("ck_incident_events_support_status"), "incident_events", type_="check")
    op.drop_constraint(op.f("ck_incident_events_kind"), "incident_events", type_="check")
    op.drop_column("incident_events", "kind")
    op.drop_index("ux_incidents_reporter_idempotency", table_name="incidents")
    op.drop_column("incidents", "idempotency_key")
    op.drop_column("incidents", "resolved_on_spot")
