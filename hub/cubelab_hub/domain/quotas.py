"""What a project's work holds, and whether a pipeline run fits: the engine's
capacity and the project's quota, checked before a run is accepted.

Two checks, each a :class:`~.errors.Diagnostic` on the task and field at fault:

- **capacity** (:func:`check_capacity`): a task asking for more than the engine
  can ever give (the local engine: this machine's cores, memory and GPUs) could
  only wait or fail, so the run is refused. The *request* part of ``a~b`` is
  compared: it is what the task must get; a limit above the machine is a cap
  that is never reached, not a demand.
- **quota** (:func:`check_quota`): a project's quota bounds what its running work
  holds, counted as the spawn form counts servers: the *limit* part of CPU and
  memory and the number of GPU cards.

When work counts as in use: a notebook server from its start until it stops; a
pipeline task while it runs (status ``running``), not while it waits for its
upstreams. A run is checked at submission, task by task: each task that will
run must fit, on its own, in what the quota leaves beside the servers and tasks
running now. A task on its own is the smallest share of the run that must fit
at some moment, so a refusal is never wrong; summing every task would refuse a
chain of one-GPU steps that only ever holds one card. The engine does not wait
for quota when a later task starts, so two runs accepted side by side can hold
more than the quota for a while; the spawn form, which counts running tasks,
then refuses new servers until they finish.

Pure Python: callers gather the facts (engine capacity, the quota, what runs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .errors import Diagnostic, FieldError
from .formats import format_bytes, parse_cpu, parse_gpu, parse_memory
from .projects import Quota

# a template's env that pins its tasks' resources (an admin's choice, as in Cube Studio)
RESOURCE_OVERRIDES = ("TASK_RESOURCE_CPU", "TASK_RESOURCE_MEMORY", "TASK_RESOURCE_GPU")


def fmt_cores(value: Decimal) -> str:
    return format(Decimal(value).normalize(), "f")


def _fmt_memory(value: int) -> str:
    return format_bytes(value) if value else "0"


@dataclass(frozen=True)
class Usage:
    """CPU cores, memory bytes and GPU cards held (or asked for)."""

    cpu: Decimal = Decimal(0)
    memory: int = 0
    gpu: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.cpu + other.cpu, self.memory + other.memory, self.gpu + other.gpu)

    def to_dict(self) -> dict[str, Any]:
        return {"cpu": fmt_cores(self.cpu), "memory": self.memory, "gpu": self.gpu}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Usage:
        """The inverse of :meth:`to_dict`; raises ValueError on anything else."""
        cpu = Decimal(str(data.get("cpu", 0)))
        memory, gpu = int(data.get("memory", 0)), int(data.get("gpu", 0))
        if cpu < 0 or memory < 0 or gpu < 0 or not cpu.is_finite():
            raise ValueError(f"negative or non-finite usage: {dict(data)}")
        return cls(cpu, memory, gpu)


def total(usages: Iterable[Usage]) -> Usage:
    result = Usage()
    for usage in usages:
        result = result + usage
    return result


@dataclass(frozen=True)
class Capacity:
    """The most one task can ever get from an engine; ``None``: unknown or
    unbounded (a cluster decides). ``where`` names it in messages."""

    cpu: Decimal | None = None
    memory: int | None = None
    gpu: int | None = None
    where: str = "this machine"


def usage_of_options(options: Mapping[str, Any] | None) -> Usage:
    """What a server holds, from its stored ``user_options`` (limits). Best
    effort: options stored before validation existed count as nothing rather
    than failing a spawn or a run."""
    if not options:
        return Usage()
    try:
        cpu = parse_cpu(str(options.get("cpu"))).limit if options.get("cpu") else Decimal(0)
        memory = parse_memory(str(options.get("memory"))).limit if options.get("memory") else 0
        gpu = parse_gpu(str(options.get("gpu"))).count if options.get("gpu") else 0
    except FieldError:
        return Usage()
    return Usage(cpu, memory, gpu)


def task_resources(task, template) -> tuple[str, str, str]:
    """CPU, memory, GPU as the task gets them: the template's ``TASK_RESOURCE_*``
    env wins over the task's own values."""
    env = getattr(template, "env", None) or {}
    cpu, memory, gpu = (env.get(name) for name in RESOURCE_OVERRIDES)
    return cpu or task.cpu, memory or task.memory, gpu or task.gpu


