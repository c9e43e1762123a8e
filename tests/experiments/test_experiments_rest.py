"""The experiments REST API on a real CubeLab (``cubelab up``: JupyterHub, the
proxy, the control plane as a hub-managed service), over real HTTP with each
user's own token: an experiment of stdout-metrics trials end to end on the
local engine (trials, metrics, events, logs, the runs list), stop and resume,
validation, and the permission matrix of every route (outsiders get 404
whether or not the experiment exists).

The trials are shell commands: their parameters arrive as the shell's
positional parameters, and they print Katib-style ``name=value`` lines. NNI's
SDK over the trial channel has its own end-to-end test."""

from __future__ import annotations

import json
import time

import pytest
import requests
from pipelines.cp import ROLES, World, fresh

pytestmark = pytest.mark.hub

ERROR_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found"}
# prints two results of the objective; the arguments ("$@", the parameters) end up on the last echo
METRICS_COMMAND = "echo epoch 1: accuracy=0.25 loss=1; sleep 0.2; echo epoch 2: accuracy=0.5; echo args:"


@pytest.fixture(scope="module")
def cp(platform, admin):
    world = World(platform, admin)
    yield world
    # nothing of this module's keeps running on the session's platform
    r = world.call("admin", "GET", f"/experiments?project={world.project}&limit=500")
    for exp in r.json().get("experiments", []) if r.status_code == 200 else []:
        world.call("admin", "DELETE", f"/experiments/{exp['id']}")


def spec(cp, name=None, command=METRICS_COMMAND, **changes) -> dict:
    data = {"name": name or fresh("exp-"), "project": cp.project, "tuner": "Random", "seed": 7,
            "search_space": {"x": {"_type": "choice", "_value": [1, 2, 3]}},
            "objective": {"metric": "accuracy", "direction": "maximize"},
            "trial": {"template": "shell", "args": {"--command": command}, "metrics": "stdout", "cpu": "0.5", "memory": "256M"},
            "trial_concurrency": 2, "max_trials": 2}
    data.update(changes)
    return data


def create(cp, role="creator", status=201, **kw) -> dict:
    r = cp.call(role, "POST", "/experiments", spec(cp, **kw))
    assert r.status_code == status, r.text
    return r.json()


def wait(cp, exp_id, until=("stopped", "succeeded", "failed"), timeout=90) -> dict:
    deadline = time.monotonic() + timeout
    exp = {"status": "unknown"}
    while time.monotonic() < deadline:
        exp = cp.call("creator", "GET", f"/experiments/{exp_id}").json()
        if exp["status"] in until:
            return exp
        time.sleep(0.2)
    raise TimeoutError(f"experiment {exp_id} still {exp['status']}")


def wait_trials(cp, exp_id, status="running", n=1, timeout=60) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        trials = cp.call("creator", "GET", f"/experiments/{exp_id}/trials").json()["trials"]
        if len([t for t in trials if t["status"] == status]) >= n:
            return trials
        time.sleep(0.2)
    raise TimeoutError(f"experiment {exp_id}: fewer than {n} trials {status}")


def events(cp, exp_id) -> list[tuple[str, dict]]:
    r = requests.get(f"{cp.url}/experiments/{exp_id}/events", headers=cp.headers("dev"), timeout=60)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/event-stream")
    out = []
    for block in r.text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_an_experiment_of_stdout_trials_runs_end_to_end(cp):
    exp = create(cp)
    assert (exp["status"], exp["creator"], exp["spec"]["tuner"]) == ("running", cp.name("creator"), "Random")
    done = wait(cp, exp["id"])
    assert (done["status"], done["end_reason"]) == ("succeeded", "max_trials"), done
    assert done["progress"]["trials"] == 2 and done["progress"]["succeeded"] == 2
    trials = cp.call("dev", "GET", f"/experiments/{exp['id']}/trials?order=metric").json()["trials"]
    assert [(t["seq"] in (1, 2), t["status"], t["final_value"], t["intermediate_count"]) for t in trials] == [
        (True, "succeeded", 0.5, 2)] * 2
    assert done["best"]["value"] == 0.5 and done["best"]["trial_id"] in {t["id"] for t in trials}
    # each trial received exactly its own parameters as arguments
    detail = cp.call("dev", "GET", f"/experiments/{exp['id']}/trials/{trials[0]['id']}").json()
    assert detail["intermediate"] == [{"sequence": 1, "value": 0.25}, {"sequence": 2, "value": 0.5}]
    log = cp.call("dev", "GET", f"/experiments/{exp['id']}/trials/{trials[0]['id']}/logs")
    assert log.status_code == 200 and f"args: --x={detail['parameters']['x']}" in log.text
    # metric points, paged
    first = cp.call("dev", "GET", f"/experiments/{exp['id']}/metrics?limit=3").json()
    rest = cp.call("dev", "GET", f"/experiments/{exp['id']}/metrics?after={first['next_cursor']}").json()
    points = first["metrics"] + rest["metrics"]
    assert rest["next_cursor"] is None and len(points) == 6
    assert sorted((p["kind"], p["value"]) for p in points) == [("final", 0.5)] * 2 + [("intermediate", 0.25)] * 2 + [
        ("intermediate", 0.5)] * 2
    # the event stream of an ended experiment: everything once, then it ends
    kinds = [kind for kind, _ in events(cp, exp["id"])]
    assert kinds[0] == "experiment" and kinds.count("trial") == 2 and kinds.count("metric") == 6
    # trials are runs, listed only when asked for
    runs = cp.call("creator", "GET", f"/runs?project={cp.project}").json()["runs"]
    assert not {t["run_id"] for t in trials} & {r["id"] for r in runs}
    trial_runs = cp.call("creator", "GET", f"/runs?project={cp.project}&trigger=trial").json()["runs"]
    assert {t["run_id"] for t in trials} <= {r["id"] for r in trial_runs}
    assert cp.call("creator", "GET", "/runs?trigger=nope").json()["field"] == "trigger"
    listed = cp.call("outsider", "GET", "/experiments").json()["experiments"]
    assert exp["id"] not in [e["id"] for e in listed]
    assert exp["id"] in [e["id"] for e in cp.call("dev", "GET", f"/experiments?project={cp.project}").json()["experiments"]]


