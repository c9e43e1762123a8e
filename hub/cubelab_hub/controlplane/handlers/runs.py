"""Pipeline runs: create (manual, re-run, re-run from failed, debug one task),
list, read, cancel, and task logs (``?follow=1`` streams while the task runs).

:class:`RunManager` is the control plane's side of the engine interface: it
snapshots the pipeline and templates into the run, persists every event the
engine reports, and re-attaches runs that were in flight when the control
plane restarted (or marks them failed with the reason).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import bindparam, select, update
from tornado.iostream import StreamClosedError

from ...domain.errors import FieldError
from ...domain.pipelines import Pipeline, has_errors, pipeline_from_dict, validate
from ...domain.templates import template_from_dict
from ...engines.base import (
    FAILED,
    PENDING,
    RUN_FINAL,
    RUNNING,
    SKIPPED,
    SUCCEEDED,
    TASK_FINAL,
    Engine,
    EngineError,
    RunEvent,
    RunSpec,
    RunState,
    TaskState,
    UnknownRun,
)
from ..models.pipelines import PipelineRow, RunRow, TaskRunRow, aware
from .base import APIError, not_found, op, route
from .pipelines import ID_PARAM, TASK_PARAM, PipelineBase, row_to_pipeline
from .templates import load_catalog

TAGS = ["runs"]
RUN_PARAM = {"name": "run_id", "in": "path", "required": True, "schema": {"type": "string"}}
ACTIVE = (PENDING, RUNNING)
log = logging.getLogger("cubelab.runs")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class InvalidPipeline(Exception):
    def __init__(self, diagnostics):
        self.diagnostics = diagnostics
        super().__init__("pipeline is invalid: " + "; ".join(d.message for d in diagnostics if d.severity == "error"))


def _iso(dt):
    dt = aware(dt)
    return dt.isoformat() if dt else None


def task_view(t: TaskRunRow) -> dict:
    return {
        "name": t.name, "status": t.status, "attempts": t.attempts, "exit_code": t.exit_code,
        "started_at": _iso(t.started_at), "finished_at": _iso(t.finished_at), "message": t.message,
        "outputs": t.outputs or {}, "peak_cpu": t.peak_cpu, "peak_memory": t.peak_memory,
    }


def run_view(session, run: RunRow, with_tasks: bool = True) -> dict:
    data = {
        "id": run.id, "pipeline_id": run.pipeline_id, "pipeline_name": (run.spec.get("pipeline") or {}).get("name"),
        "project": run.project, "trigger": run.trigger, "runner": run.runner, "engine": run.engine, "status": run.status,
        "message": run.message, "source_run_id": run.source_run_id, "schedule_time": _iso(run.schedule_time),
        "created_at": _iso(run.created_at), "started_at": _iso(run.started_at), "finished_at": _iso(run.finished_at),
        "only_tasks": run.spec.get("only_tasks"),
    }
    if with_tasks:
        rows = session.scalars(select(TaskRunRow).where(TaskRunRow.run_id == run.id)).all()
        order = [t["name"] for t in (run.spec.get("pipeline") or {}).get("tasks", [])]
        rows.sort(key=lambda r: order.index(r.name) if r.name in order else len(order))
        data["tasks"] = [task_view(t) for t in rows]
        data["edges"] = (run.spec.get("pipeline") or {}).get("edges", [])
    return data


def _state_from_rows(run: RunRow, tasks: list[TaskRunRow]) -> RunState:
    state = RunState(run_id=run.id, status=run.status, started_at=aware(run.started_at), finished_at=aware(run.finished_at),
                     message=run.message, engine_data=dict(run.engine_data or {}))
    for t in tasks:
        state.tasks[t.name] = TaskState(
            name=t.name, status=t.status, attempts=t.attempts, exit_code=t.exit_code, started_at=aware(t.started_at),
            finished_at=aware(t.finished_at), message=t.message, outputs=dict(t.outputs or {}), log_path=t.log_path,
            pid=t.pid, external_id=t.external_id, peak_cpu=t.peak_cpu, peak_memory=t.peak_memory,
        )
    return state


class RunManager:
    """Creates runs, persists engine events, re-attaches after a restart."""

    def __init__(self, database, data_dir: str | Path, engines: dict[str, Engine] | None = None, default_engine: str = "local",
                 keep_runs_on_shutdown: bool = False, engine_for_project=None):
        self.db = database
        self.data_dir = Path(data_dir)
        if engines is None:
            from ...engines.local import LocalEngine

            # the same workspace the local spawner gives each user's Jupyter server
            engines = {"local": LocalEngine(self.data_dir / "runs", workspace_for=lambda user: self.data_dir / "workspaces" / user)}
        self.engines = engines
        self.default_engine = default_engine
        # project -> engine name (e.g. from the project's 'cluster' setting); default_engine when None
        self.engine_for_project = engine_for_project
        self.keep_runs_on_shutdown = keep_runs_on_shutdown
        self.flush_delay = 0.1  # how stale a stored status may be (readers such as the SSE stream poll at 0.25s)
        self.created_at = utcnow()
        self._pending_runs: dict[str, RunState] = {}
        self._pending_tasks: dict[tuple[str, str], TaskState] = {}
        self._flush_handle = None
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="cubelab-run-events")
        self._inflight = None
        for engine in engines.values():
            engine.add_listener(self.on_event)

    # ------------------------------------------------------------ persistence of events

    def on_event(self, event: RunEvent) -> None:
        """Events are coalesced and written in batches, one transaction each, by a
        writer thread (a transaction per event costs a disk sync each, tens of ms
        per task, and would stall the event loop that drives the runs)."""
        if event.kind == "run":
            self._pending_runs[event.run_id] = event.run
        else:
            self._pending_tasks[(event.run_id, event.task.name)] = event.task
        if self._flush_handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._flush_handle = loop.call_later(self.flush_delay, self._flush_soon)

    def _take(self):
        """Swap out what is pending and copy it into plain rows, on the loop's thread
        (the engine changes its state objects there; the writer must not see them move)."""
        runs, tasks = self._pending_runs, self._pending_tasks
        if not runs and not tasks:
            return None
        self._pending_runs, self._pending_tasks = {}, {}
        task_rows = [
            {"b_run": run_id, "b_name": name, "status": ts.status, "attempts": ts.attempts, "exit_code": ts.exit_code,
             "started_at": ts.started_at, "finished_at": ts.finished_at, "message": ts.message or "",
             "outputs": dict(ts.outputs), "log_path": ts.log_path, "pid": ts.pid, "external_id": ts.external_id,
             "peak_cpu": ts.peak_cpu, "peak_memory": ts.peak_memory}
            for (run_id, name), ts in tasks.items()
        ]
        run_rows = [
            {"b_id": run_id, "status": st.status, "message": st.message or "", "started_at": st.started_at,
             "finished_at": st.finished_at, "engine_data": dict(st.engine_data)}
            for run_id, st in runs.items()
        ]
        return runs, tasks, task_rows, run_rows

    def _requeue(self, snap) -> None:
        # the live state objects: writing them later writes their newest values
        runs, tasks, _, _ = snap
        for key, value in runs.items():
            self._pending_runs.setdefault(key, value)
        for key, value in tasks.items():
            self._pending_tasks.setdefault(key, value)

    def _write(self, snap) -> None:
        _, _, task_rows, run_rows = snap
        with self.db.session() as session:
            # Core executemany: no ORM loading of rows, one statement per batch
            if task_rows:
                table = TaskRunRow.__table__
                session.execute(
                    update(table).where(table.c.run_id == bindparam("b_run"), table.c.name == bindparam("b_name")).values(
                        **{k: bindparam(k) for k in task_rows[0] if not k.startswith("b_")}),
                    task_rows)
            if run_rows:
                table = RunRow.__table__
                session.execute(
                    update(table).where(table.c.id == bindparam("b_id")).values(**{k: bindparam(k) for k in run_rows[0] if k != "b_id"}),
                    run_rows)

    def _flush_soon(self) -> None:
        self._flush_handle = None
        loop = asyncio.get_running_loop()
        if self._inflight is not None and not self._inflight.done():
            # one batch at a time, so batches land in order
            self._flush_handle = loop.call_later(self.flush_delay, self._flush_soon)
            return
        snap = self._take()
        if snap is None:
            return
        fut = self._writer.submit(self._write, snap)
        self._inflight = fut
        fut.add_done_callback(lambda f: loop.call_soon_threadsafe(self._written, f, snap))

    def _written(self, fut, snap) -> None:
        if fut.exception() is not None:
            log.error("persisting run events failed; retrying", exc_info=fut.exception())
            self._requeue(snap)
            if self._flush_handle is None:
                self._flush_handle = asyncio.get_running_loop().call_later(1.0, self._flush_soon)

    def flush(self) -> None:
        """Write everything now (before reading runs back, and on shutdown)."""
        if self._inflight is not None:
            try:
                self._inflight.result()
            except Exception:
                pass  # its callback requeues; those objects are written below or next time
        snap = self._take()
        if snap is None:
            return
        try:
            self._write(snap)
        except BaseException:
            self._requeue(snap)
            raise

    # ------------------------------------------------------------ creating runs

    def engine_for(self, name: str) -> Engine | None:
        return self.engines.get(name)

    async def create_run(self, pipeline_id: int, runner: str, runner_admin: bool, trigger: str = "manual",
                         only_tasks: set[str] | None = None, reuse: dict[str, TaskState] | None = None,
                         source_run_id: str | None = None, schedule_time: datetime | None = None) -> str:
        """Validate, snapshot, persist (one transaction), then submit. Raises
        :class:`InvalidPipeline` with the diagnostics when the pipeline has errors."""
        with self.db.session() as session:
            prow = session.get(PipelineRow, pipeline_id)
            if prow is None:
                raise KeyError(pipeline_id)
            pipeline, creator = row_to_pipeline(prow), prow.creator
        return await self._create(pipeline, creator, pipeline_id, runner, runner_admin, trigger, only_tasks, reuse, source_run_id, schedule_time)

    async def create_oneoff(self, pipeline: Pipeline, runner: str, runner_admin: bool) -> str:
        """A run of tasks that belong to no saved pipeline (a notebook's ``%%cubelab task``)."""
        return await self._create(pipeline, runner, None, runner, runner_admin, "oneoff", None, None, None, None)

    async def _create(self, pipeline: Pipeline, creator: str, pipeline_id: int | None, runner: str, runner_admin: bool, trigger: str,
                      only_tasks, reuse, source_run_id, schedule_time) -> str:
        project = pipeline.project
        engine_name = self.default_engine
        if self.engine_for_project is not None:
            chosen = self.engine_for_project(project)
            engine_name = (await chosen if hasattr(chosen, "__await__") else chosen) or self.default_engine
        if engine_name not in self.engines:
            raise APIError(409, "conflict", f"project '{project}' runs on engine '{engine_name}', which this control plane does not have")
        with self.db.session() as session:
            catalog = load_catalog(session)
            diags = validate(pipeline, catalog, runner_admin)
            if only_tasks is not None:
                unknown = sorted(only_tasks - {t.name for t in pipeline.tasks})
                if unknown:
                    raise FieldError("task", f"task '{unknown[0]}' is not in the pipeline", ", ".join(t.name for t in pipeline.tasks))
            if has_errors(diags):
                raise InvalidPipeline(diags)
            templates = {t.name: catalog.get(t.template, t.template_version) for t in pipeline.tasks}
            run_id = "run-" + uuid.uuid4().hex[:12]
            spec_json = {
                "pipeline": pipeline.to_dict(),
                "templates": {name: tpl.to_dict() for name, tpl in templates.items()},
                "only_tasks": sorted(only_tasks) if only_tasks is not None else None,
                "reuse": {name: st.to_dict() for name, st in (reuse or {}).items()},
                "creator": creator,
                "runner": runner,
            }
            run = RunRow(id=run_id, pipeline_id=pipeline_id, project=project, trigger=trigger, runner=runner,
                         engine=engine_name, status=PENDING, message="", spec=spec_json, engine_data={},
                         source_run_id=source_run_id, schedule_time=schedule_time, created_at=utcnow())
            session.add(run)
            for task in pipeline.tasks:
                session.add(TaskRunRow(run_id=run_id, name=task.name, status=PENDING, attempts=0, message="", outputs={}))
        spec = self.spec_from_json(run_id, spec_json, project, trigger, schedule_time)
        engine = self.engines[engine_name]
        try:
            await engine.submit(spec)
        except Exception as exc:
            log.exception("submitting run %s failed", run_id)
            self._mark_failed(run_id, f"the {engine_name} engine could not start the run: {exc}")
        return run_id

    def spec_from_json(self, run_id: str, spec: dict, project: str, trigger: str, schedule_time) -> RunSpec:
        pipeline = pipeline_from_dict(spec["pipeline"])
        return RunSpec(
            run_id=run_id, pipeline=pipeline,
            templates={name: template_from_dict(body) for name, body in spec["templates"].items()},
            creator=spec.get("creator") or "", runner=spec.get("runner") or "", project=project, trigger=trigger,
            only_tasks=set(spec["only_tasks"]) if spec.get("only_tasks") is not None else None,
            reuse={name: TaskState.from_dict(st) for name, st in (spec.get("reuse") or {}).items()},
            schedule_time=aware(schedule_time),
        )

    def _mark_failed(self, run_id: str, reason: str) -> None:
        self.flush()
        with self.db.session() as session:
            run = session.get(RunRow, run_id)
            if run is None or run.status in RUN_FINAL:
                return
            now = utcnow()
            run.status, run.message, run.finished_at = FAILED, reason, now
            for t in session.scalars(select(TaskRunRow).where(TaskRunRow.run_id == run_id)).all():
                if t.status not in TASK_FINAL:
                    t.status, t.message, t.finished_at, t.pid = FAILED, reason, now, None

    # ------------------------------------------------------------ restart

    async def start(self) -> None:
        """Re-attach every run that was in flight when the control plane stopped
        (runs created by this process are its own already)."""
        with self.db.session() as session:
            ids = session.scalars(select(RunRow.id).where(RunRow.status.in_(ACTIVE), RunRow.created_at < self.created_at)).all()
        for run_id in ids:
            with self.db.session() as session:
                run = session.get(RunRow, run_id)
                if run.status not in ACTIVE:  # cancelled meanwhile
                    continue
                tasks = session.scalars(select(TaskRunRow).where(TaskRunRow.run_id == run_id)).all()
            engine = self.engines.get(run.engine)
            if engine is None:
                self._mark_failed(run.id, f"engine '{run.engine}' is not configured after the control plane restarted")
                continue
            try:
                spec = self.spec_from_json(run.id, run.spec, run.project, run.trigger, run.schedule_time)
                await engine.reattach(spec, _state_from_rows(run, tasks))
                log.info("re-attached run %s", run.id)
            except Exception as exc:
                log.exception("re-attaching run %s failed", run.id)
                self._mark_failed(run.id, f"could not re-attach after the control plane restarted: {exc}")

    async def shutdown(self) -> None:
        """On a clean stop, runs in flight are stopped and marked failed with the reason
        (no process is left behind); after a crash, :meth:`start` re-attaches instead."""
        reason = "the control plane stopped while the run was in flight"
        for name, engine in self.engines.items():
            # local processes would outlive us unsupervised; cluster workflows run on and are re-attached
            if engine.stops_with_control_plane and not self.keep_runs_on_shutdown:
                with self.db.session() as session:
                    ids = session.scalars(select(RunRow.id).where(RunRow.status.in_(ACTIVE), RunRow.engine == name)).all()

                async def stop(run_id: str) -> None:
                    try:
                        await engine.cancel(run_id, reason=reason)
                    except UnknownRun:
                        pass

                await asyncio.gather(*(stop(run_id) for run_id in ids))  # all at once: each may wait a kill grace
                for run_id in ids:
                    self._mark_failed(run_id, reason)
                    with self.db.session() as session:
                        # the engine reports 'cancelled'; the run did not finish, so it failed, for this reason
                        run = session.get(RunRow, run_id)
                        run.status, run.message = FAILED, reason
            await engine.close()
        self.flush()

    # ------------------------------------------------------------ actions

    async def delete_project(self, project: str) -> None:
        """Before a project goes: stop its runs, then remove its pipelines (their
        runs, task runs and schedule records go with them, in one transaction)."""
        with self.db.session() as session:
            active = session.scalars(select(RunRow.id).where(RunRow.project == project, RunRow.status.in_(ACTIVE))).all()
        for run_id in active:
            await self.cancel(run_id)
        with self.db.session() as session:
            for row in session.scalars(select(PipelineRow).where(PipelineRow.project == project)).all():
                session.delete(row)

    async def cancel(self, run_id: str) -> None:
        self.flush()
        with self.db.session() as session:
            run = session.get(RunRow, run_id)
            engine_name, status = run.engine, run.status
        if status in RUN_FINAL:
            return
        engine = self.engines.get(engine_name)
        try:
            if engine is None:
                raise UnknownRun(run_id)
            await engine.cancel(run_id)
            self.flush()
        except UnknownRun:
            self._mark_failed(run_id, "cancelled (the engine no longer held the run)")
            with self.db.session() as session:
                session.get(RunRow, run_id).status = "cancelled"

    def reuse_for_rerun(self, source_run_id: str, pipeline: Pipeline) -> tuple[set[str], dict[str, TaskState]]:
        """Re-run from failed: tasks that did not succeed, and everything downstream
        of them, run again; succeeded tasks keep their outputs."""
        with self.db.session() as session:
            rows = {t.name: t for t in session.scalars(select(TaskRunRow).where(TaskRunRow.run_id == source_run_id)).all()}
        names = {t.name for t in pipeline.tasks}
        # a task skipped on purpose is not a failure; everything else that did not succeed runs again
        again = {n for n in names if n not in rows or rows[n].status not in (SUCCEEDED, SKIPPED)}
        for n in list(again):
            again |= pipeline.descendants(n)
        reuse = {n: _state_from_rows_one(rows[n]) for n in names - again}
        return again, reuse

    def reuse_for_debug(self, pipeline_id: int, pipeline: Pipeline, task: str) -> dict[str, TaskState]:
        """Debug one task: its upstreams' outputs come from their latest successful run."""
        reuse = {}
        with self.db.session() as session:
            for name in pipeline.ancestors(task):
                q = (select(TaskRunRow).join(RunRow, RunRow.id == TaskRunRow.run_id)
                     .where(RunRow.pipeline_id == pipeline_id, TaskRunRow.name == name, TaskRunRow.status == SUCCEEDED)
                     .order_by(TaskRunRow.finished_at.desc()).limit(1))
                row = session.scalars(q).first()
                if row is not None:
                    reuse[name] = _state_from_rows_one(row)
        return reuse


def _state_from_rows_one(t: TaskRunRow) -> TaskState:
    return TaskState(name=t.name, status=t.status, attempts=t.attempts, exit_code=t.exit_code, started_at=aware(t.started_at),
                     finished_at=aware(t.finished_at), message=t.message, outputs=dict(t.outputs or {}), log_path=t.log_path)


# ---------------------------------------------------------------- handlers


class RunBase(PipelineBase):
    @property
    def manager(self) -> RunManager:
        return self.app.pipeline_runs

    def load_run(self, session, run_id: str, action: str = "pipeline:read") -> RunRow:
        run = session.get(RunRow, run_id)
        if run is None or not self.allowed("pipeline:read", run.project):
            raise not_found("run", run_id)
        if action != "pipeline:read":
            prow = session.get(PipelineRow, run.pipeline_id) if run.pipeline_id is not None else None
            # a one-off run belongs to whoever started it
            self.require(action, run.project, prow.creator if prow else run.runner)
        return run

    async def start_run(self, pipeline_id: int, **kwargs) -> None:
        try:
            run_id = await self.manager.create_run(pipeline_id, self.actor.name, self.actor.admin, **kwargs)
        except InvalidPipeline as exc:
            raise APIError(409, "invalid_pipeline", str(exc), None, diagnostics=[d.to_dict() for d in exc.diagnostics])
        with self.db.session() as session:
            self.send(run_view(session, session.get(RunRow, run_id)), 201)


class PipelineRunsHandler(RunBase):
    openapi = {
        "get": op("Runs of a pipeline, newest first", tags=TAGS, returns="RunList", params=[ID_PARAM,
                  {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "default": 50}}]),
        "post": op("Start a manual run (refused with the diagnostics while the pipeline is invalid); several may run at once",
                   tags=TAGS, returns="Run", status=201, params=[ID_PARAM], errors=(400, 401, 403, 404, 409)),
    }

    async def get(self, pipeline_id):
        limit = _limit(self.get_argument("limit", "50"))
        with self.db.session() as session:
            prow = self.load(session, pipeline_id)
            rows = session.scalars(select(RunRow).where(RunRow.pipeline_id == prow.id).order_by(RunRow.created_at.desc()).limit(limit)).all()
            self.send({"runs": [run_view(session, r, with_tasks=False) for r in rows]})

    async def post(self, pipeline_id):
        with self.db.session() as session:
            prow = self.load(session, pipeline_id, "pipeline:run")
            pid = prow.id
        await self.start_run(pid, trigger="manual")


