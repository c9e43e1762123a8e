"""How one task becomes an argv, an environment and directories on this machine.

No function here runs anything; :mod:`.engine` does. Argument values are
resolved (upstream output references), type-checked against the template's
schema and rendered as ``--name value`` argv items: no shell ever parses them.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ...domain.errors import FieldError
from ...domain.formats import parse_cpu, parse_gpu, parse_memory
from ...domain.pipelines import Pipeline, Task, env_task_key
from ...domain.argspec import REFERENCE_RE, coerce_arg_value, render_arg
from ...domain.templates import JobTemplate
from ..base import RunSpec, TaskState, platform_env

# The environment a task inherits from the control plane: only these names, so the
# control plane's own secrets (hub API token, DB URL) never reach user processes.
BASE_ENV_KEYS = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "USER", "LOGNAME", "SHELL", "TERM", "VIRTUAL_ENV")
MAX_OUTPUT_VALUE = 64 * 1024  # bytes of an output file read into a downstream argument


class TaskSetupError(Exception):
    """The task cannot start (bad reference, missing script...); it fails with this message."""


@dataclass
class TaskPaths:
    root: Path  # <runs>/<run_id>/tasks/<task>
    work: Path  # the process's working directory
    out: Path  # its output directory, readable by downstream tasks
    log: Path

    @classmethod
    def for_task(cls, run_dir: Path, task: str) -> "TaskPaths":
        root = run_dir / "tasks" / task
        return cls(root=root, work=root / "work", out=root / "out", log=root / "log.txt")

    def exit_file(self, attempt: int) -> Path:
        return self.root / f"exit-{attempt}"


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in BASE_ENV_KEYS or k.startswith("LC_")}
    env.setdefault("PATH", os.defpath)
    return env


def effective_resources(task: Task, template: JobTemplate) -> tuple[str, str, str]:
    """CPU, memory, GPU as the task will get them: template ``TASK_RESOURCE_*`` win."""
    cpu = template.env.get("TASK_RESOURCE_CPU") or task.cpu
    memory = template.env.get("TASK_RESOURCE_MEMORY") or task.memory
    gpu = template.env.get("TASK_RESOURCE_GPU") or task.gpu
    return cpu, memory, gpu


def resolve_value(value: Any, upstream: Callable[[str], TaskState | None], spec_for: Callable[[str, str], str | None]) -> Any:
    """Replace ``{{tasks.T.outputs.NAME}}`` in a string value.

    ``path`` is T's output directory; any other NAME is the text of the file NAME
    in it (or its path when the template declares that output with type ``path``).
    """
    if not isinstance(value, str) or "{{" not in value:
        return value

    def repl(match) -> str:
        task_name, output = match.group(1), match.group(2)
        state = upstream(task_name)
        if state is None or "path" not in state.outputs:
            raise TaskSetupError(f"{match.group(0)}: task '{task_name}' has no outputs in this run (status {state.status if state else 'unknown'})")
        out_dir = Path(state.outputs["path"])
        if output == "path":
            return str(out_dir)
        file = out_dir / output
        if spec_for(task_name, output) == "path":
            return str(file)
        if not file.is_file():
            raise TaskSetupError(f"{match.group(0)}: task '{task_name}' did not write output '{output}' (expected file {file})")
        size = file.stat().st_size
        if size > MAX_OUTPUT_VALUE:
            raise TaskSetupError(f"{match.group(0)}: output '{output}' is {size} bytes, more than {MAX_OUTPUT_VALUE} for an argument value; pass {{{{tasks.{task_name}.outputs.path}}}} instead")
        text = file.read_text(errors="replace")
        return text[:-1] if text.endswith("\n") else text

    return REFERENCE_RE.sub(repl, value)


def shell_references(command: str, upstream, spec_for) -> tuple[str, dict[str, str]]:
    """References in a shell command become quoted variables (``"${CUBELAB_REF_0}"``)
    whose values travel in the environment, so an upstream's output is never parsed
    as shell text: only the user's own command line is."""
    env: dict[str, str] = {}

    def repl(match) -> str:
        name = f"CUBELAB_REF_{len(env)}"
        env[name] = resolve_value(match.group(0), upstream, spec_for)
        return f'"${{{name}}}"'

    return REFERENCE_RE.sub(repl, command), env


def build_args(task: Task, template: JobTemplate, upstream, spec_for, ref_env: dict[str, str] | None = None) -> tuple[list[str], dict[str, Any]]:
    """Resolved, typed values of every argument, and their ``--name value`` argv.
    For the shell template, ``ref_env`` receives the values of references in its command."""
    argv: list[str] = []
    values: dict[str, Any] = {}
    for flag in task.args:
        if template.arg(flag) is None:
            raise TaskSetupError(f"argument '{flag}' is not an argument of template '{template.name}'")
    for spec in template.args:
        raw = task.args.get(spec.name)
        if raw in (None, ""):
            raw = spec.default
        if raw in (None, ""):
            if spec.require:
                raise TaskSetupError(f"required argument '{spec.name}' has no value")
            continue
        if template.kind == "shell" and spec.name == "--command" and isinstance(raw, str) and ref_env is not None:
            raw, extra = shell_references(raw, upstream, spec_for)
            ref_env.update(extra)
        else:
            raw = resolve_value(raw, upstream, spec_for)
        try:
            value = coerce_arg_value(spec, raw, spec.name)
        except FieldError as exc:
            raise TaskSetupError(f"argument {exc}")
        values[spec.name] = value
        argv.extend(render_arg(spec, value))
    return argv, values


