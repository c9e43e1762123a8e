"""SQLAlchemy models of the control plane, one module per resource.

``Base`` is shared; each resource module (``pipelines``, ``servers``, ...)
declares its tables on it and Alembic migrations create them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, DateTime, Index, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict: JSON, list: JSON}


class AuditEvent(Base):
    """Who changed what in a project (members, settings, deletion)."""

    __tablename__ = "audit_events"
    # the admin page's audit log: newest first, by actor, action (0010_admin_settings) or project (0013_admin_scale)
    __table_args__ = (Index("ix_audit_events_actor_id", "actor", "id"), Index("ix_audit_events_action_id", "action", "id"),
                      Index("ix_audit_events_project_id", "project", "id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(255))
    project: Mapped[str | None] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


def load_all_models() -> None:
    """Import every resource module so Base.metadata knows all tables."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
