"""Tables of job templates, pipelines, runs, task runs and schedule records.

Domain objects are stored as their JSON form (``body``/``spec``) next to the
columns that are queried (name, project, status, times), so the domain stays the
single definition of their shape. Migration: ``0002_pipelines``; the composite
indexes the paged lists walk (their sort keys, after the filter they start
from): ``0004_list_indexes``; a template version's ``retired`` flag:
``0010_template_retired``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from . import Base, utcnow


def aware(dt: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every time we store is UTC."""
    if dt is None:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


class TemplateRow(Base):
    __tablename__ = "job_templates"
    __table_args__ = (
        UniqueConstraint("name", "version", name="uq_job_templates_name_version"),
        Index("ix_job_templates_listing", "category_index", "category", "name", "version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), index=True)
    version: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(255))
    category_index: Mapped[int] = mapped_column(Integer, default=0)
    body: Mapped[dict] = mapped_column(JSON)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    # retired (migration 0010): left out of the palette and refused in new pipelines;
    # pipelines that already use it keep resolving it, so their runs keep working
    retired: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class PipelineRow(Base):
    __tablename__ = "pipelines"
    __table_args__ = (
        UniqueConstraint("project", "name", name="uq_pipelines_project_name"),
        # the scheduler's one query per pass: enabled schedules whose next fire time has come
        Index("ix_pipelines_schedule_next_fire", "schedule_enabled", "next_fire_at"),
        Index("ix_pipelines_project_name_id", "project", "name", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63))
    project: Mapped[str] = mapped_column(String(255), index=True)
    creator: Mapped[str] = mapped_column(String(255))
    body: Mapped[dict] = mapped_column(JSON)
    # the scheduler's own columns (queried every pass)
    schedule_enabled: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    schedule_enabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_tick: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # when the scheduler must next look at this schedule (UTC; may be past: catch-up is due).
    # NULL on an enabled schedule: just saved, planned on the next pass. Migration 0005.
    next_fire_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class RunRow(Base):
    __tablename__ = "pipeline_runs"
    __table_args__ = (
        Index("ix_pipeline_runs_pipeline_created", "pipeline_id", "created_at", "id"),
        Index("ix_pipeline_runs_project_created", "project", "created_at", "id"),
        Index("ix_pipeline_runs_status_created", "status", "created_at", "id"),
        Index("ix_pipeline_runs_created_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # None for a one-off run of tasks that belong to no saved pipeline
    pipeline_id: Mapped[int | None] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"), index=True)
    project: Mapped[str] = mapped_column(String(255), index=True)
    trigger: Mapped[str] = mapped_column(String(16))  # manual | schedule | rerun | rerun-failed | debug | oneoff
    runner: Mapped[str] = mapped_column(String(255))
    engine: Mapped[str] = mapped_column(String(32), default="local")
    status: Mapped[str] = mapped_column(String(16), index=True)
    message: Mapped[str] = mapped_column(Text, default="")
    # snapshot the run executes: pipeline body, templates by task, only_tasks, reuse source
    spec: Mapped[dict] = mapped_column(JSON)
    engine_data: Mapped[dict] = mapped_column(JSON, default=dict)
    source_run_id: Mapped[str | None] = mapped_column(String(40))
    schedule_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TaskRunRow(Base):
    __tablename__ = "pipeline_task_runs"
    __table_args__ = (UniqueConstraint("run_id", "name", name="uq_task_runs_run_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("pipeline_runs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    message: Mapped[str] = mapped_column(Text, default="")
    outputs: Mapped[dict] = mapped_column(JSON, default=dict)
    log_path: Mapped[str | None] = mapped_column(Text)
    pid: Mapped[int | None] = mapped_column(Integer)
    external_id: Mapped[str | None] = mapped_column(String(255))
    peak_cpu: Mapped[float | None] = mapped_column(Float)
    peak_memory: Mapped[int | None] = mapped_column(BigInteger)


class ScheduleRecordRow(Base):
    __tablename__ = "pipeline_schedule_records"
    # the unique (pipeline_id, tick) is also the index the records list walks, newest tick first
    __table_args__ = (
        UniqueConstraint("pipeline_id", "tick", name="uq_schedule_records_pipeline_tick"),
        # each pass looks for records still waiting to start ('comed') among all history
        Index("ix_schedule_records_status_pipeline", "status", "pipeline_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"), index=True)
    tick: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))  # comed | created | skipped
    reason: Mapped[str] = mapped_column(Text, default="")
    run_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
