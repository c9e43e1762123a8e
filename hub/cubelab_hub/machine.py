"""What this machine has: CPU cores, memory and GPU cards.

Read by the local spawner (the GPUs a server may take, ``CUDA_VISIBLE_DEVICES``)
and by the local pipeline engine (its capacity, checked before a run starts),
so it lives on the hub side, which the spawner may import.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from .domain.quotas import Capacity


@dataclass(frozen=True)
class LocalGpu:
    index: str
    uuid: str
    name: str


def parse_nvidia_smi(text: str) -> list[LocalGpu]:
    """Output of ``nvidia-smi --query-gpu=index,uuid,name --format=csv,noheader``."""
    gpus = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 3:
            raise ValueError(f"unexpected nvidia-smi line: {line!r}")
        gpus.append(LocalGpu(parts[0], parts[1], ",".join(parts[2:])))
    return gpus


def detect_gpus(nvidia_smi: str = "nvidia-smi", timeout: float = 10) -> list[LocalGpu]:
    """The cards ``nvidia-smi`` lists; none when it is missing or finds no device."""
    path = shutil.which(nvidia_smi)
    if not path:
        return []
    try:
        result = subprocess.run(
            [path, "--query-gpu=index,uuid,name", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=timeout, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    if result.returncode != 0:
        return []  # driver present but no usable device: no GPUs to offer
    return parse_nvidia_smi(result.stdout)


def cpu_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and
    ``taskset`` narrow), else every core the OS counts."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def memory_bytes(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """This machine's total memory; None when it cannot be read."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def machine_capacity(nvidia_smi: str = "nvidia-smi") -> Capacity:
    """The most one task or server can get here."""
    return Capacity(cpu=Decimal(cpu_cores()), memory=memory_bytes(), gpu=len(detect_gpus(nvidia_smi)), where="this machine")