def test_stop_cancels_running_trials_and_resume_goes_on(cp):
    exp = create(cp, command="sleep 60; echo", max_trials=3)
    wait_trials(cp, exp["id"], "running", 2)
    stopped = cp.call("ops", "POST", f"/experiments/{exp['id']}/stop").json()
    assert (stopped["status"], stopped["end_reason"], stopped["progress"]["cancelled"]) == ("stopped", "stopped", 2)
    trials = cp.call("creator", "GET", f"/experiments/{exp['id']}/trials").json()["trials"]
    for t in trials:
        assert cp.call("creator", "GET", f"/runs/{t['run_id']}").json()["status"] == "cancelled"
    resumed = cp.call("creator", "POST", f"/experiments/{exp['id']}/resume").json()
    assert resumed["status"] == "running"
    trials = wait_trials(cp, exp["id"], "running", 1)
    assert len(trials) == 3  # one more: max_trials is 3
    again = cp.call("creator", "POST", f"/experiments/{exp['id']}/resume")
    assert again.status_code == 409
    rerun = cp.call("creator", "POST", f"/experiments/{exp['id']}/trials/{trials[0]['id']}/rerun")
    assert rerun.status_code == 201 and rerun.json()["source_trial_id"] == trials[0]["id"]
    assert rerun.json()["parameters"] == trials[0]["parameters"]
    assert cp.call("creator", "DELETE", f"/experiments/{exp['id']}").status_code == 204
    assert cp.call("creator", "GET", f"/experiments/{exp['id']}").status_code == 404
    assert cp.call("creator", "GET", f"/runs/{trials[0]['run_id']}").status_code == 404


def test_invalid_experiments_are_refused_with_every_field_named(cp):
    r = cp.call("creator", "POST", "/experiments", spec(cp, trial_concurrency=0, max_trials="many",
                                                           search_space={"x": {"_type": "uniform", "_value": [2, 1]}}))
    assert r.status_code == 400
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"trial_concurrency", "max_trials"} <= fields and any(f.startswith("search_space.x") for f in fields)
    diags = cp.call("dev", "POST", "/experiments/validate", spec(cp, tuner="GP")).json()["diagnostics"]
    assert diags and diags[0]["field"] == "tuner" and diags[0]["severity"] == "error"
    assert cp.call("dev", "POST", "/experiments/validate", spec(cp)).json() == {"diagnostics": []}
    name = fresh("dup-")
    create(cp, name=name, command="echo", max_trials=1)
    assert cp.call("creator", "POST", "/experiments", spec(cp, name=name)).status_code == 409
    catalogue = cp.call("outsider", "GET", "/experiments/tuners").json()
    assert "TPE" in {t["name"] for t in catalogue["tuners"]} and "GP" in {t["name"] for t in catalogue["left_out"]}


# ---------------------------------------------------------------- permissions


@pytest.fixture(scope="module")
def fixtures(cp):
    running = create(cp, command="sleep 120; echo", trial_concurrency=1, max_trials=1)
    trial = wait_trials(cp, running["id"], "running", 1)[0]
    stopped = create(cp, command="echo", trial_concurrency=1, max_trials=1)
    wait(cp, stopped["id"])
    return {"eid": running["id"], "tid": trial["id"], "sid": stopped["id"]}


