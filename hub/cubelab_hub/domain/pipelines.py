"""Pipelines: a DAG of tasks, each an instance of a job template.

A pipeline may be saved while invalid (a draft); :func:`validate` returns every
problem as a :class:`Diagnostic` (Elyra-style) and a run is refused while any
diagnostic has severity ``error``. Task fields therefore keep what the user
wrote (strings for resources) and are parsed by ``validate`` and the engines.

Pure Python: no Jupyter, tornado or Kubernetes imports.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .argspec import ARG_NAME_RE, PLATFORM_OVERRIDES, REFERENCE_RE, coerce_arg_value, contains_reference
from .errors import Diagnostic, FieldError, FieldErrors
from .formats import (
    check_mount_permissions,
    parse_cpu,
    parse_gpu,
    parse_memory,
    parse_node_selector,
    parse_volume_mounts,
    validate_dns_label,
)
from .retries import DEFAULT_BACKOFF, RetryBackoff, retry_backoff_from_dict
from .schedules import ScheduleSettings, schedule_from_dict
from .templates import RESERVED_OUTPUT_NAMES, JobTemplate, TemplateCatalog, parse_env_lines

EXPORT_FORMAT = "cubelab.pipeline/v1"
MAX_RETRIES = 20
DEFAULT_CPU = "1"
DEFAULT_MEMORY = "2G"
DEFAULT_GPU = "0"


@dataclass
class Task:
    name: str
    template: str
    template_version: str | None = None  # None: the released version
    label: str = ""
    args: dict[str, Any] = field(default_factory=dict)  # flag -> value
    cpu: str = DEFAULT_CPU
    memory: str = DEFAULT_MEMORY
    gpu: str = DEFAULT_GPU
    volume_mount: str = ""  # extra mounts on top of the template's and the project's
    node_selector: str = ""
    timeout: int = 0  # seconds, 0 = none
    retries: int = 0  # extra attempts after the first failure
    retry_backoff: RetryBackoff | None = None  # waits between attempts; None: DEFAULT_BACKOFF
    skip: bool = False
    env: dict[str, str] = field(default_factory=dict)
    extra_args: list[str] = field(default_factory=list)  # argv items after the task's own (an experiment trial's --name=value)
    position: dict | None = None  # editor canvas coordinates, kept verbatim

    def to_dict(self) -> dict:
        data = {
            "name": self.name,
            "template": self.template,
            "template_version": self.template_version,
            "label": self.label,
            "args": dict(self.args),
            "cpu": self.cpu,
            "memory": self.memory,
            "gpu": self.gpu,
            "volume_mount": self.volume_mount,
            "node_selector": self.node_selector,
            "timeout": self.timeout,
            "retries": self.retries,
            "skip": self.skip,
            "env": dict(self.env),
        }
        if self.retry_backoff is not None:
            # only when chosen: a stored task without it follows the default as that evolves
            data["retry_backoff"] = self.retry_backoff.to_dict()
        if self.extra_args:
            # only when set: pipelines users write never have them
            data["extra_args"] = list(self.extra_args)
        if self.position is not None:
            data["position"] = self.position
        return data

    @property
    def backoff(self) -> RetryBackoff:
        """The waits between this task's attempts, the default when none was chosen."""
        return self.retry_backoff or DEFAULT_BACKOFF


@dataclass
class Pipeline:
    name: str
    project: str = "public"
    description: str = ""
    tasks: list[Task] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)  # (upstream, downstream)
    env: dict[str, str] = field(default_factory=dict)  # global env for every task
    parallelism: int | None = None  # None: the engine's default (machine cores locally)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    id: int | None = None
    creator: str | None = None
    # Cube Studio's 'parameter', kept as given: 'demo' ("true": listed as a demo
    # others copy from) and 'img' (its picture) are the keys CubeLab reads
    parameter: dict = field(default_factory=dict)

    @property
    def demo(self) -> bool:
        return str(self.parameter.get("demo", "")).strip().lower() in ("true", "1")

    def task(self, name: str) -> Task | None:
        for t in self.tasks:
            if t.name == name:
                return t
        return None

    def upstream(self, name: str) -> list[str]:
        return [u for (u, d) in self.edges if d == name]

    def downstream(self, name: str) -> list[str]:
        return [d for (u, d) in self.edges if u == name]

    def ancestors(self, name: str) -> set[str]:
        return self._reach(name, self.upstream)

    def descendants(self, name: str) -> set[str]:
        return self._reach(name, self.downstream)

    @staticmethod
    def _reach(name: str, step) -> set[str]:
        """Every task reachable from ``name`` by repeating ``step`` (cycle-safe)."""
        seen: set[str] = set()
        stack = step(name)
        while stack:
            cur = stack.pop()
            if cur not in seen:
                seen.add(cur)
                stack.extend(step(cur))
        return seen

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "project": self.project,
            "description": self.description,
            "creator": self.creator,
            "tasks": [t.to_dict() for t in self.tasks],
            "edges": [list(e) for e in self.edges],
            "env": dict(self.env),
            "parallelism": self.parallelism,
            "schedule": self.schedule.to_dict(),
            "parameter": dict(self.parameter),
        }


