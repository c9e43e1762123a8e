"""How one task is launched, whichever engine runs it: pure, no I/O.

:func:`describe` turns a task and its template into one :class:`Launch`: the
command line of its kind, its environment and its effective resources. Engines
only translate it: the local engine into an argv and an environment for a
process, the Kubernetes engine into a container's command, args, env and
resources. What differs between them is passed in as :class:`Where` (where the
task sees its interpreter, output directory and workspace) and two callbacks:
how an argument's upstream references are resolved, and what a user string
must satisfy to be handed on as it is (Argo, for one, substitutes ``{{...}}``).

Argument values are rendered as ``--name value`` argv items (a true bool a bare
flag, JSON for lists and dicts); no shell parses them. The ``shell`` template
runs its one command with ``bash -c``: running the user's own command line is
what it is for, as is a Cube Studio template's ``command`` override (the
custom-image template): ``images`` and ``workdir`` overrides replace the image
and the working directory, and are never flags.

Task arguments follow Cube Studio: in the task's order (then the template's
defaults for arguments the task leaves out), an empty value leaves the flag
out, and an argument the template does not declare is still passed (pipeline
validation warns about it). Before any of that, Cube Studio's run variables
(``{{creator}}``, ``{{datetime...}}`` ..., :mod:`.variables`) are rendered in
argument values, the pipeline's and task's env, and the template's command, in
the same way for every engine.

A task's ``extra_args`` (an experiment trial's ``--name=value`` items) come
after everything else on its command line, whatever its kind. Where the kind
runs a command line with ``bash -c``, they are the shell's positional
parameters (``bash -c '<command> "$@"' <task> --lr=0.1``), so no shell parses
them. A notebook takes its parameters through papermill's ``--parameters``
and a logical task runs nothing: both refuse extra arguments. A trial (its env
names ``NNI_TRIAL_JOB_ID``) that names no ``NNI_OUTPUT_DIR``/``NNI_SYS_DIR``
gets the task's output directory as both.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import shlex
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..domain.argspec import ARG_NAME_RE, PLATFORM_OVERRIDES, ArgSpec, coerce_arg_value, render_arg
from ..domain.errors import FieldError
from ..domain.pipelines import Task, env_task_key
from ..domain.templates import JobTemplate
from .base import RunSpec
from .variables import RunVariables, render_text, render_value

# (argument, raw text, field name) -> (value, whether it is only known at run time)
Resolver = Callable[[ArgSpec, str, str], "tuple[Any, bool]"]
# (user text, field name) -> the text, or FieldError when it cannot be handed on as it is
Checker = Callable[[Any, str], str]

RESOURCE_OVERRIDES = ("TASK_RESOURCE_CPU", "TASK_RESOURCE_MEMORY", "TASK_RESOURCE_GPU")
# an experiment trial's output directories as NNI's trial keeper names them
NNI_OUTPUT_ENV = ("NNI_OUTPUT_DIR", "NNI_SYS_DIR")


def _as_is(value: Any, field_name: str) -> str:
    return str(value)


def _literal_value(arg: ArgSpec, raw: str, field_name: str) -> tuple[Any, bool]:
    return raw, False


@dataclass(frozen=True)
class Where:
    """Where the task sees things, on the engine that runs it."""

    python: str  # the interpreter of the python and notebook kinds
    output_dir: str  # KFJ_TASK_OUTPUT_DIR
    namespace: str  # KFJ_NAMESPACE
    workspace: str | None = None  # the user's files; relative script and notebook paths start here
    # python kind with inline code: the file the engine writes it to; None runs it with ``python -c``
    code_file: str | None = None
    # What Cube Studio's job images read about the platform (KFJ_ENVIRONMENT and the rest of platform_env)
    environment: str = "local"  # KFJ_ENVIRONMENT: the engine (cluster) the task runs on
    gpu_resource_name: str = ""  # GPU_RESOURCE_NAME: e.g. nvidia.com/gpu where GPUs are scheduled
    image_pull_policy: str = ""  # IMAGE_PULL_POLICY
    image_pull_secrets: tuple[str, ...] = ()  # HUBSECRET: the secrets' names, never their contents
    model_repo_api_url: str = ""  # KFJ_MODEL_REPO_API_URL: where a model registry answers, '' where none


@dataclass
class Launch:
    """One task's launch. ``command`` None: the image's entrypoint (templates
    without a command; a ``logical`` task runs nothing at all)."""

    kind: str  # the template's kind
    command: list[str] | None
    args: list[str] | None
    env: dict[str, str]
    resources: tuple[str, str, str]  # cpu, memory, gpu as written (template overrides applied)
    values: dict[str, Any] = field(default_factory=dict)  # argument -> typed value
    files: dict[str, str] = field(default_factory=dict)  # path -> text the engine writes before starting
    # (field name, path): files of the user's workspace the task needs; engines that can look, check them
    workspace_files: list[tuple[str, str]] = field(default_factory=list)
    image: str = ""  # the image: the template's, or the task's 'images' override
    workdir: str = ""  # the working directory: the template's, or the task's 'workdir' override; '' = the engine's
    host_ports: tuple[int, int] | None = None  # Cube Studio's HostNetwork: PORT1, PORT2

    @property
    def runs_nothing(self) -> bool:
        return self.kind == "logical"

    @property
    def argv(self) -> list[str]:
        return [*(self.command or []), *(self.args or [])]


def effective_resources(task: Task, template: JobTemplate) -> tuple[str, str, str]:
    """CPU, memory, GPU as the task will get them: the template's ``TASK_RESOURCE_*``
    env wins over the task's values (an admin's template pins them, as in Cube Studio)."""
    cpu, memory, gpu = (template.env.get(name) for name in RESOURCE_OVERRIDES)
    return cpu or task.cpu, memory or task.memory, gpu or task.gpu


def task_id(run_id: str, task: str) -> str:
    """KFJ_TASK_ID: '<run id>-<task>', cut to a valid label value (63 characters at
    most, a hash keeping it unique) because Cube Studio's launcher images put it
    into the labels of the pods they create."""
    text = f"{run_id}-{task}"
    if len(text) <= 63:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return f"{text[:52].rstrip('-_.')}-{digest}"


def run_variables(spec: RunSpec, extra: dict[str, str] | None = None) -> RunVariables:
    """The values of the run's variables: the same for every task and retry of the run."""
    when = spec.schedule_time or spec.started_at or datetime.now(UTC)
    return RunVariables(
        creator=spec.creator, runner=spec.runner, pipeline_id=str(spec.pipeline.id or ""), pipeline_name=spec.pipeline.name,
        cluster_name=spec.cluster_name, run_id=spec.run_id, now=when, extra=dict(extra or {}),
    )


