"""cgroups for the processes of users: a memory and a CPU limit the process
cannot leave (root puts it in the group, before it runs anything of the user's). cgroup v1 controllers (``/sys/fs/cgroup/<controller>``) and the
unified v2 hierarchy (where the controller is delegated to us) both work;
where neither does, callers fall back (``RLIMIT_DATA`` for memory) and say so.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

CPU_PERIOD_US = 100_000


@functools.cache  # a process stays in its cgroup: read /proc/self/cgroup once per controller
def own_cgroup(controller: str = "memory") -> Path | None:
    """The directory of this process's cgroup for ``controller`` (v1), or the
    unified (v2) one; None when there is none to use."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            base = Path("/sys/fs/cgroup") / controller
            if base.is_dir():
                return base / path.lstrip("/")
    for line in lines:
        hid, controllers, path = line.split(":", 2)
        if hid == "0" and controllers == "":
            for base in (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup")):
                if (base / "cgroup.controllers").exists():
                    return base / path.lstrip("/")
    return None


def _make_cgroup(controller: str, name: str, settings: list[dict[str, str]]) -> Path | None:
    """A child cgroup of ours for ``controller`` with the first of ``settings``
    (file -> value, one dict per cgroup version) whose files exist; None (and no
    directory left behind) if the OS does not let us."""
    parent = own_cgroup(controller)
    if parent is None:
        return None
    group = parent / name
    try:
        group.mkdir(exist_ok=True)
        for files in settings:
            if all((group / f).exists() for f in files):
                for f, value in files.items():
                    (group / f).write_text(value)
                return group
        group.rmdir()
        return None
    except OSError:
        try:
            group.rmdir()
        except OSError:
            pass
        return None


def make_memory_cgroup(name: str, limit: int) -> Path | None:
    """A child cgroup with a memory limit, or None if the OS does not let us."""
    # v1, then v2 (where memory is delegated to us)
    return _make_cgroup("memory", name, [{"memory.limit_in_bytes": str(limit)}, {"memory.max": str(limit)}])


def remove_cgroup(group: Path, attempts: int = 20) -> bool:
    """Remove an emptied cgroup; True when it is gone. Retries briefly: the
    kernel lets go of a cgroup only once its last process is reaped."""
    for attempt in range(attempts):
        try:
            group.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:
            if attempt + 1 < attempts:
                time.sleep(0.05)
    return False


def make_cpu_cgroup(name: str, cores: float) -> Path | None:
    """A child cgroup with a CPU quota of ``cores``, or None if the OS does not let us."""
    if cores <= 0:
        return None
    quota = max(1000, int(cores * CPU_PERIOD_US))
    # v1 (period first: the quota is checked against it), then v2 (cpu delegated to us)
    return _make_cgroup("cpu", name, [{"cpu.cfs_period_us": str(CPU_PERIOD_US), "cpu.cfs_quota_us": str(quota)},
                                      {"cpu.max": f"{quota} {CPU_PERIOD_US}"}])


def oom_killed(group: Path) -> bool:
    """Whether the kernel killed a process of this memory cgroup at its limit."""
    for name in ("memory.events", "memory.oom_control"):  # v2, v1
        try:
            lines = (group / name).read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) == 2 and parts[0] == "oom_kill":
                return int(parts[1]) > 0
    try:  # v1 kernels without the oom_kill count: the limit was hit
        return int((group / "memory.failcnt").read_text()) > 0
    except (OSError, ValueError):
        return False


def describe_support() -> str:
    """One line for start-up: how limits are enforced on this machine."""
    probe = f"cubelab-probe-{int(time.time() * 1000)}"
    memory = make_memory_cgroup(probe, 1 << 30)
    cpu = make_cpu_cgroup(probe, 1)
    for group in (memory, cpu):
        if group is not None:
            remove_cgroup(group)
    parts = [
        "memory: cgroup" if memory is not None else "memory: RLIMIT_DATA (no memory cgroup can be created here)",
        "CPU: cgroup quota" if cpu is not None else "CPU: not enforced (no cpu cgroup can be created here; OMP_NUM_THREADS and friends only)",
    ]
    return "Limits of servers and tasks: " + ", ".join(parts)
