"""The admin page at scale: usage per day and project, and per day and user,
kept as work is recorded, so /admin/usage no longer sums every piece of work
of the day range; the audit log by project in (project, id) order, as by
actor and by action, so a page is one index range.

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_totals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("dimension", sa.String(8), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("cpu_seconds", sa.Float, nullable=False),
        sa.Column("gpu_seconds", sa.Float, nullable=False),
        sa.UniqueConstraint("dimension", "day", "key", name="uq_usage_totals_dimension_day_key"),
    )
    # what was recorded before: summed once, here
    for dimension, column in (("project", "project"), ("user", '"user"')):
        op.execute(
            "INSERT INTO usage_totals (dimension, day, key, cpu_seconds, gpu_seconds) "
            f"SELECT '{dimension}', day, {column}, SUM(cpu_seconds), SUM(gpu_seconds) FROM usage_days GROUP BY day, {column}")


    with op.batch_alter_table("audit_events") as batch:
        batch.drop_index("ix_audit_events_project")
        batch.create_index("ix_audit_events_project_id", ["project", "id"])


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_index("ix_audit_events_project_id")
        batch.create_index("ix_audit_events_project", ["project"])
    op.drop_table("usage_totals")
