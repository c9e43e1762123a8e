"""The scheduler with a controllable clock against a real database (SQLite and
PostgreSQL) and the real local engine: records comed -> created / skipped,
max_active_runs, depends_on_past, manual runs independent of scheduled ones,
invalid pipelines."""

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from support.engines import InstantEngine

from cubelab_hub.controlplane.db import Database
from cubelab_hub.controlplane.models.pipelines import PipelineRow, RunRow, ScheduleRecordRow
from cubelab_hub.controlplane.services.runs import RunManager
from cubelab_hub.controlplane.services.scheduler import Scheduler
from cubelab_hub.controlplane.services.templates import ensure_builtin_templates
from cubelab_hub.controlplane.store import store_pipeline
from cubelab_hub.domain.errors import Conflict
from cubelab_hub.domain.pipelines import pipeline_from_dict
from cubelab_hub.engines.local import LocalEngine

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(minute: int) -> datetime:
    return T0.replace(minute=minute)


@pytest.fixture
def world(tmp_path, db_url):
    db = Database(db_url)
    db.upgrade()
    ensure_builtin_templates(db)
    manager = RunManager(db, engines={"local": LocalEngine(tmp_path / "runs", kill_grace=1)})
    manager.flush_delay = 0.01
    return db, manager, Scheduler(db, manager)


def add_pipeline(db, name, command, **schedule):
    body = {"name": name, "project": "proj", "tasks": [{"name": "a", "template": "shell", "args": {"--command": command}}],
            "schedule": {"enabled": True, "cron": "*/10 * * * *", **schedule}}
    with db.session() as s:
        row = PipelineRow(name=name, project="proj", creator="alice", body={}, schedule_enabled=False)
        store_pipeline(row, pipeline_from_dict(body))
        row.schedule_enabled_at = T0  # the clock of this test, not the wall clock
        s.add(row)
        s.flush()
        return row.id


def records(db, pid):
    with db.session() as s:
        rows = s.scalars(select(ScheduleRecordRow).where(ScheduleRecordRow.pipeline_id == pid).order_by(ScheduleRecordRow.tick)).all()
        return [(r.tick.replace(tzinfo=UTC), r.status, r.reason, r.run_id) for r in rows]


async def finish(db, manager, run_id):
    for _ in range(200):
        manager.flush()
        with db.session() as s:
            run = s.get(RunRow, run_id)
            if run.status in ("succeeded", "failed", "cancelled"):
                return run.status
        await asyncio.sleep(0.05)
    raise AssertionError("run did not finish")


async def test_ticks_become_records_and_runs_respect_max_active(world):
    db, manager, scheduler = world
    pid = add_pipeline(db, "cron", "sleep 0.5; echo $KFJ_SCHEDULE_TIME")
    await scheduler.run_pass(at(25))
    recs = records(db, pid)
    assert [(t, s) for t, s, _, _ in recs] == [(at(10), "created"), (at(20), "comed")]
    assert "max_active_runs=1" in recs[1][2]
    # a manual run at the same time neither waits for nor blocks the scheduled one
    manual = await manager.create_run(pid, "alice", False, trigger="manual")
    await scheduler.run_pass(at(25))
    assert records(db, pid)[1][1] == "comed"
    assert await finish(db, manager, recs[0][3]) == "succeeded"
    await scheduler.run_pass(at(25))  # same clock: no new ticks, the waiting one starts
    recs = records(db, pid)
    assert [(t, s) for t, s, _, _ in recs] == [(at(10), "created"), (at(20), "created")]
    assert await finish(db, manager, recs[1][3]) == "succeeded"
    assert await finish(db, manager, manual) == "succeeded"
    with db.session() as s:
        run = s.get(RunRow, recs[1][3])
        assert run.trigger == "schedule" and run.schedule_time.replace(tzinfo=UTC) == at(20)
    log = (manager.engines["local"].runs_dir / recs[1][3] / "tasks" / "a" / "log.txt").read_text()
    assert log.strip() == at(20).isoformat()


async def test_depends_on_past_skips_after_a_failure(world):
    db, manager, scheduler = world
    pid = add_pipeline(db, "strict", "sleep 2; exit 1", depends_on_past=True, max_active_runs=3)  # still running at the second pass
    await scheduler.run_pass(at(15))
    first = records(db, pid)[0]
    assert first[1] == "created"
    await scheduler.run_pass(at(25))
    assert records(db, pid)[1][1] == "comed"  # waits while the previous one runs
    assert await finish(db, manager, first[3]) == "failed"
    await scheduler.run_pass(at(25))
    second = records(db, pid)[1]
    assert second[1] == "skipped" and "previous scheduled run failed (depends_on_past)" in second[2] and second[3] is None


async def test_invalid_pipeline_tick_is_skipped_with_reason(world):
    db, manager, scheduler = world
    pid = add_pipeline(db, "broken", "")  # required --command missing
    await scheduler.run_pass(at(12))
    (tick, status, reason, run_id), = records(db, pid)
    assert status == "skipped" and "pipeline is invalid" in reason and "--command" in reason and run_id is None


