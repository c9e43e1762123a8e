"""Hyper-parameter experiments, their trials and the metrics trials report
(migration ``0006_experiments``).

An experiment is stored as its domain JSON (``body`` = ``Experiment.to_dict()``)
next to the columns that lists and the controller query (project, status,
times, the best trial). A trial is one run of the experiment's trial task with
its own parameters; its run is a ``pipeline_runs`` row with trigger ``trial``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from . import Base, utcnow


class ExperimentRow(Base):
    __tablename__ = "experiments"
    __table_args__ = (
        UniqueConstraint("project", "name", name="uq_experiments_project_name"),
        # the list walks one project's experiments newest first
        Index("ix_experiments_project_created", "project", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63))
    project: Mapped[str] = mapped_column(String(255), index=True)
    creator: Mapped[str] = mapped_column(String(255))
    body: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)  # domain EXPERIMENT_STATUSES
    end_reason: Mapped[str | None] = mapped_column(String(32))  # domain END_REASONS
    message: Mapped[str] = mapped_column(Text, default="")
    best_trial_id: Mapped[str | None] = mapped_column(String(40))
    best_value: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class TrialRow(Base):
    __tablename__ = "experiment_trials"
    __table_args__ = (UniqueConstraint("experiment_id", "seq", name="uq_experiment_trials_experiment_seq"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # "trial-<12 hex>"
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)  # 1.. per experiment
    # the tuner's id of these parameters; None for a re-run (the tuner did not propose it)
    parameter_id: Mapped[int | None] = mapped_column(Integer)
    parameters: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))  # domain TRIAL_STATUSES
    run_id: Mapped[str | None] = mapped_column(String(40), index=True)
    final_value: Mapped[float | None] = mapped_column(Float)
    message: Mapped[str] = mapped_column(Text, default="")
    source_trial_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class TrialMetricRow(Base):
    __tablename__ = "trial_metrics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[str] = mapped_column(ForeignKey("experiment_trials.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # intermediate | final
    sequence: Mapped[int] = mapped_column(Integer)
    # the objective's number; None when the payload held none (kept in raw)
    value: Mapped[float | None] = mapped_column(Float)
    raw: Mapped[dict | list | float | int | str | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
