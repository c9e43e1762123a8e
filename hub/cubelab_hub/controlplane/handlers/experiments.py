"""Hyper-parameter experiments: create (started at once), validate as the user
types, the tuner catalogue, list, read, stop, resume, delete; trials (paged,
by number or by metric), a trial's detail, re-run and log; metric points; and
server-sent events of the whole experiment. The work is
:class:`cubelab_hub.controlplane.services.experiments.ExperimentManager`'s.

Members of an experiment's project read it; its creators and devs create
experiments; the experiment's creator, the project's creators and ops stop,
resume, re-run and delete (``pipeline:run`` with the creator as owner).
Anything the caller may not see answers 404 before the request is looked at.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from sqlalchemy import select
from tornado.iostream import StreamClosedError

from ...domain.errors import Conflict, FieldError, NotFound
from ...domain.experiments import EXPERIMENT_STATUSES, catalogue
from ...domain.ids import is_run_id, parse_id
from ...domain.paging import decode_cursor, encode_cursor, parse_limit
from ...engines.base import EngineError
from ..models.experiments import ExperimentRow, TrialMetricRow, TrialRow
from ..models.pipelines import RunRow, aware
from ..services.experiments import (
    EXPERIMENT_FINAL,
    TRIAL_TASK,
    ExperimentManager,
    experiment_views,
    metrics_after,
    read_experiment_view,
    trial_views,
)
from ..services.lists import list_experiments
from .base import op, route
from .listing import ListArguments, list_params, list_schema
from .pipelines import PipelineBase

TAGS = ["experiments"]
FILTERS = ("project", "status", "creator", "q", "since", "until")
ID_PARAM = {"name": "experiment_id", "in": "path", "required": True, "schema": {"type": "integer"}}
TRIAL_PARAM = {"name": "trial_id", "in": "path", "required": True, "schema": {"type": "string"}}
ORDER_PARAM = {"name": "order", "in": "query", "required": False, "description": "'seq' (the trials' numbers, default) or "
               "'metric' (best final result first, trials without one last)",
               "schema": {"type": "string", "enum": ["seq", "metric"], "default": "seq"}}
AFTER_PARAM = {"name": "after", "in": "query", "required": False,
               "description": "the id of the last metric point already read (the next_cursor of the previous page); 0 or "
               "absent: from the first", "schema": {"type": "integer", "minimum": 0}}
FOLLOW_PARAM = {"name": "follow", "in": "query", "required": False, "schema": {"type": "boolean"}}


class ExperimentBase(ListArguments, PipelineBase):
    @property
    def manager(self) -> ExperimentManager:
        return self.app.experiments

    def load_experiment(self, session, experiment_id: str, action: str = "pipeline:read") -> ExperimentRow:
        try:
            eid = parse_id(experiment_id, "experiment_id")
        except FieldError:  # not an id any experiment can have
            raise NotFound.of("experiment", experiment_id) from None
        row = session.get(ExperimentRow, eid)
        if row is None or not self.allowed("pipeline:read", row.project):
            raise NotFound.of("experiment", experiment_id)
        if action != "pipeline:read":
            self.require(action, row.project, row.creator)
        return row

    def load_trial(self, session, experiment_id: str, trial_id: str, action: str = "pipeline:read") -> TrialRow:
        exp = self.load_experiment(session, experiment_id)
        trial = session.get(TrialRow, trial_id) if is_run_id(trial_id) else None
        if trial is None or trial.experiment_id != exp.id:
            raise NotFound.of("trial", trial_id)
        if action != "pipeline:read":
            self.require(action, exp.project, exp.creator)
        return trial

    async def send_experiment(self, exp_id: int, status: int = 200) -> None:
        self.send(await self.db.run(lambda session: read_experiment_view(session, session.get(ExperimentRow, exp_id))), status)


class ExperimentListHandler(ExperimentBase):
    openapi = {
        "get": op("Experiments of the caller's projects (all for admins), newest first; paged", tags=TAGS,
                  returns="ExperimentList", params=list_params(*FILTERS, statuses=EXPERIMENT_STATUSES)),
        "post": op("Create an experiment (creators and devs of its project) and start it at once; every invalid field is "
                   "named", tags=TAGS, body="ExperimentSpec", returns="Experiment", status=201, errors=(400, 401, 403, 404, 409)),
    }

    async def get(self):
        limit, cursor, filters = self.page_arguments(FILTERS, EXPERIMENT_STATUSES)
        self.send(await self.db.run(list_experiments, self.visible_projects(), filters, limit, cursor, experiment_views))

    async def post(self):
        body = self.json_body()
        await self.check_project(body.get("project"))
        exp_id = await self.manager.create(body, self.actor.name, self.actor.admin)
        await self.send_experiment(exp_id, 201)


class ValidateHandler(ExperimentBase):
    openapi = {"post": op("Validate an experiment body without saving it (as the user types): every problem with its field "
                          "and the accepted form", tags=TAGS, body="ExperimentSpec", returns="ExperimentDiagnostics")}

    async def post(self):
        self.send({"diagnostics": await self.manager.diagnostics(self.json_body(), self.actor.admin)})


class TunersHandler(ExperimentBase):
    openapi = {"get": op("The tuners offered (with the search-space types and arguments each takes), the assessors, and the "
                         "tuners left out with the reason", tags=TAGS, returns="TunerCatalogue")}

    async def get(self):
        self.send(catalogue())


class ExperimentHandler(ExperimentBase):
    openapi = {
        "get": op("An experiment: its spec, status, progress and best trial", tags=TAGS, returns="Experiment", params=[ID_PARAM]),
        "delete": op("Stop an experiment, then delete it with its trials, their metrics and runs", tags=TAGS, status=204,
                     params=[ID_PARAM], errors=(401, 403, 404)),
    }

    async def get(self, experiment_id):
        self.send(await self.db.run(lambda session: read_experiment_view(session, self.load_experiment(session, experiment_id))))

    async def delete(self, experiment_id):
        row = await self.db.run(self.load_experiment, experiment_id, "pipeline:run")
        await self.manager.delete(row.id)
        self.send(None, 204)


class StopHandler(ExperimentBase):
    openapi = {"post": op("Stop an experiment: no new trials; running trials are cancelled", tags=TAGS, returns="Experiment",
                          params=[ID_PARAM], errors=(401, 403, 404))}

    async def post(self, experiment_id):
        row = await self.db.run(self.load_experiment, experiment_id, "pipeline:run")
        await self.manager.stop(row.id)
        await self.send_experiment(row.id)


class ResumeHandler(ExperimentBase):
    openapi = {"post": op("Resume a stopped or ended experiment: the tuner goes on from the recorded trials", tags=TAGS,
                          returns="Experiment", params=[ID_PARAM], errors=(401, 403, 404, 409))}

    async def post(self, experiment_id):
        row = await self.db.run(self.load_experiment, experiment_id, "pipeline:run")
        await self.manager.resume(row.id)
        await self.send_experiment(row.id)


class TrialListHandler(ExperimentBase):
    openapi = {"get": op("Trials of an experiment, by number or best metric first; paged", tags=TAGS, returns="TrialList",
                         params=[ID_PARAM, *list_params(), ORDER_PARAM])}

    async def get(self, experiment_id):
        def page(session) -> dict:
            row = self.load_experiment(session, experiment_id)  # 404 before the query string is read
            limit = parse_limit(self.get_argument("limit", None))
            cursor = self.get_argument("cursor", None) or None
            order = self.get_argument("order", "seq")
            if order not in ("seq", "metric"):
                raise FieldError("order", f"'{order[:40]}' is not a trial order", "'seq' or 'metric'")
            kind = f"trials:{row.id}:{order}"
            after = decode_cursor(kind, cursor, (int,))
            query = select(TrialRow).where(TrialRow.experiment_id == row.id)
            if order == "seq":
                if after is not None:
                    query = query.where(TrialRow.seq > after[0])
                trials = list(session.scalars(query.order_by(TrialRow.seq).limit(limit + 1)))
            else:
                # a page of trials ranked by their result: bounded by max_trials, ranked here
                direction = (row.body.get("objective") or {}).get("direction", "maximize")
                sign = -1 if direction == "maximize" else 1
                ranked = sorted(session.scalars(query), key=lambda t: (t.final_value is None, sign * (t.final_value or 0), t.seq))
                if after is not None:
                    at = next((i for i, t in enumerate(ranked) if t.seq == after[0]), None)
                    if at is None:
                        raise FieldError("cursor", "names a trial this experiment does not have", "the next_cursor of the previous page")
                    ranked = ranked[at + 1:]
                trials = ranked[: limit + 1]
            more = len(trials) > limit
            trials = trials[:limit]
            return {"trials": trial_views(session, trials),
                    "next_cursor": encode_cursor(kind, (trials[-1].seq,)) if more and trials else None}

        self.send(await self.db.run(page))


class TrialHandler(ExperimentBase):
    openapi = {"get": op("A trial with its intermediate results", tags=TAGS, returns="TrialDetail", params=[ID_PARAM, TRIAL_PARAM])}

    async def get(self, experiment_id, trial_id):
        def read(session) -> dict:
            trial = self.load_trial(session, experiment_id, trial_id)
            [view] = trial_views(session, [trial])
            view["intermediate"] = trial_intermediates(session, trial.id)
            return view

        self.send(await self.db.run(read))


class RerunTrialHandler(ExperimentBase):
    openapi = {"post": op("Re-run a trial: a new trial with the same parameters, in the running experiment", tags=TAGS,
                          returns="Trial", status=201, params=[ID_PARAM, TRIAL_PARAM], errors=(401, 403, 404, 409))}

    async def post(self, experiment_id, trial_id):
        trial = await self.db.run(self.load_trial, experiment_id, trial_id, "pipeline:run")
        new_id = await self.manager.rerun_trial(trial.experiment_id, trial.id)
        self.send(await self.db.run(lambda session: trial_views(session, [session.get(TrialRow, new_id)])[0]), 201)


class TrialLogHandler(ExperimentBase):
    openapi = {"get": op("A trial's log (all attempts) as text; with follow=1 the response streams until the trial ends",
                         tags=TAGS, params=[ID_PARAM, TRIAL_PARAM, FOLLOW_PARAM], errors=(400, 401, 403, 404, 409))}

    async def get(self, experiment_id, trial_id):
        follow = self.get_argument("follow", "0").lower() in ("1", "true", "yes")

        def read(session) -> tuple[str, str | None]:
            trial = self.load_trial(session, experiment_id, trial_id)
            if not trial.run_id:
                raise NotFound(f"trial '{trial_id}' has no run (it never started)")
            run = session.get(RunRow, trial.run_id)
            if run is None:
                raise NotFound(f"the run of trial '{trial_id}' is gone")
            return run.id, run.engine

        run_id, engine_name = await self.db.run(read)
        engine = self.app.pipeline_runs.engine_for(engine_name)
        if engine is None:
            raise Conflict(f"engine '{engine_name}' is not configured")
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("X-Accel-Buffering", "no")
        try:
            async for chunk in engine.logs(run_id, TRIAL_TASK, follow=follow):
                self.write(chunk)
                await self.flush()
        except StreamClosedError:
            return
        except EngineError as exc:
            raise NotFound(str(exc)) from None
        self.finish()


class MetricsHandler(ExperimentBase):
    openapi = {"get": op("Metric points of an experiment's trials in the order they were reported, after a point already "
                         "read; paged", tags=TAGS, returns="MetricList", params=[ID_PARAM, AFTER_PARAM, list_params()[0]])}

    async def get(self, experiment_id):
        def page(session) -> dict:
            row = self.load_experiment(session, experiment_id)
            after = parse_after(self.get_argument("after", None))
            limit = parse_limit(self.get_argument("limit", None))
            points, more = metrics_after(session, row.id, after, limit)
            return {"metrics": points, "next_cursor": str(points[-1]["id"]) if more and points else None}

        self.send(await self.db.run(page))


class EventsHandler(ExperimentBase):
    openapi = {"get": op("Server-sent events of an experiment: 'experiment' (the whole experiment, as GET "
                         "/experiments/{experiment_id}) first and after every change, 'trial' (one trial) when it changes, "
                         "'metric' (one point, as in /metrics) for each new point; ends when the experiment has ended",
                         tags=TAGS, params=[ID_PARAM])}
    poll_seconds = 0.25

    async def get(self, experiment_id):
        exp_id = (await self.db.run(self.load_experiment, experiment_id)).id
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("X-Accel-Buffering", "no")
        last_experiment, trials, after, since = None, {}, 0, None
        try:
            while True:
                # a session per look, none held while waiting for the next
                view, changed, points, since = await self.db.run(events_since, exp_id, since, after)
                if view is None:
                    break  # deleted meanwhile
                out = []
                text = json.dumps(view)
                if text != last_experiment:
                    out.append(f"event: experiment\ndata: {text}\n\n")
                    last_experiment = text
                for trial in changed:
                    text = json.dumps(trial)
                    if trials.get(trial["id"]) != text:
                        out.append(f"event: trial\ndata: {text}\n\n")
                        trials[trial["id"]] = text
                for point in points:
                    out.append(f"event: metric\ndata: {json.dumps(point)}\n\n")
                    after = point["id"]
                if out:
                    self.write("".join(out))
                    await self.flush()
                if view["status"] in EXPERIMENT_FINAL and not points:
                    break
                await asyncio.sleep(self.poll_seconds)
        except StreamClosedError:
            return
        self.finish()


def parse_after(value: str | None) -> int:
    if value is None or value == "":
        return 0
    if not value.isascii() or not value.isdigit() or len(value) > 19:
        raise FieldError("after", f"'{value[:40]}' is not a metric id", "the id of a metric point (a whole number), or 0")
    return int(value)


def trial_intermediates(session, trial_id: str) -> list[dict]:
    q = (select(TrialMetricRow.sequence, TrialMetricRow.value)
         .where(TrialMetricRow.trial_id == trial_id, TrialMetricRow.kind == "intermediate")
         .order_by(TrialMetricRow.sequence, TrialMetricRow.id))
    return [{"sequence": seq, "value": value} for seq, value in session.execute(q).all()]


def events_since(session, exp_id: int, since, after: int):
    """What an event stream shows next: the experiment, its trials changed since
    ``since`` (with a margin: a change committed late is not missed; the stream
    drops repeats), and up to 500 metric points after ``after``."""
    row = session.get(ExperimentRow, exp_id)
    if row is None:
        return None, [], [], since
    query = select(TrialRow).where(TrialRow.experiment_id == exp_id)
    if since is not None:
        query = query.where(TrialRow.updated_at >= since - timedelta(seconds=2))
    rows = list(session.scalars(query.order_by(TrialRow.seq)))
    newest = max((aware(t.updated_at) for t in rows if t.updated_at is not None), default=since)
    points, _ = metrics_after(session, exp_id, after, 500)
    return read_experiment_view(session, row), trial_views(session, rows), points, newest


_TRIAL = {
    "type": "object",
    "properties": {
        "id": {"type": "string"}, "experiment_id": {"type": "integer"}, "seq": {"type": "integer"},
        "status": {"type": "string", "enum": ["pending", "running", "succeeded", "failed", "cancelled", "early-stopped"]},
        "parameters": {"type": "object"}, "final_value": {"type": ["number", "null"]}, "intermediate_count": {"type": "integer"},
        "run_id": {"type": ["string", "null"]}, "message": {"type": "string"}, "created_at": {"type": ["string", "null"]},
        "started_at": {"type": ["string", "null"]}, "finished_at": {"type": ["string", "null"]},
        "duration_seconds": {"type": ["number", "null"]}, "source_trial_id": {"type": ["string", "null"]},
    },
}

_SPEC = {
    "type": "object",
    "required": ["name", "project", "search_space"],
    "properties": {
        "name": {"type": "string"}, "project": {"type": "string"}, "description": {"type": "string"},
        "search_space": {"type": "object", "description": "NNI's search space JSON: name -> {_type, _value}"},
        "tuner": {"type": "string", "default": "TPE"}, "tuner_args": {"type": "object"},
        "assessor": {"type": ["string", "null"]}, "assessor_args": {"type": "object"},
        "objective": {"type": "object", "properties": {
            "metric": {"type": "string", "default": "default"},
            "direction": {"type": "string", "enum": ["maximize", "minimize"], "default": "maximize"},
            "goal": {"type": ["number", "null"]}}},
        "trial": {"type": "object", "description": "the trial task: template, template_version, args, cpu, memory, gpu, "
                  "volume_mount, node_selector, retries, timeout, env, metrics ('nni' or 'stdout')"},
        "trial_concurrency": {"type": "integer", "default": 1}, "max_trials": {"type": "integer", "default": 10},
        "max_duration": {"type": ["integer", "string"], "description": "seconds, or text such as '30m', '2h'; 0: none"},
        "max_failed_trials": {"type": ["integer", "null"]}, "seed": {"type": ["integer", "null"]},
    },
}

_METRIC = {"type": "object", "properties": {
    "id": {"type": "integer"}, "trial_id": {"type": "string"}, "seq": {"type": "integer"},
    "kind": {"type": "string", "enum": ["intermediate", "final"]}, "sequence": {"type": "integer"}, "value": {"type": ["number", "null"]}}}

SCHEMAS = {
    "ExperimentSpec": _SPEC,
    "Experiment": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"}, "name": {"type": "string"}, "project": {"type": "string"}, "creator": {"type": "string"},
            "description": {"type": "string"}, "status": {"type": "string", "enum": list(EXPERIMENT_STATUSES)},
            "end_reason": {"type": ["string", "null"]}, "message": {"type": "string"},
            "created_at": {"type": ["string", "null"]}, "started_at": {"type": ["string", "null"]},
            "finished_at": {"type": ["string", "null"]}, "spec": _SPEC,
            "progress": {"type": "object", "properties": {k: {"type": ["integer", "null"]} for k in (
                "trials", "max_trials", "pending", "running", "succeeded", "failed", "early_stopped", "cancelled")}},
            "best": {"type": ["object", "null"], "properties": {
                "trial_id": {"type": "string"}, "seq": {"type": "integer"}, "value": {"type": ["number", "null"]},
                "parameters": {"type": "object"}}},
        },
    },
    "ExperimentList": list_schema("experiments", {"$ref": "#/components/schemas/Experiment"}),
    "ExperimentDiagnostics": {"type": "object", "properties": {"diagnostics": {"type": "array", "items": {
        "type": "object", "properties": {"field": {"type": "string"}, "message": {"type": "string"},
                                         "accepted": {"type": ["string", "null"]},
                                         "severity": {"type": "string", "enum": ["error", "warning"]}}}}}},
    "TunerCatalogue": {"type": "object", "properties": {
        "tuners": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "kind": {"type": "string", "enum": ["tuner", "advisor"]},
            "types": {"type": "array", "items": {"type": "string"}}, "flat_only": {"type": "boolean"},
            "args": {"type": "object"}, "description": {"type": "string"}}}},
        "assessors": {"type": "array", "items": {"type": "object"}},
        "left_out": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}, "reason": {"type": "string"}}}},
    }},
    "Trial": _TRIAL,
    "TrialDetail": {"allOf": [{"$ref": "#/components/schemas/Trial"}, {"type": "object", "properties": {
        "intermediate": {"type": "array", "items": {"type": "object", "properties": {
            "sequence": {"type": "integer"}, "value": {"type": ["number", "null"]}}}}}}]},
    "TrialList": list_schema("trials", {"$ref": "#/components/schemas/Trial"}),
    "MetricPoint": _METRIC,
    "MetricList": list_schema("metrics", {"$ref": "#/components/schemas/MetricPoint"}),
}

ROUTES = [
    route("/experiments", ExperimentListHandler),
    # before /experiments/{experiment_id}: these names are no experiment's id
    route("/experiments/validate", ValidateHandler),
    route("/experiments/tuners", TunersHandler),
    route("/experiments/{experiment_id}", ExperimentHandler),
    route("/experiments/{experiment_id}/stop", StopHandler),
    route("/experiments/{experiment_id}/resume", ResumeHandler),
    route("/experiments/{experiment_id}/trials", TrialListHandler),
    route("/experiments/{experiment_id}/trials/{trial_id}", TrialHandler),
    route("/experiments/{experiment_id}/trials/{trial_id}/rerun", RerunTrialHandler),
    route("/experiments/{experiment_id}/trials/{trial_id}/logs", TrialLogHandler),
    route("/experiments/{experiment_id}/metrics", MetricsHandler),
    route("/experiments/{experiment_id}/events", EventsHandler),
]
