"""KFP v2 IR (what the ``kfp`` 2 SDK compiles to) -> templates and a pipeline.

A v2 file is one ``PipelineSpec``: ``components`` (each with input and output
definitions and an ``executorLabel``), ``deploymentSpec.executors`` (a container
with ``command``/``args`` holding ``{{$.inputs.parameters['x']}}``-style
placeholders, or an importer / resolver node) and ``root.dag`` (tasks, their
inputs and ``dependentTasks``).

Every component run by a container executor becomes a template whose argv template
(:data:`~cubelab_hub.domain.templates.ARGV_ACCEPTED`) is the executor's command and
args with the v2 placeholders in CubeLab's form: a parameter is the argument's
value, an input artifact's ``.path`` the path the argument names, an output
parameter's ``.output_file`` and an output artifact's ``.path`` a file in the task's
output directory, ``IfPresent`` and ``Concat`` as in v1. A root task becomes a
pipeline task; what has no CubeLab counterpart (importer and resolver nodes,
artifact URIs and metadata, the executor input ``{{$}}`` the Python-function
runtime reads, conditions, loops, sub-DAGs) is refused by name, field and reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..domain.errors import FieldError, FieldErrors
from ..domain.templates import JobTemplate, template_from_dict
from .naming import argument_flag, snake_name, template_name

# {{$.inputs.parameters['x']}}, {{$.outputs.artifacts['m'].path}}, ... ; anything else '{{$...}}' is refused
_PLACEHOLDER = re.compile(r"\{\{\$(?:\.(inputs|outputs)\.(parameters|artifacts)\['([^']+)'\](?:\.(\w+))?|[^}]*)\}\}")
_TYPES = {"STRING": "str", "NUMBER_INTEGER": "int", "NUMBER_DOUBLE": "float", "BOOLEAN": "enum", "LIST": "list", "STRUCT": "dict"}


@dataclass
class V2Import:
    """What a v2 IR file gives: templates by component name, the pipeline body (or
    None), the refusals (each naming the entry, the field and why), and notes on
    what was carried over differently."""

    templates: dict[str, JobTemplate] = field(default_factory=dict)
    pipeline: dict | None = None
    refused: list[FieldError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def is_kfp_v2(data: Any) -> bool:
    return isinstance(data, dict) and "deploymentSpec" in data and ("components" in data or "root" in data)


def _default_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _component_template(comp_name: str, comp: dict, executor: dict, *, category: str, version: str, prefix: str) -> JobTemplate:
    """One container component -> a template; raises FieldErrors naming the component's fields."""
    where = f"deploymentSpec.executors.{comp.get('executorLabel')}.container"
    container = executor["container"]
    errors: list[FieldError] = []
    inputs = comp.get("inputDefinitions") or {}
    outputs = comp.get("outputDefinitions") or {}
    flags: dict[tuple[str, str], str] = {}
    specs: dict[str, dict] = {}
    always_present: list[str] = []
    for kind in ("parameters", "artifacts"):
        for name, definition in (inputs.get(kind) or {}).items():
            flag = argument_flag(name)
            flags[(kind, name)] = flag
            definition = definition or {}
            has_default = "defaultValue" in definition
            default = _default_text(definition["defaultValue"]) if has_default else ""
            arg_type = "str" if kind == "artifacts" else _TYPES.get(str(definition.get("parameterType", "STRING")), "str")
            if has_default:
                always_present.append(flag)
            specs[flag] = {
                "type": arg_type,
                "item_type": "",
                "label": name,
                "require": 0 if (has_default or definition.get("isOptional")) else 1,
                "choice": ["true", "false"] if arg_type == "enum" else [],
                "range": "",
                "default": default,
                "placeholder": "",
                "describe": str(definition.get("description", "") or ("the path of an input artifact" if kind == "artifacts" else "")),
                "editable": 1,
            }
    out_names: dict[tuple[str, str], str] = {}
    out_list: list[dict] = []
    for kind in ("parameters", "artifacts"):
        for name, definition in (outputs.get(kind) or {}).items():
            out_names[(kind, name)] = snake_name(name) or "output"
            artifact = ((definition or {}).get("artifactType") or {}).get("schemaTitle", "")
            out_list.append(
                {
                    "name": out_names[(kind, name)],
                    "type": "path" if kind == "artifacts" else str((definition or {}).get("parameterType", "STRING")),
                    "description": f"artifact {artifact}" if artifact else "",
                }
            )

    def placeholder(match: re.Match, at: str) -> Any:
        io, kind, name, attr = match.groups()
        if io is None:
            what = match.group(0)
            reason = "is the executor input (JSON) that Kubeflow's Python-function runtime reads" if what == "{{$}}" else "is a Kubeflow run-time value"
            errors.append(
                FieldError(
                    at,
                    f"{what} {reason}; CubeLab has no equivalent",
                    "{{$.inputs.parameters['x']}}, {{$.inputs.artifacts['x'].path}}, "
                    "{{$.outputs.parameters['y'].output_file}}, {{$.outputs.artifacts['y'].path}}",
                )
            )
            return None
        if io == "inputs" and (kind, name) in flags and (attr is None if kind == "parameters" else attr == "path"):
            return {"value" if kind == "parameters" else "path": flags[(kind, name)]}
        if io == "outputs" and (kind, name) in out_names and attr == ("output_file" if kind == "parameters" else "path"):
            return {"output": out_names[(kind, name)]}
        if (kind, name) not in (flags if io == "inputs" else out_names):
            errors.append(
                FieldError(at, f"{match.group(0)} refers to {io[:-1]} {kind[:-1]} '{name}', which component '{comp_name}' does not declare", f"one of its {io}")
            )
        else:
            errors.append(
                FieldError(
                    at, f"{match.group(0)}: the artifact's '.{attr}' has no CubeLab equivalent (artifacts are files in the task's output directory)", "'.path'"
                )
            )
        return None

    def convert_text(text: str, at: str) -> Any:
        stripped = text.strip()
        if stripped.startswith('{"IfPresent"') or stripped.startswith('{"Concat"'):
            try:
                return convert_structure(json.loads(stripped), at)
            except json.JSONDecodeError:
                pass
        parts: list = []
        pos = 0
        for match in _PLACEHOLDER.finditer(text):
            if match.start() > pos:
                parts.append(text[pos : match.start()])
            item = placeholder(match, at)
            if item is not None:
                parts.append(item)
            pos = match.end()
        if pos < len(text):
            parts.append(text[pos:])
        if len(parts) == 1:
            return parts[0]
        return {"concat": parts} if parts else ""

    def convert_structure(node: Any, at: str) -> Any:
        if isinstance(node, str):
            return convert_text(node, at)
        if isinstance(node, dict) and "Concat" in node:
            return {"concat": [convert_structure(p, f"{at}.Concat[{i}]") for i, p in enumerate(node["Concat"] or [])]}
        if isinstance(node, dict) and "IfPresent" in node:
            spec = node["IfPresent"] or {}
            name = spec.get("InputName")
            flag = flags.get(("parameters", name)) or flags.get(("artifacts", name))
            if flag is None:
                errors.append(FieldError(f"{at}.IfPresent.InputName", f"'{name}' is not an input of component '{comp_name}'", "one of its inputs"))
                return ""
            result: dict = {"if_present": flag, "then": [convert_structure(p, f"{at}.IfPresent.Then[{i}]") for i, p in enumerate(_as_list(spec.get("Then")))]}
            if spec.get("Else") is not None:
                result["else"] = [convert_structure(p, f"{at}.IfPresent.Else[{i}]") for i, p in enumerate(_as_list(spec.get("Else")))]
            return result
        errors.append(FieldError(at, f"{json.dumps(node)[:60]} is not a v2 placeholder", "a string, Concat or IfPresent"))
        return ""

    argv = [convert_text(str(item), f"{where}.{part}[{i}]") for part in ("command", "args") for i, item in enumerate(container.get(part) or [])]
    if not container.get("image"):
        errors.append(FieldError(f"{where}.image", f"component '{comp_name}' names no image", "an image reference"))
    env = {e["name"]: str(e.get("value", "")) for e in container.get("env") or [] if isinstance(e, dict) and "name" in e}
    if errors:
        raise FieldErrors(errors)
    return template_from_dict(
        {
            "name": template_name(f"{prefix}-{comp_name.removeprefix('comp-')}" if prefix else comp_name.removeprefix("comp-")),
            "version": version,
            "kind": "container",
            "category": category,
            "image": str(container.get("image", "")),
            "argv": argv,
            "always_present": always_present,
            "args": {"inputs": specs} if specs else {},
            "env": env,
            "outputs": out_list,
            "description": f"Kubeflow v2 component {comp_name}",
        }
    )


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def import_kfp_v2(text_or_data: Any, *, category: str = "kubeflow", version: str = "Release") -> V2Import:
    """A v2 IR file -> its container components as templates and, when it has a
    ``root.dag``, the pipeline body (:func:`~cubelab_hub.domain.pipelines.pipeline_from_dict`
    shape) whose tasks use them. Raises FieldErrors only when the file is not v2 IR."""
    data = text_or_data
    result = V2Import()
    if isinstance(text_or_data, (str, bytes)):
        import yaml  # pyyaml: a dependency of the project; only needed here

        try:
            documents = [d for d in yaml.safe_load_all(text_or_data) if d is not None]
        except yaml.YAMLError as exc:
            raise FieldErrors([FieldError("content", f"is not valid YAML ({exc})", "a KFP v2 IR YAML")]) from None
        data = documents[0] if documents else None
        if len(documents) > 1:
            # kfp 2 appends the platform spec (Kubernetes options) as a second document
            result.notes.append("the second YAML document (the Kubernetes platform spec: volumes, secrets, node selectors) is not carried over")
    if not is_kfp_v2(data):
        raise FieldErrors([FieldError("content", "is not KFP v2 IR", "a file compiled by kfp 2: components, deploymentSpec.executors, root.dag")])
    pipeline_name = ((data.get("pipelineInfo") or {}).get("name")) or "kfp-pipeline"
    prefix = template_name(pipeline_name)
    executors = (data.get("deploymentSpec") or {}).get("executors") or {}
    components = data.get("components") or {}
    for comp_name, comp in components.items():
        comp = comp or {}
        if "dag" in comp:
            continue  # a sub-DAG: refused where a task uses it
        label = comp.get("executorLabel")
        executor = executors.get(label) or {}
        at = f"components.{comp_name}"
        if "importer" in executor:
            result.refused.append(
                FieldError(
                    f"{at}.executorLabel",
                    f"executor '{label}' is an importer node (it registers an existing artifact URI); CubeLab tasks only run containers",
                    "a container executor",
                )
            )
        elif "resolver" in executor:
            result.refused.append(
                FieldError(
                    f"{at}.executorLabel",
                    f"executor '{label}' is a resolver node (it queries Kubeflow's metadata store); CubeLab has none",
                    "a container executor",
                )
            )
        elif "container" not in executor:
            result.refused.append(
                FieldError(f"{at}.executorLabel", f"executor '{label}' is not under deploymentSpec.executors or has no container", "a container executor")
            )
        else:
            try:
                result.templates[comp_name] = _component_template(comp_name, comp, executor, category=category, version=version, prefix=prefix)
            except FieldErrors as exc:
                result.refused.extend(e.prefixed(at) if not e.field.startswith("deploymentSpec") else e for e in exc.errors)
    root = data.get("root") or {}
    if "dag" in root:
        result.pipeline = _pipeline(data, pipeline_name, result)
    return result


