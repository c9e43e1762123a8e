"""SQLAlchemy engine set-up and the unit of work, shared by every CubeLab database.

The control plane's database and the hub's account store both use these, so
neither package imports the other for them.
"""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker


def make_engine(url: str, pool_size: int | None = None) -> Engine:
    """An engine for ``url``; ``pool_size``: connections kept open (one per
    worker thread that uses the engine), default SQLAlchemy's."""
    kwargs: dict = {}
    if url.startswith("sqlite"):
        # the control plane is one process with threads from the executor pool
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    if pool_size is not None and not url.startswith("sqlite"):
        # a few more for the run-event writer and start-up work outside the pool
        kwargs["pool_size"] = pool_size
        kwargs["max_overflow"] = 4
        kwargs["pool_pre_ping"] = True  # a server restarted under us costs one retry, not an error
    if url.startswith("postgresql"):
        # times come back in UTC whatever the server's default zone, as SQLite's do
        kwargs["connect_args"] = {"options": "-c timezone=UTC"}
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


def _insert(session, table, values: dict):
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise NotImplementedError(f"upsert on {dialect}: CubeLab supports SQLite and PostgreSQL")
    return insert(table).values(**values)


def upsert(session, table, values: dict, keys: tuple[str, ...]) -> None:
    """Insert a row, or update the existing one with the same ``keys`` (a unique
    constraint), in one statement: two writers racing never collide.
    SQLite and PostgreSQL spell it the same (``ON CONFLICT ... DO UPDATE``)."""
    statement = _insert(session, table, values)
    changes = {k: statement.excluded[k] for k in values if k not in keys}
    session.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=changes))


def insert_once(session, table, values: dict, keys: tuple[str, ...]) -> bool:
    """Insert a row unless one with the same ``keys`` exists; whether it was
    inserted. One statement: of two writers racing, exactly one inserts."""
    statement = _insert(session, table, values).on_conflict_do_nothing(index_elements=list(keys))
    # RETURNING, not rowcount: psycopg reports -1 for this statement
    return session.execute(statement.returning(*table.primary_key.columns)).first() is not None


def upsert_add(session, table, values: dict, keys: tuple[str, ...], add: tuple[str, ...]) -> None:
    """Insert a row, or add its ``add`` columns to those of the existing one
    with the same ``keys``, in one statement (a running sum two writers can
    update at once without losing either addition)."""
    statement = _insert(session, table, values)
    changes = {k: table.c[k] + statement.excluded[k] for k in add}
    session.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=changes))


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
