"""The control plane's data model on every database it supports (SQLite and a
real PostgreSQL server): the Alembic migrations build exactly the models'
schema, every model round-trips its values (JSON, booleans, big integers,
timezone-aware times), upserts and cascades behave the same, and
``Database.run`` keeps the work off the event loop."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from cubelab_hub.controlplane.db import Database
from cubelab_hub.controlplane.models import AuditEvent, Base, load_all_models
from cubelab_hub.controlplane.models.pipelines import PipelineRow, RunRow, ScheduleRecordRow, TaskRunRow, TemplateRow
from cubelab_hub.controlplane.models.servers import ServerRenewalRow
from cubelab_hub.storage import upsert

AT = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=UTC)
NESTED = {"a": [1, 2.5, None, True, "ü ✓"], "b": {"c": {"d": []}}, "quote": "it's \"x\""}


@pytest.fixture
def db(db_url):
    database = Database(db_url, pool_size=2)
    database.upgrade()
    yield database
    database.close()


def test_migrations_build_exactly_the_models_schema(db):
    load_all_models()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    # types the backends report back differently from how they were declared are not differences
    diff = [d for d in diff if not (isinstance(d, list) and d and d[0][0] == "modify_type")]
    assert diff == []


def test_every_model_round_trips_its_values(db):
    with db.session() as s:
        tpl = TemplateRow(name="t", version="Release", kind="python", category="c", category_index=3, body=NESTED,
                          builtin=True, created_by=None)
        pipe = PipelineRow(name="p", project="proj", creator="alice", body=NESTED, schedule_enabled=True,
                           schedule_enabled_at=AT, last_tick=AT + timedelta(minutes=1))
        s.add_all([tpl, pipe, AuditEvent(actor="alice", project=None, action="x", detail=NESTED, at=AT)])
        s.flush()
        s.add(RunRow(id="run-1", pipeline_id=pipe.id, project="proj", trigger="manual", runner="bob", engine="local",
                     status="running", message="m" * 5000, spec=NESTED, engine_data={}, source_run_id=None,
                     schedule_time=AT, created_at=AT, started_at=AT, finished_at=None))
        s.flush()
        s.add(TaskRunRow(run_id="run-1", name="a", status="succeeded", attempts=2, exit_code=-9, started_at=AT,
                         finished_at=AT, message="", outputs={"x": "1"}, log_path="/l", pid=2**31 - 1,
                         external_id="pod-a", peak_cpu=1.25, peak_memory=2**40))
        s.add(ScheduleRecordRow(pipeline_id=pipe.id, tick=AT, status="comed", reason=""))
        s.add(ServerRenewalRow(user="user", server="", renewed_at=AT, renewed_by="admin"))
        pid = pipe.id
    with db.session() as s:
        tpl = s.scalars(select(TemplateRow)).one()
        assert (tpl.body, tpl.builtin, tpl.category_index, tpl.created_by) == (NESTED, True, 3, None)
        assert tpl.created_at.utcoffset() in (None, timedelta(0))
        pipe = s.get(PipelineRow, pid)
        assert (pipe.body, pipe.schedule_enabled) == (NESTED, True)
        assert _utc(pipe.schedule_enabled_at) == AT and _utc(pipe.last_tick) == AT + timedelta(minutes=1)
        assert s.scalars(select(PipelineRow).where(PipelineRow.schedule_enabled.is_(True))).all() == [pipe]
        run = s.get(RunRow, "run-1")
        assert (run.spec, run.engine_data, run.message, run.finished_at) == (NESTED, {}, "m" * 5000, None)
        assert _utc(run.created_at) == AT
        task = s.scalars(select(TaskRunRow)).one()
        assert (task.exit_code, task.pid, task.peak_memory, task.peak_cpu, task.outputs) == (-9, 2**31 - 1, 2**40, 1.25, {"x": "1"})
        record = s.scalars(select(ScheduleRecordRow)).one()
        assert _utc(record.tick) == AT
        # a time compared with a bound aware datetime finds the row on both backends
        assert s.scalars(select(ScheduleRecordRow.id).where(ScheduleRecordRow.tick == AT)).all() == [record.id]
        assert s.scalars(select(RunRow.id).where(RunRow.created_at < AT + timedelta(seconds=1))).all() == ["run-1"]
        renewal = s.scalars(select(ServerRenewalRow)).one()
        assert (renewal.user, renewal.server, _utc(renewal.renewed_at)) == ("user", "", AT)
        assert s.scalars(select(AuditEvent)).one().detail == NESTED
    # deleting a pipeline takes its runs, task runs and records with it (foreign keys on both backends)
    with db.session() as s:
        s.delete(s.get(PipelineRow, pid))
    with db.session() as s:
        for model in (RunRow, TaskRunRow, ScheduleRecordRow):
            assert s.scalar(select(func.count()).select_from(model)) == 0


def test_unique_constraints_refuse_duplicates_and_upsert_replaces(db):
    with db.session() as s:
        s.add(PipelineRow(name="p", project="proj", creator="a", body={}, schedule_enabled=False))
    with pytest.raises(IntegrityError):
        with db.session() as s:
            s.add(PipelineRow(name="p", project="proj", creator="b", body={}, schedule_enabled=False))
    table = ServerRenewalRow.__table__
    for by in ("admin", "alice"):
        with db.session() as s:
            upsert(s, table, {"user": "u", "server": "", "renewed_at": AT, "renewed_by": by}, keys=("user", "server"))
    with db.session() as s:
        assert [(r.user, r.renewed_by) for r in s.scalars(select(ServerRenewalRow))] == [("u", "alice")]


async def test_run_works_off_the_loop_and_rolls_back_on_error(db):
    loop_thread = threading.get_ident()

    def add(session, name):
        assert threading.get_ident() != loop_thread
        session.add(PipelineRow(name=name, project="proj", creator="a", body={}, schedule_enabled=False))
        session.flush()
        return name

    def add_then_fail(session):
        add(session, "half")
        raise ValueError("refused")

    assert await asyncio.gather(*(db.run(add, f"p{i}") for i in range(10))) == [f"p{i}" for i in range(10)]
    with pytest.raises(ValueError, match="refused"):
        await db.run(add_then_fail)

    def names(session):
        return sorted(session.scalars(select(PipelineRow.name)).all())

    assert await db.run(names) == sorted(f"p{i}" for i in range(10))


async def test_the_loop_keeps_answering_while_the_pool_is_busy(db):
    """A slow unit of work (here: sleeping inside the transaction) delays no
    coroutine; units beyond the pool size wait their turn."""
    release = threading.Event()

    def slow(session):
        release.wait(10)
        return session.scalar(select(func.count()).select_from(PipelineRow))

    pending = [asyncio.ensure_future(db.run(slow)) for _ in range(3)]  # pool of 2: one waits
    started = asyncio.get_running_loop().time()
    await asyncio.sleep(0.05)
    assert asyncio.get_running_loop().time() - started < 1
    assert not any(p.done() for p in pending)
    release.set()
    assert await asyncio.gather(*pending) == [0, 0, 0]


def _utc(dt: datetime) -> datetime:
    # SQLite returns naive UTC, PostgreSQL aware; both are the same instant
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
