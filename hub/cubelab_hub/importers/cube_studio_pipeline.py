"""Cube Studio pipelines -> :class:`~cubelab_hub.domain.pipelines.Pipeline`.

Reads what Cube Studio's ``init-pipeline.json`` holds (name -> ``{"pipeline":
..., "tasks": [...]}``), one such entry, or a list of them. Every field is
mapped or reported:

- pipeline: ``name`` (made a valid name), ``describe``, ``project``,
  ``dag_json`` (task -> ``{"upstream": [...]}``, the edges), ``global_env``
  (``K=V`` lines; run variables in them rendered at run time), ``parameter``
  (kept; ``demo`` and ``img`` read), ``expand`` (the editor's nodes: their
  positions), ``parallelism``, and the schedule (``schedule_type``,
  ``cron_time``, ``cronjob_start_time``, ``depends_on_past``,
  ``max_active_runs``, ``expired_limit``; imported disabled);
- task: ``job_templete`` (sic; also ``job_template``) resolved by name, display
  name or former name, ``name``, ``label``, ``args`` (as given, Cube Studio's
  way of passing them), ``resource_memory``/``resource_cpu``/``resource_gpu``,
  ``retry``, ``timeout``, ``skip``, ``volume_mount``, ``node_selector``,
  ``working_dir`` (the ``workdir`` override) and ``command`` (the ``command``
  override, run with ``bash -c``).

Fields with no CubeLab meaning are reported as ignored, with why; Cube Studio's
own bookkeeping (ids, dates, its Argo ids) is dropped. Pure: no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..domain.errors import Diagnostic, FieldError, FieldErrors
from ..domain.formats import validate_dns_label
from ..domain.pipelines import Pipeline, Task, validate
from ..domain.schedules import ScheduleSettings, parse_cron
from ..domain.templates import TemplateCatalog, parse_env_lines
from .naming import template_name

PIPELINE_FIELDS = frozenset({
    "name", "describe", "project", "dag_json", "global_env", "parameter", "expand", "parallelism",
    "schedule_type", "cron_time", "cronjob_start_time", "depends_on_past", "max_active_runs", "expired_limit",
})
TASK_FIELDS = frozenset({
    "job_templete", "job_template", "name", "label", "args", "resource_memory", "resource_cpu", "resource_gpu",
    "retry", "timeout", "skip", "volume_mount", "node_selector", "working_dir", "command",
})
# Why a field CubeLab does not carry over has no effect, as reported.
PIPELINE_IGNORED = {
    "namespace": "the project's namespace setting decides where runs go",
    "node_selector": "Cube Studio's cluster labels; tasks and the project's node_selector place tasks",
    "image_pull_policy": "the cluster configuration decides how images are pulled",
    "alert_status": "CubeLab sends no alerts",
    "alert_user": "CubeLab sends no alerts",
}
TASK_IGNORED = {
    "resource_rdma": "CubeLab schedules no RDMA devices",
    "outputs": "outputs are the files a task writes to KFJ_TASK_OUTPUT_DIR",
    "monitoring": "Cube Studio's own monitoring record",
    "expand": "Cube Studio's task extension keys",
    "overwrite_entrypoint": "a 'command' replaces the entrypoint on its own",
}
BOOKKEEPING = frozenset({
    "id", "project_id", "pipeline_id", "job_template_id", "created_on", "changed_on", "created_by", "changed_by",
    "created_by_fk", "changed_by_fk", "pipeline_file", "pipeline_argo_id", "version_id", "run_id",
})
# Values Cube Studio writes by default, which say nothing when left so.
_DEFAULTS = {"resource_rdma": ("0", 0), "outputs": ("{}",), "monitoring": ("{}",), "expand": ("{}", "[]"),
             "overwrite_entrypoint": (False, 0), "alert_status": ("Pending,Running,Succeeded,Failed,Terminated",),
             "namespace": ("pipeline",), "image_pull_policy": ("Always",), "node_selector": ("cpu=true,train=true",)}


@dataclass
class PipelineEntryReport:
    """What became of one pipeline of an imported file."""

    entry: str
    status: str  # 'imported' | 'refused'
    name: str = ""
    demo: bool = False
    errors: list[FieldError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)  # validation of the imported pipeline

    def to_dict(self) -> dict:
        return {
            "entry": self.entry, "status": self.status, "name": self.name, "demo": self.demo,
            "errors": [e.to_dict() for e in self.errors], "warnings": list(self.warnings), "ignored": list(self.ignored),
            "diagnostics": [d.to_dict() for d in self.diagnostics],
        }


def _json_field(value: Any, where: str, want: type, accepted: str) -> Any:
    """Cube Studio stores dag_json, args, parameter and expand as JSON text or as objects."""
    if value in (None, ""):
        return want()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise FieldError(where, f"is not valid JSON ({exc.msg})", accepted) from None
    if not isinstance(value, want):
        raise FieldError(where, f"must be {'an object' if want is dict else 'a list'}, got {type(value).__name__}", accepted)
    return value


def pipeline_entries(content: Any) -> list[tuple[str, Any]]:
    """The pipelines of a file: (how the file names each, ``{"pipeline": ..., "tasks": [...]}``)."""
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except json.JSONDecodeError as exc:
            raise FieldError("document", f"is not valid JSON ({exc.msg})", "Cube Studio pipeline JSON") from None
    if isinstance(content, dict) and "pipeline" in content:
        return [("0", content)]
    if isinstance(content, dict) and content:
        return [(str(k), v) for k, v in content.items()]
    if isinstance(content, list) and content:
        return [(str(i), v) for i, v in enumerate(content)]
    raise FieldError("document", "holds no pipeline", 'Cube Studio pipeline JSON: {"pipeline": {...}, "tasks": [...]} or name -> such an object')


def _ignored(data: dict, known: frozenset, reasons: dict, where: str) -> list[str]:
    out = []
    for key, value in data.items():
        if key in known or key in BOOKKEEPING or value in (None, "", [], {}) or value in _DEFAULTS.get(key, ()):
            continue
        reason = reasons.get(key, "not a Cube Studio field CubeLab knows")
        out.append(f"{where}{key}: {reason}")
    return out


def _task(raw: Any, i: int, catalog: TemplateCatalog, errors: list[FieldError], warnings: list[str], ignored: list[str]) -> Task | None:
    where = f"tasks[{i}]"
    if not isinstance(raw, dict):
        errors.append(FieldError(where, f"must be an object, got {type(raw).__name__}", "a Cube Studio task"))
        return None
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        errors.append(FieldError(f"{where}.name", "is missing", "the task's name, e.g. 'data-import'"))
        return None
    where = f"tasks.{name}"
    fixed = name.replace("_", "-").lower()
    try:
        validate_dns_label(fixed, f"{where}.name")
    except FieldError as exc:
        errors.append(exc)
        return None
    if fixed != name:
        warnings.append(f"{where}.name: '{name}' is imported as '{fixed}'")
    ref = raw.get("job_templete", raw.get("job_template"))
    if isinstance(ref, dict):
        ref = ref.get("name")
    if not isinstance(ref, str) or not ref:
        errors.append(FieldError(f"{where}.job_templete", "is missing", "the name of a job template"))
        return None
    tpl = catalog.resolve(ref)
    if tpl is None:
        errors.append(FieldError(f"{where}.job_templete", f"template '{ref}' is not installed here",
                                 "a template installed in CubeLab by its name, display name or former name (import Cube Studio's job templates first)"))
        return None
    if tpl.name != ref:
        warnings.append(f"{where}.job_templete: '{ref}' is template '{tpl.name}'")
    try:
        args = _json_field(raw.get("args"), f"{where}.args", dict, '{"--flag": "value"}')
    except FieldError as exc:
        errors.append(exc)
        return None
    args = dict(args)
    if raw.get("working_dir"):
        args["workdir"] = str(raw["working_dir"]).strip()
    if raw.get("command"):
        lines = [c.strip() for c in str(raw["command"]).splitlines() if c.strip()]
        args["command"] = " && ".join(lines)
        warnings.append(f"{where}.command: run with bash -c in the task's image; the template's flags are not passed with it")
    task = Task(name=fixed, template=tpl.name, label=str(raw.get("label") or ""), args=args)
    for key, attr in (("resource_cpu", "cpu"), ("resource_memory", "memory"), ("resource_gpu", "gpu")):
        if raw.get(key) not in (None, ""):
            setattr(task, attr, str(raw[key]).strip())
    for key, attr in (("retry", "retries"), ("timeout", "timeout")):
        value = raw.get(key, 0) or 0
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(FieldError(f"{where}.{key}", f"{value!r} is not a whole number", "a whole number"))
        else:
            setattr(task, attr, value)
    task.skip = bool(raw.get("skip", False))
    task.volume_mount = str(raw.get("volume_mount") or "")
    selector = raw.get("node_selector") or ""
    if selector and selector not in _DEFAULTS["node_selector"]:
        task.node_selector = str(selector)
    ignored.extend(_ignored(raw, TASK_FIELDS, {**TASK_IGNORED, "node_selector": ""}, f"{where}."))
    return task


def _schedule(data: dict, errors: list[FieldError], warnings: list[str]) -> ScheduleSettings:
    s = ScheduleSettings()
    cron = str(data.get("cron_time") or "").strip()
    if data.get("schedule_type") == "crontab" or cron:
        try:
            s.cron = parse_cron(cron, "pipeline.cron_time")
            warnings.append("pipeline.schedule_type: the schedule is imported disabled; enable it in CubeLab")
        except FieldError as exc:
            errors.append(exc)
    start = str(data.get("cronjob_start_time") or "").strip()
    if start:
        try:
            s.start_time = datetime.strptime(start, "%Y-%m-%d %H:%M:%S").astimezone()
        except ValueError:
            errors.append(FieldError("pipeline.cronjob_start_time", f"'{start}' is not a time", "'YYYY-MM-DD HH:MM:SS'"))
    s.depends_on_past = bool(data.get("depends_on_past", False))
    for key in ("max_active_runs", "expired_limit"):
        value = data.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            errors.append(FieldError(f"pipeline.{key}", f"{value!r} is not a whole number >= 0", "a whole number >= 0"))
        else:
            setattr(s, key, max(value, 1) if key == "max_active_runs" else value)
    return s


def import_cube_studio_pipeline(entry: Any, catalog: TemplateCatalog, *, project: str | None = None, name: str | None = None,
                                entry_name: str = "0") -> tuple[Pipeline | None, PipelineEntryReport]:
    """One Cube Studio pipeline -> a :class:`Pipeline` (None when refused) and its report."""
    report = PipelineEntryReport(entry=entry_name, status="refused")
    errors: list[FieldError] = []
    if not isinstance(entry, dict) or not isinstance(entry.get("pipeline"), dict):
        report.errors = [FieldError(f"{entry_name}.pipeline", "is missing", '{"pipeline": {...}, "tasks": [...]}')]
        return None, report
    data = entry["pipeline"]
    raw_name = name or data.get("name")
    if not isinstance(raw_name, str) or not raw_name:
        errors.append(FieldError("pipeline.name", "is missing", "the pipeline's name"))
        raw_name = ""
    pipeline_name = template_name(raw_name) if raw_name else ""
    report.name = pipeline_name
    if raw_name and pipeline_name != raw_name:
        report.warnings.append(f"pipeline.name: '{raw_name}' is imported as '{pipeline_name}'")
    try:
        dag = _json_field(data.get("dag_json"), "pipeline.dag_json", dict, '{"task": {"upstream": ["other"]}}')
    except FieldError as exc:
        errors.append(exc)
        dag = {}
    try:
        parameter = _json_field(data.get("parameter"), "pipeline.parameter", dict, '{"demo": "true", "img": "..."}')
    except FieldError as exc:
        errors.append(exc)
        parameter = {}
    try:
        expand = _json_field(data.get("expand"), "pipeline.expand", list, "the editor's nodes and edges")
    except FieldError as exc:
        errors.append(exc)
        expand = []
    env_lines = str(data.get("global_env") or "")
    kept = []
    for lineno, line in enumerate(env_lines.splitlines(), 1):
        if line.strip() and "=" not in line:
            report.warnings.append(f"pipeline.global_env: line {lineno} '{line.strip()}' has no '=' and is skipped (as Cube Studio does)")
        else:
            kept.append(line)
    env: dict[str, str] = {}
    try:
        env = parse_env_lines("\n".join(kept), "pipeline.global_env")
    except FieldError as exc:
        errors.append(exc)
    raw_tasks = entry.get("tasks") or []
    if not isinstance(raw_tasks, list):
        errors.append(FieldError("tasks", f"must be a list, got {type(raw_tasks).__name__}", "a list of Cube Studio tasks"))
        raw_tasks = []
    tasks: list[Task] = []
    names: dict[str, str] = {}  # Cube Studio's task name -> ours
    for i, raw in enumerate(raw_tasks):
        task = _task(raw, i, catalog, errors, report.warnings, report.ignored)
        if task is not None:
            if task.name in names.values():
                errors.append(FieldError(f"tasks.{task.name}.name", f"task '{task.name}' appears twice", "unique task names"))
                continue
            names[raw["name"]] = task.name
            tasks.append(task)
    edges: list[tuple[str, str]] = []
    for downstream, node in dag.items():
        where = f"pipeline.dag_json.{downstream}"
        if downstream not in names:
            errors.append(FieldError(where, f"task '{downstream}' is not among the tasks", ", ".join(names) or "no tasks"))
            continue
        upstream = (node or {}).get("upstream", []) if isinstance(node, dict) else None
        if not isinstance(upstream, list):
            errors.append(FieldError(f"{where}.upstream", "must be a list of task names", '{"upstream": ["data-import"]}'))
            continue
        for up in upstream:
            if up not in names:
                errors.append(FieldError(f"{where}.upstream", f"task '{up}' is not among the tasks", ", ".join(names) or "no tasks"))
            else:
                edges.append((names[up], names[downstream]))
    for item in expand:
        # the editor's nodes carry the canvas position; its edges repeat dag_json
        if isinstance(item, dict) and item.get("id") in names and isinstance(item.get("position"), dict):
            task = next(t for t in tasks if t.name == names[item["id"]])
            task.position = dict(item["position"])
        elif isinstance(item, dict) and "source" in item and (item.get("source"), item.get("target")) not in {(u, d) for (u, d) in [(k, v) for k, v in _raw_edges(dag)]}:
            report.warnings.append(f"pipeline.expand: the editor's edge {item.get('source')} -> {item.get('target')} is not in dag_json, which decides the edges")
    schedule = _schedule(data, errors, report.warnings)
    parallelism = data.get("parallelism")
    if parallelism is not None and (isinstance(parallelism, bool) or not isinstance(parallelism, int) or parallelism < 1):
        errors.append(FieldError("pipeline.parallelism", f"{parallelism!r} is not a whole number >= 1", "a whole number >= 1"))
        parallelism = None
    report.ignored[:0] = _ignored(data, PIPELINE_FIELDS, PIPELINE_IGNORED, "pipeline.")
    if errors:
        report.errors = [e.prefixed(entry_name) for e in errors]
        return None, report
    pipeline = Pipeline(
        name=pipeline_name, project=project or str(data.get("project") or "public"), description=str(data.get("describe") or ""),
        tasks=tasks, edges=edges, env=env, parallelism=parallelism, schedule=schedule, parameter=dict(parameter),
    )
    report.status = "imported"
    report.demo = pipeline.demo
    report.diagnostics = validate(pipeline, catalog)
    return pipeline, report


def _raw_edges(dag: dict) -> list[tuple[str, str]]:
    return [(up, down) for down, node in dag.items() if isinstance(node, dict) for up in node.get("upstream", []) or []]


def import_cube_studio_pipelines(content: Any, catalog: TemplateCatalog, *, project: str | None = None) -> tuple[list[Pipeline], list[PipelineEntryReport]]:
    """Every pipeline of a Cube Studio file, imported on its own: the pipelines
    that imported and one report per entry, in file order."""
    pipelines: list[Pipeline] = []
    reports: list[PipelineEntryReport] = []
    for key, entry in pipeline_entries(content):
        pipeline, report = import_cube_studio_pipeline(entry, catalog, project=project, entry_name=key)
        reports.append(report)
        if pipeline is not None:
            pipelines.append(pipeline)
    if not pipelines:
        raise FieldErrors([e for r in reports for e in r.errors] or [FieldError("document", "holds no pipeline", "Cube Studio pipeline JSON")])
    return pipelines, reports
