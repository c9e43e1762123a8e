"""``%load_ext cubelab``: pipelines, runs, experiments and one-off tasks from any notebook.

    %cubelab pipelines [--project P] [--search TEXT] [--limit N | --all]
    %cubelab run NAME [--project P] [--wait]
    %cubelab logs RUN_ID TASK
    %%cubelab task TEMPLATE [--project P] [--ARG VALUE ...]   (the cell is the code)
    %cubelab experiments [--project P] [--status S] [--search TEXT] [--limit N | --all]
    %cubelab experiment NAME [--project P] [--wait]
    %cubelab services [--project P] [--status S] [--search TEXT] [--limit N | --all]
    %cubelab deploy NAME --project P (--command CMD | --model PATH [--serving-type T] [--version V])
                    [--replicas N] [--port N] [--health H] [--cpu C] [--memory M] [--expose E] [--wait]
    %cubelab build PATH [--project P] [--image NAME] [--tag T ...] [--context DIR] [--wait]

A one-off task runs in a project (the server's own, ``CUBELAB_PROJECT``, else
``public``, unless ``--project`` names another), and every member of that
project can read its log and outputs; the cell's output says which project.

``%cubelab deploy`` creates the service (an inference service named by the
platform when ``--model`` is given: NAME is then the model's name) or, when the
project has it already, changes the options given, and deploys it: a running
service rolls its replicas to the change one at a time.

``%cubelab build`` builds the Dockerfile at PATH (in your workspace; a relative
path starts at the notebook's folder) with its folder as the context, into
``<registry>/<project>/<image>:<tag>``; ``--wait`` streams the build's log into
the cell and ends with its status, digest and size.

The magics use the server extension's API, like the Lab plugin.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import os
import shlex
import sys
import time

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.display import display

from .builds import FINISHED_BUILD, build_body, build_summary, workspace_path
from .client import CubeLabClient, CubeLabError
from .experiments import EXPERIMENT_COLUMNS, FINAL_EXPERIMENT, ExperimentWidget, experiment_rows, parse_events, trials_table
from .services import SERVICE_COLUMNS, SETTLED, deploy_body, service_rows
from .tables import STATUS_COLOURS, Table, html_table, status_html  # noqa: F401  (STATUS_COLOURS: part of this module's API)

FINISHED = {"succeeded", "failed", "cancelled"}
# the template argument that receives the cell's text
CELL_ARGUMENT = {"python": "--code", "shell": "--command"}

USAGE = __doc__.split("\n\n")[1]


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message}\n{USAGE}")


def _duration(task: dict) -> str:
    from datetime import datetime

    if not task.get("started_at"):
        return ""
    start = datetime.fromisoformat(task["started_at"])
    end = datetime.fromisoformat(task["finished_at"]) if task.get("finished_at") else None
    if end is None:
        return "…"
    return f"{(end - start).total_seconds():.1f}s"


def run_summary(run: dict) -> Table:
    rows = [
        {"task": t["name"], "status": t["status"], "attempts": t.get("attempts"), "exit_code": t.get("exit_code"),
         "duration": _duration(t), "outputs": ", ".join(f"{k}={v}" for k, v in (t.get("outputs") or {}).items())}
        for t in run.get("tasks", [])
    ]
    return Table(rows, ["task", "status", "attempts", "exit_code", "duration", "outputs"],
                 title=f"run {run['id']} of {run.get('pipeline_name') or 'one-off task'}: {run['status']}")


class RunWidget:
    """An ipywidgets view of a run's task statuses, updated in place."""

    def __init__(self, run: dict):
        import ipywidgets as widgets

        self.widget = widgets.HTML()
        self.update(run)

    def update(self, run: dict) -> None:
        rows = [{"task": t["name"], "status": t["status"], "attempts": t.get("attempts"), "exit_code": t.get("exit_code")}
                for t in run.get("tasks", [])]
        header = (f"<div><b>{html.escape(run.get('pipeline_name') or 'run')}</b> · run <code>{html.escape(run['id'])}</code> · "
                  f"{status_html(run['status'])}</div>")
        self.widget.value = header + html_table(rows, ["task", "status", "attempts", "exit_code"])