class DebugTaskHandler(RunBase):
    openapi = {"post": op("Run one task alone for debugging; its upstreams' outputs come from their latest successful run",
                          tags=TAGS, returns="Run", status=201, params=[ID_PARAM, TASK_PARAM], errors=(400, 401, 403, 404, 409))}

    async def post(self, pipeline_id, task):
        with self.db.session() as session:
            prow = self.load(session, pipeline_id, "pipeline:run")
            pipeline = row_to_pipeline(prow)
            pid = prow.id
        if pipeline.task(task) is None:
            raise not_found("task", task)
        reuse = self.manager.reuse_for_debug(pid, pipeline, task)
        await self.start_run(pid, trigger="debug", only_tasks={task}, reuse=reuse)


class RunListHandler(RunBase):
    openapi = {
        "get": op("Recent runs of the caller's projects", tags=TAGS, returns="RunList", params=[
            {"name": "project", "in": "query", "required": False, "schema": {"type": "string"}},
            {"name": "status", "in": "query", "required": False, "schema": {"type": "string"}},
            {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "default": 50}}]),
        "post": op("Run one task that belongs to no saved pipeline (e.g. a notebook cell as a python task) in a project "
                   "(creators and devs); refused with the diagnostics when invalid", tags=TAGS, body="OneOffRun", returns="Run",
                   status=201, errors=(400, 401, 403, 409)),
    }

    async def post(self):
        body = self.json_body()
        unknown = sorted(set(body) - {"project", "task", "env"})
        if unknown:
            raise FieldError(unknown[0], "is not a field of a one-off run", "project, task, env")
        project = body.get("project")
        if not isinstance(project, str) or not project:
            raise FieldError("project", "is missing", "the name of a project you belong to")
        self.require("pipeline:create", project)
        task = body.get("task")
        if not isinstance(task, dict):
            raise FieldError("task", "must be an object", '{"template": "python", "args": {"--code": "print(1)"}}')
        task = dict(task)
        task.setdefault("name", task.get("template") if isinstance(task.get("template"), str) else "task")
        pipeline = pipeline_from_dict({"name": "oneoff", "project": project, "tasks": [task], "env": body.get("env")})
        try:
            run_id = await self.manager.create_oneoff(pipeline, self.actor.name, self.actor.admin)
        except InvalidPipeline as exc:
            raise APIError(409, "invalid_pipeline", str(exc), None, diagnostics=[d.to_dict() for d in exc.diagnostics])
        with self.db.session() as session:
            self.send(run_view(session, session.get(RunRow, run_id)), 201)

    async def get(self):
        limit = _limit(self.get_argument("limit", "50"))
        project = self.get_argument("project", None)
        status = self.get_argument("status", None)
        with self.db.session() as session:
            q = select(RunRow).order_by(RunRow.created_at.desc())
            if project:
                q = q.where(RunRow.project == project)
            elif not self.actor.admin:
                q = q.where(RunRow.project.in_(list(self.actor.projects) or [""]))
            if status:
                q = q.where(RunRow.status == status)
            rows = [r for r in session.scalars(q.limit(limit)).all() if self.allowed("pipeline:read", r.project)]
            self.send({"runs": [run_view(session, r, with_tasks=False) for r in rows]})


