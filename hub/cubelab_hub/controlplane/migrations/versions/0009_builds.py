"""Image builds: request, status, image id, digest, size, cache reuse, timing.

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "builds",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("project", sa.String(255), nullable=False),
        sa.Column("image", sa.String(128), nullable=False),
        sa.Column("creator", sa.String(255), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("image_id", sa.String(80), nullable=True),
        sa.Column("digest", sa.String(80), nullable=True),
        sa.Column("size", sa.BigInteger, nullable=True),
        sa.Column("cache", sa.Text, nullable=False),
        sa.Column("refs", sa.JSON, nullable=False),
        sa.Column("external_id", sa.String(64), nullable=True),
        sa.Column("duration", sa.Float, nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_builds_project_created_id", "builds", ["project", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_builds_project_created_id", table_name="builds")
    op.drop_table("builds")
