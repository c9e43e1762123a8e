"""Check a service's Kubernetes objects against the official schemas (tests only).

- core kinds (Deployment, Service, HorizontalPodAutoscaler): kubernetes-validate,
  strict (an unknown field is an error), for Kubernetes 1.34;
- Istio's VirtualService and DestinationRule: jsonschema against the
  ``openAPIV3Schema`` of their CRDs (``tests/fixtures/istio/``, see its README),
  closed with ``additionalProperties: false`` wherever the CRD lists properties
  and does not ask to keep unknown fields, since the API server prunes unknown
  fields of a structural schema silently and a misspelt field (Cube Studio's
  mirror) would then vanish without an error. The CRDs' CEL rules
  (``x-kubernetes-validations``) are not evaluated; :func:`istio_extra_errors`
  checks the one the builders could break (route weights adding up to 100).
"""

from __future__ import annotations

import copy
import functools
import re
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.34.0"
ISTIO_CRDS = Path(__file__).parent.parent / "fixtures" / "istio" / "networking-crds.yaml"
ISTIO_API_VERSION = "networking.istio.io/v1"
_DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _closed(schema):
    """A copy of ``schema`` refusing properties it does not list."""
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _closed(value) for key, value in schema.items()}
    if "properties" in schema:
        out["properties"] = {name: _closed(sub) for name, sub in schema["properties"].items()}
        if not schema.get("x-kubernetes-preserve-unknown-fields") and "additionalProperties" not in schema:
            out["additionalProperties"] = False
    return out


@functools.cache
def _istio_validators() -> dict[str, jsonschema.Draft7Validator]:
    validators = {}
    for crd in yaml.safe_load_all(ISTIO_CRDS.read_text()):
        kind = crd["spec"]["names"]["kind"]
        (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
        schema = _closed(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
        # the CRD's schema leaves the standard fields to the API server; the object must have them
        schema["properties"].update(
            apiVersion={"const": ISTIO_API_VERSION},
            kind={"const": kind},
            metadata={
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "namespace": {"type": "string"},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                },
                "required": ["name", "namespace"],
                "additionalProperties": False,
            },
        )
        schema["required"] = ["apiVersion", "kind", "metadata", "spec"]
        validators[kind] = jsonschema.Draft7Validator(schema)
    return validators


def istio_extra_errors(obj: dict) -> list[str]:
    problems = []
    name = obj.get("metadata", {}).get("name", "")
    if len(name) > 63 or not _DNS_LABEL_RE.match(name):
        problems.append(f"metadata.name: {name!r} is not a DNS label")
    for i, http in enumerate((obj.get("spec") or {}).get("http") or []):
        routes = http.get("route") or []
        if len(routes) > 1 and sum(r.get("weight", 0) for r in routes) != 100:
            problems.append(f"spec.http[{i}].route: weights add up to {sum(r.get('weight', 0) for r in routes)}, not 100")
    return problems


def istio_errors(obj: dict) -> list[str]:
    validator = _istio_validators().get(obj.get("kind"))
    if validator is None:
        return [f"kind {obj.get('kind')!r} is not one of the kept Istio CRDs"]
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
    found = [f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in errors]
    return found + istio_extra_errors(obj)


def kubernetes_errors(obj: dict) -> list[str]:
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{'.'.join(str(p) for p in exc.path)}: {exc.message}"]
    return []


def object_errors(obj: dict) -> list[str]:
    """Every problem of one object, named by kind and name."""
    where = f"{obj.get('kind')} {obj.get('metadata', {}).get('name')}"
    found = istio_errors(obj) if obj.get("apiVersion", "").startswith("networking.istio.io/") else kubernetes_errors(obj)
    return [f"{where}: {problem}" for problem in found]
