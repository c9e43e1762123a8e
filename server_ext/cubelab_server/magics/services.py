"""What ``%cubelab services`` and ``%cubelab deploy`` show and send: the list's
rows (status, replicas, host, traffic split) and the REST body of a deploy
built from the magic's options.  Pure, so both are tested without a kernel."""

from __future__ import annotations

from collections.abc import Iterable

SERVICE_COLUMNS = ["name", "project", "kind", "status", "replicas", "host", "split", "owner", "id"]
DEPLOYED = {"deploying", "running"}
# statuses after which waiting for a deploy stops
SETTLED = {"running", "failed", "stopped", "offline"}
# what a model file's suffix says about the model server that loads it
SERVING_BY_SUFFIX = {".joblib": "sklearn", ".pkl": "sklearn", ".json": "xgboost", ".ubj": "xgboost", ".onnx": "onnx"}


def replicas_text(service: dict) -> str:
    """``2/3`` (healthy of desired); a stopped service shows ``0``."""
    healthy = sum(1 for r in service.get("replicas") or [] if r.get("status") == "healthy")
    desired = service.get("desired_replicas") or 0
    return f"{healthy}/{desired}" if desired or healthy else "0"


def split_text(service: dict) -> str:
    """The traffic on this service's host at a glance: ``me 50% · b 30% · c 20%``,
    and the mirror's copies, ``mirror shadow 20%``."""
    parts: list[str] = []
    canary = service.get("canary") or ""
    if canary:
        shares = []
        for item in canary.split(","):
            name, _, percent = item.strip().partition(":")
            shares.append((name, int(percent.rstrip("%") or 0)))
        rest = 100 - sum(p for _, p in shares)
        parts.append(" · ".join([f"{service.get('name')} {rest}%", *(f"{n} {p}%" for n, p in shares)]))
    if service.get("mirror"):
        name, _, percent = service["mirror"].partition(":")
        parts.append(f"mirror {name} {percent}")
    return "; ".join(parts)


def service_rows(items: Iterable[dict]) -> list[dict]:
    return [
        {"name": s["name"], "project": s["project"], "kind": s.get("kind") or "internal", "status": s.get("status"),
         "replicas": replicas_text(s), "host": s.get("url") or s.get("host") or "", "split": split_text(s),
         "owner": s.get("owner"), "id": s["id"]}
        for s in items
    ]


def serving_type_for(path: str) -> str | None:
    """The built-in serving type of a model file by its suffix, if one fits."""
    for suffix, serving in SERVING_BY_SUFFIX.items():
        if path.lower().endswith(suffix):
            return serving
    return None


def deploy_body(name: str, project: str, *, command: str | None = None, model: str | None = None,
                serving_type: str | None = None, model_version: str | None = None, replicas: int | None = None,
                port: str | None = None, health: str | None = None, cpu: str | None = None, memory: str | None = None,
                expose: str | None = None) -> dict:
    """The fields of the service ``%cubelab deploy`` creates or changes.

    With ``command`` NAME is the service's name; with ``model`` NAME is the
    model's name and the service is an inference service named by the platform
    (``<serving type>-<model>-<version digits>``).  Options not given are left
    out, so an edit keeps the service's own values; the control plane checks
    every field and names the wrong ones.
    """
    if (command is None) == (model is None):
        raise ValueError("give either --command CMD (a service running a command) or --model PATH (an inference service)")
    body: dict = {"project": project}
    if command is not None:
        body.update(kind="internal", name=name, command=command)
    else:
        serving = serving_type or serving_type_for(model)
        if serving is None:
            raise ValueError(f"cannot tell the serving type of '{model}' from its suffix: add --serving-type "
                             "(sklearn, xgboost, lightgbm, onnx or custom)")
        body.update(kind="inference", model_name=name, model_path=model, serving_type=serving,
                    model_version=model_version or "v1")
    if replicas is not None:
        body.update(min_replicas=replicas, max_replicas=replicas)
    for key, value in (("ports", port), ("health", health), ("cpu", cpu), ("memory", memory), ("expose", expose)):
        if value is not None:
            body[key] = value
    return body
