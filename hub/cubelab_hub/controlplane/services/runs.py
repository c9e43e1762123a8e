"""Pipeline runs: the control plane's side of the engine interface.

:class:`RunManager` snapshots the pipeline and templates into the run, refuses
a run whose tasks the engine or the project's quota cannot hold
(:mod:`cubelab_hub.domain.quotas` says when work counts), persists every event
the engines report, keeps what running tasks hold per project (and publishes it
for the spawners' quota check), and re-attaches runs that were in flight when
the control plane restarted (or marks them failed with the reason).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import bindparam, select, update
from sqlalchemy import delete as delete_rows

from ...domain.errors import Conflict, FieldError, NotFound
from ...domain.pipelines import Pipeline, has_errors, pipeline_from_dict, validate
from ...domain.projects import Quota
from ...domain.quotas import Usage, check_capacity, check_quota, run_demands, total, usage_document
from ...domain.templates import TemplateCatalog, template_from_dict
from ...engines.base import (
    FAILED,
    PENDING,
    RUN_FINAL,
    RUNNING,
    SKIPPED,
    SUCCEEDED,
    TASK_FINAL,
    Engine,
    RunEvent,
    RunSpec,
    RunState,
    TaskState,
    UnknownRun,
)
from ..models.pipelines import PipelineRow, RunRow, TaskRunRow, aware
from ..store import row_to_pipeline, run_state_from_rows, task_state_from_row
from .templates import load_catalog

ACTIVE = (PENDING, RUNNING)
log = logging.getLogger("cubelab.runs")


def utcnow() -> datetime:
    return datetime.now(UTC)


async def _maybe_await(value):
    return await value if hasattr(value, "__await__") else value


class InvalidPipeline(Conflict):
    """A run refused because the pipeline's diagnostics have errors; answered as
    409 ``invalid_pipeline`` with the diagnostics."""

    code = "invalid_pipeline"

    def __init__(self, diagnostics):
        super().__init__("pipeline is invalid: " + "; ".join(d.message for d in diagnostics if d.severity == "error"),
                         diagnostics=[d.to_dict() for d in diagnostics])
        self.diagnostics = diagnostics


class RunManager:
    """Creates runs, persists engine events, re-attaches after a restart."""

    def __init__(self, database, engines: dict[str, Engine], default_engine: str = "local",
                 keep_runs_on_shutdown: bool = False, engine_for_project=None,
                 project_quota=None, servers_in_use=None, usage_file: str | os.PathLike | None = None,
                 secret_env_for=None):
        """``project_quota``: project -> its :class:`Quota` (may be a coroutine);
        ``secret_env_for(spec)``: the ``secret_env`` of a run re-attached after a
        restart (never stored, so derived again; e.g. a trial's channel URL);
        ``servers_in_use``: project -> the :class:`Usage` of its running servers
        (may be a coroutine), asked only when the project has a quota;
        ``usage_file``: where what running tasks hold is published, per project,
        with what other sources add (:meth:`add_usage_source`)."""
        self.db = database
        self.project_quota = project_quota
        self.servers_in_use = servers_in_use
        self.usage_file = Path(usage_file) if usage_file is not None else None
        # run id -> (project, task -> what the task holds while it runs), for runs not final
        self._holds: dict[str, tuple[str, dict[str, Usage]]] = {}
        # run id -> its tasks running now
        self._running: dict[str, set[str]] = {}
        self._publish_handle = None
        # other work of this machine that a project's quota counts (services' replicas)
        self._usage_sources: list = []
        self.engines = engines
        self.default_engine = default_engine
        # project -> engine name (e.g. from the project's 'cluster' setting); default_engine when None
        self.engine_for_project = engine_for_project
        self.secret_env_for = secret_env_for
        self.keep_runs_on_shutdown = keep_runs_on_shutdown
        self.flush_delay = 0.1  # how stale a stored status may be (readers such as the SSE stream poll at 0.25s)
        self.created_at = utcnow()
        self._pending_runs: dict[str, RunState] = {}
        self._pending_tasks: dict[tuple[str, str], TaskState] = {}
        self._flush_handle = None
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="cubelab-run-events")
        self._inflight = None
        # told of every run that reached a final status, once that status is stored
        self._run_listeners: list = []
        for engine in engines.values():
            engine.add_listener(self.on_event)

    # ------------------------------------------------------------ persistence of events

    def add_run_listener(self, listener) -> None:
        """``listener(run_id, status)`` is called on the event loop once a run's
        final status (succeeded, failed, cancelled) is in the database, so a
        listener that reads the run back sees it. Runs marked failed without an
        engine event (refused at submission, not re-attached) are told too."""
        self._run_listeners.append(listener)

    def _tell_final(self, finals: list[tuple[str, str]]) -> None:
        for run_id, status in finals:
            for listener in self._run_listeners:
                try:
                    listener(run_id, status)
                except Exception:
                    log.exception("run listener %r failed for run %s", listener, run_id)

    def on_event(self, event: RunEvent) -> None:
        """Events are coalesced and written in batches, one transaction each, by a
        writer thread (a transaction per event costs a disk sync each, tens of ms
        per task, and would stall the event loop that drives the runs)."""
        if event.kind == "run":
            self._pending_runs[event.run_id] = event.run
        else:
            self._pending_tasks[(event.run_id, event.task.name)] = event.task
        self._track(event)
        # a run's end is written at once: its listeners (an experiment waiting to
        # start its next trial) hear of it only after the write
        ended = event.kind == "run" and event.run.status in RUN_FINAL
        if self._flush_handle is not None:
            if not ended:
                return
            self._flush_handle.cancel()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        if ended:
            self._flush_handle = loop.call_soon(self._flush_soon)
        else:
            self._flush_handle = loop.call_later(self.flush_delay, self._flush_soon)

    # ------------------------------------------------------------ what running tasks hold

    def _track(self, event: RunEvent) -> None:
        """Keep the running tasks of each run from the engine's events."""
        run_id = event.run_id
        before = bool(self._running.get(run_id))
        if event.kind == "task":
            running = self._running.setdefault(run_id, set())
            if event.task.status == RUNNING:
                running.add(event.task.name)
            else:
                running.discard(event.task.name)
        elif event.run.status in RUN_FINAL:
            self._running.pop(run_id, None)
            self._holds.pop(run_id, None)
        if before or self._running.get(run_id):
            self._publish_soon()

    def tasks_in_use(self, project: str) -> Usage:
        """What the running tasks of ``project`` hold now."""
        return self.tasks_in_use_by_project().get(project, Usage())

    def tasks_in_use_by_project(self) -> dict[str, Usage]:
        by_project: dict[str, Usage] = {}
        for run_id, names in self._running.items():
            if not names or run_id not in self._holds:
                continue
            run_project, holds = self._holds[run_id]
            used = total(holds.get(name, Usage()) for name in names)
            by_project[run_project] = by_project.get(run_project, Usage()) + used
        return by_project

    def running_tasks(self) -> list[tuple[str, str, str, Usage]]:
        """(run id, task, project, what it holds) of every task running now
        (the admin page's machine view and usage record)."""
        found = []
        for run_id, names in self._running.items():
            if run_id not in self._holds:
                continue
            project, holds = self._holds[run_id]
            found.extend((run_id, name, project, holds.get(name, Usage())) for name in sorted(names))
        return found

    def add_usage_source(self, source) -> None:
        """``source()`` -> project -> :class:`Usage`: more of what projects hold
        on this machine (services' replicas), published with the running tasks
        and counted by runs' quota checks. Call :meth:`usage_changed` when it
        changes."""
        self._usage_sources.append(source)

    def others_in_use_by_project(self) -> dict[str, Usage]:
        by_project: dict[str, Usage] = {}
        for source in self._usage_sources:
            try:
                for project, used in source().items():
                    by_project[project] = by_project.get(project, Usage()) + used
            except Exception:
                log.exception("usage source %r failed", source)
        return by_project

    def in_use_by_project(self) -> dict[str, Usage]:
        """Running tasks and the usage sources together, per project: what the
        spawners read from the published file."""
        by_project = self.tasks_in_use_by_project()
        for project, used in self.others_in_use_by_project().items():
            by_project[project] = by_project.get(project, Usage()) + used
        return by_project

    def usage_changed(self) -> None:
        """A usage source changed: publish again (soon, once)."""
        self._publish_soon()

    def _publish_soon(self) -> None:
        if self.usage_file is None or self._publish_handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.publish_usage()
            return
        self._publish_handle = loop.call_soon(self.publish_usage)

    def publish_usage(self) -> None:
        """Write what each project's running tasks hold where the spawners read it,
        atomically (a reader never sees half a file). A failure is logged: the
        runs go on, and the next change writes again."""
        self._publish_handle = None
        if self.usage_file is None:
            return
        document = usage_document(self.in_use_by_project())
        try:
            self.usage_file.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".task-usage-", dir=self.usage_file.parent)  # mode 0600
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(document, f)
                os.replace(tmp, self.usage_file)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError:
            log.exception("publishing running tasks' usage to %s failed", self.usage_file)

    async def _quota_diagnostics(self, project: str, demands) -> list:
        """Tasks that do not fit in the project's quota beside what its running
        servers and tasks hold now."""
        diags: list = []
        quota = Quota()
        if self.project_quota is not None:
            quota = await _maybe_await(self.project_quota(project)) or Quota()
        if quota == Quota() or not demands:
            return diags
        in_use = self.tasks_in_use(project) + self.others_in_use_by_project().get(project, Usage())
        if self.servers_in_use is not None:
            in_use = in_use + await _maybe_await(self.servers_in_use(project))
        return diags + check_quota(project, quota, in_use, demands)

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
            # one batch at a time, so batches land in order; a run's end waits only for that one
            ended = any(run.status in RUN_FINAL for run in self._pending_runs.values())
            self._flush_handle = loop.call_later(0.01 if ended else self.flush_delay, self._flush_soon)
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
            return
        self._tell_final(_finals(snap))

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
        self._tell_final(_finals(snap))

    async def settle(self) -> None:
        """Write everything pending before reading runs back, without blocking
        the loop: the batch goes to the writer thread, after any batch in flight."""
        snap = self._take()
        if snap is None:
            if self._inflight is not None:
                try:
                    await asyncio.wrap_future(self._inflight)
                except Exception:
                    pass  # its callback requeues what it held; written by the next batch
            return
        fut = self._writer.submit(self._write, snap)
        self._inflight = fut
        try:
            await asyncio.wrap_future(fut)
        except BaseException:
            self._requeue(snap)
            raise
        self._tell_final(_finals(snap))

    # ------------------------------------------------------------ creating runs

    def engine_for(self, name: str) -> Engine | None:
        return self.engines.get(name)

    async def project_engine(self, project: str) -> Engine:
        """The engine the project's runs go to (Conflict when this control plane lacks it)."""
        return self.engines[await self._engine_name(project)]

    async def create_run(self, pipeline_id: int, runner: str, runner_admin: bool, trigger: str = "manual",
                         only_tasks: set[str] | None = None, reuse: dict[str, TaskState] | None = None,
                         source_run_id: str | None = None, schedule_time: datetime | None = None,
                         catalog: TemplateCatalog | None = None) -> str:
        """Validate, snapshot, persist (one transaction), then submit. Raises
        :class:`InvalidPipeline` with the diagnostics when the pipeline has errors.
        ``catalog``: the templates, when the caller creates many runs at once (the
        scheduler reads them once per batch); else read here."""
        def read(session):
            prow = session.get(PipelineRow, pipeline_id)
            if prow is None:
                raise NotFound.of("pipeline", str(pipeline_id))
            return row_to_pipeline(prow), prow.creator

        pipeline, creator = await self.db.run(read)
        return await self._create(pipeline, creator, pipeline_id, runner, runner_admin, trigger, only_tasks, reuse, source_run_id,
                                  schedule_time, catalog)

    async def _engine_name(self, project: str) -> str:
        engine_name = self.default_engine
        if self.engine_for_project is not None:
            chosen = self.engine_for_project(project)
            engine_name = (await chosen if hasattr(chosen, "__await__") else chosen) or self.default_engine
        if engine_name not in self.engines:
            raise Conflict(f"project '{project}' runs on engine '{engine_name}', which this control plane does not have")
        return engine_name

    async def diagnostics(self, pipeline: Pipeline, catalog: TemplateCatalog, admin: bool) -> list:
        """What the editor shows before a run: validation, and what no machine of
        the project's engine could ever give (the quota is checked at run time,
        when what is in use is known)."""
        diags = validate(pipeline, catalog, admin)
        try:
            engine = self.engines[await self._engine_name(pipeline.project)]
        except Conflict:
            return diags
        templates = {t.name: catalog.get(t.template, t.template_version) for t in pipeline.tasks}
        return diags + check_capacity(run_demands(pipeline, templates, None), engine.capacity())

    async def create_oneoff(self, pipeline: Pipeline, runner: str, runner_admin: bool) -> str:
        """A run of tasks that belong to no saved pipeline (a notebook's ``%%cubelab task``)."""
        return await self._create(pipeline, runner, None, runner, runner_admin, "oneoff", None, None, None, None)

    async def create_trial(self, pipeline: Pipeline, runner: str, runner_admin: bool, secret_env: dict[str, str] | None = None) -> str:
        """The run of one experiment trial (a one-task pipeline of no saved
        pipeline), started as ``runner``; checked, refused and submitted like any run.
        ``secret_env``: credentials its task gets, kept out of the stored run."""
        return await self._create(pipeline, runner, None, runner, runner_admin, "trial", None, None, None, None,
                                  secret_env=secret_env)

    async def _create(self, pipeline: Pipeline, creator: str, pipeline_id: int | None, runner: str, runner_admin: bool, trigger: str,
                      only_tasks, reuse, source_run_id, schedule_time, catalog: TemplateCatalog | None = None,
                      secret_env: dict[str, str] | None = None) -> str:
        project = pipeline.project
        engine_name = await self._engine_name(project)
        engine = self.engines[engine_name]
        catalog = catalog or await self.db.run(load_catalog)
        diags = validate(pipeline, catalog, runner_admin)
        if only_tasks is not None:
            unknown = sorted(only_tasks - {t.name for t in pipeline.tasks})
            if unknown:
                raise FieldError("task", f"task '{unknown[0]}' is not in the pipeline", ", ".join(t.name for t in pipeline.tasks))
        templates = {t.name: catalog.get(t.template, t.template_version) for t in pipeline.tasks}
        demands = run_demands(pipeline, templates, only_tasks)
        diags += check_capacity(demands, engine.capacity())
        if not has_errors(diags):  # the quota needs the hub: asked only for a run that could start
            diags += await self._quota_diagnostics(project, demands)
        if has_errors(diags):
            raise InvalidPipeline(diags)
        run_id = "run-" + uuid.uuid4().hex[:12]

        def insert(session) -> dict:
            spec_json = {
                "pipeline": pipeline.to_dict(),
                "templates": {name: tpl.to_dict() for name, tpl in templates.items()},
                "only_tasks": sorted(only_tasks) if only_tasks is not None else None,
                "reuse": {name: st.to_dict() for name, st in (reuse or {}).items()},
                "creator": creator,
                "runner": runner,
                "started_at": utcnow().isoformat(),
                "cluster_name": engine_name,
            }
            run = RunRow(id=run_id, pipeline_id=pipeline_id, project=project, trigger=trigger, runner=runner,
                         engine=engine_name, status=PENDING, message="", spec=spec_json, engine_data={},
                         source_run_id=source_run_id, schedule_time=schedule_time, created_at=utcnow())
            session.add(run)
            for task in pipeline.tasks:
                session.add(TaskRunRow(run_id=run_id, name=task.name, status=PENDING, attempts=0, message="", outputs={}))
            return spec_json

        spec_json = await self.db.run(insert)
        spec = self.spec_from_json(run_id, spec_json, project, trigger, schedule_time)
        spec.secret_env = dict(secret_env or {})
        self._holds[run_id] = (project, {d.task: d.usage for d in demands})
        try:
            await engine.submit(spec)
        except Exception as exc:
            log.exception("submitting run %s failed", run_id)
            self._holds.pop(run_id, None)
            self._running.pop(run_id, None)
            await self._mark_failed(run_id, f"the {engine_name} engine could not start the run: {exc}")
        return run_id

    def spec_from_json(self, run_id: str, spec: dict, project: str, trigger: str, schedule_time) -> RunSpec:
        pipeline = pipeline_from_dict(spec["pipeline"])
        return RunSpec(
            run_id=run_id, pipeline=pipeline,
            templates={name: template_from_dict(body, warnings=[]) for name, body in spec["templates"].items()},
            creator=spec.get("creator") or "", runner=spec.get("runner") or "", project=project, trigger=trigger,
            only_tasks=set(spec["only_tasks"]) if spec.get("only_tasks") is not None else None,
            reuse={name: TaskState.from_dict(st) for name, st in (spec.get("reuse") or {}).items()},
            schedule_time=aware(schedule_time),
            started_at=datetime.fromisoformat(spec["started_at"]) if spec.get("started_at") else None,
            cluster_name=spec.get("cluster_name") or "",
        )

    async def _mark_failed(self, run_id: str, reason: str) -> None:
        await self.settle()
        if await self.db.run(_mark_failed, run_id, reason):
            self._tell_final([(run_id, FAILED)])

    # ------------------------------------------------------------ restart

    async def start(self) -> None:
        """Re-attach every run that was in flight when the control plane stopped
        (runs created by this process are its own already)."""
        ids = await self.db.run(lambda session: session.scalars(
            select(RunRow.id).where(RunRow.status.in_(ACTIVE), RunRow.created_at < self.created_at)).all())

        def read(session, run_id):
            run = session.get(RunRow, run_id)
            if run.status not in ACTIVE:  # cancelled meanwhile
                return None, []
            return run, session.scalars(select(TaskRunRow).where(TaskRunRow.run_id == run_id)).all()

        for run_id in ids:
            run, tasks = await self.db.run(read, run_id)
            if run is None:
                continue
            engine = self.engines.get(run.engine)
            if engine is None:
                await self._mark_failed(run.id, f"engine '{run.engine}' is not configured after the control plane restarted")
                continue
            try:
                spec = self.spec_from_json(run.id, run.spec, run.project, run.trigger, run.schedule_time)
                if self.secret_env_for is not None:
                    spec.secret_env = dict(self.secret_env_for(spec) or {})
                demands = run_demands(spec.pipeline, spec.templates, spec.only_tasks)
                self._holds[run.id] = (run.project, {d.task: d.usage for d in demands})
                self._running[run.id] = {t.name for t in tasks if t.status == RUNNING}
                await engine.reattach(spec, run_state_from_rows(run, tasks))
                log.info("re-attached run %s", run.id)
            except Exception as exc:
                log.exception("re-attaching run %s failed", run.id)
                await self._mark_failed(run.id, f"could not re-attach after the control plane restarted: {exc}")
                self._running.pop(run.id, None)
                self._holds.pop(run.id, None)
        # replaces what a previous control plane published (it may have stopped mid-run)
        self.publish_usage()

    async def shutdown(self) -> None:
        """On a clean stop, runs in flight are stopped and marked failed with the reason
        (no process is left behind); after a crash, :meth:`start` re-attaches instead."""
        reason = "the control plane stopped while the run was in flight"
        for name, engine in self.engines.items():
            # local processes would outlive us unsupervised; cluster workflows run on and are re-attached
            if engine.stops_with_control_plane and not self.keep_runs_on_shutdown:
                ids = await self.db.run(_active_run_ids, name)

                async def stop(run_id: str, engine=engine) -> None:
                    try:
                        await engine.cancel(run_id, reason=reason)
                    except UnknownRun:
                        pass

                await asyncio.gather(*(stop(run_id) for run_id in ids))  # all at once: each may wait a kill grace
                for run_id in ids:
                    await self._mark_failed(run_id, reason)
                    # the engine reports 'cancelled'; the run did not finish, so it failed, for this reason
                    await self.db.run(_set_status, run_id, FAILED, reason)
            await engine.close()
        await self.settle()

    # ------------------------------------------------------------ actions

    async def delete_project(self, project: str) -> None:
        """Before a project goes: stop its runs, then remove its pipelines (their
        runs, task runs and schedule records go with them, in one transaction)."""
        active = await self.db.run(lambda session: session.scalars(
            select(RunRow.id).where(RunRow.project == project, RunRow.status.in_(ACTIVE))).all())
        for run_id in active:
            await self.cancel(run_id)

        def delete(session) -> None:
            # the database's cascades take the runs, task runs and records: no row is loaded here
            session.execute(delete_rows(PipelineRow).where(PipelineRow.project == project))

        await self.db.run(delete)

    async def cancel(self, run_id: str) -> None:
        await self.settle()
        engine_name, status = await self.db.run(lambda session: session.execute(
            select(RunRow.engine, RunRow.status).where(RunRow.id == run_id)).one())
        if status in RUN_FINAL:
            return
        engine = self.engines.get(engine_name)
        try:
            if engine is None:
                raise UnknownRun(run_id)
            await engine.cancel(run_id)
            await self.settle()
        except UnknownRun:
            reason = "cancelled (the engine no longer held the run)"
            await self._mark_failed(run_id, reason)
            await self.db.run(_set_status, run_id, "cancelled", reason)
            self._tell_final([(run_id, "cancelled")])

    async def reuse_for_rerun(self, source_run_id: str, pipeline: Pipeline) -> tuple[set[str], dict[str, TaskState]]:
        """Re-run from failed: tasks that did not succeed, and everything downstream
        of them, run again; succeeded tasks keep their outputs."""
        rows = await self.db.run(lambda session: {
            t.name: t for t in session.scalars(select(TaskRunRow).where(TaskRunRow.run_id == source_run_id)).all()})
        names = {t.name for t in pipeline.tasks}
        # a task skipped on purpose is not a failure; everything else that did not succeed runs again
        again = {n for n in names if n not in rows or rows[n].status not in (SUCCEEDED, SKIPPED)}
        for n in list(again):
            again |= pipeline.descendants(n)
        reuse = {n: task_state_from_row(rows[n]) for n in names - again}
        return again, reuse

    async def reuse_for_debug(self, pipeline_id: int, pipeline: Pipeline, task: str) -> dict[str, TaskState]:
        """Debug one task: its upstreams' outputs come from their latest successful run."""
        return await self.db.run(_reuse_for_debug, pipeline_id, pipeline, task)


