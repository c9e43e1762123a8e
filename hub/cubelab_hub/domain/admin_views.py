"""The admin overview's arithmetic: what is running, filtered, and what it
holds summed per project, per user and per kind of work.

The control plane gathers :class:`RunningItem` s from the hub (servers) and its
managers' in-memory state (tasks, trials, services, builds); everything here is
pure: no I/O, no framework.

What an item holds is counted as quotas count it (:mod:`.quotas`): the limits of
CPU and memory, the number of GPU cards. A server started for no project has
``project`` None: it counts for its user, never for a project.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .errors import FieldError
from .paging import ListFilters
from .quotas import Usage

KINDS = ("server", "task", "trial", "service", "build")
# the names the per-kind sums of a project carry (the REST contract's by_kind)
KIND_KEYS = {"server": "servers", "task": "tasks", "trial": "trials", "service": "services", "build": "builds"}
KIND_ACCEPTED = "one of " + ", ".join(KINDS)
# an item's id inside its kind: a run's task is "<run id>:<task>", a named server "<user>:<server>"
ID_SEPARATOR = ":"


def parse_kind(value: str | None, field_name: str = "kind") -> str | None:
    """``?kind=`` -> a kind, or None when absent."""
    if value is None or value == "":
        return None
    if value not in KINDS:
        shown = value if len(value) <= 40 else value[:37] + "..."
        raise FieldError(field_name, f"'{shown}' is not a kind of running work", KIND_ACCEPTED)
    return value


@dataclass(frozen=True)
class RunningFilters:
    """The filters of ``GET /admin/running``; None: not asked."""

    kind: str | None = None
    project: str | None = None
    user: str | None = None

    def list_name(self) -> str:
        """The name a page's cursor is bound to (with :meth:`list_filters`' digest)."""
        return f"admin-running:{self.kind or '*'}"

    def list_filters(self) -> ListFilters:
        return ListFilters(project=self.project, creator=self.user)


def parse_running_filters(kind: str | None, project: str | None, user: str | None) -> RunningFilters:
    """The query arguments of the running view -> :class:`RunningFilters` (field-named errors)."""
    values = {}
    for name, value in (("project", project), ("user", user)):
        if value is None or value == "":
            continue
        if len(value) > 255:
            raise FieldError(name, f"is {len(value)} characters long", "at most 255 characters")
        values[name] = value
    return RunningFilters(parse_kind(kind), values.get("project"), values.get("user"))


def usage_json(usage: Usage) -> dict[str, Any]:
    """A :class:`Usage` as the admin API answers it: numbers throughout."""
    cpu = usage.cpu.normalize()
    return {"cpu": int(cpu) if cpu == cpu.to_integral_value() else float(cpu), "memory": int(usage.memory), "gpu": int(usage.gpu)}


@dataclass(frozen=True)
class RunningItem:
    """One piece of work running now (or starting), and what it holds."""

    kind: str
    id: str
    name: str
    project: str | None
    user: str
    status: str
    started: datetime | None = None
    use: Usage = Usage()
    cluster: str = "local"
    # the run a task or trial belongs to: a user's active runs are counted by it
    run_id: str | None = None
    # the experiment a trial belongs to
    experiment_id: int | None = None

    def sort_key(self) -> tuple[str, str, str]:
        return (self.project or "", self.kind, self.id)

    def to_dict(self) -> dict[str, Any]:
        started = self.started.isoformat() if isinstance(self.started, datetime) else self.started
        return {"kind": self.kind, "id": self.id, "name": self.name, "project": self.project, "user": self.user,
                "status": self.status, "started": started, "use": usage_json(self.use), "cluster": self.cluster}


def matching(items: Iterable[RunningItem], kind: str | None = None, project: str | None = None,
             user: str | None = None) -> list[RunningItem]:
    """The items of ``kind``, in ``project``, of ``user`` (None: any), in list order."""
    found = [item for item in items
             if (kind is None or item.kind == kind) and (project is None or item.project == project)
             and (user is None or item.user == user)]
    return sorted(found, key=RunningItem.sort_key)


def _add(sums: dict[str, dict], key: str, item: RunningItem) -> None:
    count, used = sums.get(key, (0, Usage()))
    sums[key] = (count + 1, used + item.use)


def totals(items: Iterable[RunningItem]) -> dict[str, dict[str, dict[str, Any]]]:
    """Count and holdings per project and per user (items of no project: per user only)."""
    by_project: dict[str, tuple[int, Usage]] = {}
    by_user: dict[str, tuple[int, Usage]] = {}
    for item in items:
        if item.project is not None:
            _add(by_project, item.project, item)
        _add(by_user, item.user, item)

    def shown(sums):
        return {key: {"count": count, **usage_json(used)} for key, (count, used) in sorted(sums.items())}

    return {"by_project": shown(by_project), "by_user": shown(by_user)}


def use_by_kind(items: Iterable[RunningItem], project: str) -> dict[str, Usage]:
    """What ``project``'s work holds, per kind (every kind present, zero when none)."""
    result = {kind: Usage() for kind in KINDS}
    for item in items:
        if item.project == project:
            result[item.kind] = result[item.kind] + item.use
    return result


