"""Database engine, sessions, schema upgrades (Alembic runs on every start), and
database work off the event loop.

The control plane serves every request from one asyncio loop, so a query run on
that loop stalls every other request (``/me``, event streams, the hub's proxy
waiting on us) for as long as it takes. :meth:`Database.run` runs one short unit
of work in a bounded pool of worker threads instead and awaits it.

Why a bounded thread pool rather than SQLAlchemy's asyncio extension with an
async driver: measured with ``bench/db_offloop.py`` on a 2-core machine shared
with other work (10,000 pipelines, 2,000 runs; 20 coroutines reading one run
with its tasks, as ``GET /runs/{id}``, while one reads every pipeline; a probe
on the same loop waking every 10 ms stands for a trivial handler like ``/me``)::

    5 s per mode           probe p99   typical reads   typical read p50
    SQLite, on the loop     7,368 ms               0   (starved)
    SQLite, pool of 8         253 ms           1,102   63 ms
    SQLite, aiosqlite       2,552 ms              48   2,504 ms
    PostgreSQL, on loop     6,219 ms               0   (starved)
    PostgreSQL, pool of 8     142 ms             496   146 ms
    PostgreSQL, async         202 ms             274   364 ms

The async drivers move only the waiting on the database off the loop: building
rows and ORM objects (most of the cost of a big read) still runs on it, and
aiosqlite is itself a thread per connection behind a queue. The pool moves all
of a unit of work off the loop; what remains is the loop's share of the GIL
while a worker builds a big result, which paged lists keep small. The pool also
keeps the synchronous services and row <-> domain functions (:mod:`.store`)
shared with the run-event writer thread, the scheduler and the tests, SQLite's
behaviour (WAL, busy timeout) unchanged, and one code path on PostgreSQL
(psycopg 3). Its size bounds the connections (SQLite has one writer, PostgreSQL
a connection limit): units beyond it wait their turn, off the loop.

Rules for callers: a unit of work is short (no awaits inside, nothing
proportional to all rows of a table), returns plain data (views, ids, domain
objects), never ORM rows used after the session closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy.orm import Session, sessionmaker

from ..storage import make_engine, unit_of_work

MIGRATIONS = Path(__file__).parent / "migrations"
T = TypeVar("T")


def upgrade(url: str, revision: str = "head") -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(cfg, revision)


class Database:
    """The control plane's database: ``await db.run(fn, *args)`` from the loop,
    ``with db.session()`` from threads that are not the loop's."""

    def __init__(self, url: str, pool_size: int = 8):
        if pool_size < 1:
            raise ValueError(f"pool_size must be at least 1, not {pool_size}")
        self.url = url
        self.pool_size = pool_size
        # the connection pool holds one connection per worker thread, so none waits for a connection
        self.engine = make_engine(url, pool_size=pool_size)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._workers = ThreadPoolExecutor(pool_size, thread_name_prefix="cubelab-db")

    def upgrade(self) -> None:
        upgrade(self.url)

    def session(self):
        """A unit of work (see :func:`unit_of_work`), for code that is not on the loop."""
        return unit_of_work(self._sessions)

    def _unit(self, fn: Callable[..., T], args: tuple) -> T:
        with unit_of_work(self._sessions) as session:
            return fn(session, *args)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(session, *args)`` in one unit of work (committed when it
        returns, rolled back when it raises; the exception reaches the caller)
        on a worker thread, and return its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._workers, self._unit, fn, args)

    def close(self) -> None:
        self._workers.shutdown(wait=True)
        self.engine.dispose()


__all__ = ["Database", "Session", "upgrade"]