def _reuse_for_debug(session, pipeline_id: int, pipeline: Pipeline, task: str) -> dict[str, TaskState]:
    reuse = {}
    for name in pipeline.ancestors(task):
        q = (select(TaskRunRow).join(RunRow, RunRow.id == TaskRunRow.run_id)
             .where(RunRow.pipeline_id == pipeline_id, TaskRunRow.name == name, TaskRunRow.status == SUCCEEDED)
             .order_by(TaskRunRow.finished_at.desc()).limit(1))
        row = session.scalars(q).first()
        if row is not None:
            reuse[name] = task_state_from_row(row)
    return reuse


def _finals(snap) -> list[tuple[str, str]]:
    """The runs of a written batch that are final, with the status written."""
    return [(row["b_id"], row["status"]) for row in snap[3] if row["status"] in RUN_FINAL]


def _mark_failed(session, run_id: str, reason: str) -> bool:
    """A run that cannot go on, and its unfinished tasks, failed for ``reason``;
    False when it was already final (or is gone)."""
    run = session.get(RunRow, run_id)
    if run is None or run.status in RUN_FINAL:
        return False
    now = utcnow()
    run.status, run.message, run.finished_at = FAILED, reason, now
    for t in session.scalars(select(TaskRunRow).where(TaskRunRow.run_id == run_id)).all():
        if t.status not in TASK_FINAL:
            t.status, t.message, t.finished_at, t.pid = FAILED, reason, now, None
    return True


def _active_run_ids(session, engine: str) -> list[str]:
    return session.scalars(select(RunRow.id).where(RunRow.status.in_(ACTIVE), RunRow.engine == engine)).all()


def _set_status(session, run_id: str, status: str, message: str) -> None:
    session.execute(update(RunRow).where(RunRow.id == run_id).values(status=status, message=message))
