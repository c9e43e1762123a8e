"""Database engine, sessions and schema upgrades (Alembic runs on every start)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
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
    def __init__(self, url: str, workers: int = 4):
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # a small bounded pool: queries wait their turn instead of stalling the event loop
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cubelab-db")

    def upgrade(self) -> None:
        upgrade(self.url)

    def session(self):
        """A unit of work (see :func:`unit_of_work`)."""
        return unit_of_work(self._sessions)

    async def run(self, fn, *args):
        """``fn(session, *args)`` in one unit of work on the pool, off the event loop."""

        def work():
            with self.session() as session:
                return fn(session, *args)

        return await asyncio.get_running_loop().run_in_executor(self._pool, work)