def rendered_global_env(spec: RunSpec) -> dict[str, str]:
    """The pipeline's global env with its variables rendered first (Cube Studio
    does the same, so a date in it is the one every task sees)."""
    variables = run_variables(spec)
    return {key: render_text(value, variables, f"env.{key}") for key, value in spec.pipeline.env.items()}


def host_ports(spec: RunSpec, task: Task) -> tuple[int, int]:
    """The two host ports a HostNetwork task gets (PORT1, PORT2): fixed for the
    run and task, so a retry listens where the first attempt did; even bases in
    20000-39999, as Cube Studio's run pods take two consecutive ports."""
    base = 20000 + (zlib.crc32(f"{spec.run_id}/{task.name}".encode()) % 10000) * 2
    return base, base + 1


def platform_env(spec: RunSpec, task: Task, template: JobTemplate, namespace: str, resources: tuple[str, str, str], where: Where | None = None) -> dict[str, str]:
    """The environment every task sees on every engine (names kept from Cube
    Studio, so existing job images work). Engines add where outputs go on their side.

    ``HUBSECRET`` holds the names of the image pull secrets (what Cube Studio puts
    there), never a secret's contents."""
    pipeline = spec.pipeline
    cpu, memory, gpu = resources
    where = where or Where(python="python", output_dir="", namespace=namespace)
    env = {
        "KFJ_PIPELINE_ID": str(pipeline.id or ""),
        "KFJ_PIPELINE_NAME": pipeline.name,
        "KFJ_RUN_ID": spec.run_id,
        "KFJ_CREATOR": spec.creator,
        "KFJ_RUNNER": spec.runner,
        "KFJ_NAMESPACE": namespace,
        "KFJ_TASK_ID": task_id(spec.run_id, task.name),
        "KFJ_TASK_NAME": task.name,
        "KFJ_TASK_IMAGES": template.image,
        "KFJ_TASK_VOLUME_MOUNT": ",".join(m for m in (template.volume_mount, task.volume_mount) if m),
        "KFJ_TASK_NODE_SELECTOR": task.node_selector,
        "KFJ_TASK_RESOURCE_CPU": cpu,
        "KFJ_TASK_RESOURCE_MEMORY": memory,
        "KFJ_TASK_RESOURCE_GPU": gpu,
        "KFJ_TASK_PROJECT_NAME": spec.project,
        "KFJ_ENVIRONMENT": where.environment,
        "KFJ_MODEL_REPO_API_URL": where.model_repo_api_url,
        "GPU_RESOURCE_NAME": where.gpu_resource_name,
        "IMAGE_PULL_POLICY": where.image_pull_policy,
        "HUBSECRET": ",".join(where.image_pull_secrets),
        "USERNAME": spec.runner,
    }
    if template.host_network:
        port1, port2 = host_ports(spec, task)
        env["PORT1"], env["PORT2"] = str(port1), str(port2)
    if spec.schedule_time is not None:
        env["KFJ_SCHEDULE_TIME"] = spec.schedule_time.isoformat()
    return env


