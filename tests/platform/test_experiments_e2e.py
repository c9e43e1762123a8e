"""Hyper-parameter experiments end to end on a real CubeLab: the REST API,
NNI's tuners in the control plane, each trial a task of the local engine
running an unchanged NNI trial script (tests/fixtures/hpo/), parameters and
metrics over the trial channel or the trial's standard output.

The trial script prints what it received (the SDK's parameters and its argv);
the tests compare that with what the platform recorded for the trial.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path

import pytest
from support.platform import User, register

from cubelab_hub.domain.experiments import trial_argv

pytestmark = pytest.mark.hub

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hpo"
NNI_TRIAL = (FIXTURES / "nni_trial.py").read_text()
STDOUT_TRIAL = (FIXTURES / "stdout_trial.py").read_text()
FINAL = ("stopped", "succeeded", "failed")
_seq = itertools.count()


def fresh(prefix: str) -> str:
    return f"{prefix}{os.getpid() % 10000}e{next(_seq)}"


def score(x: float) -> float:
    """What the trial scripts compute from x."""
    return round(1.0 - abs(x - 0.7), 6)


@pytest.fixture(scope="module")
def owner(platform) -> tuple[User, str]:
    user = register(platform, fresh("hpo"))
    project = fresh("hpo-")
    r = user.api("POST", "/projects", json={"name": project})
    assert r.status_code == 201, r.text
    return user, project


def create(owner, *, code: str = NNI_TRIAL, trial: dict | None = None, **body) -> dict:
    user, project = owner
    spec = {"name": fresh("exp-"), "project": project, "tuner": "Random", "seed": 7,
            "objective": {"metric": "default", "direction": "maximize"},
            "trial": {"template": "python", "args": {"--code": code}, "cpu": "0.5", "memory": "512M", **(trial or {})}}
    spec.update(body)
    r = user.api("POST", "/experiments", json=spec)
    assert r.status_code == 201, r.text
    return r.json()


def wait(owner, exp_id: int, until=FINAL, timeout: float = 240) -> dict:
    user, _ = owner
    deadline = time.monotonic() + timeout
    exp = {}
    while time.monotonic() < deadline:
        exp = user.api("GET", f"/experiments/{exp_id}").json()
        if exp["status"] in until:
            return exp
        time.sleep(0.3)
    raise AssertionError(f"experiment {exp_id} still {exp.get('status')}: {exp}")


def trials(owner, exp_id: int) -> list[dict]:
    user, _ = owner
    r = user.api("GET", f"/experiments/{exp_id}/trials", params={"limit": 100})
    assert r.status_code == 200, r.text
    return [user.api("GET", f"/experiments/{exp_id}/trials/{t['id']}").json() for t in r.json()["trials"]]


def received(owner, exp_id: int, trial_id: str) -> dict:
    """What the trial script says it received, from the trial's log."""
    user, _ = owner
    log = user.api("GET", f"/experiments/{exp_id}/trials/{trial_id}/logs").text
    lines = [line for line in log.splitlines() if line.startswith("RECEIVED ")]
    assert lines, f"trial {trial_id} printed no RECEIVED line:\n{log[-2000:]}"
    return json.loads(lines[-1][len("RECEIVED "):])


def check_trial(owner, exp_id: int, trial: dict) -> None:
    """The trial got exactly its recorded parameters, through the SDK and as
    argv, and its 3 intermediate results and final one were recorded."""
    got = received(owner, exp_id, trial["id"])
    assert got["parameters"] == trial["parameters"]
    assert sorted(got["argv"]) == sorted(trial_argv(trial["parameters"]))
    assert trial["status"] == "succeeded", trial
    x = float(trial["parameters"].get("x", 0.5))
    assert [p["value"] for p in trial["intermediate"]] == pytest.approx([score(x) / 3, score(x) * 2 / 3, score(x)], abs=1e-5)
    assert trial["final_value"] == pytest.approx(score(x), abs=1e-6)


def test_tpe_three_at_a_time_nine_trials_each_with_its_own_parameters(owner):
    space = {"x": {"_type": "uniform", "_value": [0, 1]}, "opt": {"_type": "choice", "_value": ["sgd", "adam", "rms prop; rm -rf /"]}}
    exp = create(owner, tuner="TPE", search_space=space, trial_concurrency=3, max_trials=9)
    exp = wait(owner, exp["id"])
    assert exp["status"] == "succeeded" and exp["end_reason"] == "max_trials", exp
    found = trials(owner, exp["id"])
    assert len(found) == 9 and sorted(t["seq"] for t in found) == list(range(1, 10))
    for trial in found:
        check_trial(owner, exp["id"], trial)
    assert len({json.dumps(t["parameters"], sort_keys=True) for t in found}) == 9  # no two trials shared parameters
    best = max(found, key=lambda t: t["final_value"])
    assert exp["best"]["trial_id"] == best["id"] and exp["best"]["value"] == pytest.approx(best["final_value"])
    assert exp["best"]["parameters"] == best["parameters"]


