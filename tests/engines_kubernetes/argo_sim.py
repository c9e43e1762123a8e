"""Plays the Argo controller's part on the fake API server: writes a submitted
workflow's ``status.nodes`` as Argo does (``<wf>.<task>`` nodes, ``Retry`` parents
with ``<wf>.<task>(N)`` pod children) and creates each attempt's pod with the
labels and ``workflows.argoproj.io/node-name`` annotation Argo gives it."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from .fake_apiserver import FakeCluster

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _ts(seconds: int) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


class ArgoSim:
    def __init__(self, cluster: FakeCluster, namespace: str, name: str):
        self.cluster = cluster
        self.namespace = namespace
        self.name = name
        self.clock = 0
        self.nodes: dict[str, dict] = {}
        self.ids: dict[str, str] = {}
        self.phase = "Running"
        self.message = ""

    @property
    def workflow(self) -> dict:
        return self.cluster.workflows[(self.namespace, self.name)]

    def _template(self, task: str) -> dict:
        spec = self.workflow["spec"]
        dag = next(t for t in spec["templates"] if "dag" in t)
        template_name = next(t["template"] for t in dag["dag"]["tasks"] if t["name"] == task)
        return next(t for t in spec["templates"] if t["name"] == template_name)

    def _push(self) -> None:
        status = {"phase": self.phase, "startedAt": _ts(0), "nodes": copy.deepcopy(self.nodes)}
        if self.message:
            status["message"] = self.message
        if self.phase in ("Succeeded", "Failed", "Error"):
            status["finishedAt"] = _ts(self.clock)
        self.cluster.set_status(self.namespace, self.name, status)

    def _node(self, node_name: str, display: str, type_: str, template: str, phase: str, **extra) -> dict:
        node_id = self.ids.setdefault(node_name, f"{self.name}-{1000 + len(self.ids)}")
        node = self.nodes.get(node_id) or {
            "id": node_id,
            "name": node_name,
            "displayName": display,
            "type": type_,
            "templateName": template,
            "boundaryID": self.name,
            "startedAt": _ts(self.clock),
        }
        node["phase"] = phase
        node.update(extra)
        if phase in ("Succeeded", "Failed", "Error", "Skipped", "Omitted"):
            node["finishedAt"] = _ts(self.clock)
        self.nodes[node_id] = node
        return node

    def _pod(self, task: str, node: dict) -> None:
        pod_name = f"{self.name}-{task}-{node['id'].rsplit('-', 1)[1]}"
        if (self.namespace, pod_name) in self.cluster.pods:
            return
        labels = dict(self.workflow["spec"].get("podMetadata", {}).get("labels", {}))
        labels.update(self._template(task).get("metadata", {}).get("labels", {}))
        labels["workflows.argoproj.io/workflow"] = self.name
        self.cluster.add_pod(self.namespace, pod_name, labels, containers=("init", "wait", "main"), annotations={"workflows.argoproj.io/node-name": node["name"]})

    def pod_name(self, task: str, attempt: int | None = None) -> str:
        node_name = f"{self.name}.{task}" if attempt is None else f"{self.name}.{task}({attempt})"
        node = next(n for n in self.nodes.values() if n["name"] == node_name)
        return f"{self.name}-{task}-{node['id'].rsplit('-', 1)[1]}"

    # ---- what the test says happens
    def task(self, task: str, phase: str, *, attempt: int | None = None, message: str = "", exit_code: int | None = None, outputs: dict | None = None) -> None:
        """A task's pod reaches ``phase``; ``attempt`` N (from 0) for a task with a retry strategy."""
        self.clock += 1
        template = self._template(task)["name"]
        extra: dict = {}
        if message:
            extra["message"] = message
        out: dict = {}
        if exit_code is not None:
            out["exitCode"] = str(exit_code)
        if outputs:
            out["parameters"] = [{"name": k, "value": v} for k, v in outputs.items()]
        if out:
            extra["outputs"] = out
        if attempt is None:
            node = self._node(f"{self.name}.{task}", task, "Pod", template, phase, **extra)
            self._pod(task, node)
        else:
            child = self._node(f"{self.name}.{task}({attempt})", f"{task}({attempt})", "Pod", template, phase, **extra)
            self._pod(task, child)
            # the Retry node runs on after a failed attempt; retry_failed() ends it
            parent_phase = "Succeeded" if phase == "Succeeded" else "Running"
            parent = self._node(f"{self.name}.{task}", task, "Retry", template, parent_phase)
            parent.setdefault("children", [])
            if child["id"] not in parent["children"]:
                parent["children"].append(child["id"])
            if phase == "Succeeded" and outputs:
                parent["outputs"] = copy.deepcopy(child["outputs"])
        self._push()

    def retry_failed(self, task: str, message: str = "No more retries left") -> None:
        """The retry node gives up."""
        self.clock += 1
        node = next(n for n in self.nodes.values() if n["name"] == f"{self.name}.{task}")
        node["phase"] = "Failed"
        node["message"] = message
        node["finishedAt"] = _ts(self.clock)
        self._push()

    def mark(self, task: str, phase: str, type_: str = "Skipped", message: str = "") -> None:
        """A node without a pod: Skipped (when false), Omitted (depends unmet), Suspend (no-op)."""
        self.clock += 1
        extra = {"message": message} if message else {}
        self._node(f"{self.name}.{task}", task, type_, self._template(task)["name"], phase, **extra)
        self._push()

    def finish(self, phase: str, message: str = "") -> None:
        self.clock += 1
        self.phase = phase
        self.message = message
        self._push()
