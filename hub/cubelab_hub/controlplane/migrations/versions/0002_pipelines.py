"""Job templates, pipelines, runs, task runs and schedule records.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _times():
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "job_templates",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("version", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("category", sa.String(255), nullable=False),
        sa.Column("category_index", sa.Integer, nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("builtin", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=True),
        *_times(),
        sa.UniqueConstraint("name", "version", name="uq_job_templates_name_version"),
    )
    op.create_index("ix_job_templates_name", "job_templates", ["name"])

    op.create_table(
        "pipelines",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("project", sa.String(255), nullable=False),
        sa.Column("creator", sa.String(255), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("schedule_enabled", sa.Boolean, nullable=False),
        sa.Column("schedule_enabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_tick", sa.DateTime(timezone=True), nullable=True),
        *_times(),
        sa.UniqueConstraint("project", "name", name="uq_pipelines_project_name"),
    )
    op.create_index("ix_pipelines_project", "pipelines", ["project"])
    op.create_index("ix_pipelines_schedule_enabled", "pipelines", ["schedule_enabled"])

    op.create_table(
        "pipeline_runs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("pipeline_id", sa.Integer, sa.ForeignKey("pipelines.id", ondelete="CASCADE"), nullable=True),
        sa.Column("project", sa.String(255), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("runner", sa.String(255), nullable=False),
        sa.Column("engine", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("engine_data", sa.JSON, nullable=False),
        sa.Column("source_run_id", sa.String(40), nullable=True),
        sa.Column("schedule_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_pipeline_runs_pipeline_id", "pipeline_runs", ["pipeline_id"])
    op.create_index("ix_pipeline_runs_project", "pipeline_runs", ["project"])
    op.create_index("ix_pipeline_runs_status", "pipeline_runs", ["status"])
    op.create_index("ix_pipeline_runs_created_at", "pipeline_runs", ["created_at"])

    op.create_table(
        "pipeline_task_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.String(40), sa.ForeignKey("pipeline_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("exit_code", sa.Integer, nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("outputs", sa.JSON, nullable=False),
        sa.Column("log_path", sa.Text, nullable=True),
        sa.Column("pid", sa.Integer, nullable=True),
        sa.Column("external_id", sa.String(255), nullable=True),
        sa.Column("peak_cpu", sa.Float, nullable=True),
        sa.Column("peak_memory", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("run_id", "name", name="uq_task_runs_run_name"),
    )
    op.create_index("ix_pipeline_task_runs_run_id", "pipeline_task_runs", ["run_id"])

    op.create_table(
        "pipeline_schedule_records",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("pipeline_id", sa.Integer, sa.ForeignKey("pipelines.id", ondelete="CASCADE"), nullable=False),
        sa.Column("tick", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("run_id", sa.String(40), nullable=True),
        *_times(),
        sa.UniqueConstraint("pipeline_id", "tick", name="uq_schedule_records_pipeline_tick"),
    )
    op.create_index("ix_pipeline_schedule_records_pipeline_id", "pipeline_schedule_records", ["pipeline_id"])


def downgrade() -> None:
    op.drop_table("pipeline_schedule_records")
    op.drop_table("pipeline_task_runs")
    op.drop_table("pipeline_runs")
    op.drop_table("pipelines")
    op.drop_table("job_templates")
