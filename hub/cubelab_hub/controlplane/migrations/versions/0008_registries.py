"""Image registries with their sealed credentials.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("project", sa.String(255), nullable=True),
        sa.Column("host", sa.String(253), nullable=False),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("password", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("creator", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("name", name="uq_registries_name"),
    )
    op.create_index("ix_registries_project", "registries", ["project"])


def downgrade() -> None:
    op.drop_index("ix_registries_project", table_name="registries")
    op.drop_table("registries")
