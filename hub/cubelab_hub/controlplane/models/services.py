"""Services, their replicas and their history (migration ``0007_services``).

A service is stored as its domain JSON form (``body``: what
:func:`cubelab_hub.domain.services.service_from_dict` reads) next to the
columns that are queried. Its name is unique platform-wide: the generated host
is ``<name>.<domain>``. ``status`` is what its owner asked for and how far it
got (``stopped``, ``deploying``, ``running``, ``offline`` after another
service took its host over, ``failed``); ``desired_replicas`` is what the
autoscaler (or the deploy, at ``min_replicas``) asked for.

Replicas are one row per running slot, rewritten by the replica supervisor as
processes start, turn healthy, exit and restart. Events keep the history:
deploys, upgrades, scaling decisions with their reasons, takeovers.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from . import Base, utcnow

SERVICE_STATUSES = ("stopped", "deploying", "running", "offline", "failed")
REPLICA_STATUSES = ("starting", "healthy", "unhealthy", "restarting", "stopping", "failed")


class ServiceRow(Base):
    __tablename__ = "services"
    __table_args__ = (
        UniqueConstraint("name", name="uq_services_name"),
        Index("ix_services_project_name_id", "project", "name", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(63))
    owner: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    host: Mapped[str] = mapped_column(String(253), index=True)
    body: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="stopped")
    message: Mapped[str] = mapped_column(Text, default="")
    desired_replicas: Mapped[int] = mapped_column(Integer, default=0)
    # bumped by every edit: replicas of an older generation are rolled to the new one
    generation: Mapped[int] = mapped_column(Integer, default=1)
    deployed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class ServiceReplicaRow(Base):
    __tablename__ = "service_replicas"
    __table_args__ = (UniqueConstraint("service_id", "index", name="uq_service_replicas_service_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    generation: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="starting")
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # pid plus start time: a recycled pid is never taken for the replica
    external_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    restarts: Mapped[int] = mapped_column(Integer, default=0)
    last_exit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")


class ServiceEventRow(Base):
    __tablename__ = "service_events"
    __table_args__ = (Index("ix_service_events_service_at", "service_id", "at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    kind: Mapped[str] = mapped_column(String(16))  # deploy, stop, scale, upgrade, takeover, offline, restart
    actor: Mapped[str | None] = mapped_column(String(255), nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
