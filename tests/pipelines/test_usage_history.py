"""Usage over time on a real database: task hours recorded once when a task
ends, servers and replicas as sessions opened and closed by the passes, days
summed by the database and open work added up to now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from support.engines import InstantEngine

from cubelab_hub.controlplane.db import Database
from cubelab_hub.controlplane.models.admin import UsageDayRow, UsageSessionRow, UsageTotalRow
from cubelab_hub.controlplane.models.pipelines import PipelineRow
from cubelab_hub.controlplane.services.runs import RunManager
from cubelab_hub.controlplane.services.templates import ensure_builtin_templates
from cubelab_hub.controlplane.services.usage_history import UsageHistory, _add_pieces
from cubelab_hub.controlplane.store import store_pipeline
from cubelab_hub.domain.pipelines import pipeline_from_dict
from cubelab_hub.domain.usage_days import Interval

NOW = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
def db(db_url):
    database = Database(db_url)
    database.upgrade()
    ensure_builtin_templates(database)
    return database


@pytest.fixture
def history(db):
    engine = InstantEngine()
    runs = RunManager(db, {engine.name: engine}, default_engine=engine.name)
    runs.flush_delay = 0.01
    return UsageHistory(db, None, runs), engine


def add_pipeline(db, project: str) -> int:
    body = {"name": "p", "project": project, "tasks": [
        {"name": "gpu", "template": "shell", "args": {"--command": "true"}, "cpu": "2", "gpu": "1"},
        {"name": "small", "template": "shell", "args": {"--command": "true"}, "cpu": "0.5~1"}]}
    with db.session() as s:
        row = PipelineRow(name="p", project=project, creator="alice", body={}, schedule_enabled=False)
        store_pipeline(row, pipeline_from_dict(body))
        s.add(row)
        s.flush()
        return row.id


async def test_a_tasks_hours_are_cut_into_days_and_counted_once(db, history):
    usage, engine = history
    run_id = await usage.runs.create_run(add_pipeline(db, "team"), "bob", False)
    await engine.wait(run_id)
    await usage.settle()
    # the engine's own start and end: 23:00 on the 1st to 01:00 on the 2nd
    start, end = datetime(2026, 3, 1, 23, tzinfo=UTC), datetime(2026, 3, 2, 1, tzinfo=UTC)
    await usage._record_task(run_id, "gpu", start, end)
    await usage._record_task(run_id, "gpu", start, end)  # an end reported twice
    await usage._record_task(run_id, "small", start, start + timedelta(hours=1))
    by_project = await usage.usage(3, "project", now=NOW)
    assert by_project["days"] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    # gpu: 2 cores, 1 card, 1h each day; small: its limit (1 core), 1h on the 1st
    assert by_project["series"] == [{"key": "team", "cpu_hours": [3.0, 2.0, 0.0], "gpu_hours": [1.0, 1.0, 0.0]}]
    assert [s["key"] for s in (await usage.usage(3, "user", now=NOW))["series"]] == ["bob"]
    # one row per task and day (the instant run's own, today, are on other days)
    assert await db.run(lambda s: s.scalar(select(func.count()).select_from(UsageDayRow).where(UsageDayRow.day < "2026-03-03"))) == 3
    # days before the window are left out by the query
    assert (await usage.usage(1, "project", now=NOW))["series"] == []


async def test_servers_and_replicas_are_sessions_closed_when_gone(db, history):
    usage, _ = history
    started = datetime(2026, 3, 3, 9, tzinfo=UTC)
    server = {"kind": "server", "id": "carol/", "project": "team", "user": "carol", "cpu": 2.0, "memory": 0, "gpu": 0, "started": started}
    replica = {"kind": "service", "id": "api/0", "project": "svc", "user": "dan", "cpu": 1.0, "memory": 0, "gpu": 1, "started": started}
    await db.run(usage._write_sessions, [server, replica], started + timedelta(hours=1))
    await db.run(usage._write_sessions, [server, replica], started + timedelta(hours=2))
    # the replica is gone at the next pass: it ended when last seen
    await db.run(usage._write_sessions, [server], started + timedelta(hours=3))
    sessions = await db.run(lambda s: {r.kind: r.ended_at for r in s.scalars(select(UsageSessionRow))})
    assert sessions["server"] is None and sessions["service"] is not None
    result = await usage.usage(1, "project", now=NOW)
    # the server is open: counted up to now (3h of 2 cores); the replica closed after 2h
    assert result["series"] == [{"key": "svc", "cpu_hours": [2.0], "gpu_hours": [2.0]},
                                {"key": "team", "cpu_hours": [6.0], "gpu_hours": [0.0]}]
    # a server started again is a new session; the old one closes
    restarted = {**server, "started": started + timedelta(hours=2, minutes=30)}
    await db.run(usage._write_sessions, [restarted], started + timedelta(hours=3))
    count = await db.run(lambda s: s.scalar(select(func.count()).select_from(UsageSessionRow).where(UsageSessionRow.ended_at.is_(None))))
    assert count == 1


async def test_a_request_reads_the_days_sums_not_every_piece_of_work(db, history):
    """Many pieces of work in a day are one row per project and one per user,
    kept as they are written; an end reported again adds nothing."""
    usage, _ = history
    day = datetime(2026, 3, 2, 10, tzinfo=UTC)

    def write(session):
        for n in range(300):
            interval = Interval("task", f"team-{n % 3}", f"user-{n % 2}", 1.0, float(n % 2), day, day + timedelta(minutes=6))
            _add_pieces(session, f"task:run-{n}/a@{day.isoformat()}", interval, NOW)

    await db.run(write)
    await db.run(write)  # every end reported twice
    rows = await db.run(lambda s: s.scalars(select(UsageTotalRow).order_by(UsageTotalRow.dimension, UsageTotalRow.key)).all())
    assert [(r.dimension, r.day, r.key) for r in rows] == [
        ("project", "2026-03-02", "team-0"), ("project", "2026-03-02", "team-1"), ("project", "2026-03-02", "team-2"),
        ("user", "2026-03-02", "user-0"), ("user", "2026-03-02", "user-1")]
    # 300 tasks of 6 minutes on 1 core: 30 core-hours; half of them with a card: 15 card-hours
    by_project = await usage.usage(2, "project", now=NOW)
    assert by_project["series"] == [{"key": f"team-{k}", "cpu_hours": [10.0, 0.0], "gpu_hours": [5.0, 0.0]} for k in range(3)]
    by_user = await usage.usage(2, "user", now=NOW)
    assert by_user["series"] == [{"key": "user-0", "cpu_hours": [15.0, 0.0], "gpu_hours": [0.0, 0.0]},
                                 {"key": "user-1", "cpu_hours": [15.0, 0.0], "gpu_hours": [15.0, 0.0]}]


def test_the_upgrade_sums_what_was_recorded_before(tmp_path):
    from cubelab_hub.controlplane.db import upgrade

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    upgrade(url, "0013")
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for n, (day, project, user) in enumerate([("2026-03-01", "a", "bob"), ("2026-03-01", "a", "eve"), ("2026-03-02", "b", "bob")]):
            conn.execute(sa.text("INSERT INTO usage_days (day, kind, ref, project, user, cpu_seconds, gpu_seconds)"
                                 " VALUES (:day, 'task', :ref, :project, :user, 3600, 1800)"),
                         {"day": day, "ref": f"task:r{n}/a@x", "project": project, "user": user})
    engine.dispose()
    db = Database(url)
    db.upgrade()
    with db.session() as s:
        rows = {(r.dimension, r.day, r.key): (r.cpu_seconds, r.gpu_seconds) for r in s.scalars(select(UsageTotalRow))}
    assert rows == {("project", "2026-03-01", "a"): (7200, 3600), ("project", "2026-03-02", "b"): (3600, 1800),
                    ("user", "2026-03-01", "bob"): (3600, 1800), ("user", "2026-03-01", "eve"): (3600, 1800),
                    ("user", "2026-03-02", "bob"): (3600, 1800)}
    db.close()