def _pipeline(data: dict, pipeline_name: str, result: V2Import) -> dict | None:
    root = data["root"]
    params = (root.get("inputDefinitions") or {}).get("parameters") or {}
    tasks_in = (root.get("dag") or {}).get("tasks") or {}
    names = {t: template_name(t) or "task" for t in tasks_in}
    tasks: list[dict] = []
    edges: list[list[str]] = []
    for task_name, task in tasks_in.items():
        at = f"root.dag.tasks.{task_name}"
        comp_name = (task.get("componentRef") or {}).get("name")
        refusal = None
        if "triggerPolicy" in task and (task["triggerPolicy"] or {}).get("condition"):
            refusal = FieldError(
                f"{at}.triggerPolicy.condition",
                f"task runs only when {task['triggerPolicy']['condition']!r}; CubeLab tasks have no run-time conditions",
                "a task without dsl.If/dsl.Condition",
            )
        elif "iteratorPolicy" in task or "parameterIterator" in task or "artifactIterator" in task:
            refusal = FieldError(f"{at}", "is a loop (dsl.ParallelFor); CubeLab pipelines have no loops", "a task without dsl.ParallelFor")
        elif "dag" in ((data.get("components") or {}).get(comp_name) or {}):
            refusal = FieldError(
                f"{at}.componentRef.name",
                f"'{comp_name}' is a sub-DAG (a condition, loop or nested pipeline); CubeLab pipelines are one level",
                "a container component",
            )
        elif comp_name not in result.templates:
            refusal = FieldError(f"{at}.componentRef.name", f"component '{comp_name}' was not imported (see its refusal)", "a container component")
        if refusal is not None:
            result.refused.append(refusal)
            continue
        tpl = result.templates[comp_name]
        args: dict[str, Any] = {}
        inputs = task.get("inputs") or {}
        for kind in ("parameters", "artifacts"):
            for in_name, source in (inputs.get(kind) or {}).items():
                flag = argument_flag(in_name)
                field_at = f"{at}.inputs.{kind}.{in_name}"
                source = source or {}
                if "runtimeValue" in source:
                    args[flag] = _default_text((source["runtimeValue"] or {}).get("constant"))
                elif "componentInputParameter" in source:
                    param = source["componentInputParameter"]
                    if "defaultValue" in (params.get(param) or {}):
                        args[flag] = _default_text(params[param]["defaultValue"])
                        result.notes.append(
                            f"{field_at}: the pipeline parameter '{param}' is passed as its default, {args[flag]!r} "
                            "(CubeLab pipelines have no run-time parameters; edit the task's argument)"
                        )
                    else:
                        result.notes.append(f"{field_at}: the pipeline parameter '{param}' has no default; set the task's argument {flag}")
                elif "taskOutputParameter" in source or "taskOutputArtifact" in source:
                    ref = source.get("taskOutputParameter") or source.get("taskOutputArtifact") or {}
                    key = ref.get("outputParameterKey") or ref.get("outputArtifactKey") or ""
                    producer = ref.get("producerTask")
                    args[flag] = f"{{{{tasks.{names.get(producer, producer)}.outputs.{snake_name(key) or 'output'}}}}}"
                    if [names.get(producer, producer), names[task_name]] not in edges:
                        edges.append([names.get(producer, producer), names[task_name]])
                else:
                    result.refused.append(
                        FieldError(
                            field_at,
                            f"takes its value from {', '.join(source) or 'nothing'}, which CubeLab cannot pass "
                            "(a pipeline input artifact or a task's final status)",
                            "a constant, a pipeline parameter or an upstream task's output",
                        )
                    )
        for upstream in task.get("dependentTasks") or []:
            edge = [names.get(upstream, upstream), names[task_name]]
            if edge not in edges:
                edges.append(edge)
        body: dict[str, Any] = {
            "name": names[task_name],
            "template": tpl.name,
            "template_version": tpl.version,
            "label": (task.get("taskInfo") or {}).get("name", task_name),
            "args": args,
        }
        retries = (task.get("retryPolicy") or {}).get("maxRetryCount")
        if isinstance(retries, int):
            body["retries"] = retries
        tasks.append(body)
    kept = {t["name"] for t in tasks}
    for edge in edges:
        if edge[0] not in kept or edge[1] not in kept:
            result.refused.append(FieldError("root.dag", f"the dependency {edge[0]} -> {edge[1]} involves a refused task", "tasks CubeLab can import"))
    return {
        "name": template_name(pipeline_name) or "kfp-pipeline",
        "description": str((data.get("pipelineInfo") or {}).get("description", "") or ""),
        "tasks": tasks,
        "edges": [e for e in edges if e[0] in kept and e[1] in kept],
    }


