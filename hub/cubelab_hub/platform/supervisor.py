"""Run JupyterHub as a child and guarantee that stopping leaves no process behind.

JupyterHub stops its proxy, services and user servers when it gets SIGTERM after
start-up; a signal during start-up, or a crash, would orphan them. So
``cubelab up`` makes itself a *child subreaper* (Linux): every orphaned
descendant is re-parented to it, and after the hub exits it ends whatever is
left, by PID, SIGTERM first and SIGKILL after a grace period.

A subreaper must also reap: an orphan that exits (a task's wrapper whose control
plane was killed, say) stays a zombie until its new parent waits for it. So
every child is reaped as soon as SIGCHLD says one ended, with one ``waitpid(-1)``
loop that keeps the hub's own exit status instead of losing it to the loop.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
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


class Reaper:
    """Reaps every child of this process that has ended, and keeps the exit code
    of the one child that is waited for (``returncode``, None while it runs).

    The one place that calls ``waitpid`` here: ``Popen.wait`` would race with it
    and, finding its child already reaped, report 0 whatever the exit status."""

    def __init__(self, watched: subprocess.Popen):
        self.watched = watched
        self.returncode: int | None = None

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:  # no children at all
                return
            if pid == 0:  # children left, none ended
                return
            if pid == self.watched.pid:
                self.returncode = os.waitstatus_to_exitcode(status)
                # so that Popen never waits for a PID that may be reused by now
                self.watched.returncode = self.returncode

    def on_sigchld(self, _signum, _frame) -> None:
        self.reap()


def supervise(argv: list[str], stop_timeout: float = 60.0, log=print, stopped: threading.Event | None = None) -> int:
    """Run ``argv`` (the hub) until it exits; ``stopped`` is set as soon as a
    stop is asked for or the hub ends."""
    stopped = stopped or threading.Event()
    become_subreaper()
    # own session: a terminal's Ctrl-C reaches only us, and we stop the hub once
    child = subprocess.Popen(argv, start_new_session=True)
    reaper = Reaper(child)
    stopping = {"at": None}

    def on_signal(signum, _frame):
        if stopping["at"] is None:
            stopping["at"] = time.monotonic()
            stopped.set()
            log(f"Stopping CubeLab ({signal.Signals(signum).name})...")
            # os.kill, not Popen.send_signal: that polls, i.e. waits, behind the reaper's back
            if reaper.returncode is None:
                os.kill(child.pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    previous[signal.SIGCHLD] = signal.signal(signal.SIGCHLD, reaper.on_sigchld)
    try:
        reaper.reap()  # whatever ended before the handler was in place
        while reaper.returncode is None:
            # SIGCHLD reaps at once; the poll covers signals that arrive together
            time.sleep(0.5)
            reaper.reap()
            if reaper.returncode is None and stopping["at"] is not None and time.monotonic() - stopping["at"] > stop_timeout:
                log("JupyterHub did not stop in time; killing it")
                os.kill(child.pid, signal.SIGKILL)
                stopping["at"] = time.monotonic()
        stopped.set()
        leftovers = end_descendants()
        reaper.reap()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if leftovers:
        log(f"Ended {len(leftovers)} process(es) left behind: {leftovers}")
    log("CubeLab stopped.")
    return 0 if stopping["at"] is not None else reaper.returncode
