"""Renewals of notebook servers (migration ``0003_servers``).

The hub is the truth for which servers run and when they started; the control
plane keeps only what the hub has no place for: when a server was last renewed
and by whom. Expiry is computed from both (``cubelab_hub.domain.expiry``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from . import Base, utcnow


class ServerRenewalRow(Base):
    __tablename__ = "server_renewals"
    __table_args__ = (UniqueConstraint("user", "server", name="uq_server_renewals_user_server"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user: Mapped[str] = mapped_column(String(255), index=True)
    server: Mapped[str] = mapped_column(String(255), default="")  # "" = the default server
    renewed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    renewed_by: Mapped[str] = mapped_column(String(255))
