"""Services, their replicas and their history (scaling, upgrades, takeovers).

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "services",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("project", sa.String(255), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("host", sa.String(253), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("desired_replicas", sa.Integer, nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("deployed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("name", name="uq_services_name"),
    )
    op.create_index("ix_services_project", "services", ["project"])
    op.create_index("ix_services_host", "services", ["host"])
    op.create_index("ix_services_project_name_id", "services", ["project", "name", "id"])
    op.create_table(
        "service_replicas",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("service_id", sa.Integer, sa.ForeignKey("services.id", ondelete="CASCADE"), nullable=False),
        sa.Column("index", sa.Integer, nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("pid", sa.Integer, nullable=True),
        sa.Column("external_id", sa.String(64), nullable=True),
        sa.Column("port", sa.Integer, nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("restarts", sa.Integer, nullable=False),
        sa.Column("last_exit", sa.Integer, nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.UniqueConstraint("service_id", "index", name="uq_service_replicas_service_index"),
    )
    op.create_index("ix_service_replicas_service_id", "service_replicas", ["service_id"])
    op.create_table(
        "service_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("service_id", sa.Integer, sa.ForeignKey("services.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(255), nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_service_events_service_at", "service_events", ["service_id", "at", "id"])


def downgrade() -> None:
    op.drop_index("ix_service_events_service_at", table_name="service_events")
    op.drop_table("service_events")
    op.drop_index("ix_service_replicas_service_id", table_name="service_replicas")
    op.drop_table("service_replicas")
    op.drop_index("ix_services_project_name_id", table_name="services")
    op.drop_index("ix_services_host", table_name="services")
    op.drop_index("ix_services_project", table_name="services")
    op.drop_table("services")
