"""Pipelines on a real ``cubelab up`` (JupyterHub, proxy, control plane): a new
user's token reaches the pipelines API through the proxy, a run executes on the
local engine and its log reads back; an Alpha template stays hidden from them."""

import time

import pytest

pytestmark = pytest.mark.hub


def test_pipeline_run_through_the_real_hub(new_user, admin):
    user = new_user("pl")
    body = {"name": "hello", "project": "public", "tasks": [
        {"name": "say", "template": "shell", "args": {"--command": "echo hello from $KFJ_CREATOR > $KFJ_TASK_OUTPUT_DIR/msg"}},
        {"name": "read", "template": "python", "args": {"--code": "import os; print(open(os.environ['KFJ_UPSTREAM_SAY_OUTPUT_DIR'] + '/msg').read().strip())"}},
        {"name": "script", "template": "python", "args": {"--script": "jobs/hello.py", "--args": "--n 3"}},
    ], "edges": [["say", "read"]]}
    # a script from the user's workspace (the directory their Jupyter server opens in)
    jobs = user.platform.data_dir / "workspaces" / user.name / "jobs"
    jobs.mkdir(parents=True, exist_ok=True)
    (jobs / "hello.py").write_text("import sys; print('script', sys.argv[1:])")
    r = user.api("POST", "/pipelines", json=body)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    assert r.json()["diagnostics"] == []
    run = user.api("POST", f"/pipelines/{pid}/runs").json()
    deadline = time.monotonic() + 60
    while run["status"] not in ("succeeded", "failed") and time.monotonic() < deadline:
        time.sleep(0.3)
        run = user.api("GET", f"/runs/{run['id']}").json()
    assert run["status"] == "succeeded", run
    assert user.api("GET", f"/runs/{run['id']}/tasks/read/logs").text == f"hello from {user.name}\n"
    assert user.api("GET", f"/runs/{run['id']}/tasks/script/logs").text == "script ['--n', '3']\n"
    # templates: admins write; Alpha is theirs alone
    alpha = {"name": f"alpha-{user.name.lower()}", "version": "Alpha", "image": "busybox", "command": ["true"]}
    assert user.api("POST", "/templates", json=alpha).status_code == 403
    assert admin.api("POST", "/templates", json=alpha).status_code == 201
    assert alpha["name"] not in {t["name"] for t in user.api("GET", "/templates", params={"q": alpha["name"]}).json()["templates"]}
    assert user.api("DELETE", f"/pipelines/{pid}").status_code == 204
