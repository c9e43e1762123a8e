"""Pipeline runs: create (manual, re-run, re-run from failed, debug one task),
list, read, cancel, and task logs (``?follow=1`` streams while the task runs).
The work is :class:`cubelab_hub.controlplane.services.runs.RunManager`'s."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import select
from tornado.iostream import StreamClosedError

from ...domain.errors import Conflict, FieldError, NotFound
from ...domain.ids import is_run_id
from ...domain.pipelines import pipeline_from_dict
from ...engines.base import RUN_FINAL, TRIGGERS, EngineError
from ..models.pipelines import PipelineRow, RunRow, TaskRunRow
from ..services.lists import RUN_STATUSES, list_pipeline_runs, list_runs
from ..services.runs import RunManager
from ..store import row_to_pipeline, run_view
from .base import op, route
from .listing import ListArguments, list_params, list_schema
from .pipelines import ID_PARAM, TASK_PARAM, PipelineBase

TAGS = ["runs"]
RUN_FILTERS = ("project", "status", "creator", "since", "until")
PIPELINE_RUN_FILTERS = ("status", "creator", "since", "until")
RUN_PARAM = {"name": "run_id", "in": "path", "required": True, "schema": {"type": "string"}}
TRIGGER_PARAM = {"name": "trigger", "in": "query", "required": False,
                 "description": "only runs started this way; experiment trials ('trial') are listed only when asked",
                 "schema": {"type": "string", "enum": list(TRIGGERS)}}


class RunBase(ListArguments, PipelineBase):
    @property
    def manager(self) -> RunManager:
        return self.app.pipeline_runs

    def load_run(self, session, run_id: str, action: str = "pipeline:read") -> RunRow:
        run = session.get(RunRow, run_id) if is_run_id(run_id) else None
        if run is None or not self.allowed("pipeline:read", run.project):
            raise NotFound.of("run", run_id)
        if action != "pipeline:read":
            prow = session.get(PipelineRow, run.pipeline_id) if run.pipeline_id is not None else None
            # a one-off run belongs to whoever started it
            self.require(action, run.project, prow.creator if prow else run.runner)
        return run

    async def start_run(self, pipeline_id: int, **kwargs) -> None:
        run_id = await self.manager.create_run(pipeline_id, self.actor.name, self.actor.admin, **kwargs)
        self.send(await self.db.run(read_run_view, run_id), 201)


class PipelineRunsHandler(RunBase):
    openapi = {
        "get": op("Runs of a pipeline, newest first; paged", tags=TAGS, returns="RunList",
                  params=[ID_PARAM, *list_params(*PIPELINE_RUN_FILTERS, statuses=RUN_STATUSES)]),
        "post": op("Start a manual run (refused with the diagnostics while the pipeline is invalid); several may run at once",
                   tags=TAGS, returns="Run", status=201, params=[ID_PARAM], errors=(400, 401, 403, 404, 409)),
    }

    async def get(self, pipeline_id):
        def page(session):
            pid = self.load(session, pipeline_id).id  # 404 before the query string is read
            limit, cursor, filters = self.page_arguments(PIPELINE_RUN_FILTERS, RUN_STATUSES)
            return list_pipeline_runs(session, pid, filters, limit, cursor)

        self.send(await self.db.run(page))

    async def post(self, pipeline_id):
        pid = await self.db.run(lambda session: self.load(session, pipeline_id, "pipeline:run").id)
        await self.start_run(pid, trigger="manual")


class DebugTaskHandler(RunBase):
    openapi = {"post": op("Run one task alone for debugging; its upstreams' outputs come from their latest successful run",
                          tags=TAGS, returns="Run", status=201, params=[ID_PARAM, TASK_PARAM], errors=(400, 401, 403, 404, 409))}

    async def post(self, pipeline_id, task):
        def read(session):
            prow = self.load(session, pipeline_id, "pipeline:run")
            return prow.id, row_to_pipeline(prow)

        pid, pipeline = await self.db.run(read)
        if pipeline.task(task) is None:
            raise NotFound.of("task", task)
        reuse = await self.manager.reuse_for_debug(pid, pipeline, task)
        await self.start_run(pid, trigger="debug", only_tasks={task}, reuse=reuse)


class RunListHandler(RunBase):
    openapi = {
        "get": op("Runs of the caller's projects (all for admins), newest first, experiment trials left out unless "
                  "trigger=trial asks for them; paged", tags=TAGS, returns="RunList",
                  params=[*list_params(*RUN_FILTERS, statuses=RUN_STATUSES), TRIGGER_PARAM]),
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
        run_id = await self.manager.create_oneoff(pipeline, self.actor.name, self.actor.admin)
        self.send(await self.db.run(read_run_view, run_id), 201)

    async def get(self):
        limit, cursor, filters = self.page_arguments(RUN_FILTERS, RUN_STATUSES)
        trigger = self.get_argument("trigger", None) or None
        if trigger is not None and trigger not in TRIGGERS:
            raise FieldError("trigger", f"'{trigger[:40]}' is not a run trigger", ", ".join(TRIGGERS))
        self.send(await self.db.run(list_runs, self.visible_projects(), filters, limit, cursor, trigger))


class RunHandler(RunBase):
    openapi = {"get": op("A run with its tasks' status, attempts, exit codes and outputs", tags=TAGS, returns="Run", params=[RUN_PARAM])}

    async def get(self, run_id):
        self.send(await self.db.run(lambda session: run_view(session, self.load_run(session, run_id))))


class RunEventsHandler(RunBase):
    openapi = {"get": op("Server-sent events of a run: a 'run' event with the whole run (as GET /runs/{run_id}) first and after "
                         "every change, until the run ends; works for every engine and across control-plane restarts",
                         tags=TAGS, params=[RUN_PARAM])}
    poll_seconds = 0.25

    async def get(self, run_id):
        await self.db.run(self.load_run, run_id)
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("X-Accel-Buffering", "no")
        last = None
        try:
            while True:
                # a session per look, none held while waiting for the next
                view = await self.db.run(read_run_view, run_id)
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
        await self.db.run(self.load_run, run_id, "pipeline:run")
        await self.manager.cancel(run_id)
        self.send(await self.db.run(read_run_view, run_id))


class RerunHandler(RunBase):
    openapi = {"post": op("Re-run with the pipeline's current definition: mode 'all', or 'failed' (tasks that did not succeed "
                          "and their downstream; the others keep their outputs)", tags=TAGS, body="Rerun", returns="Run",
                          status=201, params=[RUN_PARAM], errors=(400, 401, 403, 404, 409))}

    async def post(self, run_id):
        # who may re-run it is known before the body is looked at: 404/403 first
        await self.db.run(lambda session: self.load_run(session, run_id, "pipeline:run"))
        body = self.json_body(required=False)
        mode = body.get("mode", "all")
        if mode not in ("all", "failed"):
            raise FieldError("mode", f"{mode!r} is not a re-run mode", "'all' or 'failed'")

        def read(session):
            run = self.load_run(session, run_id, "pipeline:run")
            if run.status not in RUN_FINAL:
                raise Conflict(f"run {run_id} is still {run.status}")
            if run.pipeline_id is None:
                raise Conflict(f"run {run_id} is a one-off run of no pipeline; start a new one instead")
            prow = session.get(PipelineRow, run.pipeline_id)
            return prow.id, row_to_pipeline(prow)

        pid, pipeline = await self.db.run(read)
        if mode == "all":
            await self.start_run(pid, trigger="rerun", source_run_id=run_id)
            return
        again, reuse = await self.manager.reuse_for_rerun(run_id, pipeline)
        if not again:
            raise Conflict(f"every task of run {run_id} succeeded; nothing to re-run from")
        await self.start_run(pid, trigger="rerun-failed", only_tasks=again, reuse=reuse, source_run_id=run_id)


class TaskLogHandler(RunBase):
    openapi = {"get": op("A task's log (all attempts) as text; with follow=1 the response streams until the task ends", tags=TAGS,
                         params=[RUN_PARAM, TASK_PARAM, {"name": "follow", "in": "query", "required": False, "schema": {"type": "boolean"}}])}

    async def get(self, run_id, task):
        follow = self.get_argument("follow", "0").lower() in ("1", "true", "yes")
        def read(session) -> str:
            run = self.load_run(session, run_id)
            if session.scalars(select(TaskRunRow.id).where(TaskRunRow.run_id == run_id, TaskRunRow.name == task)).first() is None:
                raise NotFound.of("task", task)
            return run.engine

        engine_name = await self.db.run(read)
        engine = self.manager.engine_for(engine_name)
        if engine is None:
            raise Conflict(f"engine '{engine_name}' is not configured")
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("X-Accel-Buffering", "no")  # let proxies pass the stream through
        try:
            async for chunk in engine.logs(run_id, task, follow=follow):
                self.write(chunk)
                await self.flush()
        except StreamClosedError:
            return
        except EngineError as exc:
            raise NotFound(str(exc)) from None
        self.finish()


def read_run_view(session, run_id: str) -> dict:
    """A run as GET /runs/{run_id} shows it (the caller has checked access)."""
    return run_view(session, session.get(RunRow, run_id))


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
            "trigger": {"type": "string", "enum": list(TRIGGERS)}, "runner": {"type": "string"},
            "engine": {"type": "string"}, "status": {"type": "string", "enum": ["pending", "running", "succeeded", "failed", "cancelled"]},
            "message": {"type": "string"}, "created_at": {"type": "string"}, "started_at": {"type": ["string", "null"]},
            "finished_at": {"type": ["string", "null"]}, "tasks": {"type": "array", "items": _TASK_RUN},
            "edges": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
        },
    },
    "RunList": list_schema("runs", {"$ref": "#/components/schemas/Run"}),
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
