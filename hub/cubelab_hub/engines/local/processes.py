"""Processes of users' work on this machine, shared by the local engine's
tasks and the replicas of services: started through a fixed shell wrapper that
records the exit status in a file (so a restarted control plane learns it), as
the user's Unix account with ``no_new_privs``, moved into their cgroups before
anything of the user's runs; identified by pid plus start time; stopped as a
whole process tree; sampled for CPU and memory.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

# A fixed script: the task's argv arrives as "$@" (positional parameters, never parsed
# as shell text) and its exit status is written to the file named by $0. The file is
# how a restarted control plane learns the exit status of a process that is no longer
# its child. dash starts in about a millisecond.
EXIT_WRAPPER = '"$@"; s=$?; echo $s > "$0"; exit $s'
# The same, started before it is in its cgroups: it waits for one line on stdin, which the
# engine writes once it has moved the wrapper there, so nothing of the task runs outside them.
GATED_WRAPPER = 'read -r _ || exit 125; exec </dev/null; "$@"; s=$?; echo $s > "$0"; exit $s'
# no_new_privs for a task running as its user (setuid programs gain nothing); util-linux
SETPRIV = shutil.which("setpriv") or "/usr/bin/setpriv"
SH = "/bin/sh"


@dataclass(frozen=True)
class RunAs:
    name: str
    uid: int
    gid: int
    groups: list[int]


class Child:
    """A started task process. Its exit is awaited through a pidfd registered with
    the event loop, so no watcher thread is started per process (asyncio's default
    child watcher on Python 3.11 starts one for each)."""

    def __init__(self, popen: subprocess.Popen):
        self.popen = popen
        self.pid = popen.pid
        loop = asyncio.get_running_loop()
        self._done: asyncio.Future = loop.create_future()
        try:
            self._fd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):  # not Linux >= 5.3: wait in a thread instead
            self._fd = None
            loop.run_in_executor(None, self._wait_blocking)
        else:
            loop.add_reader(self._fd, self._on_exit)

    @classmethod
    def spawn(cls, argv: list[str], exit_file: Path, log, cwd: str, env: dict[str, str],
              cgroups: list[Path] = (), run_as: RunAs | None = None) -> Child:
        """The task's wrapper: as ``run_as`` (uid, gid and groups set by subprocess
        itself, so no Python runs between fork and exec, which costs milliseconds in
        a large process), with no_new_privs, in ``cgroups``. The engine moves the
        wrapper into its cgroups (root may move any process) before letting it start
        the task, so neither the task nor its children ever run outside them."""
        wrapper = GATED_WRAPPER if cgroups else EXIT_WRAPPER
        full = [SH, "-c", wrapper, str(exit_file), *argv]
        user = {}
        if run_as is not None:
            full = [SETPRIV, "--no-new-privs", "--", *full]
            user = {"user": run_as.uid, "group": run_as.gid, "extra_groups": run_as.groups, "umask": 0o002}
        popen = subprocess.Popen(full, stdin=subprocess.PIPE if cgroups else subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT, cwd=cwd, env=env, start_new_session=True, close_fds=True, **user)
        if cgroups:
            try:
                for group in cgroups:
                    with open(group / "cgroup.procs", "w") as fh:
                        fh.write(str(popen.pid))
                popen.stdin.write(b"go\n")
            except OSError as exc:
                popen.kill()
                popen.wait()
                raise OSError(f"could not move the task into its cgroup: {exc}") from exc
            finally:
                try:
                    popen.stdin.close()
                except OSError:
                    pass
        return cls(popen)


    def _on_exit(self) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._fd)
        os.close(self._fd)
        self.popen.wait()  # reaps at once: the pidfd said the process ended
        if not self._done.done():
            self._done.set_result(self.popen.returncode)

    def _wait_blocking(self) -> None:
        rc = self.popen.wait()
        loop = self._done.get_loop()
        loop.call_soon_threadsafe(lambda: self._done.done() or self._done.set_result(rc))

    async def wait(self) -> int:
        return await asyncio.shield(self._done)


def proc_id(pid: int) -> str | None:
    """pid plus start time: a recycled pid must not be mistaken for our process.
    None when the process is gone or a zombie."""
    try:
        # one read of /proc on Linux (psutil would also read the boot time every call)
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        if fields[0] == b"Z":
            return None
        return f"{pid}:{int(fields[19])}"  # field 22: start time in clock ticks since boot
    except FileNotFoundError:
        return None
    except (OSError, IndexError, ValueError):
        pass
    try:
        p = psutil.Process(pid)
        if p.status() == psutil.STATUS_ZOMBIE:
            return None
        return f"{pid}:{p.create_time():.2f}"  # not Linux
    except psutil.Error:
        return None


def alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


async def kill_group(pgid: int, grace: float) -> None:
    """SIGTERM the process group and any descendants that left it, then SIGKILL
    whatever is left after the grace period."""
    try:
        procs = [psutil.Process(pgid)]
        procs += procs[0].children(recursive=True)
    except psutil.Error:
        procs = []
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        for p in procs:
            try:
                p.send_signal(sig)
            except psutil.Error:
                pass
        if sig == signal.SIGTERM:
            # poll rather than psutil.wait_procs: waitpid there would reap our
            # child before asyncio's child watcher sees its exit status
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and any(alive(p) for p in procs):
                await asyncio.sleep(0.05)


def sample_tree(pid: int) -> tuple[float, int, float] | None:
    """CPU seconds and RSS of a process tree, and the root's start time."""
    try:
        root = psutil.Process(pid)
        started = root.create_time()
        procs = [root] + root.children(recursive=True)
    except psutil.Error:
        return None
    cpu = 0.0
    rss = 0
    for p in procs:
        try:
            t = p.cpu_times()
            cpu += t.user + t.system
            rss += p.memory_info().rss
        except psutil.Error:
            continue
    return cpu, rss, started
