"""Image builds (migration ``0009_builds``): one row per build, its request as
the domain's JSON form (``body``) next to the columns that are queried, and
what came of it: status, the image's id, digest and size, how long it took and
what the layer cache reused. The log is a file of the platform's
(``<data_dir>/builds/logs/<id>.log``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ...domain.builds import BUILD_STATUSES
from . import Base, utcnow

__all__ = ["BUILD_STATUSES", "BuildRow"]


class BuildRow(Base):
    __tablename__ = "builds"
    __table_args__ = (Index("ix_builds_project_created_id", "project", "created_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project: Mapped[str] = mapped_column(String(255))
    image: Mapped[str] = mapped_column(String(128))
    creator: Mapped[str] = mapped_column(String(255))
    body: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    message: Mapped[str] = mapped_column(Text, default="")
    image_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    digest: Mapped[str | None] = mapped_column(String(80), nullable=True)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # "reused N of M steps from the layer cache: ..."
    cache: Mapped[str] = mapped_column(Text, default="")
    refs: Mapped[list] = mapped_column(JSON, default=list)
    # control plane restarts during the build: [{"at", "how": "re-attached" | "restarted", "reason"}]
    restarts: Mapped[list | None] = mapped_column(JSON, nullable=True)
    # pid plus start time of buildah while it runs: a restarted control plane re-attaches to it
    external_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    duration: Mapped[float | None] = mapped_column(Float, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