class RunHandler(RunBase):
    openapi = {"get": op("A run with its tasks' status, attempts, exit codes and outputs", tags=TAGS, returns="Run", params=[RUN_PARAM])}

    async def get(self, run_id):
        with self.db.session() as session:
            self.send(run_view(session, self.load_run(session, run_id)))


class RunEventsHandler(RunBase):
    openapi = {"get": op("Server-sent events of a run: a 'run' event with the whole run (as GET /runs/{run_id}) first and after "
                         "every change, until the run ends; works for every engine and across control-plane restarts",
                         tags=TAGS, params=[RUN_PARAM])}
    poll_seconds = 0.25

    async def get(self, run_id):
        with self.db.session() as session:
            self.load_run(session, run_id)
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("X-Accel-Buffering", "no")
        last = None
        try:
            while True:
                with self.db.session() as session:
                    view = run_view(session, session.get(RunRow, run_id))
                text = json.dumps(view)
                if text != last:
                    self.write(f"event: run\ndata: {text}\n\n")
                    await self.flush()
                    last = text
                if view["status"] in RUN_FINAL:
                    break
                await asyncio.sleep(self.poll_seconds)
        except StreamClosedError:
            return
        self.finish()


class CancelHandler(RunBase):
    openapi = {"post": op("Cancel a run: running tasks' whole process trees stop, pending tasks are cancelled", tags=TAGS,
                          returns="Run", params=[RUN_PARAM], errors=(401, 403, 404))}

    async def post(self, run_id):
        with self.db.session() as session:
            self.load_run(session, run_id, "pipeline:run")
        await self.manager.cancel(run_id)
        with self.db.session() as session:
            self.send(run_view(session, session.get(RunRow, run_id)))


