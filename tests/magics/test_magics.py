"""``%load_ext cubelab`` in a real IPython kernel, talking to a real platform
through the user's server extension (as a kernel of a CubeLab server does)."""

from __future__ import annotations

import importlib.util
import json
import os
import sys

import pytest
from jupyter_client.manager import start_new_kernel
from support.platform import start_server

pytestmark = pytest.mark.hub


class Kernel:
    def __init__(self, env: dict):
        self.manager, self.client = start_new_kernel(kernel_name="python3", env={**os.environ, **env})

    def run(self, code: str, timeout: float = 240) -> dict:
        """Execute code; collect stdout, errors and rich outputs."""
        msg_id = self.client.execute(code)
        out = {"stdout": "", "error": None, "data": []}
        while True:
            msg = self.client.get_iopub_msg(timeout=timeout)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream" and content["name"] == "stdout":
                out["stdout"] += content["text"]
            elif kind == "stream":
                # IPython prints a magic's UsageError on stderr, without a traceback
                out["error"] = (out["error"] or "") + content["text"]
            elif kind == "error":
                out["error"] = f"{content['ename']}: {content['evalue']}"
            elif kind in ("execute_result", "display_data"):
                out["data"].append(content["data"])
            elif kind == "status" and content["execution_state"] == "idle":
                return out

    def stop(self):
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def world(platform, request):
    from support.platform import register

    user = register(platform, "magician")
    outsider = register(platform, "muggle")
    start_server(user)
    pipeline = {
        "name": "twostep", "project": "public",
        "tasks": [
            {"name": "prep", "template": "shell", "args": {"--command": "echo prepared 42"}},
            {"name": "train", "template": "python", "args": {"--code": "print('trained on', 6 * 7)"}},
        ],
        "edges": [["prep", "train"]],
    }
    created = user.api("POST", "/pipelines", json=pipeline)
    assert created.status_code == 201, created.text
    kernel = Kernel({
        "JUPYTERHUB_SERVICE_URL": f"{platform.url}/user/{user.name}/",
        "JUPYTERHUB_API_TOKEN": user.token,
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
    })
    request.addfinalizer(kernel.stop)
    assert kernel.run("%load_ext cubelab")["error"] is None
    return {"user": user, "outsider": outsider, "kernel": kernel, "pipeline": created.json()}


def test_pipelines_lists_the_users_pipelines(world):
    # the session's other tests add pipelines to public too: ask for this one by name
    out = world["kernel"].run("%cubelab pipelines --search twostep")
    assert out["error"] is None
    html = out["data"][-1]["text/html"]
    assert "twostep" in html and "public" in html


def test_pipelines_shows_one_page_and_says_how_to_see_more(world):
    user = world["user"]
    for suffix in ("a", "b"):
        body = {"name": f"twostep-{suffix}", "project": "public",
                "tasks": [{"name": "t", "template": "shell", "args": {"--command": "true"}}]}
        assert user.api("POST", "/pipelines", json=body).status_code == 201
    kernel = world["kernel"]
    out = kernel.run("%cubelab pipelines --search twostep --limit 2")
    assert out["error"] is None, out["error"]
    html = out["data"][-1]["text/html"]
    assert "2 shown, more with --all or --limit" in html
    assert html.count("<tr>") == 1 + 2  # the header and one page of two, by name
    assert "twostep-a" in html and "twostep-b" not in html
    out = kernel.run("%cubelab pipelines --search twostep --all")
    html = out["data"][-1]["text/html"]
    assert "twostep-a" in html and "twostep-b" in html and "shown" not in html


def test_run_wait_shows_a_live_widget_and_a_summary(world):
    kernel = world["kernel"]
    out = kernel.run("summary = %cubelab run twostep --wait\nsummary")
    assert out["error"] is None, out["error"]
    kinds = [set(d) for d in out["data"]]
    assert any("application/vnd.jupyter.widget-view+json" in k for k in kinds), "the run is shown as a widget"
    html = out["data"][-1]["text/html"]
    assert "succeeded" in html and "prep" in html and "train" in html
    statuses = kernel.run("import json; print(json.dumps([(r['task'], r['status']) for r in summary.rows]))")
    assert json.loads(statuses["stdout"]) == [["prep", "succeeded"], ["train", "succeeded"]]
    run_id = kernel.run("print(summary.title.split()[1])")["stdout"].strip()
    logs = kernel.run(f"%cubelab logs {run_id} train")
    assert "trained on 42" in logs["stdout"]


def test_cell_magic_runs_the_cell_as_a_task_and_shows_its_log(world):
    out = world["kernel"].run("%%cubelab task python --project public\nprint('hello from', 'a task', sum(range(10)))")
    assert out["error"] is None, out["error"]
    assert "hello from a task 45" in out["stdout"]
    assert "succeeded" in out["data"][-1]["text/html"]
    # the cell says where it ran: who else can read its output
    assert "Running in project 'public': every member of 'public' can read" in out["stdout"]


