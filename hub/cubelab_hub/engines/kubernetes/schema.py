"""Check compiled Workflows against the official schemas.

Three layers, each returning a list of problems (empty = valid):

- :func:`argo_schema_errors`: Argo's Workflow schema, through hera's models
  (``hera.workflows.models.Workflow``, generated from Argo's OpenAPI spec).
  pydantic ignores unknown keys, so the input is also compared with the model's
  own dump: a key the model dropped is reported as not in Argo's schema.
- :func:`argo_lint_errors`: the rules Argo's controller enforces that a schema
  cannot say (entrypoint and template references, ``depends`` names and cycles,
  ``{{inputs.parameters.X}}`` / ``{{tasks.T.outputs...}}`` references).
- :func:`pod_schema_errors`: each container template as the Pod Argo will
  create, against the Kubernetes OpenAPI schema (kubernetes-validate, strict),
  plus what that JSON schema leaves out (quantities, DNS names, mount/volume
  pairing).

hera and kubernetes-validate are test/dev dependencies: they are imported when
a check runs, so the engine itself never needs them.
"""

from __future__ import annotations

import re
from typing import Any

KUBERNETES_VERSION = "1.33.0"

_QUANTITY_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)(([KMGTPE]i)|[numkMGTPE]|[eE][+-]?\d+)?$")
_DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_ARGO_NAME_RE = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9]*$")
_PARAM_NAME_RE = re.compile(r"^[-a-zA-Z0-9_]+$")
_TAG_RE = re.compile(r"\{\{(.*?)\}\}", re.S)
_DEPENDS_TOKEN_RE = re.compile(r"[A-Za-z0-9][-A-Za-z0-9]*(?:\.[A-Za-z]+)?")
_DEPENDS_RESULTS = {"Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned", "AnySucceeded", "AllFailed"}


# ---------------------------------------------------------------- Argo schema


def _dropped(given: Any, dumped: Any, path: str) -> list[str]:
    if isinstance(given, dict):
        if not isinstance(dumped, dict):
            return [f"{path or '<root>'}: became {type(dumped).__name__} in Argo's model"]
        problems = []
        for key, value in given.items():
            where = f"{path}.{key}" if path else key
            if key not in dumped:
                problems.append(f"{where}: not a field of Argo's schema")
            else:
                problems.extend(_dropped(value, dumped[key], where))
        return problems
    if isinstance(given, list):
        if not isinstance(dumped, list) or len(dumped) != len(given):
            return [f"{path}: list changed in Argo's model"]
        problems = []
        for i, (a, b) in enumerate(zip(given, dumped, strict=True)):
            problems.extend(_dropped(a, b, f"{path}[{i}]"))
        return problems
    if given != dumped:
        return [f"{path}: {given!r} was read as {dumped!r}"]
    return []