class RerunHandler(RunBase):
    openapi = {"post": op("Re-run with the pipeline's current definition: mode 'all', or 'failed' (tasks that did not succeed "
                          "and their downstream; the others keep their outputs)", tags=TAGS, body="Rerun", returns="Run",
                          status=201, params=[RUN_PARAM], errors=(400, 401, 403, 404, 409))}

    async def post(self, run_id):
        body = self.json_body(required=False)
        mode = body.get("mode", "all")
        if mode not in ("all", "failed"):
            raise FieldError("mode", f"'{mode}' is not a re-run mode", "'all' or 'failed'")
        with self.db.session() as session:
            run = self.load_run(session, run_id, "pipeline:run")
            if run.status not in RUN_FINAL:
                raise APIError(409, "conflict", f"run {run_id} is still {run.status}")
            if run.pipeline_id is None:
                raise APIError(409, "conflict", f"run {run_id} is a one-off run of no pipeline; start a new one instead")
            prow = session.get(PipelineRow, run.pipeline_id)
            pipeline = row_to_pipeline(prow)
            pid = prow.id
        if mode == "all":
            await self.start_run(pid, trigger="rerun", source_run_id=run_id)
            return
        again, reuse = self.manager.reuse_for_rerun(run_id, pipeline)
        if not again:
            raise APIError(409, "conflict", f"every task of run {run_id} succeeded; nothing to re-run from")
        await self.start_run(pid, trigger="rerun-failed", only_tasks=again, reuse=reuse, source_run_id=run_id)