@dataclass(frozen=True)
class TaskDemand:
    """One task's resources, parsed: ``request`` (what it must get) and
    ``usage`` (what it holds while it runs, as quotas count it)."""

    task: str
    text: tuple[str, str, str]  # cpu, memory, gpu as written (after template overrides)
    request: Usage
    usage: Usage


def task_demand(task, template) -> TaskDemand | None:
    """None when the task runs nothing (a ``logical`` template) or a resource
    does not parse (validation reports that already)."""
    if template is not None and getattr(template, "kind", None) == "logical":
        return None
    text = task_resources(task, template)
    try:
        cpu, memory, gpu = parse_cpu(text[0], "cpu"), parse_memory(text[1], "memory"), parse_gpu(text[2], "gpu")
    except FieldError:
        return None
    return TaskDemand(task.name, text, Usage(cpu.request, memory.request, gpu.count), Usage(cpu.limit, memory.limit, gpu.count))


def run_demands(pipeline, templates: Mapping[str, Any], only_tasks: set[str] | None = None) -> list[TaskDemand]:
    """The demands of the tasks a run will start: not skipped, within
    ``only_tasks`` when given. ``templates``: task name -> resolved template."""
    demands = []
    for task in pipeline.tasks:
        if task.skip or (only_tasks is not None and task.name not in only_tasks):
            continue
        demand = task_demand(task, templates.get(task.name))
        if demand is not None:
            demands.append(demand)
    return demands


def check_capacity(demands: Iterable[TaskDemand], capacity: Capacity | None) -> list[Diagnostic]:
    """A diagnostic for every task asking for more than ``capacity`` can give."""
    if capacity is None:
        return []
    diags = []
    where = capacity.where
    for d in demands:
        if capacity.gpu is not None and d.request.gpu > capacity.gpu:
            have = capacity.gpu
            error = FieldError("gpu", f"'{d.text[2]}' asks for {d.request.gpu} GPU card(s) but {where} has {have}",
                               f"at most {have}" if have else f"0 ({where} has no GPU)")
            diags.append(Diagnostic("error", str(error), task=d.task, field="gpu"))
        if capacity.cpu is not None and d.request.cpu > capacity.cpu:
            have = fmt_cores(capacity.cpu)
            error = FieldError("cpu", f"'{d.text[0]}' asks for {fmt_cores(d.request.cpu)} cores but {where} has {have}",
                               f"a request of at most {have} cores")
            diags.append(Diagnostic("error", str(error), task=d.task, field="cpu"))
        if capacity.memory is not None and d.request.memory > capacity.memory:
            have = format_bytes(capacity.memory)
            error = FieldError("memory", f"'{d.text[1]}' asks for {format_bytes(d.request.memory)} but {where} has {have}",
                               f"a request of at most {have}")
            diags.append(Diagnostic("error", str(error), task=d.task, field="memory"))
    return diags