def test_cell_magic_runs_in_the_project_given_or_the_servers(world):
    kernel = world["kernel"]
    kernel.run("import os; os.environ['CUBELAB_PROJECT'] = 'public'")
    out = kernel.run("%%cubelab task python\nprint('no project named')")
    assert out["error"] is None, out["error"]
    assert "Running in project 'public'" in out["stdout"]
    kernel.run("os.environ['CUBELAB_PROJECT'] = 'not-mine'")
    refused = kernel.run("%%cubelab task python\nprint(1)")
    assert refused["error"] and "not-mine" in refused["error"]
    kernel.run("del os.environ['CUBELAB_PROJECT']")


def test_clear_errors(world):
    kernel = world["kernel"]
    unknown = kernel.run("%cubelab run no-such-pipeline")
    assert unknown["error"] and "unknown pipeline 'no-such-pipeline'" in unknown["error"]
    usage = kernel.run("%cubelab frobnicate")
    assert usage["error"] and "unknown command 'frobnicate'" in usage["error"]
    forbidden = kernel.run("%%cubelab task python --project not-mine\nprint(1)")
    assert forbidden["error"] and ("no permission" in forbidden["error"] or "not-mine" in forbidden["error"])
    invalid = kernel.run("%%cubelab task shell --project public --nonsense 1\necho hi")
    assert invalid["error"] and "--nonsense" in invalid["error"]


# ---------------------------------------------------------------- experiments
# These run against the experiments REST resource (GET/POST /experiments,
# /experiments/{id}, /trials, /events); on a checkout without it they are skipped.

HAS_EXPERIMENTS = importlib.util.find_spec("cubelab_hub.controlplane.handlers.experiments") is not None
needs_experiments = pytest.mark.skipif(not HAS_EXPERIMENTS, reason="needs the experiments REST resource")

# unchanged NNI trial code; the objective (minimized) is distinct for every x
TRIAL_CODE = """
import nni
x = nni.get_next_parameter()["x"]
nni.report_final_result(abs(x - 5) + x / 100)
"""


@pytest.fixture(scope="module")
def experiment(world):
    body = {
        "name": "magic-hpo", "project": "public",
        "search_space": {"x": {"_type": "choice", "_value": [1, 2, 4, 8, 16]}},
        "tuner": "GridSearch", "objective": {"metric": "default", "direction": "minimize"},
        "trial": {"template": "python", "args": {"--code": TRIAL_CODE}},
        "trial_concurrency": 2, "max_trials": 5,
    }
    created = world["user"].api("POST", "/experiments", json=body)
    assert created.status_code == 201, created.text
    return created.json()


@needs_experiments
def test_experiment_wait_shows_a_live_widget_then_the_trials_best_first(world, experiment):
    kernel = world["kernel"]
    out = kernel.run("trials = %cubelab experiment magic-hpo --wait\ntrials")
    assert out["error"] is None, out["error"]
    kinds = [set(d) for d in out["data"]]
    assert any("application/vnd.jupyter.widget-view+json" in k for k in kinds), "the experiment is shown as a widget"
    html = out["data"][-1]["text/html"]
    assert "magic-hpo: succeeded" in html and "best first by default (minimize)" in html
    rows = json.loads(kernel.run("import json; print(json.dumps([(r['x'], r['status'], r['default']) for r in trials.rows]))")["stdout"])
    # best first: |x - 5| + x/100 is smallest at 4, then 2, 8, 1, 16
    assert [r[0] for r in rows] == ["4", "2", "8", "1", "16"]
    assert {r[1] for r in rows} == {"succeeded"}
    assert rows[0][2] == "1.04"
    # the same trials as the API records, and the API's best is the highlighted first row
    final = world["user"].api("GET", f"/experiments/{experiment['id']}").json()
    assert final["best"]["parameters"] == {"x": 4}
    assert kernel.run("print(trials.highlight)")["stdout"].strip() == "0"


@needs_experiments
def test_experiments_lists_status_progress_and_best(world, experiment):
    kernel = world["kernel"]
    kernel.run("_ = %cubelab experiment magic-hpo --wait")  # the list below shows it finished
    out = kernel.run("%cubelab experiments --search magic-hpo --project public")
    assert out["error"] is None, out["error"]
    html = out["data"][-1]["text/html"]
    assert "magic-hpo" in html and "succeeded" in html and "5/5" in html and "1.04 (trial" in html


@needs_experiments
def test_experiment_errors_name_what_is_wrong(world, experiment):
    kernel = world["kernel"]
    unknown = kernel.run("%cubelab experiment no-such-experiment")
    assert unknown["error"] and "unknown experiment 'no-such-experiment'" in unknown["error"]
    elsewhere = kernel.run("%cubelab experiment magic-hpo --project not-mine")
    assert elsewhere["error"] and "not-mine" in elsewhere["error"]
    usage = kernel.run("%cubelab experiments --bogus")
    assert usage["error"] and "--bogus" in usage["error"]
