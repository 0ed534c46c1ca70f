"""accounts: one-time activation codes and a token version

Revision ID: 0006
Revises: 0005

An imported account gets a one-time activation code (only its SHA-256 is stored, with the
time it expires) instead of a password hash: 48,626 argon2 hashes would take the import
hours. ``token_version`` is written into every token and raised by a password change or a
deactivation, so the tokens issued before stop working at once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "accounts",
        sa.Column("token_version", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column("accounts", sa.Column("activation_hash", sa.String(length=64), nullable=True))
    op.add_column(
        "accounts",
        sa.Column("activation_expires_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_check_constraint(
        op.f("ck_accounts_activation"),
        "accounts",
        "activation_hash IS NULL OR activation_expires_at IS NOT NULL",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_accounts_activation"), "accounts", type_="check")
    op.drop_column("accounts", "activation_expires_at")
    op.drop_column("accounts", "activation_hash")
    op.drop_column("accounts", "token_version")