class TaskLogHandler(RunBase):
    openapi = {"get": op("A task's log (all attempts) as text; with follow=1 the response streams until the task ends", tags=TAGS,
                         params=[RUN_PARAM, TASK_PARAM, {"name": "follow", "in": "query", "required": False, "schema": {"type": "boolean"}}])}

    async def get(self, run_id, task):
        follow = self.get_argument("follow", "0").lower() in ("1", "true", "yes")
        with self.db.session() as session:
            run = self.load_run(session, run_id)
            if session.scalars(select(TaskRunRow).where(TaskRunRow.run_id == run_id, TaskRunRow.name == task)).first() is None:
                raise not_found("task", task)
            engine_name = run.engine
        engine = self.manager.engine_for(engine_name)
        if engine is None:
            raise APIError(409, "conflict", f"engine '{engine_name}' is not configured")
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("X-Accel-Buffering", "no")  # let proxies pass the stream through
        try:
            async for chunk in engine.logs(run_id, task, follow=follow):
                self.write(chunk)
                await self.flush()
        except StreamClosedError:
            return
        except EngineError as exc:
            raise APIError(404, "not_found", str(exc))
        self.finish()


def _limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 500:
        raise FieldError("limit", f"'{text}' is not a number from 1 to 500", "1..500")
    return int(text)


