"""Hyper-parameter experiments, their trials and the trials' metrics.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("project", sa.String(255), nullable=False),
        sa.Column("creator", sa.String(255), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("end_reason", sa.String(32), nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("best_trial_id", sa.String(40), nullable=True),
        sa.Column("best_value", sa.Float, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("project", "name", name="uq_experiments_project_name"),
    )
    op.create_index("ix_experiments_project", "experiments", ["project"])
    op.create_index("ix_experiments_status", "experiments", ["status"])
    op.create_index("ix_experiments_created_at", "experiments", ["created_at"])
    op.create_index("ix_experiments_project_created", "experiments", ["project", "created_at", "id"])
    op.create_table(
        "experiment_trials",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("parameter_id", sa.Integer, nullable=True),
        sa.Column("parameters", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("run_id", sa.String(40), nullable=True),
        sa.Column("final_value", sa.Float, nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("source_trial_id", sa.String(40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("experiment_id", "seq", name="uq_experiment_trials_experiment_seq"),
    )
    op.create_index("ix_experiment_trials_experiment_id", "experiment_trials", ["experiment_id"])
    op.create_index("ix_experiment_trials_run_id", "experiment_trials", ["run_id"])
    op.create_table(
        "trial_metrics",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("trial_id", sa.String(40), sa.ForeignKey("experiment_trials.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("raw", sa.JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_trial_metrics_trial_id", "trial_metrics", ["trial_id"])


def downgrade() -> None:
    op.drop_index("ix_trial_metrics_trial_id", table_name="trial_metrics")
    op.drop_table("trial_metrics")
    op.drop_index("ix_experiment_trials_run_id", table_name="experiment_trials")
    op.drop_index("ix_experiment_trials_experiment_id", table_name="experiment_trials")
    op.drop_table("experiment_trials")
    for name in ("ix_experiments_project_created", "ix_experiments_created_at", "ix_experiments_status", "ix_experiments_project"):
        op.drop_index(name, table_name="experiments")
    op.drop_table("experiments")