# ---------------------------------------------------------------- parsing (shape only)

_TASK_KEYS = set(Task("x", "y").to_dict()) | {"position", "retry_backoff", "extra_args"}
_PIPELINE_KEYS = {"id", "name", "project", "description", "creator", "tasks", "edges", "env", "parallelism", "schedule", "parameter"}


def _int_or_error(value: Any, field_name: str, errors: list[FieldError], default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        errors.append(FieldError(field_name, f"{value!r} is not a whole number", "a whole number"))
        return default
    return value


def task_from_dict(data: Any, index: int) -> Task:
    where = f"tasks[{index}]"
    if not isinstance(data, dict):
        raise FieldErrors([FieldError(where, "must be an object", "{name, template, args, ...}")])
    errors: list[FieldError] = []
    for key in data:
        if key not in _TASK_KEYS:
            errors.append(FieldError(f"{where}.{key}", "is not a task field", ", ".join(sorted(_TASK_KEYS))))
    name = data.get("name")
    if not isinstance(name, str):
        errors.append(FieldError(f"{where}.name", "is missing", "a task name"))
        name = ""
    template = data.get("template")
    if not isinstance(template, str):
        errors.append(FieldError(f"{where}.template", "is missing", "a template name"))
        template = ""
    args = data.get("args", {}) or {}
    if not isinstance(args, dict):
        errors.append(FieldError(f"{where}.args", "must be an object of flag -> value", '{"--epochs": 10}'))
        args = {}
    env: dict[str, str] = {}
    try:
        env = parse_env_lines(data.get("env"), f"{where}.env")
    except FieldError as exc:
        errors.append(exc)
    strings = {}
    for key, default in (("cpu", DEFAULT_CPU), ("memory", DEFAULT_MEMORY), ("gpu", DEFAULT_GPU), ("volume_mount", ""), ("node_selector", ""), ("label", "")):
        value = data.get(key, default)
        if value is None:
            value = default
        if isinstance(value, (int, float)) and not isinstance(value, bool) and key in ("cpu", "gpu", "memory"):
            value = str(value)
        if not isinstance(value, str):
            errors.append(FieldError(f"{where}.{key}", f"must be text, got {type(value).__name__}", "a string"))
            value = default
        strings[key] = value
    skip = data.get("skip", False)
    if not isinstance(skip, bool):
        errors.append(FieldError(f"{where}.skip", f"{skip!r} is not true or false", "true or false"))
        skip = False
    version = data.get("template_version")
    if version is not None and not isinstance(version, str):
        errors.append(FieldError(f"{where}.template_version", "must be text", "'Release' or 'Alpha'"))
        version = None
    position = data.get("position")
    if position is not None and not isinstance(position, dict):
        errors.append(FieldError(f"{where}.position", "must be an object", '{"x": 120, "y": 40}'))
    extra_args = data.get("extra_args") or []
    if not isinstance(extra_args, list) or not all(isinstance(a, str) for a in extra_args):
        errors.append(FieldError(f"{where}.extra_args", "must be a list of strings", '["--lr=0.01", "--optimizer=sgd"]'))
        extra_args = []
    timeout = _int_or_error(data.get("timeout"), f"{where}.timeout", errors, 0)
    retries = _int_or_error(data.get("retries"), f"{where}.retries", errors, 0)
    backoff = None
    try:
        backoff = retry_backoff_from_dict(data.get("retry_backoff"), f"{where}.retry_backoff")
    except FieldErrors as exc:
        errors.extend(exc.errors)
    if errors:
        raise FieldErrors(errors)
    return Task(
        name=name,
        template=template,
        template_version=version or None,
        args=dict(args),
        timeout=timeout,
        retries=retries,
        retry_backoff=backoff,
        skip=skip,
        env=env,
        extra_args=list(extra_args),
        position=position if isinstance(position, dict) else None,
        **strings,
    )


def pipeline_from_dict(data: Any) -> Pipeline:
    """Parse the JSON shape. Raises :class:`FieldErrors` only for shape errors
    (wrong JSON types); content problems are left to :func:`validate` so drafts save."""
    if not isinstance(data, dict):
        raise FieldErrors([FieldError("pipeline", "must be an object", "{name, project, tasks, edges, ...}")])
    errors: list[FieldError] = []
    for key in data:
        if key not in _PIPELINE_KEYS:
            errors.append(FieldError(key, "is not a pipeline field", ", ".join(sorted(_PIPELINE_KEYS))))
    name = data.get("name")
    if not isinstance(name, str):
        errors.append(FieldError("name", "is missing", "a pipeline name"))
        name = ""
    project = data.get("project", "public")
    if not isinstance(project, str) or not project:
        errors.append(FieldError("project", "must be a project name", "the name of a project you belong to"))
        project = "public"
    description = data.get("description", "") or ""
    if not isinstance(description, str):
        errors.append(FieldError("description", "must be text", "a string"))
        description = ""
    tasks: list[Task] = []
    raw_tasks = data.get("tasks")
    raw_tasks = [] if raw_tasks is None else raw_tasks
    if not isinstance(raw_tasks, list):
        errors.append(FieldError("tasks", "must be a list", "[{name, template, ...}]"))
        raw_tasks = []
    for i, raw in enumerate(raw_tasks):
        try:
            tasks.append(task_from_dict(raw, i))
        except FieldErrors as exc:
            errors.extend(exc.errors)
    edges: list[tuple[str, str]] = []
    raw_edges = data.get("edges")
    raw_edges = [] if raw_edges is None else raw_edges
    if not isinstance(raw_edges, list):
        errors.append(FieldError("edges", "must be a list", '[["upstream", "downstream"], ...]'))
        raw_edges = []
    for i, raw in enumerate(raw_edges):
        if isinstance(raw, dict) and isinstance(raw.get("from", raw.get("source")), str) and isinstance(raw.get("to", raw.get("target")), str):
            edges.append((raw.get("from", raw.get("source")), raw.get("to", raw.get("target"))))
        elif isinstance(raw, (list, tuple)) and len(raw) == 2 and all(isinstance(x, str) for x in raw):
            edges.append((raw[0], raw[1]))
        else:
            errors.append(FieldError(f"edges[{i}]", f"{raw!r} is not an edge", '["upstream", "downstream"] or {"from": ..., "to": ...}'))
    env: dict[str, str] = {}
    try:
        env = parse_env_lines(data.get("env"), "env")
    except FieldError as exc:
        errors.append(exc)
    parallelism = data.get("parallelism")
    if parallelism is not None and (isinstance(parallelism, bool) or not isinstance(parallelism, int)):
        errors.append(FieldError("parallelism", f"{parallelism!r} is not a whole number", "a whole number >= 1, or null for the machine's cores"))
        parallelism = None
    parameter = data.get("parameter") or {}
    if not isinstance(parameter, dict):
        errors.append(FieldError("parameter", f"must be an object, got {type(parameter).__name__}", '{"demo": "true", "img": "/static/..."}'))
        parameter = {}
    schedule = ScheduleSettings()
    try:
        schedule = schedule_from_dict(data.get("schedule"))
    except FieldErrors as exc:
        errors.extend(exc.errors)
    if errors:
        raise FieldErrors(errors)
    return Pipeline(
        name=name,
        project=project,
        description=description,
        tasks=tasks,
        edges=edges,
        env=env,
        parallelism=parallelism,
        schedule=schedule,
        parameter=dict(parameter),
        id=data.get("id") if isinstance(data.get("id"), int) else None,
        creator=data.get("creator") if isinstance(data.get("creator"), str) else None,
    )


# ---------------------------------------------------------------- validation


def _resolve_template(catalog: TemplateCatalog | Mapping, task: Task) -> JobTemplate | None:
    if isinstance(catalog, TemplateCatalog):
        return catalog.get(task.template, task.template_version)
    if task.template_version:
        return catalog.get((task.template, task.template_version))
    return catalog.get((task.template, "Release")) or catalog.get((task.template, "Alpha"))


def find_cycles(nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Every strongly connected component that is a cycle (Tarjan), each as a
    list of task names in path order, so the editor can mark them."""
    graph: dict[str, list[str]] = {n: [] for n in nodes}
    for u, d in edges:
        if u in graph and d in graph:
            graph[u].append(d)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    counter = [0]
    cycles: list[list[str]] = []

    # iterative Tarjan: a 200-task chain must not hit Python's recursion limit
    for root in graph:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, pos = work.pop()
            if pos == 0:
                index[node] = low[node] = counter[0]
                counter[0] += 1
                stack.append(node)
                on_stack.add(node)
            recurse = False
            succs = graph[node]
            for i in range(pos, len(succs)):
                nxt = succs[i]
                if nxt not in index:
                    work.append((node, i + 1))
                    work.append((nxt, 0))
                    recurse = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if recurse:
                continue
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1 or node in graph[node]:
                    cycles.append(list(reversed(comp)))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return cycles


def topological_order(pipeline: Pipeline) -> list[str]:
    """Task names in an order where every task follows its upstreams (Kahn).
    Raises ValueError on a cycle (validate reports cycles first)."""
    names = [t.name for t in pipeline.tasks]
    indeg = {n: 0 for n in names}
    succ: dict[str, list[str]] = {n: [] for n in names}
    for u, d in pipeline.edges:
        if u in indeg and d in indeg:
            indeg[d] += 1
            succ[u].append(d)
    queue = deque(n for n in names if indeg[n] == 0)
    order = []
    while queue:
        n = queue.popleft()
        order.append(n)
        for d in succ[n]:
            indeg[d] -= 1
            if indeg[d] == 0:
                queue.append(d)
    if len(order) != len(names):
        raise ValueError("pipeline has a cycle")
    return order


def validate(pipeline: Pipeline, templates: TemplateCatalog | Mapping, is_admin: bool = False) -> list[Diagnostic]:
    """Every problem of ``pipeline`` against ``templates``; an empty list means runnable."""
    diags: list[Diagnostic] = []

    def err(message: str, task: str | None = None, field: str | None = None, edge: tuple[str, str] | None = None, **extra: Any) -> None:
        diags.append(Diagnostic("error", message, task=task, edge=edge, field=field, extra=extra))

    def warn(message: str, task: str | None = None, field: str | None = None, edge: tuple[str, str] | None = None, **extra: Any) -> None:
        diags.append(Diagnostic("warning", message, task=task, edge=edge, field=field, extra=extra))

    try:
        validate_dns_label(pipeline.name, "name")
    except FieldError as exc:
        err(str(exc), field="name")
    if not pipeline.tasks:
        warn("the pipeline has no tasks", field="tasks")
    if pipeline.parallelism is not None and pipeline.parallelism < 1:
        err(f"parallelism: {pipeline.parallelism} is less than 1 (accepted: a whole number >= 1, or empty for the machine's cores)", field="parallelism")

    # names
    counts: dict[str, int] = {}
    for t in pipeline.tasks:
        counts[t.name] = counts.get(t.name, 0) + 1
    for name, n in counts.items():
        if n > 1:
            err(f"task name '{name}' is used by {n} tasks (accepted: unique task names)", task=name, field="name")
    for t in pipeline.tasks:
        # DNS labels also keep KFJ_UPSTREAM_<NAME>_OUTPUT_DIR names distinct ('-' is the only mapped character)
        try:
            validate_dns_label(t.name, "name")
        except FieldError as exc:
            err(str(exc), task=t.name, field="name")

    names = set(counts)
    # edges
    seen_edges: set[tuple[str, str]] = set()
    for edge in pipeline.edges:
        u, d = edge
        if u not in names:
            err(f"edge {u} -> {d}: upstream task '{u}' does not exist", edge=edge, field="edges")
        if d not in names:
            err(f"edge {u} -> {d}: downstream task '{d}' does not exist", edge=edge, field="edges")
        if u == d:
            err(f"edge {u} -> {d} connects a task to itself", edge=edge, task=u, field="edges")
        if edge in seen_edges:
            warn(f"edge {u} -> {d} is given twice", edge=edge, field="edges")
        seen_edges.add(edge)
    for cycle in find_cycles([t.name for t in pipeline.tasks], [e for e in pipeline.edges if e[0] != e[1]]):
        cycle_edges = [e for e in pipeline.edges if e[0] in cycle and e[1] in cycle]
        path = " -> ".join(cycle + [cycle[0]])
        for e in cycle_edges:
            err(f"cycle: {path}", edge=e, field="edges", cycle=cycle)
        for name in cycle:
            err(f"task is part of a cycle: {path}", task=name, field="edges", cycle=cycle)
    has_cycle = any("cycle" in d.extra for d in diags)

    # global env
    for key in pipeline.env:
        if key.startswith("KFJ_"):
            warn(f"global env {key} is overridden by the platform's KFJ_* value", field=f"env.{key}")

    # tasks
    for t in pipeline.tasks:
        _validate_task(pipeline, t, templates, is_admin, err, warn, has_cycle)

    # schedule
    if pipeline.schedule.enabled and not pipeline.schedule.cron:
        err("schedule is enabled but has no cron expression", field="schedule.cron")
    return diags


def env_task_key(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name).upper()


def _validate_task(pipeline: Pipeline, t: Task, templates, is_admin: bool, err, warn, has_cycle: bool) -> None:
    tpl = _resolve_template(templates, t)
    if tpl is None:
        version = f" version {t.template_version}" if t.template_version else ""
        err(f"template '{t.template}'{version} does not exist", task=t.name, field="template")
    elif tpl.version != "Release" and not is_admin:
        err(f"template '{t.template}' is {tpl.version} (unreleased); only admins may use it", task=t.name, field="template")
    elif tpl.version != "Release":
        warn(f"template '{t.template}' is {tpl.version}, not released", task=t.name, field="template")

    # resources (TASK_RESOURCE_* in the template's env override the task's)
    overrides = tpl.env if tpl else {}
    for key, parser, env_key, default in (("cpu", parse_cpu, "TASK_RESOURCE_CPU", DEFAULT_CPU), ("memory", parse_memory, "TASK_RESOURCE_MEMORY", DEFAULT_MEMORY), ("gpu", parse_gpu, "TASK_RESOURCE_GPU", DEFAULT_GPU)):
        value = getattr(t, key)
        try:
            parser(value, key)
        except FieldError as exc:
            err(str(exc), task=t.name, field=key)
        # only a value the user chose is worth a warning, not the default
        if env_key in overrides and value not in ("", default, overrides[env_key]):
            warn(f"{key} '{value}' is overridden by the template's {env_key}={overrides[env_key]}", task=t.name, field=key)
    try:
        mounts = parse_volume_mounts(t.volume_mount, "volume_mount")
        check_mount_permissions(mounts, is_admin, "volume_mount")
    except FieldError as exc:
        err(str(exc), task=t.name, field="volume_mount")
    try:
        parse_node_selector(t.node_selector, "node_selector")
    except FieldError as exc:
        err(str(exc), task=t.name, field="node_selector")
    if t.timeout < 0:
        err(f"timeout: {t.timeout} is negative (accepted: seconds >= 0, 0 for none)", task=t.name, field="timeout")
    if t.retries < 0 or t.retries > MAX_RETRIES:
        err(f"retries: {t.retries} is outside 0..{MAX_RETRIES} (accepted: a whole number from 0 to {MAX_RETRIES})", task=t.name, field="retries")

    if tpl is None:
        return
    ancestors = set() if has_cycle else pipeline.ancestors(t.name)
    for flag, value in t.args.items():
        spec = tpl.arg(flag)
        field = f"args.{flag}"
        if spec is None:
            known = ", ".join(s.name for s in tpl.args) or "none"
            if tpl.kind != "container" or not (ARG_NAME_RE.match(flag) or flag in PLATFORM_OVERRIDES):
                # built-in runners build their command from their own arguments only
                err(f"argument '{flag}' is not an argument of template '{tpl.name}' (accepted: {known})", task=t.name, field=field)
            elif value not in (None, "") and flag not in PLATFORM_OVERRIDES:
                # Cube Studio passes such an argument as written, and so does CubeLab
                # (an override such as a task's working_dir or command is no flag: nothing to warn about)
                warn(f"argument '{flag}' is not declared by template '{tpl.name}'; it is passed as written (declared: {known})", task=t.name, field=field)
            continue
        if not spec.editable and value not in (None, "") and value != spec.default:
            err(f"argument '{flag}' is not editable; it must keep the template's default {spec.default!r}", task=t.name, field=field)
        if contains_reference(value):
            _validate_references(pipeline, t, value, field, ancestors, templates, err, has_cycle)
            # a reference's value is only known at run time; its type is checked then
            if spec.type not in ("str", "text", "file", "json", "enum", "int", "float", "list", "dict", "multiple"):
                warn(f"argument '{flag}' of type {spec.type} takes a reference; its value is checked when the run starts", task=t.name, field=field)
            continue
        if isinstance(value, str) and "{{" in value and "tasks." in value:
            err(f"argument '{flag}': '{value}' is not a valid reference (accepted: {{{{tasks.<task>.outputs.<name>}}}})", task=t.name, field=field)
            continue
        if value is None or value == "":
            continue
        try:
            coerce_arg_value(spec, value, flag)
        except FieldError as exc:
            err(f"argument {exc}", task=t.name, field=field)
    for spec in tpl.args:
        if not spec.require:
            continue
        value = t.args.get(spec.name)
        # a value set empty leaves the flag out, default or not (Cube Studio's way to clear one)
        if value in (None, "") and (spec.name in t.args or spec.default in (None, "")):
            err(f"required argument '{spec.name}' ({spec.label or spec.name}) has no value", task=t.name, field=f"args.{spec.name}")
    if tpl.kind == "python" and not any(t.args.get(k) for k in ("--code", "--script")):
        err("python task needs '--code' or '--script'", task=t.name, field="args.--code")


def _validate_references(pipeline: Pipeline, t: Task, value: str, field: str, ancestors: set[str], templates, err, has_cycle: bool) -> None:
    for match in REFERENCE_RE.finditer(value):
        ref_task, output = match.group(1), match.group(2)
        upstream = pipeline.task(ref_task)
        if upstream is None:
            err(f"{match.group(0)} refers to task '{ref_task}', which does not exist", task=t.name, field=field)
            continue
        if ref_task == t.name:
            err(f"{match.group(0)} refers to the task itself", task=t.name, field=field)
            continue
        if not has_cycle and ref_task not in ancestors:
            err(f"{match.group(0)} refers to task '{ref_task}', which is not upstream of '{t.name}' (accepted: add an edge {ref_task} -> {t.name})", task=t.name, field=field)
            continue
        tpl = _resolve_template(templates, upstream)
        if tpl is not None and tpl.outputs and output not in RESERVED_OUTPUT_NAMES and tpl.output(output) is None:
            names = ", ".join(["path"] + [o.name for o in tpl.outputs])
            err(f"{match.group(0)}: template '{tpl.name}' has no output '{output}' (accepted: {names})", task=t.name, field=field)


def has_errors(diags: list[Diagnostic]) -> bool:
    return any(d.severity == "error" for d in diags)


# ---------------------------------------------------------------- export / import


def export_pipeline(pipeline: Pipeline, templates: TemplateCatalog | Mapping) -> dict:
    """One JSON document; templates are referenced by name and version, not embedded."""
    data = pipeline.to_dict()
    data.pop("id", None)
    data.pop("creator", None)
    refs = []
    for t in pipeline.tasks:
        tpl = _resolve_template(templates, t)
        version = tpl.version if tpl else t.template_version
        ref = {"name": t.template, "version": version}
        if ref not in refs:
            refs.append(ref)
        # pin the version actually used so an import elsewhere gets the same template
        for td in data["tasks"]:
            if td["name"] == t.name and td["template_version"] is None and tpl is not None:
                td["template_version"] = tpl.version
    return {"format": EXPORT_FORMAT, "templates": refs, "pipeline": data}


def import_pipeline(document: Any, templates: TemplateCatalog | Mapping, *, project: str | None = None, name: str | None = None) -> tuple[Pipeline, list[Diagnostic]]:
    """Parse an export document; diagnostics name missing templates (and all
    other problems). The pipeline is returned even when invalid, as a draft."""
    if isinstance(document, (str, bytes)):
        try:
            document = json.loads(document)
        except json.JSONDecodeError as exc:
            raise FieldErrors([FieldError("document", f"is not valid JSON ({exc.msg})", f"a {EXPORT_FORMAT} export document")]) from None
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise FieldErrors([FieldError("format", f"'{found}' is not a pipeline export", f"a document with \"format\": \"{EXPORT_FORMAT}\"")])
    body = document.get("pipeline")
    if not isinstance(body, dict):
        raise FieldErrors([FieldError("pipeline", "is missing", "the exported pipeline object")])
    body = dict(body)
    if project is not None:
        body["project"] = project
    if name is not None:
        body["name"] = name
    pipeline = pipeline_from_dict(body)
    diags: list[Diagnostic] = []
    for i, ref in enumerate(document.get("templates") or []):
        if not isinstance(ref, dict):
            continue
        fake = Task(name="", template=str(ref.get("name")), template_version=ref.get("version"))
        if _resolve_template(templates, fake) is None:
            diags.append(Diagnostic("error", f"template '{ref.get('name')}' version {ref.get('version')} is not installed here", field=f"templates[{i}]"))
    return pipeline, diags