def setup(app) -> None:
    engines = getattr(app, "pipeline_engines", None)  # set by the lead / the Kubernetes engine's setup
    app.pipeline_runs = RunManager(app.database, app.data_dir, engines=engines,
                                   default_engine=getattr(app, "pipeline_default_engine", "local"),
                                   keep_runs_on_shutdown=getattr(app, "keep_runs_on_shutdown", False),
                                   engine_for_project=getattr(app, "pipeline_engine_for_project", None))
    app.background_tasks.append(app.pipeline_runs.start)
    app.project_delete_hooks.append(app.pipeline_runs.delete_project)
    if not hasattr(app, "shutdown_hooks"):
        app.shutdown_hooks = []
    app.shutdown_hooks.append(app.pipeline_runs.shutdown)


_TASK_RUN = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "status": {"type": "string", "enum": ["pending", "running", "succeeded", "failed", "skipped", "cancelled", "upstream-failed"]},
        "attempts": {"type": "integer"}, "exit_code": {"type": ["integer", "null"]},
        "started_at": {"type": ["string", "null"]}, "finished_at": {"type": ["string", "null"]}, "message": {"type": "string"},
        "outputs": {"type": "object"}, "peak_cpu": {"type": ["number", "null"]}, "peak_memory": {"type": ["integer", "null"]},
    },
}

