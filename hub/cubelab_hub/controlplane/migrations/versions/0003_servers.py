"""Notebook server renewals (expiry is computed from the hub's start time).

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "server_renewals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user", sa.String(255), nullable=False),
        sa.Column("server", sa.String(255), nullable=False),
        sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("renewed_by", sa.String(255), nullable=False),
        sa.UniqueConstraint("user", "server", name="uq_server_renewals_user_server"),
    )
    op.create_index("ix_server_renewals_user", "server_renewals", ["user"])


def downgrade() -> None:
    op.drop_index("ix_server_renewals_user", table_name="server_renewals")
    op.drop_table("server_renewals")
