"""Database engine, sessions and schema upgrades (Alembic runs on every start)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.orm import sessionmaker

from ..storage import make_engine, unit_of_work

MIGRATIONS = Path(__file__).parent / "migrations"


def upgrade(url: str, revision: str = "head") -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(cfg, revision)


class Database:
    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def upgrade(self) -> None:
        upgrade(self.url)

    def session(self):
        """A unit of work (see :func:`unit_of_work`)."""
        return unit_of_work(self._sessions)
