"""Composite indexes for the paged lists: each list's filter column followed by
its sort key, so a page is read in index order and stops after ``limit`` rows.

Revision ID: 0004
Revises: 0003
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

INDEXES = [
    ("ix_pipelines_project_name_id", "pipelines", ["project", "name", "id"]),
    ("ix_pipeline_runs_pipeline_created", "pipeline_runs", ["pipeline_id", "created_at", "id"]),
    ("ix_pipeline_runs_project_created", "pipeline_runs", ["project", "created_at", "id"]),
    ("ix_pipeline_runs_status_created", "pipeline_runs", ["status", "created_at", "id"]),
    ("ix_pipeline_runs_created_id", "pipeline_runs", ["created_at", "id"]),
    ("ix_job_templates_listing", "job_templates", ["category_index", "category", "name", "version"]),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
