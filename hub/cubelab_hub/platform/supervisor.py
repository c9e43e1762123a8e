"""Run JupyterHub as a child and guarantee that stopping leaves no process behind.

JupyterHub stops its proxy, services and user servers when it gets SIGTERM after
start-up; a signal during start-up, or a crash, would orphan them. So
``cubelab up`` makes itself a *child subreaper* (Linux): every orphaned
descendant is re-parented to it, and after the hub exits it ends whatever is
left, by PID, SIGTERM first and SIGKILL after a grace period.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import time

import psutil

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def end_descendants(grace: float = 10.0) -> list[int]:
    """Terminate every remaining descendant of this process; returns their PIDs."""
    me = psutil.Process()
    left = me.children(recursive=True)
    for proc in left:
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(left, timeout=grace)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)
    return [p.pid for p in left]


def supervise(argv: list[str], stop_timeout: float = 60.0, log=print) -> int:
    become_subreaper()
    # own session: a terminal's Ctrl-C reaches only us, and we stop the hub once
    child = subprocess.Popen(argv, start_new_session=True)
    stopping = {"at": None}

    def on_signal(signum, _frame):
        if stopping["at"] is None:
            stopping["at"] = time.monotonic()
            log(f"Stopping CubeLab ({signal.Signals(signum).name})...")
            try:
                child.terminate()
            except ProcessLookupError:
                pass

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            try:
                rc = child.wait(timeout=1.0)
                break
            except subprocess.TimeoutExpired:
                if stopping["at"] is not None and time.monotonic() - stopping["at"] > stop_timeout:
                    log("JupyterHub did not stop in time; killing it")
                    child.kill()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    leftovers = end_descendants()
    if leftovers:
        log(f"Ended {len(leftovers)} process(es) left behind: {leftovers}")
    log("CubeLab stopped.")
    return 0 if stopping["at"] is not None else rc