@magics_class
class CubeLabMagics(Magics):
    poll_seconds = 0.5

    def __init__(self, shell, client: CubeLabClient | None = None):
        super().__init__(shell)
        self._client = client

    @property
    def client(self) -> CubeLabClient:
        if self._client is None:
            self._client = CubeLabClient()
        return self._client

    @line_cell_magic
    def cubelab(self, line: str, cell: str | None = None):
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"cannot parse '{line}': {exc}") from None
        if not words:
            raise UsageError(USAGE)
        command, rest = words[0], words[1:]
        handler = {"pipelines": self._pipelines, "run": self._run, "logs": self._logs, "task": self._task,
                   "experiments": self._experiments, "experiment": self._experiment,
                   "services": self._services, "deploy": self._deploy, "build": self._build}.get(command)
        if handler is None:
            raise UsageError(f"unknown command '{command}'\n{USAGE}")
        if (command == "task") != (cell is not None):
            raise UsageError("use %%cubelab task as a cell magic (the cell is the task's code); the others as line magics")
        try:
            return handler(rest, cell) if cell is not None else handler(rest)
        except CubeLabError as exc:
            raise UsageError(str(exc)) from None

    # ------------------------------------------------------------ commands

    def _pipelines(self, argv):
        parser = _Parser(prog="%cubelab pipelines", add_help=False)
        parser.add_argument("--project")
        parser.add_argument("--search", default="")
        parser.add_argument("--limit", type=int, default=50)
        parser.add_argument("--all", action="store_true")
        args = parser.parse_args(argv)
        query = {"project": args.project, "q": args.search or None}
        title = ""
        if args.all:
            items = list(self.client.pages("pipelines", "pipelines", **query))
        else:
            page = self.client.get("pipelines", limit=args.limit, **query)
            items = page["pipelines"]
            if page.get("next_cursor"):
                title = f"{len(items)} shown, more with --all or --limit N (up to 500)"
        rows = [{"name": p["name"], "project": p["project"], "tasks": p.get("tasks"), "creator": p.get("creator"),
                 "last_run": (p.get("last_run") or {}).get("status"), "id": p["id"]} for p in items]
        return Table(rows, ["name", "project", "tasks", "creator", "last_run", "id"], title)

    def _run(self, argv):
        parser = _Parser(prog="%cubelab run", add_help=False)
        parser.add_argument("name")
        parser.add_argument("--project")
        parser.add_argument("--wait", action="store_true")
        args = parser.parse_args(argv)
        pipeline = self.client.find_pipeline(args.name, args.project)
        run = self.client.post(f"pipelines/{pipeline['id']}/runs")
        view = RunWidget(run)
        display(view.widget)
        if args.wait:
            run = self._follow(run, view)
            return run_summary(run)
        self._follow_in_background(run, view)
        return None

    def _logs(self, argv):
        parser = _Parser(prog="%cubelab logs", add_help=False)
        parser.add_argument("run_id")
        parser.add_argument("task")
        args = parser.parse_args(argv)
        for line in self.client.stream(f"runs/{args.run_id}/tasks/{args.task}/logs"):
            sys.stdout.write(line)
        sys.stdout.flush()

    def _task(self, argv, cell):
        parser = _Parser(prog="%%cubelab task", add_help=False)
        parser.add_argument("template")
        parser.add_argument("--project", default=os.environ.get("CUBELAB_PROJECT") or "public")
        parser.add_argument("--name")
        args, extra = parser.parse_known_args(argv)
        task_args = _pairs(extra)
        cell_arg = CELL_ARGUMENT.get(args.template)
        if cell_arg is None:
            raise UsageError(f"%%cubelab task runs the cell with the python or shell template, not '{args.template}'")
        task_args[cell_arg] = cell
        task = {"template": args.template, "args": task_args}
        if args.name:
            task["name"] = args.name
        run = self.client.post("runs", {"project": args.project, "task": task})
        name = run["tasks"][0]["name"] if run.get("tasks") else task.get("name", args.template)
        print(f"Running in project '{args.project}': every member of '{args.project}' can read this task's log "
              f"and outputs (run {run['id']}; --project NAME picks another project).", flush=True)
        # stream the log while the task runs, then say how it ended
        for line in self.client.stream(f"runs/{run['id']}/tasks/{name}/logs", follow=1):
            sys.stdout.write(line)
            sys.stdout.flush()
        run = self._wait(run["id"])
        return run_summary(run)

    def _experiments(self, argv):
        parser = _Parser(prog="%cubelab experiments", add_help=False)
        parser.add_argument("--project")
        parser.add_argument("--status")
        parser.add_argument("--search", default="")
        parser.add_argument("--limit", type=int, default=50)
        parser.add_argument("--all", action="store_true")
        args = parser.parse_args(argv)
        query = {"project": args.project, "status": args.status, "q": args.search or None}
        title = ""
        if args.all:
            items = list(self.client.pages("experiments", "experiments", **query))
        else:
            page = self.client.get("experiments", limit=args.limit, **query)
            items = page["experiments"]
            if page.get("next_cursor"):
                title = f"{len(items)} shown, more with --all or --limit N (up to 500)"
        return Table(experiment_rows(items), EXPERIMENT_COLUMNS, title)

    def _experiment(self, argv):
        parser = _Parser(prog="%cubelab experiment", add_help=False)
        parser.add_argument("name")
        parser.add_argument("--project")
        parser.add_argument("--wait", action="store_true")
        args = parser.parse_args(argv)
        exp = self.client.find_experiment(args.name, args.project)
        exp = self.client.get(f"experiments/{exp['id']}")
        view = ExperimentWidget(exp)
        display(view.widget)
        if args.wait:
            exp = self._follow_experiment(exp, view)
        elif exp["status"] not in FINAL_EXPERIMENT:
            self._poll_in_background(f"experiments/{exp['id']}", view.update, lambda e: e["status"] in FINAL_EXPERIMENT)
        trials = list(self.client.pages(f"experiments/{exp['id']}/trials", "trials", order="seq"))
        return trials_table(exp, trials)

    def _services(self, argv):
        parser = _Parser(prog="%cubelab services", add_help=False)
        parser.add_argument("--project")
        parser.add_argument("--status")
        parser.add_argument("--search", default="")
        parser.add_argument("--limit", type=int, default=50)
        parser.add_argument("--all", action="store_true")
        args = parser.parse_args(argv)
        query = {"project": args.project, "status": args.status, "q": args.search or None}
        title = ""
        if args.all:
            items = list(self.client.pages("services", "services", **query))
        else:
            page = self.client.get("services", limit=args.limit, **query)
            items = page["services"]
            if page.get("next_cursor"):
                title = f"{len(items)} shown, more with --all or --limit N (up to 500)"
        return Table(service_rows(items), SERVICE_COLUMNS, title)

    def _deploy(self, argv):
        parser = _Parser(prog="%cubelab deploy", add_help=False)
        parser.add_argument("name")
        parser.add_argument("--project", required=True)
        parser.add_argument("--command")
        parser.add_argument("--model")
        parser.add_argument("--serving-type")
        parser.add_argument("--version")
        parser.add_argument("--replicas", type=int)
        parser.add_argument("--port")
        parser.add_argument("--health")
        parser.add_argument("--cpu")
        parser.add_argument("--memory")
        parser.add_argument("--expose")
        parser.add_argument("--wait", action="store_true")
        args = parser.parse_args(argv)
        try:
            body = deploy_body(args.name, args.project, command=args.command, model=args.model, serving_type=args.serving_type,
                               model_version=args.version, replicas=args.replicas, port=args.port, health=args.health,
                               cpu=args.cpu, memory=args.memory, expose=args.expose)
        except ValueError as exc:
            raise UsageError(f"{exc}\n{USAGE}") from None
        existing = self.client.find_service(body)
        if existing is None:
            service = self.client.post("services", body)
            verb = "created"
        else:
            service = self.client.patch(f"services/{existing['id']}", body)
            verb = "changed"
        service = self.client.post(f"services/{service['id']}/deploy")
        print(f"Service '{service['name']}' {verb} in project '{args.project}' and deployed "
              f"(id {service['id']}, host {service.get('url') or service.get('host')}).", flush=True)
        if args.wait:
            service = self._wait_service(service["id"])
        title = f"{service['name']}: {service['status']}" + (f" ({service['message']})" if service.get("message") else "")
        return Table(service_rows([service]), SERVICE_COLUMNS, title)

    def _build(self, argv):
        parser = _Parser(prog="%cubelab build", add_help=False)
        parser.add_argument("path")
        parser.add_argument("--project", default=os.environ.get("CUBELAB_PROJECT") or "public")
        parser.add_argument("--image")
        parser.add_argument("--tag", action="append", dest="tags")
        parser.add_argument("--context")
        parser.add_argument("--wait", action="store_true")
        args = parser.parse_args(argv)
        workspace, cwd = os.environ.get("CUBELAB_WORKSPACE"), os.getcwd()
        try:
            dockerfile = workspace_path(args.path, workspace, cwd)
            context = workspace_path(args.context, workspace, cwd) if args.context is not None else None
        except ValueError as exc:
            raise UsageError(f"{exc}\n{USAGE}") from None
        build = self.client.post("builds", build_body(dockerfile, args.project, image=args.image, tags=args.tags,
                                                      context=context))
        print(f"Build {build['id']} of {args.project}/{build['image']}:{(build.get('tags') or ['latest'])[0]} "
              f"{build['status']} (Dockerfile {dockerfile}, context {build.get('context', context or '.')}).", flush=True)
        if not args.wait:
            return None
        for line in self.client.stream(f"builds/{build['id']}/logs", follow=1):
            sys.stdout.write(line)
            sys.stdout.flush()
        build = self._wait_build(build["id"])
        if build["status"] != "succeeded":
            raise UsageError(build_summary(build))
        print(build_summary(build), flush=True)
        return None

    # ------------------------------------------------------------ following

    def _wait_build(self, build_id: int, timeout: float = 60) -> dict:
        """The build once it has ended (its log ends just before its status is written)."""
        deadline = time.monotonic() + timeout
        while True:
            build = self.client.get(f"builds/{build_id}")
            if build["status"] in FINISHED_BUILD or time.monotonic() > deadline:
                return build
            time.sleep(self.poll_seconds)

    def _wait_service(self, service_id: int, timeout: float = 600) -> dict:
        """Until every replica wanted is healthy, or the service failed or stopped."""
        deadline = time.monotonic() + timeout
        while True:
            service = self.client.get(f"services/{service_id}")
            if service["status"] in SETTLED or time.monotonic() > deadline:
                return service
            time.sleep(self.poll_seconds)

    def _follow_experiment(self, exp: dict, view: ExperimentWidget, timeout: float = 7 * 24 * 3600) -> dict:
        """Until the experiment ends: its events (one request for the whole
        experiment), then polling if the stream ends or breaks before that."""
        path = f"experiments/{exp['id']}"
        try:
            for kind, data in parse_events(self.client.stream(f"{path}/events")):
                view.on_event(kind, data)
                if kind == "experiment":
                    exp = data
                    if exp["status"] in FINAL_EXPERIMENT:
                        return exp
        except (CubeLabError, OSError, ValueError):
            pass  # a proxy that cut the stream, say: polling answers the same
        deadline = time.monotonic() + timeout
        while True:
            exp = self.client.get(path)
            view.update(exp)
            if exp["status"] in FINAL_EXPERIMENT or time.monotonic() > deadline:
                return exp
            time.sleep(self.poll_seconds)

    def _wait(self, run_id: str, view: RunWidget | None = None, timeout: float = 24 * 3600) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            run = self.client.get(f"runs/{run_id}")
            if view is not None:
                view.update(run)
            if run["status"] in FINISHED or time.monotonic() > deadline:
                return run
            time.sleep(self.poll_seconds)

    def _follow(self, run: dict, view: RunWidget) -> dict:
        return self._wait(run["id"], view)

    def _follow_in_background(self, run: dict, view: RunWidget) -> None:
        self._poll_in_background(f"runs/{run['id']}", view.update, lambda r: r["status"] in FINISHED)

    def _poll_in_background(self, path: str, update, final) -> None:
        """Keep a widget live after the cell returns (on the kernel's loop)."""
        client = self.client

        async def poll():
            while True:
                await asyncio.sleep(self.poll_seconds)
                try:
                    current = await asyncio.get_running_loop().run_in_executor(None, client.get, path)
                except CubeLabError:
                    return
                update(current)
                if final(current):
                    return

        try:
            asyncio.get_running_loop().create_task(poll())
        except RuntimeError:  # no running loop (plain IPython): the widget shows the start only
            pass


def _pairs(extra: list[str]) -> dict:
    """``--lr 0.1 --flag`` -> {"--lr": "0.1", "--flag": True}; values stay text (the
    server checks them against the template's schema)."""
    result: dict = {}
    i = 0
    while i < len(extra):
        key = extra[i]
        if not key.startswith("--"):
            raise UsageError(f"expected an argument name starting with '--', got '{key}'")
        if i + 1 < len(extra) and not extra[i + 1].startswith("--"):
            result[key] = extra[i + 1]
            i += 2
        else:
            result[key] = True
            i += 1
    return result


def load_ipython_extension(ipython) -> None:
    ipython.register_magics(CubeLabMagics(ipython))
