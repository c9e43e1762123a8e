"""What the admin page keeps (migration ``0010_admin_settings``): run-time
overrides of platform settings, and the usage record behind "usage over time".

- ``platform_settings``: one row per setting an admin changed at run time
  (the configured value applies while there is none).
- ``usage_sessions``: servers and services' replicas seen running (the hub and
  the supervisor only know what runs now); closed when they are gone.
- ``usage_days``: each finished piece of work (task, trial, server, replica)
  cut into UTC days; the ledger that counts each piece once.
- ``usage_totals`` (migration ``0013_admin_scale``): the sums of
  ``usage_days`` per day and project and per day and user, kept as pieces are
  written, so a usage request reads days x keys rows, however many pieces of
  work were stored.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Float, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from . import Base, utcnow


class PlatformSettingRow(Base):
    __tablename__ = "platform_settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict | list | bool | str | None] = mapped_column(JSON, nullable=True)
    updated_by: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UsageSessionRow(Base):
    __tablename__ = "usage_sessions"
    __table_args__ = (
        UniqueConstraint("kind", "ref", name="uq_usage_sessions_kind_ref"),
        # what is still open: read on every pass and with every usage request
        Index("ix_usage_sessions_open", "ended_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # server | service
    ref: Mapped[str] = mapped_column(String(512))  # user/server@started, service/replica@started
    project: Mapped[str] = mapped_column(String(255))
    user: Mapped[str] = mapped_column(String(255))
    cpu: Mapped[float] = mapped_column(Float)
    gpu: Mapped[float] = mapped_column(Float)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class UsageDayRow(Base):
    __tablename__ = "usage_days"
    __table_args__ = (
        # a piece of work is counted once per day, however often its end is reported
        UniqueConstraint("ref", "day", name="uq_usage_days_ref_day"),
        Index("ix_usage_days_day", "day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD, UTC
    kind: Mapped[str] = mapped_column(String(16))  # task | trial | server | service
    ref: Mapped[str] = mapped_column(String(512))
    project: Mapped[str] = mapped_column(String(255))
    user: Mapped[str] = mapped_column(String(255))
    cpu_seconds: Mapped[float] = mapped_column(Float)
    gpu_seconds: Mapped[float] = mapped_column(Float)


class UsageTotalRow(Base):
    __tablename__ = "usage_totals"
    __table_args__ = (
        # a request reads one dimension over a day range: one range of this index
        UniqueConstraint("dimension", "day", "key", name="uq_usage_totals_dimension_day_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dimension: Mapped[str] = mapped_column(String(8))  # project | user
    day: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD, UTC
    key: Mapped[str] = mapped_column(String(255))  # the project's or the user's name
    cpu_seconds: Mapped[float] = mapped_column(Float)
    gpu_seconds: Mapped[float] = mapped_column(Float)