async def test_turning_schedule_off_skips_waiting_records(world):
    db, manager, scheduler = world
    pid = add_pipeline(db, "toggle", "sleep 0.3")
    await scheduler.run_pass(at(21))
    assert [s for _, s, _, _ in records(db, pid)] == ["created", "comed"]
    with db.session() as s:
        s.get(PipelineRow, pid).schedule_enabled = False
    await scheduler.run_pass(at(59))
    recs = records(db, pid)
    assert [s for _, s, _, _ in recs] == ["created", "skipped"] and "turned off" in recs[1][2]
    await finish(db, manager, recs[0][3])


async def test_deleting_a_project_stops_and_removes_its_pipelines(world):
    db, manager, scheduler = world
    pid = add_pipeline(db, "doomed", "sleep 30")
    run_id = await manager.create_run(pid, "alice", False)
    await asyncio.sleep(0.3)
    await manager.delete_project("proj")
    with db.session() as s:
        assert s.get(PipelineRow, pid) is None and s.get(RunRow, run_id) is None
    assert (await manager.engines["local"].status(run_id)).status == "cancelled"


async def test_runs_go_to_the_engine_of_their_project(world, tmp_path):
    db, manager, scheduler = world
    other = InstantEngine("cluster-b")
    other.add_listener(manager.on_event)
    manager.engines["cluster-b"] = other
    manager.engine_for_project = lambda project: "cluster-b" if project == "proj" else None
    pid = add_pipeline(db, "placed", "echo placed")
    run_id = await manager.create_run(pid, "alice", False)
    assert await finish(db, manager, run_id) == "succeeded"
    with db.session() as s:
        assert s.get(RunRow, run_id).engine == "cluster-b"
    assert [spec.run_id for spec in other.submitted] == [run_id]
    assert not (tmp_path / "runs" / run_id).exists(), "the default engine ran it too"
    manager.engine_for_project = lambda project: "nowhere"
    with pytest.raises(Conflict, match="engine 'nowhere'"):
        await manager.create_run(pid, "alice", False)


def fire_times(db, pid):
    with db.session() as s:
        row = s.get(PipelineRow, pid)
        return row.next_fire_at and row.next_fire_at.replace(tzinfo=UTC)


async def test_next_fire_time_is_kept_and_only_due_schedules_are_read(world):
    db, manager, scheduler = world
    pid = add_pipeline(db, "kept", "true")
    assert fire_times(db, pid) is None  # just saved: planned on the next pass
    await scheduler.run_pass(at(5))
    assert fire_times(db, pid) == at(10) and records(db, pid) == []
    # a schedule whose fire time has not come is not read, even if its ticks say otherwise
    with db.session() as s:
        s.get(PipelineRow, pid).next_fire_at = at(59)
    await scheduler.run_pass(at(35))
    assert records(db, pid) == []
    with db.session() as s:
        s.get(PipelineRow, pid).next_fire_at = at(10)
    await scheduler.run_pass(at(35))
    assert [t for t, *_ in records(db, pid)] == [at(10), at(20), at(30)]
    assert fire_times(db, pid) == at(40)
    # saving the pipeline again plans it again
    with db.session() as s:
        row = s.get(PipelineRow, pid)
        store_pipeline(row, pipeline_from_dict({**row.body, "schedule": {"enabled": True, "cron": "*/7 * * * *"}}))
    assert fire_times(db, pid) is None
    await scheduler.run_pass(at(36))
    assert fire_times(db, pid) == at(42)


async def test_many_due_schedules_are_recorded_in_batches_that_yield(world):
    db, manager, scheduler = world
    scheduler.batch_size = 40
    manager.engines["local"] = engine = InstantEngine("local")
    engine.add_listener(manager.on_event)
    pids = [add_pipeline(db, f"p{i}", "true") for i in range(100)]
    beats = 0

    async def heartbeat():
        nonlocal beats
        while True:
            beats += 1
            await asyncio.sleep(0)

    beating = asyncio.create_task(heartbeat())
    await scheduler.run_pass(at(11))
    beating.cancel()
    assert all([s for _, s, _, _ in records(db, pid)] == ["created"] for pid in pids)
    assert len(engine.submitted) == 100
    # the loop ran other work between batches, not only once at the end
    assert beats >= 100 // scheduler.batch_size


async def test_upgrade_plans_existing_enabled_schedules(tmp_path):
    from cubelab_hub.controlplane.db import upgrade

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    upgrade(url, "0003")
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    body = {"name": "old", "project": "proj", "tasks": [], "schedule": {"enabled": True, "cron": "*/10 * * * *"}}
    with engine.begin() as conn:
        for pid, last_tick in ((1, "2026-01-01 00:20:00.000000"), (2, None)):
            conn.execute(sa.text(
                "INSERT INTO pipelines (id, name, project, creator, body, schedule_enabled, schedule_enabled_at, last_tick, created_at, updated_at)"
                " VALUES (:id, :name, 'proj', 'alice', :body, 1, '2026-01-01 00:03:00.000000', :last, '2026-01-01', '2026-01-01')"),
                {"id": pid, "name": f"old{pid}", "body": __import__("json").dumps(body), "last": last_tick})
    engine.dispose()
    db = Database(url)
    db.upgrade()
    assert fire_times(db, 1) == at(30)
    assert fire_times(db, 2) == at(10)