@pytest.mark.parametrize("tuner, space, tuner_args, max_trials, trial_count", [
    ("Random", {"x": {"_type": "quniform", "_value": [0, 1, 0.1]}}, {}, 3, 3),
    ("GridSearch", {"x": {"_type": "choice", "_value": [0.2, 0.7]}, "opt": {"_type": "choice", "_value": ["a", "b"]}}, {}, 10, 4),
    ("Evolution", {"x": {"_type": "uniform", "_value": [0, 1]}}, {"population_size": 3}, 4, 4),
    ("Hyperband", {"x": {"_type": "uniform", "_value": [0, 1]}}, {"R": 2, "eta": 2}, 10, None),
])
def test_each_tuner_runs_a_small_experiment(owner, tuner, space, tuner_args, max_trials, trial_count):
    exp = create(owner, tuner=tuner, tuner_args=tuner_args, search_space=space, trial_concurrency=2, max_trials=max_trials)
    exp = wait(owner, exp["id"])
    assert exp["status"] == "succeeded", exp
    found = trials(owner, exp["id"])
    if trial_count is not None:
        assert len(found) == trial_count
    assert found
    for trial in found:
        check_trial(owner, exp["id"], trial)
    if tuner == "GridSearch":
        assert exp["end_reason"] == "search_space_exhausted"
        assert sorted((t["parameters"]["x"], t["parameters"]["opt"]) for t in found) == [(0.2, "a"), (0.2, "b"), (0.7, "a"), (0.7, "b")]


def test_medianstop_stops_a_clearly_bad_trial(owner):
    # GridSearch runs them in order, one at a time: each good one a little better than the
    # ones before (none below the median so far), then a far worse and slow one
    space = {"x": {"_type": "choice", "_value": [0.68, 0.69, 0.7, 0.0]}}
    slow = NNI_TRIAL.replace('params.get("sleep", 0)', 'params.get("sleep", 2.0 if x == 0.0 else 0)')
    exp = create(owner, code=slow, tuner="GridSearch", search_space=space, trial_concurrency=1, max_trials=4,
                 assessor="Medianstop", assessor_args={"start_step": 1})
    exp = wait(owner, exp["id"])
    found = {t["parameters"]["x"]: t for t in trials(owner, exp["id"])}
    bad = found[0.0]
    assert bad["status"] == "early-stopped", bad
    assert "Medianstop" in (bad["message"] or "")
    assert len(bad["intermediate"]) < 3 and bad["final_value"] is None
    assert all(found[x]["status"] == "succeeded" for x in (0.68, 0.69, 0.7)), found
    assert exp["best"]["parameters"] == {"x": 0.7}


def test_a_trial_reporting_on_stdout(owner):
    space = {"x": {"_type": "choice", "_value": [0.1, 0.6]}}
    exp = create(owner, code=STDOUT_TRIAL, tuner="GridSearch", search_space=space, trial_concurrency=2, max_trials=2,
                 objective={"metric": "accuracy", "direction": "maximize"}, trial={"metrics": "stdout"})
    exp = wait(owner, exp["id"])
    assert exp["status"] == "succeeded", exp
    found = trials(owner, exp["id"])
    assert len(found) == 2
    for trial in found:
        x = trial["parameters"]["x"]
        assert trial["status"] == "succeeded"
        assert [p["value"] for p in trial["intermediate"]] == pytest.approx([score(x) / 3, score(x) * 2 / 3, score(x)], abs=1e-5)
        assert trial["final_value"] == pytest.approx(score(x), abs=1e-5)
    assert exp["best"]["parameters"] == {"x": 0.6}


def test_stop_cancels_the_running_trial_and_resume_carries_on(owner):
    user, _ = owner
    slow = NNI_TRIAL.replace('params.get("sleep", 0)', "1.5")
    space = {"x": {"_type": "uniform", "_value": [0, 1]}}
    exp = create(owner, code=slow, search_space=space, trial_concurrency=1, max_trials=3)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(t["status"] == "running" for t in trials(owner, exp["id"])):
        time.sleep(0.3)
    r = user.api("POST", f"/experiments/{exp['id']}/stop")
    assert r.status_code == 200, r.text
    stopped = wait(owner, exp["id"], until=("stopped",), timeout=60)
    assert stopped["end_reason"] == "stopped"
    statuses = [t["status"] for t in trials(owner, exp["id"])]
    assert "cancelled" in statuses and "running" not in statuses and "pending" not in statuses
    r = user.api("POST", f"/experiments/{exp['id']}/resume")
    assert r.status_code == 200 and r.json()["status"] == "running", r.text
    done = wait(owner, exp["id"])
    assert done["status"] == "succeeded", done
    found = trials(owner, exp["id"])
    succeeded = [t for t in found if t["status"] == "succeeded"]
    assert succeeded and all(t["status"] in ("succeeded", "cancelled") for t in found)
    for trial in succeeded:
        got = received(owner, exp["id"], trial["id"])
        assert got["parameters"] == trial["parameters"] and sorted(got["argv"]) == sorted(trial_argv(trial["parameters"]))