def upstream_dir_env(dirs: dict[str, str]) -> dict[str, str]:
    """``KFJ_UPSTREAM_<TASK>_OUTPUT_DIR`` for each upstream task -> its output directory."""
    return {f"KFJ_UPSTREAM_{env_task_key(name)}_OUTPUT_DIR": path for name, path in dirs.items()}


def layered_env(spec: RunSpec, task: Task, template: JobTemplate, namespace: str, resources: tuple[str, str, str], check: Checker = _as_is,
                where: Where | None = None) -> dict[str, str]:
    """Lowest to highest: template env, pipeline global env, task env, run
    extras, then the platform's KFJ_* names (which always win). Run variables
    are rendered in the first three."""
    global_env = rendered_global_env(spec)
    variables = run_variables(spec, global_env)
    env: dict[str, str] = {}
    layers = ((template.env, "template.env", True), (global_env, "env", False), (task.env, f"tasks.{task.name}.env", True), (spec.extra_env, "extra_env", False))
    for layer, at, render in layers:
        for key, value in layer.items():
            value = render_text(value, variables, f"{at}.{key}") if render else value
            env[key] = check(value, f"{at}.{key}")
    env.update(platform_env(spec, task, template, namespace, resources, where))
    if "NNI_TRIAL_JOB_ID" in env and where is not None and where.output_dir:
        # NNI's trial SDK writes its trial.log there; only the engine knows where that is
        for name in NNI_OUTPUT_ENV:
            env.setdefault(name, where.output_dir)
    return env


def _undeclared_argv(flag: str, value: Any) -> list[str]:
    """An argument the template does not declare, passed as Cube Studio passes
    it: a true bool a bare flag, a false one left out, dicts and lists JSON."""
    if isinstance(value, bool):
        return [flag] if value else []
    if isinstance(value, (dict, list)):
        return [flag, json.dumps(value, ensure_ascii=False)]
    return [flag, repr(value) if isinstance(value, float) else str(value)]


def render_args(task: Task, template: JobTemplate, resolve: Resolver = _literal_value, check: Checker = _as_is,
                variables: RunVariables | None = None) -> tuple[list[str], dict[str, Any]]:
    """``--name value`` argv items and the typed value of every argument. A value
    ``resolve`` says is known only at run time is passed on as text. Platform
    overrides (``images``, ``workdir``, ``command``) get values but no argv items.

    Order: the task's arguments as the task lists them, then the template's
    arguments the task leaves out (with their defaults). A value the task sets
    empty leaves the flag out (it clears a default); an argument the template
    does not declare is passed as given."""
    where = f"tasks.{task.name}.args"
    argv: list[str] = []
    values: dict[str, Any] = {}
    order = [*task.args, *(a.name for a in template.args if a.name not in task.args)]
    for name in order:
        field_name = f"{where}.{name}"
        arg = template.arg(name)
        if arg is None and (template.kind != "container" or not (ARG_NAME_RE.fullmatch(name) or name in PLATFORM_OVERRIDES)):
            raise FieldError(field_name, f"is not an argument of template '{template.name}'", ", ".join(s.name for s in template.args) or "none")
        if name in task.args:
            raw = task.args[name]
            if raw in (None, ""):
                if arg is not None and arg.require:
                    raise FieldError(field_name, "is required and has no value", "a value")
                continue
        else:
            raw = arg.default
            if raw in (None, ""):
                if arg.require:
                    raise FieldError(field_name, "is required and has no value", "a value, or a default in the template")
                continue
        if variables is not None:
            raw = render_value(raw, variables, field_name)
        if arg is None:
            if name in PLATFORM_OVERRIDES:
                values[name] = raw
                continue
            if isinstance(raw, str):
                raw, _dynamic = resolve(ArgSpec(name=name), raw, field_name)
            rendered = _undeclared_argv(name, raw)
            for item in rendered:
                check(item, field_name)
            values[name] = raw
            argv.extend(rendered)
            continue
        if isinstance(raw, str):
            raw, dynamic = resolve(arg, raw, field_name)
            if dynamic:
                if arg.type == "bool":
                    raise FieldError(field_name, "a bool flag cannot take a value known only at run time", "true or false")
                values[arg.name] = raw
                if not arg.is_override:
                    argv.extend([arg.name, raw])
                continue
        value = coerce_arg_value(arg, raw, field_name)
        values[arg.name] = value
        if arg.is_override:
            continue
        rendered = render_arg(arg, value)
        for item in rendered:
            check(item, field_name)
        argv.extend(rendered)
    return argv, values