def argo_schema_errors(workflow: dict) -> list[str]:
    from hera.workflows.models import Workflow
    from pydantic import ValidationError

    try:
        model = Workflow.model_validate(workflow)
    except ValidationError as exc:
        return [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
    dumped = model.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return _dropped(workflow, dumped, "")


# ---------------------------------------------------------------- Argo rules


def _strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _depends_names(expression: str) -> set[str]:
    names = set()
    for token in _DEPENDS_TOKEN_RE.findall(expression.replace("&&", " ").replace("||", " ").replace("!", " ")):
        name, _, result = token.partition(".")
        if result and result not in _DEPENDS_RESULTS:
            names.add(token)  # reported as unknown below
        else:
            names.add(name)
    return names


def argo_lint_errors(workflow: dict) -> list[str]:
    problems: list[str] = []
    spec = workflow.get("spec") or {}
    templates = {t.get("name"): t for t in spec.get("templates") or []}
    if len(templates) != len(spec.get("templates") or []):
        problems.append("spec.templates: two templates share a name")
    for name in templates:
        if not isinstance(name, str) or not _ARGO_NAME_RE.match(name) or len(name) > 128:
            problems.append(f"template name {name!r} is not valid")
    if spec.get("entrypoint") not in templates:
        problems.append(f"spec.entrypoint {spec.get('entrypoint')!r} is not a template")
    for tname, template in templates.items():
        declared_inputs = {p["name"] for p in (template.get("inputs") or {}).get("parameters") or []}
        body = {k: v for k, v in template.items() if k not in ("dag", "inputs", "name")}
        for text in _strings(body):
            for tag in _TAG_RE.findall(text):
                tag = tag.strip()
                if tag.startswith("inputs.parameters."):
                    if tag.split(".", 2)[2] not in declared_inputs:
                        problems.append(f"template {tname}: {{{{{tag}}}}} is not a declared input")
                elif tag.startswith("inputs.artifacts."):
                    pass
                else:
                    problems.append(f"template {tname}: {{{{{tag}}}}} would be substituted by Argo")
        for param in (template.get("inputs") or {}).get("parameters") or []:
            if not _PARAM_NAME_RE.match(param["name"]):
                problems.append(f"template {tname}: input parameter name {param['name']!r} is not valid")
        dag = template.get("dag")
        if dag is None:
            continue
        tasks = {t["name"]: t for t in dag.get("tasks") or []}
        if len(tasks) != len(dag.get("tasks") or []):
            problems.append(f"template {tname}: two DAG tasks share a name")
        graph: dict[str, set[str]] = {}
        for task_name, task in tasks.items():
            if not _ARGO_NAME_RE.match(task_name):
                problems.append(f"DAG task name {task_name!r} is not valid")
            callee = templates.get(task.get("template"))
            if callee is None:
                problems.append(f"DAG task {task_name}: template {task.get('template')!r} does not exist")
                callee = {}
            deps = _depends_names(task.get("depends") or "")
            for dep in deps:
                if dep not in tasks:
                    problems.append(f"DAG task {task_name}: depends on unknown {dep!r}")
            graph[task_name] = {d for d in deps if d in tasks}
            wanted = {p["name"] for p in (callee.get("inputs") or {}).get("parameters") or [] if "value" not in p and "default" not in p}
            given = {p["name"] for p in (task.get("arguments") or {}).get("parameters") or []}
            for missing in sorted(wanted - given):
                problems.append(f"DAG task {task_name}: input parameter {missing!r} of {task.get('template')} has no argument")
            for extra in sorted(given - {p["name"] for p in (callee.get("inputs") or {}).get("parameters") or []}):
                problems.append(f"DAG task {task_name}: argument {extra!r} is not an input of {task.get('template')}")
            wanted_art = {a["name"] for a in (callee.get("inputs") or {}).get("artifacts") or []}
            given_art = {a["name"] for a in (task.get("arguments") or {}).get("artifacts") or []}
            for missing in sorted(wanted_art ^ given_art):
                problems.append(f"DAG task {task_name}: artifact {missing!r} is not both declared and passed")
        ancestors = _ancestors(graph)
        if ancestors is None:
            problems.append(f"template {tname}: the DAG has a cycle")
            ancestors = {n: set() for n in tasks}
        for task_name, task in tasks.items():
            for text in _strings(task.get("arguments") or {}):
                for tag in _TAG_RE.findall(text):
                    parts = tag.strip().split(".")
                    if len(parts) == 5 and parts[0] == "tasks" and parts[2] == "outputs":
                        ref, kind, out = parts[1], parts[3], parts[4]
                        if ref not in ancestors.get(task_name, set()):
                            problems.append(f"DAG task {task_name}: {{{{{tag}}}}} refers to a task that is not upstream")
                            continue
                        outputs = (templates.get(tasks[ref].get("template")) or {}).get("outputs") or {}
                        if out not in {o["name"] for o in outputs.get(kind) or []}:
                            problems.append(f"DAG task {task_name}: {{{{{tag}}}}} is not an output of {ref}")
                    else:
                        problems.append(f"DAG task {task_name}: {{{{{tag}}}}} is not a task output reference")
    return problems


def _ancestors(graph: dict[str, set[str]]) -> dict[str, set[str]] | None:
    result: dict[str, set[str]] = {}
    state: dict[str, int] = {}

    def visit(node: str) -> bool:
        if state.get(node) == 1:
            return False
        if state.get(node) == 2:
            return True
        state[node] = 1
        acc: set[str] = set()
        for dep in graph[node]:
            if not visit(dep):
                return False
            acc |= {dep} | result[dep]
        result[node] = acc
        state[node] = 2
        return True

    for node in graph:
        if not visit(node):
            return None
    return result


# ---------------------------------------------------------------- Kubernetes pods


def pod_for_template(workflow: dict, template: dict) -> dict:
    """The Pod Argo creates for a container template, as far as it comes from us
    (Argo adds its own init and wait containers)."""
    spec = workflow.get("spec") or {}
    container = dict(template["container"])
    container.setdefault("name", "main")
    pod_spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    volumes = list(spec.get("volumes") or []) + list(template.get("volumes") or [])
    if volumes:
        pod_spec["volumes"] = volumes
    for key, source in (
        ("nodeSelector", "nodeSelector"),
        ("affinity", "affinity"),
        ("tolerations", "tolerations"),
        ("serviceAccountName", "serviceAccountName"),
        ("activeDeadlineSeconds", "activeDeadlineSeconds"),
        ("securityContext", "securityContext"),
        ("priorityClassName", "priorityClassName"),
    ):
        value = template.get(source, spec.get(source))
        if value is not None:
            pod_spec[key] = value
    if spec.get("imagePullSecrets"):
        pod_spec["imagePullSecrets"] = spec["imagePullSecrets"]
    metadata: dict[str, Any] = {"name": f"{workflow['metadata'].get('name', 'wf')}-{template['name']}"[:63].rstrip("-")}
    labels = {**((spec.get("podMetadata") or {}).get("labels") or {}), **((template.get("metadata") or {}).get("labels") or {})}
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec}


