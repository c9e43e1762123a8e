"""Images admins imported from OCI or docker archives (migration
``0010_image_imports``): where each went, from which archive, its digest and
size. Builds whose ``FROM`` cannot be reached are offered these references."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from . import Base, utcnow


class ImageImportRow(Base):
    __tablename__ = "image_imports"
    __table_args__ = (Index("ix_image_imports_created_id", "created_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project: Mapped[str] = mapped_column(String(255), index=True)
    image: Mapped[str] = mapped_column(String(128))
    tag: Mapped[str] = mapped_column(String(128))
    reference: Mapped[str] = mapped_column(String(512))
    archive: Mapped[str] = mapped_column(Text)  # the path in the admin's workspace, as given
    format: Mapped[str] = mapped_column(String(32))
    image_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    digest: Mapped[str | None] = mapped_column(String(80), nullable=True)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    creator: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
