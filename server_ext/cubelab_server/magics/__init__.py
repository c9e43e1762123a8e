"""``%load_ext cubelab``: pipelines, runs and one-off tasks from any notebook.

    %cubelab pipelines [--project P] [--search TEXT] [--limit N | --all]
    %cubelab run NAME [--project P] [--wait]
    %cubelab logs RUN_ID TASK
    %%cubelab task TEMPLATE [--project P] [--ARG VALUE ...]   (the cell is the code)

A one-off task runs in a project (the server's own, ``CUBELAB_PROJECT``, else
``public``, unless ``--project`` names another), and every member of that
project can read its log and outputs; the cell's output says which project.

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

from .client import CubeLabClient, CubeLabError

FINISHED = {"succeeded", "failed", "cancelled"}
STATUS_COLOURS = {
    "pending": "var(--jp-layout-color3, #bbb)",
    "running": "var(--jp-brand-color1, #1976d2)",
    "succeeded": "var(--jp-success-color1, #388e3c)",
    "failed": "var(--jp-error-color1, #d32f2f)",
    "upstream-failed": "var(--jp-warn-color1, #f57c00)",
    "cancelled": "var(--jp-warn-color1, #f57c00)",
    "skipped": "var(--jp-layout-color4, #888)",
}
# the template argument that receives the cell's text
CELL_ARGUMENT = {"python": "--code", "shell": "--command"}

USAGE = __doc__.split("\n\n")[1]


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message}\n{USAGE}")


def _table(rows: list[dict], columns: list[str]) -> str:
    head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in columns)
    body = ""
    for row in rows:
        cells = ""
        for c in columns:
            value = row.get(c)
            text = html.escape("" if value is None else str(value))
            if c == "status" and value in STATUS_COLOURS:
                text = f"<span style='color:{STATUS_COLOURS[value]};font-weight:600'>{text}</span>"
            cells += f"<td style='text-align:left'>{text}</td>"
        body += f"<tr>{cells}</tr>"
    return f"<table class='cubelab-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# rows of `%cubelab pipelines` (one page of the API; --search narrows it)


class Table:
    """A small DataFrame-like result: HTML in notebooks, text elsewhere,
    ``.to_dataframe()`` when pandas is installed."""

    def __init__(self, rows: list[dict], columns: list[str], title: str = ""):
        self.rows = rows
        self.columns = columns
        self.title = title

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, index):
        return self.rows[index]

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame(self.rows, columns=self.columns)

    def _repr_html_(self):
        title = f"<b>{html.escape(self.title)}</b>" if self.title else ""
        return title + _table(self.rows, self.columns)

    def __repr__(self):
        widths = {c: max([len(c)] + [len(str(r.get(c) if r.get(c) is not None else "")) for r in self.rows]) for c in self.columns}
        lines = ["  ".join(c.ljust(widths[c]) for c in self.columns)]
        for r in self.rows:
            lines.append("  ".join(str(r.get(c) if r.get(c) is not None else "").ljust(widths[c]) for c in self.columns))
        return (self.title + "\n" if self.title else "") + "\n".join(lines)


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
                  f"<span style='color:{STATUS_COLOURS.get(run['status'], 'inherit')};font-weight:600'>{html.escape(run['status'])}</span></div>")
        self.widget.value = header + _table(rows, ["task", "status", "attempts", "exit_code"])


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
        handler = {"pipelines": self._pipelines, "run": self._run, "logs": self._logs, "task": self._task}.get(command)
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

    # ------------------------------------------------------------ following

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
        """Keep the widget live after the cell returns (on the kernel's loop)."""
        client = self.client

        async def poll():
            while True:
                await asyncio.sleep(self.poll_seconds)
                try:
                    current = await asyncio.get_running_loop().run_in_executor(None, client.get, f"runs/{run['id']}")
                except CubeLabError:
                    return
                view.update(current)
                if current["status"] in FINISHED:
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