def in_workspace(path: str, workspace: str | None, field_name: str) -> str:
    """An absolute, normalised path inside ``workspace`` (relative paths start there)."""
    if not posixpath.isabs(path):
        if workspace is None:
            raise FieldError(field_name, f"'{path}' is relative but the task mounts no workspace", "an absolute path, or a project with a workspace mount such as kubeflow-user-workspace(pvc):/mnt")
        path = posixpath.join(workspace, path)
    path = posixpath.normpath(path)
    if workspace is not None:
        root = posixpath.normpath(workspace)
        if not (path == root or path.startswith(root.rstrip("/") + "/")):
            raise FieldError(field_name, f"'{path}' is outside the workspace {workspace}", f"a path inside {workspace}")
    return path


def _builtin_command(task: Task, template: JobTemplate, values: dict[str, Any], where: Where, launch: Launch) -> list[str]:
    field_base = f"tasks.{task.name}.args"
    if template.kind == "python":
        try:
            extra = shlex.split(str(values.get("--args") or ""))  # split like a shell, executed by none
        except ValueError as exc:
            raise FieldError(f"{field_base}.--args", f"cannot be split into arguments ({exc})", "words separated by spaces, quotes balanced") from None
        script = values.get("--script")
        if script:
            path = in_workspace(str(script), where.workspace, f"{field_base}.--script")
            launch.workspace_files.append((f"{field_base}.--script", path))
            return [where.python, path, *extra]
        code = str(values.get("--code", ""))
        if where.code_file is None:
            return [where.python, "-c", code, *extra]
        launch.files[where.code_file] = code
        return [where.python, where.code_file, *extra]
    # notebook: papermill executes it into the output directory
    notebook = in_workspace(str(values["--notebook"]), where.workspace, f"{field_base}.--notebook")
    launch.workspace_files.append((f"{field_base}.--notebook", notebook))
    argv = [where.python, "-m", "papermill", notebook, posixpath.join(where.output_dir, posixpath.basename(notebook)), "--cwd", posixpath.dirname(notebook)]
    if values.get("--parameters"):
        argv += ["-y", json.dumps(values["--parameters"])]  # JSON is YAML: papermill's -y takes it as-is
    if values.get("--kernel"):
        argv += ["-k", str(values["--kernel"])]
    return argv


def _extra_args(task: Task, template: JobTemplate, check: Checker) -> list[str]:
    """The task's extra argv items, each checked; refused by the kinds that take none."""
    field_name = f"tasks.{task.name}.extra_args"
    if not task.extra_args:
        return []
    if template.kind == "notebook":
        raise FieldError(field_name, "a notebook takes no command-line arguments", "the notebook's parameters in --parameters (papermill)")
    if template.kind == "logical":
        raise FieldError(field_name, "a logical task runs nothing, so it takes no arguments", "no extra arguments")
    return [check(str(item), f"{field_name}[{i}]") for i, item in enumerate(task.extra_args)]


def _bash(command: str, task: Task, extra: list[str]) -> list[str]:
    """``bash -c`` running ``command``; extra items become its positional
    parameters, appended by ``"$@"`` and never part of the shell text."""
    if not extra:
        return ["bash", "-c", command]
    return ["bash", "-c", f'{command.rstrip()} "$@"', task.name, *extra]


