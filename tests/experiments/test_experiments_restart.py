"""A control-plane restart in the middle of an experiment, on a platform of its
own (``cubelab up``; the hub restarts its managed control plane): after a
crash (SIGKILL) the trials' processes run on, their runs are re-attached and
mapped back to their trials, the tuner is rebuilt and the experiment carries
on to its end without counting a result twice; after a clean stop (SIGTERM)
the trials in flight are failed with the reason and count as failures."""

from __future__ import annotations

import os
import signal
import time

import pytest
from pipelines.cp import World, alive, controlplane_pid, task_processes
from pipelines.test_rest import restarted_controlplane, wait_exited
from support.platform import User

pytestmark = pytest.mark.hub


def wait_for(what, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"not reached: {what}")


def experiment(cp, name, command, **changes) -> dict:
    body = {"name": name, "project": cp.project, "tuner": "Random", "seed": 3,
            "search_space": {"x": {"_type": "choice", "_value": [1, 2, 3, 4]}},
            "objective": {"metric": "accuracy"}, "trial_concurrency": 2, "max_trials": 3,
            "trial": {"template": "shell", "args": {"--command": command}, "metrics": "stdout", "cpu": "0.5", "memory": "256M"}}
    body.update(changes)
    r = cp.call("creator", "POST", "/experiments", body)
    assert r.status_code == 201, r.text
    return r.json()


def trials(cp, exp_id) -> list[dict]:
    return cp.call("creator", "GET", f"/experiments/{exp_id}/trials").json()["trials"]


def reporting(cp, exp_id, n) -> list[dict] | None:
    """The trials once ``n`` of them have reported their first result."""
    found = trials(cp, exp_id)
    return found if len(found) == n and all(t["intermediate_count"] == 1 for t in found) else None


def test_restart_mid_experiment(fresh_platform, tmp_path):
    platform = fresh_platform()
    admin = User(platform, platform.admin, platform.admin_password)
    assert admin.login().status_code == 302
    admin.create_token()
    cp = World(platform, admin)
    gates = tmp_path / "gates"  # a trial waits for the file gates/<its trial id> between its two results
    gates.mkdir()
    gate = f"while [ ! -f {gates}/$NNI_TRIAL_JOB_ID ]; do sleep 0.1; done"
    exp = experiment(cp, "survivor", f"echo accuracy=0.25; {gate}; echo accuracy=0.5; echo")
    first = wait_for(lambda: reporting(cp, exp["id"], 2))

    # a crash: the trials keep running, and the next control plane takes them back
    procs = [p for t in first for p in task_processes(t["run_id"])]
    assert procs
    old = controlplane_pid(platform)
    os.kill(old, signal.SIGKILL)
    wait_exited(old)
    assert alive(procs), "a crash of the control plane must not take its trials' processes with it"
    restarted_controlplane(platform, old)
    assert cp.call("creator", "GET", f"/experiments/{exp['id']}").json()["status"] == "running"
    for t in first:
        (gates / t["id"]).touch()
    third = wait_for(lambda: next((t for t in trials(cp, exp["id"]) if t["seq"] == 3), None))
    (gates / third["id"]).touch()
    done = wait_for(lambda: (e := cp.call("creator", "GET", f"/experiments/{exp['id']}").json())["status"] != "running" and e)
    assert (done["status"], done["end_reason"], done["progress"]["succeeded"]) == ("succeeded", "max_trials", 3), done
    # each result once: the re-read log of a re-attached trial adds nothing twice
    assert [(t["status"], t["final_value"], t["intermediate_count"]) for t in trials(cp, exp["id"])] == [("succeeded", 0.5, 2)] * 3
    assert len({t["parameters"]["x"] for t in trials(cp, exp["id"])}) >= 2

    # a clean stop: trials in flight fail with the reason, and count as failures
    stopped = experiment(cp, "clean-stop", f"echo accuracy=0.25; {gate}; echo", max_failed_trials=0, trial_concurrency=1)
    [trial] = wait_for(lambda: reporting(cp, stopped["id"], 1))
    procs = task_processes(trial["run_id"])
    old = controlplane_pid(platform)
    os.kill(old, signal.SIGTERM)
    wait_exited(old)
    assert not alive(procs)
    restarted_controlplane(platform, old)
    done = wait_for(lambda: (e := cp.call("creator", "GET", f"/experiments/{stopped['id']}").json())["status"] != "running" and e)
    assert (done["status"], done["end_reason"]) == ("failed", "max_failed_trials"), done
    [trial] = trials(cp, stopped["id"])
    assert trial["status"] == "failed" and "control plane stopped" in trial["message"]
