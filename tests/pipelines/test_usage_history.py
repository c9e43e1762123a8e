"""Usage over time on a real database: task hours recorded once when a task
ends, servers and replicas as sessions opened and closed by the passes, days
summed by the database and open work added up to now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from support.engines import InstantEngine

from cubelab_hub.controlplane.db import Database
from cubelab_hub.controlplane.models.admin import UsageDayRow, UsageSessionRow
from cubelab_hub.controlplane.models.pipelines import PipelineRow
from cubelab_hub.controlplane.services.runs import RunManager
from cubelab_hub.controlplane.services.templates import ensure_builtin_templates
from cubelab_hub.controlplane.services.usage_history import UsageHistory
from cubelab_hub.controlplane.store import store_pipeline
from cubelab_hub.domain.pipelines import pipeline_from_dict

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
