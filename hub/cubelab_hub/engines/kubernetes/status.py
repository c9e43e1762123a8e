"""Read an Argo Workflow's status as CubeLab run and task states (pure).

Argo names a DAG task's node ``<workflow>.<task>``; with a retry strategy that
node is of type ``Retry`` and its attempts are ``Pod`` nodes named
``<workflow>.<task>(0)``, ``(1)``... Node phases map to task statuses:

====================  ====================================================
Argo phase            CubeLab task status
====================  ====================================================
Pending               pending (the pod is not running yet)
Running               running
Succeeded             succeeded
Skipped               skipped (``when: false``: skip, or outside a partial run)
Omitted               upstream-failed (``depends`` can no longer be met)
Failed / Error        failed, or cancelled when the run was cancelled
(no node) at the end  cancelled (run cancelled), upstream-failed (an
                      upstream failed) or failed (the workflow's message)
====================  ====================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ...domain.pipelines import Task, topological_order
from ..base import (
    CANCELLED,
    FAILED,
    PENDING,
    RUNNING,
    SKIPPED,
    SUCCEEDED,
    UPSTREAM_FAILED,
    RunSpec,
    TaskState,
)
from .compile import _task_mode

_ATTEMPT_RE = re.compile(r"\((\d+)\)$")
_QUANTITY_RE = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$")
_SUFFIX = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12, "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40, "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}
_FINAL_PHASES = {"Succeeded", "Failed", "Error", "Skipped", "Omitted"}


@dataclass(frozen=True)
class Attempt:
    """One pod of a task: ``index`` from 0, ``node`` the Argo node name (Argo
    puts it on the pod as annotation ``workflows.argoproj.io/node-name``)."""

    index: int
    node: str
    phase: str

    @property
    def final(self) -> bool:
        return self.phase in _FINAL_PHASES


def parse_quantity(text: str) -> Decimal:
    """A Kubernetes quantity ('250m', '123456789n', '512Mi', '1e3') as a number."""
    match = _QUANTITY_RE.match(str(text).strip())
    if not match:
        raise ValueError(f"'{text}' is not a Kubernetes quantity")
    number, exponent, suffix = match.groups()
    value = Decimal(number)
    if exponent:
        return value * (Decimal(10) ** int(exponent[1:]))
    return value * _SUFFIX[suffix or ""]


def main_usage(metrics: dict | None) -> tuple[float, int] | None:
    """(cores, bytes) of the ``main`` container in a PodMetrics object."""
    for container in (metrics or {}).get("containers") or []:
        if container.get("name") == "main":
            usage = container.get("usage") or {}
            try:
                cores = float(parse_quantity(usage.get("cpu", "0")))
                memory = int(parse_quantity(usage.get("memory", "0")))
            except ValueError:
                return None
            return round(cores, 3), memory
    return None


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def workflow_phase(workflow: dict) -> str:
    return ((workflow.get("status") or {}).get("phase")) or ""


def is_finished(workflow: dict) -> bool:
    return workflow_phase(workflow) in ("Succeeded", "Failed", "Error")


def run_status(workflow: dict, cancelled: bool) -> tuple[str, str]:
    """(status, message) of the run."""
    status = workflow.get("status") or {}
    phase = status.get("phase") or ""
    message = status.get("message") or ""
    if phase == "Succeeded":
        return SUCCEEDED, ""
    if phase in ("Failed", "Error"):
        return (CANCELLED, message) if cancelled else (FAILED, message)
    if phase == "Running":
        return RUNNING, message
    return PENDING, message


def attempts(workflow: dict, task: str) -> list[Attempt]:
    """The task's pods, oldest first."""
    name = workflow["metadata"]["name"]
    nodes = (workflow.get("status") or {}).get("nodes") or {}
    found: list[Attempt] = []
    for node in nodes.values():
        if node.get("type") != "Pod":
            continue
        node_name = node.get("name", "")
        if node_name == f"{name}.{task}":
            found.append(Attempt(0, node_name, node.get("phase", "")))
        elif node_name.startswith(f"{name}.{task}("):
            match = _ATTEMPT_RE.search(node_name)
            if match and node_name == f"{name}.{task}({match.group(1)})":
                found.append(Attempt(int(match.group(1)), node_name, node.get("phase", "")))
    return sorted(found, key=lambda a: a.index)


