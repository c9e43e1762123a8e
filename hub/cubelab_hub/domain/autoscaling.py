"""Autoscaling arithmetic: the HorizontalPodAutoscaler v2 rule, as pure functions.

The local engine scales a service's replicas with the same rule Kubernetes
applies (kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale,
"Algorithm details"), so a service behaves alike on one machine and on a cluster:

- each metric proposes ``ceil(current × value / target)`` replicas; a ratio
  within the tolerance (10%) of 1 proposes no change;
- the largest proposal wins; while a metric is missing, the others may scale
  up but not down;
- the result is clamped to ``[min_replicas, max_replicas]``;
- a stabilization window smooths it: scaling down uses the highest
  recommendation of the last ``down_window`` seconds (default 300, as the
  HPA's), scaling up the lowest of the last ``up_window`` seconds (default 0);
- a cooldown after each change holds the next one.

Every decision carries its reason, for the service's scaling history.
Metric names are those of the HPA rule (``cpu``, ``mem``, ``gpu``); values and
targets are percents of the request.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

DEFAULT_TOLERANCE = 0.1
DEFAULT_UP_WINDOW = 0.0
DEFAULT_DOWN_WINDOW = 300.0


def desired_replicas(
    current: int,
    metrics: Mapping[str, float | None],
    targets: Mapping[str, float],
    min_replicas: int,
    max_replicas: int,
    tolerance: float = DEFAULT_TOLERANCE,
) -> int:
    """The replica count the HPA v2 rule asks for now (before stabilization).

    ``metrics``: the measured average of each metric over the ready replicas
    (``None`` or absent: not measured). ``targets``: the rule's target of each.
    With no replica running (``current`` 0) there is nothing measured to
    scale from: the answer is ``min_replicas``.
    """
    if min_replicas < 1 or max_replicas < min_replicas:
        raise ValueError(f"replicas must satisfy 1 <= min <= max, not {min_replicas}..{max_replicas}")
    if current <= 0:
        return min_replicas
    proposals: list[int] = []
    missing = False
    for name, target in targets.items():
        if target <= 0:
            raise ValueError(f"the target of {name!r} must be above 0, not {target}")
        value = metrics.get(name)
        if value is None:
            missing = True
            continue
        ratio = value / target
        proposals.append(current if abs(ratio - 1.0) <= tolerance else math.ceil(current * ratio))
    if not proposals:
        wanted = current
    else:
        wanted = max(proposals)
        if missing and wanted < current:
            wanted = current  # a metric not measured might be the one that needs the replicas
    return max(min_replicas, min(max_replicas, wanted))


def describe_metrics(metrics: Mapping[str, float | None], targets: Mapping[str, float]) -> str:
    """'cpu 90% (target 50%), mem not measured (target 50%)'."""
    parts = []
    for name, target in targets.items():
        value = metrics.get(name)
        shown = "not measured" if value is None else f"{value:g}%"
        parts.append(f"{name} {shown} (target {target:g}%)")
    return ", ".join(parts)


@dataclass(frozen=True)
class Recommendation:
    """A replica count :func:`desired_replicas` gave at time ``at`` (seconds)."""

    at: float
    replicas: int


@dataclass(frozen=True)
class ScaleDecision:
    """What to do now: run ``replicas`` (``current`` before), and why."""

    current: int
    replicas: int
    reason: str

    @property
    def changed(self) -> bool:
        return self.replicas != self.current


def stabilize(
    current: int,
    recommendations: Sequence[Recommendation],
    now: float,
    *,
    up_window: float = DEFAULT_UP_WINDOW,
    down_window: float = DEFAULT_DOWN_WINDOW,
    cooldown: float = 0.0,
    last_scaled_at: float | None = None,
    why: str = "",
) -> ScaleDecision:
    """Turn the recommendations so far (oldest first, the latest last) into a
    decision, as the HPA's stabilization windows do; ``last_scaled_at`` and
    ``cooldown`` hold any change for ``cooldown`` seconds after the last one.
    ``why`` (e.g. :func:`describe_metrics`) is added to the reason."""
    if not recommendations:
        return ScaleDecision(current, current, "no recommendation yet")
    latest = recommendations[-1].replicas
    suffix = f": {why}" if why else ""
    if latest == current:
        return ScaleDecision(current, current, f"steady at {current}{suffix}")
    if latest > current:
        window = [r.replicas for r in recommendations if r.at >= now - up_window] or [latest]
        target = max(current, min(window))
        if target == current:
            return ScaleDecision(current, current, f"scale-up to {latest} held: the lowest recommendation of the last {up_window:g} s is {min(window)}{suffix}")
        verb = "scale up"
    else:
        window = [r.replicas for r in recommendations if r.at >= now - down_window] or [latest]
        target = min(current, max(window))
        if target == current:
            return ScaleDecision(
                current, current, f"scale-down to {latest} held: the highest recommendation of the last {down_window:g} s is {max(window)}{suffix}"
            )
        verb = "scale down"
    if last_scaled_at is not None and now - last_scaled_at < cooldown:
        wait = cooldown - (now - last_scaled_at)
        return ScaleDecision(current, current, f"{verb} to {target} held: cooling down for {wait:g} s more after the last change{suffix}")
    return ScaleDecision(current, target, f"{verb} from {current} to {target}{suffix}")


def prune(recommendations: Sequence[Recommendation], now: float, keep: float) -> list[Recommendation]:
    """The recommendations of the last ``keep`` seconds (the longest window),
    and always the latest one."""
    kept = [r for r in recommendations if r.at >= now - keep]
    if not kept and recommendations:
        kept = [recommendations[-1]]
    return kept