def describe(spec: RunSpec, task: Task, template: JobTemplate, where: Where, resolve: Resolver = _literal_value, check: Checker = _as_is) -> Launch:
    """The launch of ``task``. Raises :class:`FieldError` naming the task field
    that cannot be launched."""
    resources = effective_resources(task, template)
    extra = _extra_args(task, template, check)
    variables = run_variables(spec, rendered_global_env(spec))
    if template.argv is not None:
        argv, values = render_argv_template(task, template, where, resolve, check)
        env = layered_env(spec, task, template, where.namespace, resources, check, where)
        # with no command line of its own the image's entrypoint runs: extra items are its args
        command, args = ([*argv, *extra], None) if argv else (None, extra or None)
        return Launch(kind=template.kind, command=command, args=args, env=env, resources=resources, values=values,
                      image=template.image, workdir=template.workdir)
    rendered, values = render_args(task, template, resolve, check, variables)
    env = layered_env(spec, task, template, where.namespace, resources, check, where)
    launch = Launch(kind=template.kind, command=None, args=None, env=env, resources=resources, values=values,
                    image=str(values.get("images") or template.image),
                    workdir=render_text(str(values.get("workdir") or template.workdir), variables, f"tasks.{task.name}.args.workdir"))
    if template.host_network:
        launch.host_ports = host_ports(spec, task)
    if template.kind == "logical":
        return launch
    if values.get("command") not in (None, ""):
        # Cube Studio's custom-image template: the command runs with bash -c, without flags
        launch.command = _bash(check(str(values["command"]), f"tasks.{task.name}.args.command"), task, extra)
        return launch
    if template.kind == "shell":
        launch.command = _bash(str(values["--command"]), task, extra)
        return launch
    if template.kind in ("python", "notebook"):
        launch.command = [*_builtin_command(task, template, values, where, launch), *extra]
        return launch
    # a template of its own: its command (or the image's entrypoint) with fixed and rendered args
    args = [check(a, f"tasks.{task.name}.template.fixed_args") for a in template.fixed_args] + rendered
    for out in template.outputs:
        if out.flag:
            args += [out.flag, posixpath.join(where.output_dir, out.name)]
    launch.command = [check(render_text(c, variables, f"tasks.{task.name}.template.command"), f"tasks.{task.name}.template.command") for c in template.command] or None
    launch.args = [*args, *extra] or None
    return launch


def _value_text(value: Any) -> str:
    """A typed value as one argv item, serialised as Kubeflow serialises arguments
    (``json.dumps`` for lists and dicts, ``str`` for the rest)."""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def render_argv_template(
    task: Task, template: JobTemplate, where: Where, resolve: Resolver = _literal_value, check: Checker = _as_is
) -> tuple[list[str], dict[str, Any]]:
    """The whole command line of a template with an argv template, resolved the way
    Kubeflow resolves a component's placeholders: an absent argument's placeholder
    yields nothing, ``if_present`` picks a branch, ``concat`` joins into one item.

    An argument is present when the task gives it a value, when it has a default,
    or when it is in ``always_present`` (its default, even '', is passed). A value
    the user typed as text is passed as typed (checked against the argument's type),
    so '1e-3' stays '1e-3' as in Kubeflow.
    """
    where_args = f"tasks.{task.name}.args"
    for name in task.args:
        if template.arg(name) is None:
            raise FieldError(f"{where_args}.{name}", f"is not an argument of template '{template.name}'", ", ".join(s.name for s in template.args) or "none")
    texts: dict[str, str] = {}
    values: dict[str, Any] = {}
    for arg in template.args:
        field_name = f"{where_args}.{arg.name}"
        raw = task.args.get(arg.name)
        if raw in (None, ""):
            raw = arg.default
        if raw in (None, ""):
            if arg.name in template.always_present:
                texts[arg.name] = values[arg.name] = ""
            elif arg.require:
                raise FieldError(field_name, "is required and has no value", "a value, or a default in the template")
            continue
        if isinstance(raw, str):
            resolved, dynamic = resolve(arg, raw, field_name)
            if dynamic:
                texts[arg.name] = values[arg.name] = resolved
                continue
            values[arg.name] = coerce_arg_value(arg, resolved, field_name)
            texts[arg.name] = check(str(resolved), field_name)
            continue
        values[arg.name] = coerce_arg_value(arg, raw, field_name)
        texts[arg.name] = check(_value_text(raw), field_name)
    outputs = {out.name: posixpath.join(where.output_dir, out.name) for out in template.outputs}

    def expand(items: list, field_name: str) -> list[str]:
        out: list[str] = []
        for i, item in enumerate(items):
            if isinstance(item, str):
                out.append(check(item, f"{field_name}[{i}]"))
            elif "value" in item or "path" in item:
                ref = item.get("value", item.get("path"))
                if ref in texts:
                    out.append(texts[ref])
            elif "output" in item:
                out.append(outputs[item["output"]])
            elif "concat" in item:
                out.append("".join(expand(item["concat"], f"{field_name}[{i}].concat")))
            else:
                branch = "then" if item["if_present"] in texts else "else"
                out.extend(expand(item.get(branch, []), f"{field_name}[{i}].{branch}"))
        return out

    return expand(template.argv or [], f"tasks.{task.name}.template.argv"), values