def _node(workflow: dict, node_name: str) -> dict | None:
    for node in ((workflow.get("status") or {}).get("nodes") or {}).values():
        if node.get("name") == node_name:
            return node
    return None


def _outputs(node: dict) -> dict[str, str]:
    params = (node.get("outputs") or {}).get("parameters") or []
    return {p["name"]: p.get("value", "") for p in params if "name" in p}


def _exit_code(node: dict | None) -> int | None:
    text = ((node or {}).get("outputs") or {}).get("exitCode")
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _message(task: Task, node: dict) -> str:
    message = node.get("message") or ""
    if task.timeout and "deadline" in message.lower():
        return f"timed out after {task.timeout}s ({message})"
    return message


def task_states(spec: RunSpec, workflow: dict, cancelled: bool) -> dict[str, TaskState]:
    """Every task's state as the workflow's status shows it."""
    name = workflow["metadata"]["name"]
    finished = is_finished(workflow)
    states = {task.name: TaskState(name=task.name) for task in spec.pipeline.tasks}
    # upstreams first: a task's message names its upstreams' statuses
    for task_name in topological_order(spec.pipeline):
        task = spec.pipeline.task(task_name)
        ts = states[task_name]
        mode = _task_mode(spec, task)
        node = _node(workflow, f"{name}.{task_name}")
        if mode == "reuse":
            previous = spec.reuse[task_name]
            ts.status, ts.outputs, ts.exit_code = SUCCEEDED, dict(previous.outputs), previous.exit_code
            ts.started_at, ts.finished_at, ts.attempts = previous.started_at, previous.finished_at, previous.attempts
            ts.message = "reused from an earlier run"
            continue
        if node is None:
            if finished:
                bad = [u for u in spec.pipeline.upstream(task_name) if states[u].status not in (SUCCEEDED, SKIPPED)]
                if cancelled:
                    ts.status, ts.message = CANCELLED, "run cancelled before the task started"
                elif bad:
                    ts.status = UPSTREAM_FAILED
                    ts.message = "upstream " + ", ".join(f"{u} {states[u].status}" for u in bad)
                else:
                    ts.status = FAILED
                    ts.message = "the workflow ended before the task started: " + ((workflow.get("status") or {}).get("message") or "no reason given")
            continue
        phase = node.get("phase", "")
        ts.started_at = _time(node.get("startedAt"))
        ts.finished_at = _time(node.get("finishedAt"))
        pods = attempts(workflow, task_name)
        ts.attempts = sum(1 for a in pods if a.phase != "Pending")  # pods that got to run
        last = _node(workflow, pods[-1].node) if pods else None
        ts.external_id = pods[-1].node if pods else node.get("id")
        ts.exit_code = _exit_code(last)
        ts.outputs = _outputs(last or node) or _outputs(node)
        if phase == "Skipped":
            ts.status = SKIPPED
            ts.message = "skipped (task set to skip)" if task.skip else "not part of this run"
        elif phase == "Omitted":
            bad = [u for u in spec.pipeline.upstream(task_name) if states[u].status not in (SUCCEEDED, SKIPPED)]
            ts.status = UPSTREAM_FAILED
            ts.message = "upstream " + ", ".join(f"{u} {states[u].status}" for u in bad) if bad else (node.get("message") or "upstream did not succeed")
        elif phase == "Succeeded":
            ts.status = SUCCEEDED
        elif phase in ("Failed", "Error"):
            ts.status = CANCELLED if cancelled else FAILED
            ts.message = _message(task, last or node) or _message(task, node)
        elif phase == "Running":
            # a Retry node runs from its first pod's creation: running once an attempt started
            started = node.get("type") != "Retry" or any(a.phase != "Pending" for a in pods)
            ts.status = RUNNING if started else PENDING
        else:
            ts.status = PENDING
        if ts.status == PENDING and finished:
            ts.status = CANCELLED if cancelled else FAILED
    return states
