"""Resource proposals: observed peaks of a workload -> a proposed cpu / memory request.

Cube Studio's rule: once a workload has run successfully ``TUNING_MIN_RUNS``
times, propose a request of its peak usage ×``TUNING_FACTOR``, rounded up to
whole cores and whole GiB; the limit is kept, or raised to the new request.
:func:`propose` knows nothing of what the workload is (a pipeline task, a
service); :func:`propose_resources` applies the template exemptions of a
pipeline task first.

Pure Python: no Jupyter, tornado or Kubernetes imports.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import FieldError
from .formats import format_bytes, parse_cpu, parse_memory

if TYPE_CHECKING:  # annotations only: proposals must not depend on pipelines at run time
    from .pipelines import Task
    from .templates import JobTemplate

TUNING_MIN_RUNS = 10
TUNING_FACTOR = 1.4
_GIB = 2**30

# One observation per successful run: (peak cores, peak bytes); None where it was not measured.
Peak = tuple[float | None, int | None]


@dataclass(frozen=True)
class ResourceProposal:
    task: str  # the name of the observed workload
    current_cpu: str
    current_memory: str
    cpu: str
    memory: str
    runs: int
    peak_cpu: float
    peak_memory: int

    def to_dict(self) -> dict:
        return {
            "task": self.task,
            "current": {"cpu": self.current_cpu, "memory": self.current_memory},
            "proposed": {"cpu": self.cpu, "memory": self.memory},
            "runs": self.runs,
            "peak_cpu": self.peak_cpu,
            "peak_memory": self.peak_memory,
        }


def propose(name: str, current_cpu: str, current_memory: str, peaks: Iterable[Peak]) -> ResourceProposal | None:
    """A proposal for a workload requesting ``current_cpu`` / ``current_memory``
    (the user's forms, ``2`` or ``1~4``; ``4G``) given its peaks, or None: too few
    measured runs, an unparsable current request, or nothing would change."""
    usable = [(c, m) for c, m in peaks if c is not None and m is not None]
    if len(usable) < TUNING_MIN_RUNS:
        return None
    try:
        cur_cpu = parse_cpu(current_cpu)
        cur_mem = parse_memory(current_memory)
    except FieldError:
        return None
    peak_cpu = max(c for c, _ in usable)
    peak_mem = max(m for _, m in usable)
    new_cpu = max(1, math.ceil(peak_cpu * TUNING_FACTOR))
    new_mem = max(1, math.ceil(peak_mem * TUNING_FACTOR / _GIB)) * _GIB
    cpu_limit = max(float(cur_cpu.limit), new_cpu)
    mem_limit = max(cur_mem.limit, new_mem)
    cpu_text = str(new_cpu) if cpu_limit == new_cpu else f"{new_cpu}~{format(cur_cpu.limit.normalize(), 'f')}"
    mem_text = format_bytes(new_mem) if mem_limit == new_mem else f"{format_bytes(new_mem)}~{format_bytes(mem_limit)}"
    if float(cur_cpu.request) == new_cpu and cur_mem.request == new_mem:
        return None
    return ResourceProposal(name, current_cpu, current_memory, cpu_text, mem_text, len(usable), peak_cpu, peak_mem)


def propose_resources(task: Task, template: JobTemplate | None, peaks: list[Peak]) -> ResourceProposal | None:
    """:func:`propose` for a pipeline task. ``NO_RESOURCE_CHECK`` and logical
    templates, and templates that set the task's resources themselves
    (``TASK_RESOURCE_CPU`` / ``TASK_RESOURCE_MEMORY``), are exempt."""
    if template is None or template.no_resource_check or template.kind == "logical":
        return None
    if any(k in template.env for k in ("TASK_RESOURCE_CPU", "TASK_RESOURCE_MEMORY")):
        return None
    return propose(task.name, task.cpu, task.memory, peaks)
