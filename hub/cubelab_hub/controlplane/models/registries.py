"""Image registries and their credentials (migration ``0008_registries``).

``project`` is NULL for a platform-wide registry. The name is unique
platform-wide: it names the pull Secret (``cubelab-registry-<name>``) in
namespaces that projects may share. ``password`` holds the sealed secret
(:mod:`cubelab_hub.controlplane.services.secret_box`), never the clear text.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from . import Base, utcnow


class RegistryRow(Base):
    __tablename__ = "registries"
    __table_args__ = (UniqueConstraint("name", name="uq_registries_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63))
    project: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    host: Mapped[str] = mapped_column(String(253))
    username: Mapped[str] = mapped_column(String(255))
    password: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    creator: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