SCHEMAS = {
    "Run": {
        "type": "object",
        "properties": {
            "id": {"type": "string"}, "pipeline_id": {"type": ["integer", "null"]}, "pipeline_name": {"type": "string"}, "project": {"type": "string"},
            "trigger": {"type": "string", "enum": ["manual", "schedule", "rerun", "rerun-failed", "debug", "oneoff"]}, "runner": {"type": "string"},
            "engine": {"type": "string"}, "status": {"type": "string", "enum": ["pending", "running", "succeeded", "failed", "cancelled"]},
            "message": {"type": "string"}, "created_at": {"type": "string"}, "started_at": {"type": ["string", "null"]},
            "finished_at": {"type": ["string", "null"]}, "tasks": {"type": "array", "items": _TASK_RUN},
            "edges": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
        },
    },
    "RunList": {"type": "object", "properties": {"runs": {"type": "array", "items": {"$ref": "#/components/schemas/Run"}}}},
    "Rerun": {"type": "object", "properties": {"mode": {"type": "string", "enum": ["all", "failed"], "default": "all"}}},
    "OneOffRun": {"type": "object", "required": ["project", "task"], "properties": {
        "project": {"type": "string"}, "task": {"type": "object", "description": "a pipeline task (name defaults to the template's)"},
        "env": {"type": "object", "additionalProperties": {"type": "string"}}}},
}

ROUTES = [
    route("/pipelines/{pipeline_id}/runs", PipelineRunsHandler),
    route("/pipelines/{pipeline_id}/tasks/{task}/debug", DebugTaskHandler),
    route("/runs", RunListHandler),
    route("/runs/{run_id}", RunHandler),
    route("/runs/{run_id}/events", RunEventsHandler),
    route("/runs/{run_id}/cancel", CancelHandler),
    route("/runs/{run_id}/rerun", RerunHandler),
    route("/runs/{run_id}/tasks/{task}/logs", TaskLogHandler),
]
