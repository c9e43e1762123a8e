"""Pipelines as stored: names unique per project, deletion guarded by active
runs, the latest run of each, and resource proposals from measured peaks."""

from __future__ import annotations

from sqlalchemy import func, select

from ...domain.errors import Conflict
from ...domain.proposals import propose_resources
from ..models.pipelines import PipelineRow, RunRow, TaskRunRow
from ..store import row_to_pipeline
from .templates import load_catalog

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