def project_use(items: Iterable[RunningItem], project: str) -> dict[str, Any]:
    """``use`` (the sum over kinds) and ``by_kind`` of one project, as the admin API answers them."""
    kinds = use_by_kind(items, project)
    use = Usage()
    for used in kinds.values():
        use = use + used
    return {"use": usage_json(use), "by_kind": {KIND_KEYS[kind]: usage_json(used) for kind, used in kinds.items()}}


@dataclass(frozen=True)
class UserActivity:
    """What one user has running: counts by kind and the sum of what it holds."""

    servers: int = 0
    runs_active: int = 0
    experiments_active: int = 0
    services: int = 0
    use: Usage = Usage()

    def to_dict(self) -> dict[str, Any]:
        return {"servers": self.servers, "runs_active": self.runs_active, "experiments_active": self.experiments_active,
                "services": self.services, "use": usage_json(self.use)}


def user_activity(items: Iterable[RunningItem], active_runs: Mapping[str, str] | None = None,
                  active_experiments: Mapping[int, str] | None = None) -> dict[str, UserActivity]:
    """Per user: running servers and services, active runs and experiments, and the sum of what their work holds.

    ``active_runs`` (run id -> runner) and ``active_experiments`` (experiment id
    -> creator) add runs and experiments that are active without holding anything
    now (a run waiting for its upstreams); the runs of trials count as the
    experiment's, not as runs."""
    servers: dict[str, int] = {}
    services: dict[str, int] = {}
    runs: dict[str, set[str]] = {}
    experiments: dict[str, set[int]] = {}
    use: dict[str, Usage] = {}
    trial_runs = set()
    for item in items:
        use[item.user] = use.get(item.user, Usage()) + item.use
        if item.kind == "server":
            servers[item.user] = servers.get(item.user, 0) + 1
        elif item.kind == "service":
            services[item.user] = services.get(item.user, 0) + 1
        elif item.kind == "task" and item.run_id:
            runs.setdefault(item.user, set()).add(item.run_id)
        elif item.kind == "trial":
            if item.run_id:
                trial_runs.add(item.run_id)
            if item.experiment_id is not None:
                experiments.setdefault(item.user, set()).add(item.experiment_id)
    for run_id, runner in (active_runs or {}).items():
        if run_id not in trial_runs:
            runs.setdefault(runner, set()).add(run_id)
    for exp_id, creator in (active_experiments or {}).items():
        experiments.setdefault(creator, set()).add(exp_id)
    names = set(servers) | set(services) | set(runs) | set(experiments) | set(use)
    return {name: UserActivity(servers.get(name, 0), len(runs.get(name, ())), len(experiments.get(name, ())),
                               services.get(name, 0), use.get(name, Usage())) for name in names}


def split_id(value: str) -> tuple[str, str | None]:
    """``"a:b"`` -> ("a", "b"); ``"a"`` -> ("a", None): an item id and the part after its first separator."""
    head, sep, tail = value.partition(ID_SEPARATOR)
    return head, (tail if sep else None)


def quota_json(quota) -> dict[str, Any] | None:
    """A project's :class:`~.projects.Quota` as numbers (None per unlimited
    resource); None when nothing is limited."""
    if quota.cpu is None and quota.memory is None and quota.gpu is None:
        return None
    cpu = None
    if quota.cpu is not None:
        normal = quota.cpu.normalize()
        cpu = int(normal) if normal == normal.to_integral_value() else float(normal)
    return {"cpu": cpu, "memory": quota.memory, "gpu": quota.gpu}
