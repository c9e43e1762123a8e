"""Rows <-> domain objects, and the JSON views of rows the API answers with.

Pure functions over ORM rows: no session is opened here (callers hold one), no
HTTP. Services and handlers both use them, so a view has one shape everywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from ..domain.experiments import Experiment, experiment_from_dict
from ..domain.pipelines import Pipeline, pipeline_from_dict
from ..domain.schedules import next_ticks
from ..domain.templates import JobTemplate, template_from_dict
from ..engines.base import RunState, TaskState
from .models.experiments import ExperimentRow, TrialMetricRow, TrialRow
from .models.pipelines import PipelineRow, RunRow, ScheduleRecordRow, TaskRunRow, TemplateRow, aware


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime | None) -> str | None:
    dt = aware(dt)
    return dt.isoformat() if dt else None


# ---------------------------------------------------------------- pipelines


def row_to_pipeline(row: PipelineRow) -> Pipeline:
    pipeline = pipeline_from_dict({k: v for k, v in row.body.items() if k not in ("id", "creator")})
    pipeline.id = row.id
    pipeline.creator = row.creator
    pipeline.project = row.project
    return pipeline


def store_pipeline(row: PipelineRow, pipeline: Pipeline) -> None:
    """Write the body and the scheduler's columns together (one transaction)."""
    was_enabled = row.schedule_enabled
    body = pipeline.to_dict()
    body.pop("id", None)
    body.pop("creator", None)
    row.name = pipeline.name
    row.project = pipeline.project
    row.body = body
    row.schedule_enabled = bool(pipeline.schedule.enabled and pipeline.schedule.cron)
    if row.schedule_enabled and not was_enabled:
        # turning a schedule on does not replay the time it was off (unless backfill asks)
        row.schedule_enabled_at = utcnow()
        row.last_tick = None
    # cron, zone or start time may have changed: the scheduler plans it again on its next pass
    row.next_fire_at = None


def pipeline_summary(row: PipelineRow, last_run: RunRow | None) -> dict:
    """One entry of the pipeline list."""
    return {
        "id": row.id, "name": row.name, "project": row.project, "creator": row.creator,
        "description": row.body.get("description", ""), "tasks": len(row.body.get("tasks", [])),
        "schedule_enabled": row.schedule_enabled,
        "demo": str((row.body.get("parameter") or {}).get("demo", "")).strip().lower() in ("true", "1"),
        "updated_at": aware(row.updated_at).isoformat() if row.updated_at else None,
        "last_run": {"id": last_run.id, "status": last_run.status} if last_run else None,
    }


def schedule_view(row: PipelineRow, now: datetime) -> dict:
    """A pipeline's schedule settings with the next 5 tick times after ``now``."""
    settings = row_to_pipeline(row).schedule
    data = settings.to_dict()
    data["next"] = [t.isoformat() for t in next_ticks(settings, now, 5)] if settings.cron else []
    data["last_tick"] = aware(row.last_tick).isoformat() if row.last_tick else None
    return data


def record_view(r: ScheduleRecordRow) -> dict:
    return {"id": r.id, "pipeline_id": r.pipeline_id, "tick": aware(r.tick).isoformat(), "status": r.status, "reason": r.reason,
            "run_id": r.run_id, "created_at": aware(r.created_at).isoformat() if r.created_at else None}


# ---------------------------------------------------------------- runs


def task_view(t: TaskRunRow) -> dict:
    return {
        "name": t.name, "status": t.status, "attempts": t.attempts, "exit_code": t.exit_code,
        "started_at": iso(t.started_at), "finished_at": iso(t.finished_at), "message": t.message,
        "outputs": t.outputs or {}, "peak_cpu": t.peak_cpu, "peak_memory": t.peak_memory,
    }


def run_view(session, run: RunRow, with_tasks: bool = True) -> dict:
    data = {
        "id": run.id, "pipeline_id": run.pipeline_id, "pipeline_name": (run.spec.get("pipeline") or {}).get("name"),
        "project": run.project, "trigger": run.trigger, "runner": run.runner, "engine": run.engine, "status": run.status,
        "message": run.message, "source_run_id": run.source_run_id, "schedule_time": iso(run.schedule_time),
        "created_at": iso(run.created_at), "started_at": iso(run.started_at), "finished_at": iso(run.finished_at),
        "only_tasks": run.spec.get("only_tasks"),
    }
    if with_tasks:
        rows = session.scalars(select(TaskRunRow).where(TaskRunRow.run_id == run.id)).all()
        order = [t["name"] for t in (run.spec.get("pipeline") or {}).get("tasks", [])]
        rows.sort(key=lambda r: order.index(r.name) if r.name in order else len(order))
        data["tasks"] = [task_view(t) for t in rows]
        data["edges"] = (run.spec.get("pipeline") or {}).get("edges", [])
    return data


