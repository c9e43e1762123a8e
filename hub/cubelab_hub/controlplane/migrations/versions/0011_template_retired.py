"""Retired job template versions: hidden from the palette and from new pipelines,
still resolved for the pipelines that already use them (issue 15, the admin page).

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job_templates") as batch:
        batch.add_column(sa.Column("retired", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("job_templates") as batch:
        batch.drop_column("retired")