def fresh_experiment(cp, stopped: bool) -> int:
    exp = create(cp, command="sleep 120; echo" if not stopped else "echo", trial_concurrency=1, max_trials=1)
    if stopped:
        wait(cp, exp["id"])
    return exp["id"]


# (method, path, body kind, expected status per role in ROLES order)
ROUTES = [
    ("GET", "/experiments", None, [200, 200, 200, 200, 200, 401]),
    ("POST", "/experiments", "new", [201, 201, 201, 403, 403, 401]),
    ("POST", "/experiments/validate", "new", [200, 200, 200, 200, 200, 401]),
    ("GET", "/experiments/tuners", None, [200, 200, 200, 200, 200, 401]),
    ("GET", "/experiments/{eid}", None, [200, 200, 200, 200, 404, 401]),
    ("DELETE", "/experiments/{fresh}", None, [204, 204, 403, 204, 404, 401]),
    ("POST", "/experiments/{fresh}/stop", None, [200, 200, 403, 200, 404, 401]),
    ("POST", "/experiments/{fresh_stopped}/resume", None, [200, 200, 403, 200, 404, 401]),
    ("GET", "/experiments/{eid}/trials", None, [200, 200, 200, 200, 404, 401]),
    ("GET", "/experiments/{eid}/trials/{tid}", None, [200, 200, 200, 200, 404, 401]),
    ("POST", "/experiments/{eid}/trials/{tid}/rerun", None, [201, 201, 403, 201, 404, 401]),
    ("GET", "/experiments/{eid}/trials/{tid}/logs", None, [200, 200, 200, 200, 404, 401]),
    ("GET", "/experiments/{eid}/metrics", None, [200, 200, 200, 200, 404, 401]),
    ("GET", "/experiments/{sid}/events", None, [200, 200, 200, 200, 404, 401]),
]


def resolve(cp, fx, path, body_kind):
    if "{fresh}" in path:
        path = path.replace("{fresh}", str(fresh_experiment(cp, stopped=False)))
    if "{fresh_stopped}" in path:
        path = path.replace("{fresh_stopped}", str(fresh_experiment(cp, stopped=True)))
    path = path.format(**fx)
    body = spec(cp, command="echo", max_trials=1) if body_kind == "new" else None
    return path, body


@pytest.mark.parametrize("method,path,body,expected", ROUTES, ids=lambda v: v if isinstance(v, str) else None)
def test_matrix(cp, fixtures, method, path, body, expected):
    got, errors = [], []
    for role in ROLES:
        real_path, real_body = resolve(cp, fixtures, path, body)
        r = cp.call(role, method, real_path, real_body)
        got.append(r.status_code)
        if r.status_code in ERROR_CODES:
            assert r.headers["Content-Type"].startswith("application/json"), (role, r.text[:200])
            errors.append((role, r.json().get("error"), ERROR_CODES[r.status_code]))
        if method == "POST" and path == "/experiments" and r.status_code == 201:
            cp.call("admin", "POST", f"/experiments/{r.json()['id']}/stop")
    assert got == expected, dict(zip([r or "anonymous" for r in ROLES], got, strict=True))
    assert [e for e in errors if e[1] != e[2]] == []


@pytest.mark.parametrize("method,path", [(m, p) for m, p, _b, _e in ROUTES if "{" in p])
def test_what_does_not_exist_answers_404_before_the_request_is_read(cp, fixtures, method, path):
    """An experiment or trial nobody has, or a malformed id: 404 for members and outsiders alike."""
    for eid, tid in (("999999999", fixtures["tid"]), ("not-an-id", fixtures["tid"]), (str(fixtures["eid"]), "trial-000000000000")):
        real = (path.replace("{fresh}", eid).replace("{fresh_stopped}", eid).replace("{eid}", eid).replace("{sid}", eid)
                .replace("{tid}", tid))
        if "{tid}" not in path and tid != fixtures["tid"]:
            continue
        for role in ("outsider", "dev"):
            r = cp.call(role, method, real, {"not": "read"})
            assert r.status_code == 404, (role, real, r.text[:200])
            assert r.json()["error"] == "not_found"


def test_matrix_covers_every_route():
    from cubelab_hub.controlplane.handlers import experiments
    from cubelab_hub.controlplane.openapi import implemented_methods

    served = {(m.upper(), kw["openapi_path"]) for _p, handler, kw in experiments.ROUTES for m in implemented_methods(handler)}
    generic = {(m, p.replace("{eid}", "{experiment_id}").replace("{sid}", "{experiment_id}").replace("{fresh}", "{experiment_id}")
                .replace("{fresh_stopped}", "{experiment_id}").replace("{tid}", "{trial_id}")) for m, p, _b, _e in ROUTES}
    assert served == generic