def task_state_from_row(t: TaskRunRow) -> TaskState:
    """What a later run reuses of a finished task (status, outputs, log)."""
    return TaskState(name=t.name, status=t.status, attempts=t.attempts, exit_code=t.exit_code, started_at=aware(t.started_at),
                     finished_at=aware(t.finished_at), message=t.message, outputs=dict(t.outputs or {}), log_path=t.log_path)


def run_state_from_rows(run: RunRow, tasks: list[TaskRunRow]) -> RunState:
    """The saved state an engine re-attaches from, with everything it stored."""
    state = RunState(run_id=run.id, status=run.status, started_at=aware(run.started_at), finished_at=aware(run.finished_at),
                     message=run.message, engine_data=dict(run.engine_data or {}))
    for t in tasks:
        state.tasks[t.name] = TaskState(
            name=t.name, status=t.status, attempts=t.attempts, exit_code=t.exit_code, started_at=aware(t.started_at),
            finished_at=aware(t.finished_at), message=t.message, outputs=dict(t.outputs or {}), log_path=t.log_path,
            pid=t.pid, external_id=t.external_id, peak_cpu=t.peak_cpu, peak_memory=t.peak_memory,
        )
    return state


# ---------------------------------------------------------------- templates


def row_to_template(row: TemplateRow) -> JobTemplate:
    # stored bodies were checked when written; what was kept with a warning then loads as kept
    return template_from_dict(row.body, warnings=[])


def template_view(row: TemplateRow) -> dict:
    data = dict(row.body)
    data["id"] = row.id
    data["created_by"] = row.created_by
    data["retired"] = bool(row.retired)
    data["updated_at"] = aware(row.updated_at).isoformat() if row.updated_at else None
    return data


def new_template_row(tpl: JobTemplate, actor: str | None) -> TemplateRow:
    # only the installation's own built-ins are protected from deletion
    tpl.builtin = actor is None and tpl.builtin
    return TemplateRow(
        name=tpl.name, version=tpl.version, kind=tpl.kind, category=tpl.category, category_index=tpl.category_index,
        body=tpl.to_dict(), builtin=tpl.builtin, created_by=actor,
    )


def update_template_row(row: TemplateRow, tpl: JobTemplate) -> None:
    row.kind, row.category, row.category_index = tpl.kind, tpl.category, tpl.category_index
    body = tpl.to_dict()
    body["builtin"] = row.builtin
    row.body = body


# ---------------------------------------------------------------- experiments


def row_to_experiment(row: ExperimentRow) -> Experiment:
    exp = experiment_from_dict({k: v for k, v in row.body.items() if k not in ("id", "creator")})
    exp.id = row.id
    exp.creator = row.creator
    return exp


def experiment_body(exp: Experiment) -> dict:
    body = exp.to_dict()
    body.pop("id", None)
    body.pop("creator", None)
    return body


def experiment_view(row: ExperimentRow, counts: dict[str, int], best: TrialRow | None) -> dict:
    """An experiment as the REST API shows it: its spec (what was posted), where
    it stands (progress by trial status) and its best trial so far."""
    spec = dict(row.body)
    return {
        "id": row.id, "name": row.name, "project": row.project, "creator": row.creator,
        "description": spec.get("description", ""), "status": row.status, "end_reason": row.end_reason,
        "message": row.message, "created_at": iso(row.created_at), "started_at": iso(row.started_at),
        "finished_at": iso(row.finished_at), "spec": spec,
        "progress": {
            "trials": sum(counts.values()), "max_trials": spec.get("max_trials"),
            "pending": counts.get("pending", 0), "running": counts.get("running", 0),
            "succeeded": counts.get("succeeded", 0), "failed": counts.get("failed", 0),
            "early_stopped": counts.get("early-stopped", 0), "cancelled": counts.get("cancelled", 0),
        },
        "best": None if best is None else {
            "trial_id": best.id, "seq": best.seq, "value": best.final_value, "parameters": best.parameters},
    }


def trial_view(row: TrialRow, intermediate_count: int) -> dict:
    started, finished = aware(row.started_at), aware(row.finished_at)
    return {
        "id": row.id, "experiment_id": row.experiment_id, "seq": row.seq, "status": row.status,
        "parameters": row.parameters, "final_value": row.final_value, "intermediate_count": intermediate_count,
        "run_id": row.run_id, "message": row.message, "created_at": iso(row.created_at), "started_at": iso(started),
        "finished_at": iso(finished),
        "duration_seconds": (finished - started).total_seconds() if started and finished else None,
        "source_trial_id": row.source_trial_id,
    }


def metric_view(m: TrialMetricRow, seq: int) -> dict:
    """One reported point; ``seq`` is its trial's number in the experiment."""
    return {"id": m.id, "trial_id": m.trial_id, "seq": seq, "kind": m.kind, "sequence": m.sequence, "value": m.value}
