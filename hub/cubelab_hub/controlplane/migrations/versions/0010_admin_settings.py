"""Admin page: run-time platform settings, usage sessions and usage per day;
audit events paged newest first by filter.

Revision ID: 0010
Revises: 0009

(Named ``0010_admin_settings``: another branch may add a 0010 too; renumber on merge.)
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "platform_settings",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.JSON, nullable=True),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "usage_sessions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(512), nullable=False),
        sa.Column("project", sa.String(255), nullable=False),
        sa.Column("user", sa.String(255), nullable=False),
        sa.Column("cpu", sa.Float, nullable=False),
        sa.Column("gpu", sa.Float, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("kind", "ref", name="uq_usage_sessions_kind_ref"),
    )
    op.create_index("ix_usage_sessions_open", "usage_sessions", ["ended_at"])
    op.create_table(
        "usage_days",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(512), nullable=False),
        sa.Column("project", sa.String(255), nullable=False),
        sa.Column("user", sa.String(255), nullable=False),
        sa.Column("cpu_seconds", sa.Float, nullable=False),
        sa.Column("gpu_seconds", sa.Float, nullable=False),
        sa.UniqueConstraint("ref", "day", name="uq_usage_days_ref_day"),
    )
    op.create_index("ix_usage_days_day", "usage_days", ["day"])
    # the audit log is read newest first, filtered by actor or action (project has its own index)
    with op.batch_alter_table("audit_events") as batch:
        batch.create_index("ix_audit_events_actor_id", ["actor", "id"])
        batch.create_index("ix_audit_events_action_id", ["action", "id"])


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_index("ix_audit_events_action_id")
        batch.drop_index("ix_audit_events_actor_id")
    op.drop_index("ix_usage_days_day", table_name="usage_days")
    op.drop_table("usage_days")
    op.drop_index("ix_usage_sessions_open", table_name="usage_sessions")
    op.drop_table("usage_sessions")
    op.drop_table("platform_settings")
