"""Check compiled Workflows and built pods against the official schemas (tests only).

- :func:`argo_schema_errors`: Argo's Workflow schema, through hera's models
  (``hera.workflows.models.Workflow``, generated from Argo's OpenAPI spec).
  pydantic ignores unknown keys, so the input is also compared with the model's
  own dump: a key the model dropped is reported as not in Argo's schema.
- :func:`argo_json_schema_errors`: Argo's own JSON schema (``api/jsonschema/schema.json``
  of argo-workflows, kept in ``fixtures/`` with its source), which types fields as the
  controller reads them (``retryStrategy.limit`` and ``activeDeadlineSeconds`` are
  IntOrString there, for one).
- :func:`pod_schema_errors`: each container template as the Pod Argo will
  create, against the Kubernetes OpenAPI schema (kubernetes-validate, strict),
  plus what that JSON schema leaves out (quantities, DNS names, mount/volume
  pairing).
- :func:`workflow_errors`: all of them, plus the engine's own Argo lint
  (:func:`cubelab_hub.engines.kubernetes.lint.argo_lint_errors`).

hera and kubernetes-validate are test dependencies (the ``test`` extra); the
engine never imports this module.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
from hera.workflows.models import Workflow
from pydantic import ValidationError

from cubelab_hub.engines.kubernetes.lint import argo_lint_errors, pod_for_template

KUBERNETES_VERSION = "1.33.0"

_QUANTITY_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)(([KMGTPE]i)|[numkMGTPE]|[eE][+-]?\d+)?$")
_DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


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
    try:
        model = Workflow.model_validate(workflow)
    except ValidationError as exc:
        return [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
    dumped = model.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return _dropped(workflow, dumped, "")


# argo-workflows v4.1.2 (commit 16a52d67daf2f4a8a76fa8bec02a76a46aa46257), api/jsonschema/schema.json
ARGO_SCHEMA_FILE = Path(__file__).parent / "fixtures" / "argo-workflows-schema.json"
ARGO_VERSION = "v4.1.2"


@functools.cache
def _argo_validator() -> jsonschema.Draft7Validator:
    schema = json.loads(ARGO_SCHEMA_FILE.read_text())
    workflow = {"$ref": "#/definitions/io.argoproj.workflow.v1alpha1.Workflow", "definitions": schema["definitions"]}
    return jsonschema.Draft7Validator(workflow)


def argo_json_schema_errors(workflow: dict) -> list[str]:
    """``workflow`` against Argo's official JSON schema for a Workflow."""
    errors = sorted(_argo_validator().iter_errors(workflow), key=lambda e: list(e.absolute_path))
    return [f"{'.'.join(str(p) for p in err.absolute_path) or '<root>'}: {err.message}" for err in errors]


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
    return argo_schema_errors(workflow) + argo_json_schema_errors(workflow) + argo_lint_errors(workflow) + pod_schema_errors(workflow)
