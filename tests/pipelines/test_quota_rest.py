"""Task resources and project quotas through the real REST API of a real
CubeLab (``cubelab up``): a run refused because a task asks for more than this
machine has, a run refused because the project's running tasks hold its quota,
and a notebook server refused by the hub's spawner for the same reason."""

import time

import pytest

from .cp import World

pytestmark = pytest.mark.hub


@pytest.fixture(scope="module")
def cp(platform, admin):
    world = World(platform, admin)
    r = world.call("creator", "PATCH", f"/projects/{world.project}", {"settings": {"quota": {"cpu": "2"}}})
    assert r.status_code == 200, r.text
    return world


def pipeline(cp, name, **task):
    body = {"name": name, "project": cp.project,
            "tasks": [{"name": name, "template": "shell", "args": {"--command": task.pop("command", "true")}, **task}]}
    r = cp.call("creator", "POST", "/pipelines", body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def wait_task(cp, run_id, status, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = cp.call("creator", "GET", f"/runs/{run_id}").json()
        if all(t["status"] == status for t in run["tasks"]):
            return run
        time.sleep(0.1)
    raise TimeoutError(f"run {run_id}: tasks are not {status}: {run}")


def test_a_task_asking_for_more_gpus_than_the_machine_has_is_refused_at_validation(cp):
    pid = pipeline(cp, "greedy", gpu="1024")
    r = cp.call("creator", "POST", f"/pipelines/{pid}/runs")
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["error"] == "invalid_pipeline"
    (diag,) = [d for d in body["diagnostics"] if d["severity"] == "error"]
    assert (diag["task"], diag["field"]) == ("greedy", "gpu")
    assert "'1024' asks for 1024 GPU card(s) but this machine has" in diag["message"]
    assert cp.call("creator", "GET", f"/runs?project={cp.project}").json()["runs"] == []  # nothing stored, nothing started


def test_running_tasks_count_against_the_quota_of_runs_and_servers(cp):
    hold = cp.call("creator", "POST", f"/pipelines/{pipeline(cp, 'hold', cpu='2', command='sleep 60')}/runs")
    assert hold.status_code == 201, hold.text
    hold_id = hold.json()["id"]
    wait_task(cp, hold_id, "running")

    train = pipeline(cp, "train", cpu="1")
    r = cp.call("creator", "POST", f"/pipelines/{train}/runs")
    assert r.status_code == 409, r.text
    (diag,) = [d for d in r.json()["diagnostics"] if d["severity"] == "error"]
    assert (diag["task"], diag["field"]) == ("train", "cpu")
    assert (f"project '{cp.project}' has a CPU quota of 2 cores; 2 are in use by running servers and tasks; "
            "this run's task 'train' asks for up to 1") in diag["message"]
    assert "quota" in r.json()["message"]

    # the spawner counts the same running task: a server for the project is refused
    dev = cp.users["dev"]
    r = dev.hub_api("POST", f"/users/{dev.name}/server", json={"project": cp.project, "cpu": "1", "memory": "1G", "gpu": "0"})
    assert r.status_code == 400, r.text
    assert f"project '{cp.project}' has a quota of 2 cores and its running servers and tasks use 2" in r.text

    # once the task stops, its cores are free for the next run
    assert cp.call("creator", "POST", f"/runs/{hold_id}/cancel").status_code in (200, 202)
    cp.wait_run("creator", hold_id)
    r = cp.call("creator", "POST", f"/pipelines/{train}/runs")
    assert r.status_code == 201, r.text
    assert cp.wait_run("creator", r.json()["id"])["status"] == "succeeded"
