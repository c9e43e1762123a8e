"""``cubelab up`` is a child subreaper: what it inherits, it reaps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest
from support.platform import register


def zombies_of(pid: int) -> list[psutil.Process]:
    found = []
    for child in psutil.Process(pid).children():
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_orphans_are_reaped_while_the_child_runs_and_its_exit_code_is_kept():
    # the watched child leaves an orphan that ends at once, then exits 3 a while later
    child = "(sh -c 'sleep 0.3' &); sleep 4; exit 3"
    script = textwrap.dedent(f"""
        import sys
        from cubelab_hub.platform.supervisor import supervise
        sys.exit(supervise(["sh", "-c", {child!r}], log=lambda msg: None))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        # the orphan is re-parented to the supervisor: seen alive or already reaped
        time.sleep(2.5)
        assert zombies_of(proc.pid) == []
        assert [c.name() for c in psutil.Process(proc.pid).children()] == ["sh"], "the watched child still runs"
        # its exit status was not lost to the reaping loop
        assert proc.wait(timeout=30) == 3
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def task_processes(cp: psutil.Process, marker: str) -> list[psutil.Process]:
    found = []
    for p in cp.children(recursive=True):
        try:
            if marker in " ".join(p.cmdline()):
                found.append(p)
        except psutil.NoSuchProcess:
            pass
    return found


@pytest.mark.hub
def test_no_zombies_after_the_control_plane_is_killed_during_a_run(fresh_platform):
    platform = fresh_platform()
    user = register(platform, "reaped")
    marker = "zombiecheck"
    pipeline = user.api("POST", "/pipelines", json={
        "name": "naps", "project": "public",
        "tasks": [{"name": f"nap{i}", "template": "shell", "args": {"--command": f"sleep 3; echo {marker}{i}"}}
                  for i in range(3)],
    })
    assert pipeline.status_code == 201, pipeline.text
    run = user.api("POST", f"/pipelines/{pipeline.json()['id']}/runs")
    assert run.status_code == 201, run.text
    up = psutil.Process(platform.proc.pid)
    cp = wait_for(lambda: next((p for p in up.children(recursive=True) if "cubelab_hub.controlplane" in " ".join(p.cmdline())), None),
                  30, "the control plane")
    wrappers = wait_for(lambda: [p for p in cp.children() if marker in " ".join(p.cmdline())], 60, "the tasks' wrapper processes")
    wrapper_pids = {p.pid for p in wrappers}

    os.kill(cp.pid, signal.SIGKILL)

    def orphaned_or_gone():
        try:
            return all(not psutil.pid_exists(pid) or psutil.Process(pid).ppid() == up.pid for pid in wrapper_pids)
        except psutil.NoSuchProcess:
            return False

    wait_for(orphaned_or_gone, 10, "the wrappers to be re-parented to cubelab up")
    # the tasks end (3 s); their wrappers, now children of `cubelab up`, must be reaped
    time.sleep(5)
    assert zombies_of(up.pid) == [], [z.cmdline() for z in zombies_of(up.pid)]
    assert not [pid for pid in wrapper_pids if psutil.pid_exists(pid)]
    # JupyterHub restarts its managed service, and the platform still answers
    wait_for(lambda: user.api("GET", "/me").status_code == 200, 60, "the restarted control plane")