def kfp_v2_document(document: Any) -> Any:
    """``document`` parsed when it is KFP v2 IR (YAML text or its object), else None."""
    if isinstance(document, (str, bytes)) and b"deploymentSpec" in (document if isinstance(document, bytes) else document.encode()):
        try:
            import yaml  # pyyaml: a dependency of the project; only needed here

            first = next((d for d in yaml.safe_load_all(document) if d is not None), None)
        except yaml.YAMLError:
            return None
        return first if is_kfp_v2(first) else None
    return document if is_kfp_v2(document) else None


def import_kfp_v2_pipeline(document: Any, templates: Any, *, project: str | None = None, name: str | None = None):
    """A v2 IR pipeline -> (Pipeline, diagnostics) for the pipeline import: its tasks use the
    templates an admin imported from the same file (``/templates/import``, format ``kfp``);
    a missing one is a diagnostic, as for CubeLab's own export documents. Raises
    FieldErrors listing every refusal when a task cannot be carried over."""
    from ..domain.errors import Diagnostic
    from ..domain.pipelines import Task, _resolve_template, pipeline_from_dict

    result = import_kfp_v2(document)
    if result.pipeline is None:
        raise FieldErrors(
            [
                FieldError(
                    "root.dag",
                    "the file has no pipeline (root.dag): it holds components only",
                    "a compiled pipeline; import components through the template import",
                )
            ]
        )
    if any(e.field.startswith("root.") for e in result.refused):
        # a task that cannot be carried over: every refusal, the components' reasons included
        raise FieldErrors(result.refused)
    body = dict(result.pipeline)
    for task in body["tasks"]:
        task.pop("template_version", None)  # the released version, else the Alpha one
    if project is not None:
        body["project"] = project
    if name is not None:
        body["name"] = name
    pipeline = pipeline_from_dict(body)
    diags = [Diagnostic("warning", note, field=note.split(":", 1)[0]) for note in result.notes]
    for t in pipeline.tasks:
        if _resolve_template(templates, Task(name="", template=t.template)) is None:
            diags.append(
                Diagnostic(
                    "error",
                    f"template '{t.template}' is not installed here (an admin imports it from the same file through the template import, format 'kfp')",
                    task=t.name,
                    field="template",
                )
            )
    return pipeline, diags