def build_env(spec: RunSpec, task: Task, template: JobTemplate, paths: TaskPaths, upstream: list[str], states: dict[str, TaskState], workspace: Path) -> dict[str, str]:
    """Lowest to highest: inherited basics, template env, pipeline global env, task
    env, run extras, then the platform's KFJ_* names (which always win).

    Direct upstreams' output directories come as ``KFJ_UPSTREAM_<NAME>_OUTPUT_DIR``;
    any ancestor's outputs are reachable through ``{{tasks.T.outputs.path}}`` arguments
    (one variable per ancestor would grow the environment with the DAG's depth)."""
    pipeline: Pipeline = spec.pipeline
    env = base_env()
    env.update(template.env)
    env.update(pipeline.env)
    env.update(task.env)
    env.update(spec.extra_env)
    cpu, memory, gpu = effective_resources(task, template)
    env.update(platform_env(spec, task, template, spec.namespace, (cpu, memory, gpu)))
    # local-engine additions: where this task writes, and where upstreams wrote
    env.update({"KFJ_TASK_OUTPUT_DIR": str(paths.out), "KFJ_TASK_WORK_DIR": str(paths.work), "KFJ_WORKSPACE": str(workspace)})
    for name in upstream:
        st = states.get(name)
        if st is not None and "path" in st.outputs:
            env[f"KFJ_UPSTREAM_{env_task_key(name)}_OUTPUT_DIR"] = st.outputs["path"]
    try:
        if parse_gpu(gpu).count == 0:
            # DESIGN: GPU '0' hides every card
            env["NVIDIA_VISIBLE_DEVICES"] = "none"
            env["CUDA_VISIBLE_DEVICES"] = ""
    except FieldError:
        pass
    return env


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def build_argv(task: Task, template: JobTemplate, values: dict[str, Any], rendered: list[str], paths: TaskPaths, workspace: Path, python: str = sys.executable) -> list[str] | None:
    """The argv to execute, or None for a task that runs no process (logical)."""
    kind = template.kind
    if kind == "logical":
        return None
    if kind == "shell":
        # Deliberate: the shell template exists to run the user's own command line.
        return ["bash", "-c", str(values["--command"])]
    if kind == "python":
        extra = shlex.split(values.get("--args", "") or "")  # split like a shell would, never executed by one
        script = values.get("--script")
        if script:
            path = Path(script)
            path = path if path.is_absolute() else workspace / path
            if not _inside(path, workspace):
                raise TaskSetupError(f"script '{script}' is outside the workspace {workspace}")
            if not path.is_file():
                raise TaskSetupError(f"script '{script}' does not exist in the workspace ({path})")
            return [python, str(path), *extra]
        code_file = paths.root / "task.py"
        code_file.write_text(str(values.get("--code", "")))
        return [python, str(code_file), *extra]
    if kind == "notebook":
        notebook = Path(str(values["--notebook"]))
        notebook = notebook if notebook.is_absolute() else workspace / notebook
        if not _inside(notebook, workspace):
            raise TaskSetupError(f"notebook '{values['--notebook']}' is outside the workspace {workspace}")
        if not notebook.is_file():
            raise TaskSetupError(f"notebook '{values['--notebook']}' does not exist in the workspace ({notebook})")
        executed = paths.out / notebook.name
        argv = [python, "-m", "papermill", str(notebook), str(executed), "--cwd", str(notebook.parent)]
        params = values.get("--parameters") or {}
        if params:
            import json

            argv += ["-y", json.dumps(params)]  # JSON is YAML: papermill's -y takes it as-is
        if values.get("--kernel"):
            argv += ["-k", str(values["--kernel"])]
        return argv
    # container templates: locally the command runs on the host (no container runtime here)
    if not template.command:
        raise TaskSetupError(f"template '{template.name}' has no command; the local engine runs commands, not images ({template.image})")
    argv = list(template.command) + list(template.fixed_args) + rendered
    for out in template.outputs:
        if out.flag:
            argv += [out.flag, str(paths.out / out.name)]
    return argv


def validate_resources(task: Task, template: JobTemplate) -> None:
    cpu, memory, gpu = effective_resources(task, template)
    try:
        parse_cpu(cpu)
        parse_memory(memory)
        parse_gpu(gpu)
    except FieldError as exc:
        raise TaskSetupError(str(exc))
