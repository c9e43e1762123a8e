"""SQLAlchemy engine set-up and the unit of work, shared by every CubeLab database.

The control plane's database and the hub's account store both use these, so
neither package imports the other for them.
"""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker


def make_engine(url: str) -> Engine:
    kwargs = {}
    if url.startswith("sqlite"):
        # the control plane is one process with threads from the executor pool
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # WAL: readers don't block the writer
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # with WAL, NORMAL stays consistent after a crash and syncs far less
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

    return engine


@contextmanager
def unit_of_work(sessions: sessionmaker):
    """A session committed on success and rolled back on any error, so nothing
    is half-written."""
    session = sessions()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
