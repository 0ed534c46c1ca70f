"""the console's queue: open cases of a district or street by due time, escalations by time

Revision ID: 0009
Revises: 0008

The queue (gisgrid.incidents.queue) lists a scope's open cases by ``COALESCE(due_at,
'infinity'), id``; these partial indexes hold exactly those rows in that order, per scope
column, so a centre's first page reads its first rows from the index instead of sorting every
open case of its district (the city's, unlimited scope, uses the same key without a scope
column). Today's figures count the day's escalations from the events to ``escalated``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status NOT IN ('closed', 'rejected')"
DUE_KEY = "COALESCE(due_at, 'infinity'::timestamp with time zone)"
QUEUE_INDEXES = {
    "ix_incidents_queue_city": (),
    "ix_incidents_queue_district": ("district_id",),
    "ix_incidents_queue_street": ("street_id",),
}


def upgrade() -> None:
    for name, scope in QUEUE_INDEXES.items():
        op.create_index(
            name,
            "incidents",
            [*scope, sa.text(DUE_KEY), "id"],
            postgresql_where=sa.text(OPEN),
        )
    op.create_index(
        "ix_incident_events_escalated_at",
        "incident_events",
        ["at"],
        postgresql_where=sa.text("to_status = 'escalated'"),
    )


def downgrade() -> None:
    op.drop_index("ix_incident_events_escalated_at", table_name="incident_events")
    for name in QUEUE_INDEXES:
        op.drop_index(name, table_name="incidents")
