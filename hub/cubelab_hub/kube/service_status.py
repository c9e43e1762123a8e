"""A service's state read from its Deployment and pods: pure, dicts in.

The Deployment says whether the rollout is done: the controller has seen the
latest spec (``observedGeneration``), every wanted replica runs the latest
template (``updatedReplicas``), is ready and available, and no replica of an
older template is left (``replicas`` counts them all). A rollout that stopped
making progress (``Progressing`` false with ``ProgressDeadlineExceeded``) or
whose pods cannot be created (``ReplicaFailure``) has failed, with the
controller's message. Each pod becomes a replica line: its phase, readiness,
restarts and the reason a container waits (``ImagePullBackOff``,
``CrashLoopBackOff``), so a user sees why a replica does not come up.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DeploymentState", "PodState", "deployment_state", "pod_state"]

DEPLOYING, RUNNING, FAILED, ABSENT = "deploying", "running", "failed", "absent"


@dataclass(frozen=True)
class DeploymentState:
    state: str  # deploying | running | failed | absent
    desired: int
    ready: int
    updated: int
    message: str = ""


@dataclass(frozen=True)
class PodState:
    name: str
    status: str  # starting | healthy | unhealthy | failed | stopping
    restarts: int
    started_at: str | None
    message: str = ""


def _condition(status: dict, kind: str) -> dict | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), None)


def deployment_state(deployment: dict | None) -> DeploymentState:
    """Where the Deployment's rollout stands."""
    if deployment is None:
        return DeploymentState(ABSENT, 0, 0, 0, "the Deployment is not there")
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    desired = spec.get("replicas", 1)
    ready = status.get("readyReplicas", 0)
    updated = status.get("updatedReplicas", 0)
    available = status.get("availableReplicas", 0)
    total = status.get("replicas", 0)
    counts = f"{ready} of {desired} replica(s) ready"

    failure = _condition(status, "ReplicaFailure")
    if failure is not None and failure.get("status") == "True":
        return DeploymentState(FAILED, desired, ready, updated, f"{counts}; {failure.get('message') or failure.get('reason', '')}")
    progressing = _condition(status, "Progressing")
    if progressing is not None and progressing.get("status") == "False" and progressing.get("reason") == "ProgressDeadlineExceeded":
        return DeploymentState(FAILED, desired, ready, updated, f"{counts}; {progressing.get('message') or 'the rollout made no progress'}")

    generation = (deployment.get("metadata") or {}).get("generation", 0)
    if status.get("observedGeneration", 0) < generation:
        return DeploymentState(DEPLOYING, desired, ready, updated, "the new spec is not picked up yet")
    if updated >= desired and ready >= desired and available >= desired and total <= desired:
        return DeploymentState(RUNNING, desired, ready, updated, counts)
    if total > updated:
        counts += f"; {total - updated} of the previous version still running"
    return DeploymentState(DEPLOYING, desired, ready, updated, counts)


def pod_state(pod: dict) -> PodState:
    """One replica as the service's replica list shows it."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    containers = status.get("containerStatuses") or []
    restarts = sum(c.get("restartCount", 0) for c in containers)
    waiting = [c["state"]["waiting"] for c in containers if (c.get("state") or {}).get("waiting")]
    message = "; ".join(filter(None, (f"{w.get('reason', '')}: {w.get('message', '')}".strip(": ") for w in waiting)))
    ready = _condition(status, "Ready")
    phase = status.get("phase", "Pending")
    if meta.get("deletionTimestamp"):
        state = "stopping"
    elif phase in ("Failed", "Succeeded"):
        state = "failed"
        message = message or status.get("reason", "") or f"the pod {phase.lower()}"
    elif phase == "Running" and ready is not None and ready.get("status") == "True":
        state = "healthy"
    elif phase == "Running" and any(c.get("ready") is False for c in containers) and restarts:
        state = "unhealthy"
    else:
        state = "starting"
    return PodState(meta.get("name", ""), state, restarts, status.get("startTime"), message)
