"""Argo's rules that a schema cannot say, and the pods Argo makes: pure, no test-only imports.

- :func:`argo_lint_errors`: what Argo's controller enforces beyond the schema
  (entrypoint and template references, ``depends`` names and cycles,
  ``{{inputs.parameters.X}}`` / ``{{tasks.T.outputs...}}`` references); a list
  of problems, empty = valid.
- :func:`pod_for_template`: the Pod Argo creates for a container template, as
  far as it comes from the compiled workflow (what schema and Pod Security
  checks look at).

The checks against Argo's and Kubernetes' published schemas need hera and
kubernetes-validate and live with the tests.
"""

from __future__ import annotations

import re
from typing import Any

_ARGO_NAME_RE = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9]*$")
_PARAM_NAME_RE = re.compile(r"^[-a-zA-Z0-9_]+$")
_TAG_RE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_DEPENDS_TOKEN_RE = re.compile(r"[A-Za-z0-9][-A-Za-z0-9]*(?:\.[A-Za-z]+)?")
_DEPENDS_RESULTS = {"Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned", "AnySucceeded", "AllFailed"}


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
        if key == "activeDeadlineSeconds" and isinstance(value, str) and value.isdigit():
            value = int(value)  # an IntOrString in the template, an integer in the pod Argo creates
        if value is not None:
            pod_spec[key] = value
    if spec.get("imagePullSecrets"):
        pod_spec["imagePullSecrets"] = spec["imagePullSecrets"]
    metadata: dict[str, Any] = {"name": f"{workflow['metadata'].get('name', 'wf')}-{template['name']}"[:63].rstrip("-")}
    labels = {**((spec.get("podMetadata") or {}).get("labels") or {}), **((template.get("metadata") or {}).get("labels") or {})}
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec}