def check_quota(project: str, quota: Quota, in_use: Usage, demands: Iterable[TaskDemand]) -> list[Diagnostic]:
    """A diagnostic for every task that does not fit in what ``quota`` leaves
    beside ``in_use`` (the project's running servers and tasks)."""
    diags = []
    for d in demands:
        if quota.gpu is not None and d.usage.gpu and in_use.gpu + d.usage.gpu > quota.gpu:
            left = max(quota.gpu - in_use.gpu, 0)
            error = FieldError(
                "gpu",
                f"project '{project}' has a GPU quota of {quota.gpu}; {in_use.gpu} are in use by running servers and tasks; "
                f"this run's task '{d.task}' asks for {d.usage.gpu}",
                f"at most {left} card(s) now",
            )
            diags.append(Diagnostic("error", str(error), task=d.task, field="gpu"))
        if quota.cpu is not None and in_use.cpu + d.usage.cpu > quota.cpu:
            left = max(quota.cpu - in_use.cpu, Decimal(0))
            error = FieldError(
                "cpu",
                f"project '{project}' has a CPU quota of {fmt_cores(quota.cpu)} cores; {fmt_cores(in_use.cpu)} are in use by running "
                f"servers and tasks; this run's task '{d.task}' asks for up to {fmt_cores(d.usage.cpu)}",
                f"at most {fmt_cores(left)} cores now",
            )
            diags.append(Diagnostic("error", str(error), task=d.task, field="cpu"))
        if quota.memory is not None and in_use.memory + d.usage.memory > quota.memory:
            left = max(quota.memory - in_use.memory, 0)
            error = FieldError(
                "memory",
                f"project '{project}' has a memory quota of {format_bytes(quota.memory)}; {_fmt_memory(in_use.memory)} are in use by "
                f"running servers and tasks; this run's task '{d.task}' asks for up to {format_bytes(d.usage.memory)}",
                f"at most {_fmt_memory(left)} now",
            )
            diags.append(Diagnostic("error", str(error), task=d.task, field="memory"))
    return diags


def build_quota_errors(project: str, quota: Quota, in_use: Usage, cpu: Decimal, memory: int) -> list[FieldError]:
    """A field-named error for each of a build's limits (``cpu``, ``memory``)
    that would take the project past its quota beside ``in_use``: what its
    servers, tasks and services hold now. The project's running build is not
    in ``in_use``: builds of a project run one at a time, so a new one takes
    the running one's place rather than adding to it."""
    errors = []
    if quota.cpu is not None and in_use.cpu + cpu > quota.cpu:
        left = max(quota.cpu - in_use.cpu, Decimal(0))
        errors.append(FieldError(
            "cpu", f"project '{project}' has a CPU quota of {fmt_cores(quota.cpu)} cores; {fmt_cores(in_use.cpu)} are in use by running "
            f"servers, tasks and services; this build asks for up to {fmt_cores(cpu)}", f"at most {fmt_cores(left)} cores now"))
    if quota.memory is not None and in_use.memory + memory > quota.memory:
        left = max(quota.memory - in_use.memory, 0)
        errors.append(FieldError(
            "memory", f"project '{project}' has a memory quota of {format_bytes(quota.memory)}; {_fmt_memory(in_use.memory)} are in use by "
            f"running servers, tasks and services; this build asks for up to {format_bytes(memory)}", f"at most {_fmt_memory(left)} now"))
    return errors


# ---------------------------------------------------------------- published task usage

# The control plane publishes what each project's running tasks and services'
# replicas hold in this file of its data directory; the spawners add it to what
# running servers hold.
TASK_USAGE_FILE = "task-usage.json"
TASK_USAGE_FORMAT = "cubelab.task-usage/v1"


def usage_document(by_project: Mapping[str, Usage]) -> dict:
    return {"format": TASK_USAGE_FORMAT, "projects": {p: u.to_dict() for p, u in sorted(by_project.items()) if u != Usage()}}


def usage_from_document(document: Any) -> dict[str, Usage]:
    """The inverse of :func:`usage_document`; ValueError for anything else."""
    if not isinstance(document, dict) or document.get("format") != TASK_USAGE_FORMAT:
        raise ValueError(f"not a {TASK_USAGE_FORMAT} document")
    projects = document.get("projects")
    if not isinstance(projects, dict):
        raise ValueError("'projects' is not an object")
    return {str(p): Usage.from_dict(u) for p, u in projects.items() if isinstance(u, dict)}
