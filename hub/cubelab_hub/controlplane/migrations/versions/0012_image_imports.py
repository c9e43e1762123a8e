"""Images imported by admins from OCI or docker archives.

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "image_imports",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("project", sa.String(255), nullable=False),
        sa.Column("image", sa.String(128), nullable=False),
        sa.Column("tag", sa.String(128), nullable=False),
        sa.Column("reference", sa.String(512), nullable=False),
        sa.Column("archive", sa.Text, nullable=False),
        sa.Column("format", sa.String(32), nullable=False),
        sa.Column("image_id", sa.String(80), nullable=True),
        sa.Column("digest", sa.String(80), nullable=True),
        sa.Column("size", sa.BigInteger, nullable=True),
        sa.Column("creator", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_image_imports_project", "image_imports", ["project"])
    op.create_index("ix_image_imports_created_id", "image_imports", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_image_imports_created_id", table_name="image_imports")
    op.drop_index("ix_image_imports_project", table_name="image_imports")
    op.drop_table("image_imports")
