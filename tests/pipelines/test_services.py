"""The run service against a real database (SQLite and PostgreSQL) and the named fake engines
of ``support.engines``: no hub, no processes. What a run stores, how refusals
surface as domain errors, cancel, shutdown, re-attach and project deletion."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from sqlalchemy import select
from support.engines import FailingEngine, HangingEngine, InstantEngine, RefusingEngine

from cubelab_hub.controlplane.db import Database
from cubelab_hub.controlplane.models.pipelines import PipelineRow, RunRow
from cubelab_hub.controlplane.services.runs import InvalidPipeline, RunManager
from cubelab_hub.controlplane.services.templates import ensure_builtin_templates
from cubelab_hub.controlplane.store import run_view, store_pipeline
from cubelab_hub.domain.errors import Conflict, FieldError, NotFound
from cubelab_hub.domain.pipelines import pipeline_from_dict


@pytest.fixture
def db(db_url):
    database = Database(db_url)
    database.upgrade()
    ensure_builtin_templates(database)
    return database


def manager_for(db, engine, **kwargs) -> RunManager:
    manager = RunManager(db, {engine.name: engine}, default_engine=engine.name, **kwargs)
    manager.flush_delay = 0.01
    return manager


def add_pipeline(db, name="p", project="proj", tasks=("a", "b", "c"), template="shell") -> int:
    body = {"name": name, "project": project,
            "tasks": [{"name": t, "template": template, "args": {"--command": f"echo {t}"}} for t in tasks],
            "edges": [[u, d] for u, d in itertools.pairwise(tasks)]}
    with db.session() as s:
        row = PipelineRow(name=name, project=project, creator="alice", body={}, schedule_enabled=False)
        store_pipeline(row, pipeline_from_dict(body))
        s.add(row)
        s.flush()
        return row.id


def view(db, manager, run_id) -> dict:
    manager.flush()
    with db.session() as s:
        return run_view(s, s.get(RunRow, run_id))


async def test_a_run_is_snapshotted_submitted_and_its_events_stored(db):
    engine = InstantEngine()
    manager = manager_for(db, engine)
    pid = add_pipeline(db)
    run_id = await manager.create_run(pid, "bob", False)
    await engine.wait(run_id)
    run = view(db, manager, run_id)
    assert (run["status"], run["trigger"], run["runner"], run["engine"]) == ("succeeded", "manual", "bob", "instant")
    assert [(t["name"], t["status"], t["exit_code"]) for t in run["tasks"]] == [(n, "succeeded", 0) for n in "abc"]
    [spec] = engine.submitted
    assert (spec.creator, spec.runner, spec.project) == ("alice", "bob", "proj")
    assert set(spec.templates) == {"a", "b", "c"} and spec.templates["a"].name == "shell"


async def test_refusals_are_domain_errors_and_write_nothing(db):
    engine = InstantEngine()
    manager = manager_for(db, engine)
    with pytest.raises(NotFound, match="pipeline '999' does not exist"):
        await manager.create_run(999, "bob", False)
    broken = add_pipeline(db, "broken", template="no-such-template")
    with pytest.raises(InvalidPipeline) as caught:
        await manager.create_run(broken, "bob", False)
    assert isinstance(caught.value, Conflict) and caught.value.code == "invalid_pipeline"
    assert caught.value.extra["diagnostics"] and all("severity" in d for d in caught.value.extra["diagnostics"])
    with pytest.raises(FieldError) as unknown_task:
        await manager.create_run(add_pipeline(db, "ok"), "bob", False, only_tasks={"zz"})
    assert unknown_task.value.field == "task"
    manager.engine_for_project = lambda project: "nowhere"
    with pytest.raises(Conflict, match="engine 'nowhere'"):
        await manager.create_run(add_pipeline(db, "elsewhere"), "bob", False)
    with db.session() as s:
        assert s.scalars(select(RunRow)).all() == []
    assert engine.submitted == []


async def test_a_run_the_engine_refuses_fails_with_the_reason(db):
    manager = manager_for(db, RefusingEngine())
    run_id = await manager.create_run(add_pipeline(db), "bob", False)
    run = view(db, manager, run_id)
    assert run["status"] == "failed"
    assert "the refusing engine could not start the run: refused on purpose" in run["message"]
    assert {t["status"] for t in run["tasks"]} == {"failed"}


async def test_rerun_from_failed_runs_the_failed_task_and_its_downstream_only(db):
    failing = InstantEngine("instant", failing={"b"})
    manager = manager_for(db, failing)
    pid = add_pipeline(db)
    first = await manager.create_run(pid, "bob", False)
    await failing.wait(first)
    assert [t["status"] for t in view(db, manager, first)["tasks"]] == ["succeeded", "failed", "upstream-failed"]
    with db.session() as s:
        from cubelab_hub.controlplane.store import row_to_pipeline

        pipeline = row_to_pipeline(s.get(PipelineRow, pid))
    again, reuse = await manager.reuse_for_rerun(first, pipeline)
    assert again == {"b", "c"} and set(reuse) == {"a"}
    failing.failing.clear()
    second = await manager.create_run(pid, "bob", False, trigger="rerun-failed", only_tasks=again, reuse=reuse, source_run_id=first)
    await failing.wait(second)
    run = view(db, manager, second)
    assert (run["status"], run["source_run_id"], run["only_tasks"]) == ("succeeded", first, ["b", "c"])
    assert [(t["name"], t["status"]) for t in run["tasks"]] == [("a", "succeeded"), ("b", "succeeded"), ("c", "succeeded")]
    assert failing.submitted[-1].reuse["a"].status == "succeeded"


async def test_every_task_failing_fails_the_run(db):
    engine = FailingEngine()
    manager = manager_for(db, engine)
    run_id = await manager.create_run(add_pipeline(db), "bob", False)
    await engine.wait(run_id)
    run = view(db, manager, run_id)
    assert run["status"] == "failed"
    assert [t["status"] for t in run["tasks"]] == ["failed", "upstream-failed", "upstream-failed"]


async def test_cancel_and_shutdown_leave_nothing_running(db):
    engine = HangingEngine()
    manager = manager_for(db, engine)
    pid = add_pipeline(db)
    cancelled = await manager.create_run(pid, "bob", False)
    stopped = await manager.create_run(pid, "bob", False)
    await engine.settled()
    await manager.cancel(cancelled)
    assert view(db, manager, cancelled)["status"] == "cancelled"
    assert view(db, manager, stopped)["status"] == "running"
    await manager.shutdown()
    run = view(db, manager, stopped)
    assert (run["status"], run["message"]) == ("failed", "the control plane stopped while the run was in flight")
    # the engine stopped every task (none is left running); the run says why it failed
    assert {t["status"] for t in run["tasks"]} == {"cancelled"}
    assert engine.cancelled == [cancelled, stopped]


async def quiet(manager) -> None:
    """A crashed control plane writes nothing more; in one test process its
    writer could still hold a batch, so let it finish first."""
    await asyncio.sleep(0.05)
    await manager.settle()


async def test_a_restarted_service_reattaches_runs_in_flight_or_says_why_not(db):
    hanging = HangingEngine("hanging")
    before = manager_for(db, hanging, keep_runs_on_shutdown=True)
    pid = add_pipeline(db)
    kept = await before.create_run(pid, "bob", False)
    view(db, before, kept)  # flushed: what a crash would leave
    await quiet(before)
    # the next control plane has an engine of the same name that finishes what it adopts
    after_engine = InstantEngine("hanging")
    after = manager_for(db, after_engine)
    await after.start()
    assert after_engine.reattached == [kept]
    await after_engine.wait(kept)
    assert view(db, after, kept)["status"] == "succeeded"

    lost = await before.create_run(pid, "bob", False)
    view(db, before, lost)
    await quiet(before)
    elsewhere = manager_for(db, InstantEngine("other"))
    await elsewhere.start()
    run = view(db, elsewhere, lost)
    assert (run["status"], run["message"]) == ("failed", "engine 'hanging' is not configured after the control plane restarted")


async def test_deleting_a_project_stops_its_runs_and_removes_its_pipelines(db):
    engine = HangingEngine()
    manager = manager_for(db, engine)
    mine, other = add_pipeline(db, project="gone"), add_pipeline(db, project="stays")
    run_id = await manager.create_run(mine, "bob", False)
    await manager.delete_project("gone")
    assert engine.cancelled == [run_id]
    with db.session() as s:
        assert s.get(PipelineRow, mine) is None and s.get(RunRow, run_id) is None
        assert s.get(PipelineRow, other) is not None