def _pod_extra_errors(pod: dict, where: str) -> list[str]:
    problems = []
    spec = pod["spec"]
    volumes = {v["name"] for v in spec.get("volumes") or []}
    if len(volumes) != len(spec.get("volumes") or []):
        problems.append(f"{where}: two volumes share a name")
    for v in volumes:
        if not _DNS_LABEL_RE.match(v) or len(v) > 63:
            problems.append(f"{where}: volume name {v!r} is not a DNS label")
    for container in spec["containers"]:
        paths = [m["mountPath"] for m in container.get("volumeMounts") or []]
        if len(set(paths)) != len(paths):
            problems.append(f"{where}: two mounts at one path")
        for mount in container.get("volumeMounts") or []:
            if mount["name"] not in volumes:
                problems.append(f"{where}: mount {mount['name']!r} has no volume")
        names = [e["name"] for e in container.get("env") or []]
        if len(set(names)) != len(names):
            problems.append(f"{where}: an env name is given twice")
        resources = container.get("resources") or {}
        for kind in ("requests", "limits"):
            for resource, quantity in (resources.get(kind) or {}).items():
                if not isinstance(quantity, str) or not _QUANTITY_RE.match(quantity):
                    problems.append(f"{where}: {kind}.{resource} {quantity!r} is not a quantity")
        for resource, quantity in (resources.get("requests") or {}).items():
            if "/" in resource and (resources.get("limits") or {}).get(resource, quantity) != quantity:
                problems.append(f"{where}: extended resource {resource} request differs from its limit")
    for key, value in (spec.get("nodeSelector") or {}).items():
        if not isinstance(value, str):
            problems.append(f"{where}: nodeSelector {key} is not a string")
    return problems


def pod_schema_errors(workflow: dict, version: str = KUBERNETES_VERSION) -> list[str]:
    import kubernetes_validate

    problems = []
    for template in (workflow.get("spec") or {}).get("templates") or []:
        if "container" not in template:
            continue
        pod = pod_for_template(workflow, template)
        where = f"template {template.get('name')}"
        try:
            kubernetes_validate.validate(pod, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{where}: {'.'.join(str(p) for p in exc.path)}: {exc.message}")
        problems.extend(_pod_extra_errors(pod, where))
    return problems


def workflow_errors(workflow: dict) -> list[str]:
    """All three checks."""
    return argo_schema_errors(workflow) + argo_lint_errors(workflow) + pod_schema_errors(workflow)
