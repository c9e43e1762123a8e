"""The run service's resource checks against a real SQLite database and the
fake engines of ``support.engines``: an engine's capacity and a project's
quota refuse a run with diagnostics on its tasks; what running tasks hold is
counted and published for the spawners. The same through the real REST API
and a real spawn is in ``test_quota_rest.py``."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
from support.engines import HangingEngine

from cubelab_hub.controlplane.db import Database
from cubelab_hub.controlplane.models.pipelines import PipelineRow
from cubelab_hub.controlplane.services.runs import InvalidPipeline
from cubelab_hub.controlplane.services.templates import ensure_builtin_templates
from cubelab_hub.controlplane.store import store_pipeline
from cubelab_hub.domain.pipelines import pipeline_from_dict
from cubelab_hub.domain.projects import Quota
from cubelab_hub.domain.quotas import Capacity, Usage, usage_from_document

from .test_services import add_pipeline, manager_for


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'cp.sqlite'}")
    database.upgrade()
    ensure_builtin_templates(database)
    return database


async def settle():
    for _ in range(5):
        await asyncio.sleep(0.02)


def add_tasks(db, *tasks, project="proj") -> int:
    body = {"name": "p", "project": project, "tasks": [{"template": "shell", "args": {"--command": "true"}, **t} for t in tasks]}
    with db.session() as s:
        row = PipelineRow(name="p", project=project, creator="alice", body={}, schedule_enabled=False)
        store_pipeline(row, pipeline_from_dict(body))
        s.add(row)
        s.flush()
        return row.id


async def test_a_task_beyond_the_engines_capacity_is_refused_with_a_diagnostic_on_it(db):
    engine = HangingEngine()
    engine.capacity = lambda: Capacity(cpu=Decimal(4), memory=2**34, gpu=0)
    manager = manager_for(db, engine, project_quota=lambda project: Quota(gpu=8))
    pid = add_tasks(db, {"name": "prep"}, {"name": "train", "gpu": "2"})
    with pytest.raises(InvalidPipeline) as refused:
        await manager.create_run(pid, "alice", False)
    (diag,) = refused.value.diagnostics
    assert (diag.severity, diag.task, diag.field) == ("error", "train", "gpu")
    assert "'2' asks for 2 GPU card(s) but this machine has 0" in diag.message
    assert engine.submitted == []


async def test_quota_counts_running_tasks_and_servers_and_is_published(db, tmp_path):
    engine = HangingEngine()
    usage_file = tmp_path / "task-usage.json"
    manager = manager_for(db, engine, project_quota=lambda project: Quota(cpu=Decimal(4)) if project == "proj" else Quota(),
                          servers_in_use=lambda project: Usage(cpu=Decimal("0.5")), usage_file=usage_file)
    pid = add_pipeline(db, tasks=("a", "b", "c"))  # each task: the default 1 core; the fake engine runs all at once
    first = await manager.create_run(pid, "alice", False)
    await settle()
    assert manager.tasks_in_use("proj") == Usage(Decimal(3), 3 * 2 * 2**30, 0)
    assert usage_from_document(json.loads(usage_file.read_text()))["proj"].cpu == Decimal(3)

    with pytest.raises(InvalidPipeline) as refused:
        await manager.create_run(pid, "alice", False)
    diags = refused.value.diagnostics
    assert [(d.task, d.field) for d in diags] == [("a", "cpu"), ("b", "cpu"), ("c", "cpu")]
    assert ("project 'proj' has a CPU quota of 4 cores; 3.5 are in use by running servers and tasks; "
            "this run's task 'a' asks for up to 1") in diags[0].message
    assert "quota" in str(refused.value)

    await manager.cancel(first)
    await settle()
    assert manager.tasks_in_use("proj") == Usage()
    assert usage_from_document(json.loads(usage_file.read_text())) == {}
    second = await manager.create_run(pid, "alice", False)  # room again
    await settle()
    await manager.cancel(second)


async def test_a_project_without_quota_asks_nobody_about_servers(db):
    asked = []
    manager = manager_for(db, HangingEngine(), project_quota=lambda project: Quota(),
                          servers_in_use=lambda project: asked.append(project) or Usage())
    run_id = await manager.create_run(add_pipeline(db), "alice", False)
    await settle()
    assert asked == []
    await manager.cancel(run_id)
