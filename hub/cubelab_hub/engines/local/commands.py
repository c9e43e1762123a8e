"""How one task becomes an argv, an environment and directories on this machine.

No function here runs anything; :mod:`.engine` does. The command line, the
environment layers and the resources come from the shared launch description
(:mod:`..launch`); what is local is resolving upstream output references from
the files upstream tasks wrote, the directories, and checking the workspace.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...domain.argspec import REFERENCE_RE
from ...domain.errors import FieldError
from ...domain.formats import parse_cpu, parse_gpu, parse_memory
from ...domain.pipelines import Task
from ...domain.templates import JobTemplate
from ..base import RunSpec, TaskState
from ..launch import Where, describe, effective_resources, upstream_dir_env

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
    def for_task(cls, run_dir: Path, task: str) -> TaskPaths:
        root = run_dir / "tasks" / task
        return cls(root=root, work=root / "work", out=root / "out", log=root / "log.txt")

    def exit_file(self, attempt: int) -> Path:
        return self.root / f"exit-{attempt}"


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in BASE_ENV_KEYS or k.startswith("LC_")}
    env.setdefault("PATH", os.defpath)
    return env


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


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def build_launch(spec: RunSpec, task: Task, template: JobTemplate, paths: TaskPaths, states: dict[str, TaskState], workspace: Path, python: str = sys.executable) -> tuple[list[str] | None, dict[str, str]]:
    """The argv (None for a task that runs no process) and the environment of
    ``task`` on this machine: the shared launch description, translated.

    Environment, lowest to highest: inherited basics, the launch's layers (see
    :func:`..launch.layered_env`), where this task writes and its direct
    upstreams wrote, and the values of references in a shell command. Only direct
    upstreams' directories come as ``KFJ_UPSTREAM_<NAME>_OUTPUT_DIR``; any
    ancestor's outputs are reachable through ``{{tasks.T.outputs.path}}``
    arguments (one variable per ancestor would grow with the DAG's depth)."""
    ref_env: dict[str, str] = {}

    def upstream_state(name: str) -> TaskState | None:
        return states.get(name)

    def output_type(task_name: str, output: str) -> str | None:
        tpl = spec.templates.get(task_name)
        out = tpl.output(output) if tpl else None
        return out.type.lower() if out else None

    def resolve(arg, raw: str, field_name: str):
        if template.kind == "shell" and arg.name == "--command":
            command, extra = shell_references(raw, upstream_state, output_type)
            ref_env.update(extra)
            return command, False
        return resolve_value(raw, upstream_state, output_type), False

    where = Where(python=python, output_dir=str(paths.out), namespace=spec.namespace, workspace=str(workspace), code_file=str(paths.root / "task.py"),
                  environment=spec.cluster_name or "local")
    try:
        cpu, memory, gpu = effective_resources(task, template)
        parse_cpu(cpu)
        parse_memory(memory)
        gpu_count = parse_gpu(gpu).count
        launch = describe(spec, task, template, where, resolve)
    except FieldError as exc:
        raise TaskSetupError(str(exc)) from None
    for field_name, file in launch.workspace_files:
        if not _inside(Path(file), workspace):
            raise TaskSetupError(f"{field_name}: '{file}' is outside the workspace {workspace}")
        if not Path(file).is_file():
            raise TaskSetupError(f"{field_name}: '{file}' does not exist in the workspace")
    for file, text in launch.files.items():
        Path(file).write_text(text)

    env = base_env()
    env.update(launch.env)
    env.update({"KFJ_TASK_OUTPUT_DIR": str(paths.out), "KFJ_TASK_WORK_DIR": str(paths.work), "KFJ_WORKSPACE": str(workspace)})
    done = {name: states[name].outputs["path"] for name in spec.pipeline.upstream(task.name) if name in states and "path" in states[name].outputs}
    env.update(upstream_dir_env(done))
    if gpu_count == 0:
        # GPU '0' hides every card
        env["NVIDIA_VISIBLE_DEVICES"] = "none"
        env["CUDA_VISIBLE_DEVICES"] = ""
    env.update(ref_env)
    env.update(spec.secret_env)
    if launch.runs_nothing:
        return None, env
    if not launch.command:
        # locally the command runs on the host (no container runtime here)
        raise TaskSetupError(f"template '{template.name}' has no command; the local engine runs commands, not images ({template.image})")
    return launch.argv, env
