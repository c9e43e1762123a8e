"""Pipelines as stored: names unique per project, deletion guarded by active
runs, the latest run of each, and resource proposals from measured peaks."""

from __future__ import annotations

import copy

from sqlalchemy import func, select

from ...domain.errors import Conflict, FieldError
from ...domain.pipelines import Pipeline
from ...domain.proposals import propose_resources
from ...domain.templates import retired_uses
from ...importers.cube_studio_pipeline import PipelineEntryReport, import_cube_studio_pipelines
from ..models.pipelines import PipelineRow, RunRow, TaskRunRow
from ..store import row_to_pipeline, store_pipeline
from .templates import load_catalog, retired_refs

ACTIVE = ("pending", "running")


def ensure_unique(session, project: str, name: str, exclude: int | None = None) -> None:
    q = select(PipelineRow.id).where(PipelineRow.project == project, PipelineRow.name == name)
    for other in session.scalars(q).all():
        if other != exclude:
            raise Conflict(f"project '{project}' already has a pipeline named '{name}'", "name")


def delete_pipeline(session, row: PipelineRow) -> None:
    """Delete with its runs and schedule records; refused while runs are active."""
    active = session.scalar(select(func.count()).select_from(RunRow).where(RunRow.pipeline_id == row.id, RunRow.status.in_(ACTIVE)))
    if active:
        raise Conflict(f"pipeline has {active} active run(s); cancel them first")
    session.delete(row)


def latest_runs(session, pipeline_ids: list[int]) -> dict[int, RunRow]:
    """The newest run of every pipeline, in one query (the sidebar refreshes its list often)."""
    newest = (select(RunRow.pipeline_id, func.max(RunRow.created_at).label("at"))
              .where(RunRow.pipeline_id.in_(pipeline_ids)).group_by(RunRow.pipeline_id).subquery())
    return {run.pipeline_id: run for run in session.scalars(
        select(RunRow).join(newest, (RunRow.pipeline_id == newest.c.pipeline_id) & (RunRow.created_at == newest.c.at)))}


def resource_proposals(session, row: PipelineRow) -> list:
    pipeline = row_to_pipeline(row)
    catalog = load_catalog(session)
    proposals = []
    for task in pipeline.tasks:
        q = (
            select(TaskRunRow.peak_cpu, TaskRunRow.peak_memory)
            .join(RunRow, RunRow.id == TaskRunRow.run_id)
            .where(RunRow.pipeline_id == row.id, TaskRunRow.name == task.name, TaskRunRow.status == "succeeded",
                   TaskRunRow.peak_cpu.is_not(None), TaskRunRow.peak_memory.is_not(None), TaskRunRow.attempts > 0)
        )
        peaks = [(c, m) for c, m in session.execute(q).all()]
        proposal = propose_resources(task, catalog.get(task.template, task.template_version), peaks)
        if proposal is not None:
            proposals.append(proposal)
    return proposals


def accept_proposal(session, row: PipelineRow, task: str):
    """Write a task's proposed CPU and memory into the pipeline (the caller stores it)."""
    proposal = next((p for p in resource_proposals(session, row) if p.task == task), None)
    if proposal is None:
        raise Conflict(f"task '{task}' has no resource proposal (needs 10 successful runs with measurements)")
    pipeline = row_to_pipeline(row)
    target = pipeline.task(task)
    target.cpu, target.memory = proposal.cpu, proposal.memory
    return pipeline


def _new_row(session, pipeline: Pipeline, actor: str) -> PipelineRow:
    row = PipelineRow(name=pipeline.name, project=pipeline.project, creator=actor, body={}, schedule_enabled=False)
    store_pipeline(row, pipeline)
    session.add(row)
    session.flush()
    return row


def import_cube_studio(session, document, project: str, actor: str) -> tuple[list[PipelineRow], list[PipelineEntryReport]]:
    """Every pipeline of a Cube Studio file into ``project``, entry by entry: an
    entry whose name the project already has is refused in its report, the
    others are saved (drafts where validation finds errors, as any import)."""
    catalog = load_catalog(session)
    pipelines, reports = import_cube_studio_pipelines(document, catalog, project=project)
    by_name = {r.name: r for r in reports if r.status == "imported"}
    retired = retired_refs(session)
    rows = []
    for pipeline in pipelines:
        # a retired template is for the pipelines that already use it, not for new ones
        refused = retired_uses(pipeline.tasks, catalog, retired)
        if refused:
            report = by_name[pipeline.name]
            report.status = "refused"
            report.errors.extend(FieldError(f"{report.entry}.{e.field}", e.message, e.accepted) for e in refused)
            continue
        try:
            ensure_unique(session, pipeline.project, pipeline.name)
        except Conflict as exc:
            report = by_name[pipeline.name]
            report.status = "refused"
            report.errors.append(FieldError(f"{report.entry}.pipeline.name", str(exc), "a name the project does not have yet"))
            continue
        rows.append(_new_row(session, pipeline, actor))
    return rows, reports


def copy_pipeline(session, row: PipelineRow, project: str, name: str | None, actor: str) -> PipelineRow:
    """A copy of a pipeline (a demo, typically) in ``project``, owned by ``actor``:
    tasks, edges, env and positions as they are; not a demo, its schedule off."""
    pipeline = row_to_pipeline(row)
    new = copy.deepcopy(pipeline)
    new.id, new.creator, new.project = None, actor, project
    new.name = name or pipeline.name
    new.parameter = {k: v for k, v in pipeline.parameter.items() if k != "demo"}
    new.schedule.enabled = False
    ensure_unique(session, new.project, new.name)
    return _new_row(session, new, actor)
