"""The pipelines REST API on a real CubeLab (``cubelab up``: JupyterHub, the
proxy, the control plane as a hub-managed service), called over real HTTP
with each user's own JupyterHub token: templates, pipelines, validation,
export/import, runs (end to end, cancel, re-run, debug, log following),
schedules, permissions, restart of the control plane mid-run.

The module shares the session's platform; its world (a project with a
creator, a dev and an ops member, an outsider) is its own. The restart test
runs on a platform of its own."""

import json
import os
import signal
import time

import psutil
import pytest
import requests
from support.platform import User

from .conftest import FIXTURES
from .cp import World, alive, controlplane_pid, fresh, task_processes

pytestmark = pytest.mark.hub


@pytest.fixture(scope="module")
def cp(platform, admin):
    return World(platform, admin)


def sh(name, cmd, **kw):
    return {"name": name, "template": "shell", "args": {"--command": cmd}, **kw}


def create(cp, user, body, status=201):
    r = cp.call(user, "POST", "/pipelines", body)
    assert r.status_code == status, r.text
    return r.json()


# ---------------------------------------------------------------- OpenAPI


def test_every_pipeline_route_is_documented(cp):
    r = requests.get(cp.url + "/openapi.json", timeout=10)  # through the proxy, as browsers read it
    assert r.status_code == 200
    doc = r.json()
    expected = {
        "/templates": {"get", "post"}, "/templates/import": {"post"}, "/templates/{name}/{version}": {"get", "put", "delete", "patch"},
        "/templates/{name}/Alpha/release": {"post"}, "/admin/template-categories": {"get"},
        "/admin/template-categories/{name}": {"put"}, "/admin/demo-pipelines/{pipeline_id}": {"put", "delete"},
        "/pipelines": {"get", "post"}, "/pipelines/validate": {"post"}, "/pipelines/import": {"post"},
        "/pipelines/{pipeline_id}": {"get", "put", "delete"}, "/pipelines/{pipeline_id}/validate": {"post"},
        "/pipelines/{pipeline_id}/export": {"get"}, "/pipelines/{pipeline_id}/copy": {"post"}, "/pipelines/{pipeline_id}/resource-proposals": {"get"},
        "/pipelines/{pipeline_id}/resource-proposals/{task}/accept": {"post"},
        "/pipelines/{pipeline_id}/runs": {"get", "post"}, "/pipelines/{pipeline_id}/tasks/{task}/debug": {"post"},
        "/runs": {"get", "post"}, "/runs/{run_id}": {"get"}, "/runs/{run_id}/events": {"get"}, "/runs/{run_id}/cancel": {"post"}, "/runs/{run_id}/rerun": {"post"},
        "/runs/{run_id}/tasks/{task}/logs": {"get"},
        "/schedules": {"get"}, "/schedules/preview": {"post"}, "/pipelines/{pipeline_id}/schedule": {"get", "put"}, "/pipelines/{pipeline_id}/schedule/records": {"get"},
    }
    for path, methods in expected.items():
        assert path in doc["paths"], path
        assert set(doc["paths"][path]) == methods, path
    refs = json.dumps(doc["paths"])
    for name in ("Template", "Pipeline", "Run", "Diagnostics", "ScheduleRecordList"):
        assert f"#/components/schemas/{name}" in refs and name in doc["components"]["schemas"]


# ---------------------------------------------------------------- templates


def test_template_permissions_and_versions(cp):
    alpha = {"name": "secret-tool", "version": "Alpha", "image": "busybox", "command": ["true"], "category": "tools", "category_index": 5}
    assert cp.call("creator", "POST", "/templates", alpha).status_code == 403
    assert cp.call(None, "GET", "/templates").status_code == 401
    assert cp.call("admin", "POST", "/templates", alpha).status_code == 201
    assert cp.call("admin", "POST", "/templates", alpha).status_code == 409
    names = {(t["name"], t["version"]) for t in cp.call("creator", "GET", "/templates?limit=500").json()["templates"]}
    assert ("shell", "Release") in names and ("secret-tool", "Alpha") not in names
    assert ("secret-tool", "Alpha") in {(t["name"], t["version"]) for t in cp.call("admin", "GET", "/templates?q=secret-tool").json()["templates"]}
    assert cp.call("creator", "GET", "/templates/secret-tool/Alpha").status_code == 404
    changed = cp.call("admin", "PUT", "/templates/secret-tool/Alpha", dict(alpha, description="v2"))
    assert changed.status_code == 200 and changed.json()["description"] == "v2"
    assert cp.call("dev", "DELETE", "/templates/secret-tool/Alpha").status_code == 403
    assert cp.call("admin", "DELETE", "/templates/secret-tool/Alpha").status_code == 204
    r = cp.call("admin", "DELETE", "/templates/shell/Release")
    assert r.status_code == 409 and r.json()["error"] == "conflict"


def test_template_input_errors_name_the_field(cp):
    r = cp.call("admin", "POST", "/templates", {"name": "x", "image": "i", "args": {"g": {"--n": {"type": "integer"}}}})
    assert r.status_code == 400
    body = r.json()
    assert body["error"] == "invalid" and body["field"] == "args.g.--n.type" and "int, float, bool" in body["message"]
    r = cp.call("admin", "POST", "/templates", {"name": "Bad Name", "version": "Beta", "image": "i"})
    assert {e["field"] for e in r.json()["errors"]} == {"name", "version"}


def test_import_paddle_components_and_cube_studio_json(cp):
    for name in ("dataset", "training", "modelhub", "serving"):
        # replace: the session's platform may hold templates of these names from real files other tests import
        r = cp.call("admin", "POST", "/templates/import", {"format": "kfp", "content": (FIXTURES / "paddle" / f"{name}.yaml").read_text(),
                                                            "category": "paddle", "replace": True})
        assert r.status_code == 201, r.text
    training = cp.call("creator", "GET", "/templates/training/Release").json()
    assert training["args"]["inputs"]["--worker_replicas"]["type"] == "int"
    assert training["outputs"][0]["name"] == "model_path"
    r = cp.call("admin", "POST", "/templates/import", {"format": "kfp", "content": (FIXTURES / "paddle" / "dataset.yaml").read_text()})
    assert r.status_code == 409
    cube = {"xgb": {"group_name": "机器学习", "image_name": "busybox", "job_template_name": "xgb", "job_template_command": "python x.py",
                    "job_template_args": {"参数": {"--depth": {"type": "int", "require": 1, "default": 6}}}},
            "bad": {"job_template_name": "bad", "image_name": "busybox", "job_template_args": {"g": {"--x": {"type": "nope"}}}}}
    cube["xgb"]["privileged"] = 1
    r = cp.call("admin", "POST", "/templates/import", {"format": "cube-studio", "content": cube, "replace": True})
    # entry by entry: the valid one imports, the refused one is reported with its field
    assert r.status_code == 201 and r.json()["ignored"] == {"xgb": ["privileged"]}
    entries = {e["entry"]: e for e in r.json()["entries"]}
    assert entries["xgb"]["status"] == "imported"
    assert entries["bad"]["status"] == "refused" and entries["bad"]["errors"][0]["field"] == "content.bad.args.g.--x.type"
    assert cp.call("creator", "GET", "/templates/xgb/Release").status_code == 200
    r = cp.call("admin", "POST", "/templates/import", {"format": "cube-studio", "content": {"bad": cube["bad"]}})
    assert r.status_code == 400 and r.json()["field"] == "content.bad.args.g.--x.type"
    assert cp.call("admin", "POST", "/templates/import", {"format": "airflow", "content": ""}).json()["field"] == "format"


# ---------------------------------------------------------------- pipelines and permissions


def test_pipeline_permission_matrix(cp):
    p = create(cp, "creator", {"name": "matrix", "project": cp.project, "tasks": [sh("a", "echo a")]})
    pid = p["id"]
    assert p["creator"] == cp.name("creator") and p["permissions"] == {"edit": True, "run": True}
    body = {"name": "matrix", "project": cp.project, "tasks": [sh("a", "echo changed")]}
    # read: members and admins; a non-member is told it does not exist
    for user, status in (("creator", 200), ("dev", 200), ("ops", 200), ("admin", 200), ("outsider", 404), (None, 401)):
        assert cp.call(user, "GET", f"/pipelines/{pid}").status_code == status, user
    # edit: the pipeline's creator, project creators, admins
    for user, status in (("dev", 403), ("ops", 403), ("outsider", 404), ("creator", 200), ("admin", 200)):
        assert cp.call(user, "PUT", f"/pipelines/{pid}", body).status_code == status, user
    # create: creators and devs of the project
    assert cp.call("ops", "POST", "/pipelines", {"name": "o", "project": cp.project}).status_code == 403
    assert cp.call("outsider", "POST", "/pipelines", {"name": "n", "project": cp.project}).status_code == 403
    mine = create(cp, "dev", {"name": "dans", "project": cp.project, "tasks": [sh("a", "true")]})
    assert cp.call("dev", "PUT", f"/pipelines/{mine['id']}", {"name": "dans", "project": cp.project}).status_code == 200
    assert cp.call("creator", "PUT", f"/pipelines/{mine['id']}", {"name": "dans", "project": cp.project}).status_code == 200  # project creator
    # run: the creator, project creators and ops, admins; not devs on others' pipelines
    for user, status in (("dev", 403), ("outsider", 404), ("ops", 201), ("creator", 201), ("admin", 201)):
        assert cp.call(user, "POST", f"/pipelines/{pid}/runs").status_code == status, user
    # lists only show what the caller may read
    assert "matrix" not in {x["name"] for x in cp.call("outsider", "GET", "/pipelines?q=matrix&limit=500").json()["pipelines"]}
    assert "matrix" in {x["name"] for x in cp.call("dev", "GET", f"/pipelines?project={cp.project}&q=matrix").json()["pipelines"]}
    assert all(r["project"] != cp.project for r in cp.call("outsider", "GET", "/runs?limit=500").json()["runs"])
    # a duplicate name in a project conflicts
    r = cp.call("creator", "POST", "/pipelines", {"name": "matrix", "project": cp.project})
    assert r.status_code == 409 and r.json()["field"] == "name"
    # delete: edit rights; refused while runs are active is covered by the 409 path below
    assert cp.call("dev", "DELETE", f"/pipelines/{mine['id']}").status_code == 204
    assert cp.call("dev", "GET", f"/pipelines/{mine['id']}").status_code == 404


def test_hostpath_mount_only_for_admins(cp):
    body = {"name": "host", "project": cp.project, "tasks": [sh("a", "true", volume_mount="/data(hostpath):/data")]}
    p = create(cp, "creator", body)  # drafts save
    assert any(d["field"] == "volume_mount" and "only an admin" in d["message"] for d in p["diagnostics"])
    r = cp.call("creator", "POST", f"/pipelines/{p['id']}/runs")
    assert r.status_code == 409 and r.json()["error"] == "invalid_pipeline"
    assert cp.call("admin", "POST", f"/pipelines/{p['id']}/validate").json()["diagnostics"] == []


def test_validation_endpoints_and_invalid_runs(cp):
    r = cp.call("creator", "POST", "/pipelines/validate", {"name": "v", "project": cp.project,
                "tasks": [sh("a", "true"), {"name": "b", "template": "nope"}], "edges": [["a", "b"], ["b", "a"]]})
    diags = r.json()["diagnostics"]
    assert r.status_code == 200
    assert any("cycle" in d["message"] and d["edge"] == ["a", "b"] for d in diags)
    assert any(d["task"] == "b" and d["field"] == "template" for d in diags)
    r = cp.call("creator", "POST", "/pipelines/validate", {"name": "v", "tasks": "nope"})
    assert r.status_code == 400 and r.json()["field"] == "tasks" and "must be a list" in r.json()["message"]
    draft = create(cp, "creator", {"name": "draft", "project": cp.project, "tasks": [{"name": "a", "template": "shell"}]})
    assert any("required argument '--command'" in d["message"] for d in draft["diagnostics"])
    r = cp.call("creator", "POST", f"/pipelines/{draft['id']}/runs")
    assert r.status_code == 409 and any("--command" in d["message"] for d in r.json()["diagnostics"])
    assert cp.call("creator", "GET", f"/pipelines/{draft['id']}/runs").json()["runs"] == []


def test_export_import(cp):
    p = create(cp, "creator", {"name": "exp", "project": cp.project, "tasks": [sh("a", "true"), {"name": "j", "template": "logical"}],
                             "edges": [["a", "j"]], "env": "A=1"})
    doc = cp.call("dev", "GET", f"/pipelines/{p['id']}/export").json()
    assert doc["format"] == "cubelab.pipeline/v1" and {"name": "logical", "version": "Release"} in doc["templates"]
    copy_name = fresh("exp-copy-")
    r = cp.call("outsider", "POST", "/pipelines/import", {"document": doc, "project": "public", "name": copy_name})
    assert r.status_code == 201, r.text
    copy = r.json()
    assert copy["name"] == copy_name and copy["creator"] == cp.name("outsider") and copy["project"] == "public" and copy["edges"] == [["a", "j"]] and copy["env"] == {"A": "1"}
    doc["templates"].append({"name": "ghost", "version": "Release"})
    r = cp.call("outsider", "POST", "/pipelines/import", {"document": doc, "project": "public", "name": fresh("exp-ghost-")})
    assert any("ghost" in d["message"] for d in r.json()["diagnostics"])
    assert cp.call("outsider", "POST", "/pipelines/import", {"document": doc, "project": cp.project}).status_code == 403


# ---------------------------------------------------------------- runs


def dag_body(name, project):
    return {
        "name": name, "project": project, "parallelism": 4,
        "tasks": [
            sh("prep", "echo prepared > $KFJ_TASK_OUTPUT_DIR/msg"),
            sh("fan-a", "echo A:{{tasks.prep.outputs.msg}}"),
            sh("fan-b", "n=$(cat count 2>/dev/null || echo 0); echo $((n+1)) > count; [ $n -ge 1 ]", retries=1, retry_backoff={"delay": "1s"}),
            sh("doomed", "echo boom; exit 3", retries=1, retry_backoff={"delay": "1s"}),
            sh("slow", "sleep 20", timeout=1),
            sh("skipme", "echo never", skip=True),
            {"name": "join", "template": "logical"},
            sh("final", "cat $KFJ_UPSTREAM_PREP_OUTPUT_DIR/msg"),
            sh("after-doomed", "echo never"),
        ],
        "edges": [["prep", "fan-a"], ["prep", "fan-b"], ["prep", "doomed"], ["prep", "slow"], ["fan-a", "join"], ["fan-b", "join"],
                  ["skipme", "join"], ["join", "final"], ["prep", "final"], ["doomed", "after-doomed"]],
    }


def test_run_end_to_end_rerun_and_debug(cp):
    p = create(cp, "creator", dag_body("e2e", cp.project))
    assert p["diagnostics"] == []
    r = cp.call("ops", "POST", f"/pipelines/{p['id']}/runs")
    assert r.status_code == 201
    run = cp.wait_run("ops", r.json()["id"])
    tasks = {t["name"]: t for t in run["tasks"]}
    assert {n: t["status"] for n, t in tasks.items()} == {
        "prep": "succeeded", "fan-a": "succeeded", "fan-b": "succeeded", "doomed": "failed", "slow": "failed", "skipme": "skipped",
        "join": "succeeded", "final": "succeeded", "after-doomed": "upstream-failed"}
    assert run["status"] == "failed" and run["trigger"] == "manual" and run["runner"] == cp.name("ops")
    assert tasks["fan-b"]["attempts"] == 2 and tasks["doomed"]["attempts"] == 2 and tasks["doomed"]["exit_code"] == 3
    assert "timed out after 1s" in tasks["slow"]["message"]
    assert run["tasks"][0]["name"] == "prep"  # pipeline order
    log = cp.call("dev", "GET", f"/runs/{run['id']}/tasks/fan-a/logs")
    assert log.status_code == 200 and log.text == "A:prepared\n" and log.headers["Content-Type"].startswith("text/plain")
    assert cp.call("dev", "GET", f"/runs/{run['id']}/tasks/final/logs").text == "prepared\n"
    assert cp.call("dev", "GET", f"/runs/{run['id']}/tasks/nope/logs").status_code == 404
    assert cp.call("outsider", "GET", f"/runs/{run['id']}").status_code == 404
    # fix the failing tasks, then re-run from failed: succeeded tasks keep their outputs
    body = dag_body("e2e", cp.project)
    body["tasks"][3] = sh("doomed", "echo fixed")
    body["tasks"][4] = sh("slow", "echo quick", timeout=5)
    assert cp.call("creator", "PUT", f"/pipelines/{p['id']}", body).status_code == 200
    assert cp.call("dev", "POST", f"/runs/{run['id']}/rerun", {"mode": "failed"}).status_code == 403
    r = cp.call("creator", "POST", f"/runs/{run['id']}/rerun", {"mode": "failed"})
    assert r.status_code == 201, r.text
    again = cp.wait_run("creator", r.json()["id"])
    t2 = {t["name"]: t for t in again["tasks"]}
    assert again["status"] == "succeeded" and again["trigger"] == "rerun-failed" and again["source_run_id"] == run["id"]
    assert sorted(again["only_tasks"]) == ["after-doomed", "doomed", "slow"]
    assert t2["prep"]["outputs"] == tasks["prep"]["outputs"]  # reused, not re-run
    assert cp.call("creator", "GET", f"/runs/{again['id']}/tasks/after-doomed/logs").text == "never\n"
    assert cp.call("creator", "POST", f"/runs/{again['id']}/rerun", {"mode": "failed"}).status_code == 409
    assert cp.call("creator", "POST", f"/runs/{again['id']}/rerun", {"mode": "sideways"}).json()["field"] == "mode"
    # debug a single task: upstream outputs come from the latest successful run
    r = cp.call("creator", "POST", f"/pipelines/{p['id']}/tasks/fan-a/debug")
    assert r.status_code == 201
    dbg = cp.wait_run("creator", r.json()["id"])
    statuses = {t["name"]: t["status"] for t in dbg["tasks"]}
    assert dbg["trigger"] == "debug" and statuses["fan-a"] == "succeeded" and statuses["prep"] == "succeeded" and statuses["final"] == "skipped"
    assert cp.call("creator", "GET", f"/runs/{dbg['id']}/tasks/fan-a/logs").text == "A:prepared\n"
    # a whole re-run
    r = cp.call("creator", "POST", f"/runs/{run['id']}/rerun")
    assert r.status_code == 201 and cp.wait_run("creator", r.json()["id"])["status"] == "succeeded"
    listed = cp.call("dev", "GET", f"/pipelines/{p['id']}/runs").json()["runs"]
    assert [x["trigger"] for x in listed] == ["rerun", "debug", "rerun-failed", "manual"]


def test_follow_log_cancel_and_concurrent_manual_runs(cp):
    p = create(cp, "creator", {"name": "streamer", "project": cp.project,
                             "tasks": [sh("talk", "for i in 1 2 3 4 5 6; do echo tick$i; sleep 0.4; done"), sh("after", "echo after")],
                             "edges": [["talk", "after"]]})
    first = cp.call("creator", "POST", f"/pipelines/{p['id']}/runs").json()["id"]
    second = cp.call("creator", "POST", f"/pipelines/{p['id']}/runs").json()["id"]  # several manual runs at once
    cp.wait_run("creator", first, until=("running",))
    t0 = time.monotonic()
    lines = []
    # followed as user servers do (CUBELAB_API_URL, the control plane's loopback address); the public
    # URL's proxy streams too (see test_follow_through_the_proxy)
    with requests.get(f"{cp.direct_url}/runs/{first}/tasks/talk/logs?follow=1", headers=cp.headers("dev"), stream=True, timeout=30) as resp:
        for line in resp.iter_lines():
            lines.append((time.monotonic() - t0, line.decode()))
    assert [text for _, text in lines] == [f"tick{i}" for i in range(1, 7)]
    assert lines[-1][0] - lines[0][0] > 1.0  # lines arrived as they were written, not all at the end
    # live status as server-sent events, for canvases that update without reloading
    watched = cp.call("creator", "POST", f"/pipelines/{p['id']}/runs").json()["id"]
    seen = []
    with requests.get(f"{cp.direct_url}/runs/{watched}/events", headers=cp.headers("ops"), stream=True, timeout=30) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if line.startswith(b"data: "):
                run = json.loads(line[6:])
                seen.append(tuple(t["status"] for t in run["tasks"]))
    assert seen[-1] == ("succeeded", "succeeded") and ("running", "pending") in seen
    assert len(seen) == len(set(seen))  # only changes are sent
    assert cp.call("outsider", "GET", f"/runs/{watched}/events").status_code == 404
    # cancel the other run: the task's process group goes away, pending tasks are cancelled
    third = cp.call("creator", "POST", f"/pipelines/{p['id']}/runs").json()["id"]
    cp.wait_run("creator", third, until=("running",))
    time.sleep(0.3)
    pids = task_processes(third)
    assert pids
    assert cp.call("dev", "POST", f"/runs/{third}/cancel").status_code == 403
    r = cp.call("creator", "POST", f"/runs/{third}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert {t["name"]: t["status"] for t in r.json()["tasks"]} == {"talk": "cancelled", "after": "cancelled"}
    assert not alive(pids)
    assert cp.wait_run("creator", second)["status"] == "succeeded"  # untouched by the cancel
    assert cp.wait_run("creator", first)["status"] == "succeeded"


def test_follow_through_the_proxy(cp):
    """A log followed at the platform's public URL streams through the proxy."""
    p = create(cp, "creator", {"name": "proxied", "project": cp.project,
                               "tasks": [sh("talk", "for i in 1 2 3 4; do echo tick$i; sleep 0.5; done")]})
    run_id = cp.call("creator", "POST", f"/pipelines/{p['id']}/runs").json()["id"]
    cp.wait_run("creator", run_id, until=("running",))
    t0 = time.monotonic()
    lines = []
    with requests.get(f"{cp.url}/runs/{run_id}/tasks/talk/logs?follow=1", headers=cp.headers("dev"), stream=True, timeout=30) as resp:
        assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/plain")
        for line in resp.iter_lines():
            lines.append((time.monotonic() - t0, line.decode()))
    assert [line for _, line in lines] == [f"tick{i}" for i in range(1, 5)]
    assert cp.wait_run("creator", run_id)["status"] == "succeeded"
    # lines arrive as the task prints them (~0.5 s apart), not all at once at the end
    assert lines[-1][0] - lines[0][0] >= 1.0, lines


def test_one_off_task_runs(cp):
    cell = {"project": cp.project, "task": {"template": "python", "args": {"--code": "import os; print('cell ran for', os.environ['KFJ_RUNNER'])"}}}
    r = cp.call("dev", "POST", "/runs", cell)
    assert r.status_code == 201, r.text
    run = cp.wait_run("dev", r.json()["id"])
    assert run["status"] == "succeeded" and run["trigger"] == "oneoff" and run["pipeline_id"] is None
    assert [t["name"] for t in run["tasks"]] == ["python"]
    assert cp.call("ops", "GET", f"/runs/{run['id']}/tasks/python/logs").text == f"cell ran for {cp.name('dev')}\n"
    assert cp.call("dev", "POST", f"/runs/{run['id']}/rerun").status_code == 409
    assert cp.call("ops", "POST", "/runs", cell).status_code == 403
    r = cp.call("dev", "POST", "/runs", {"project": cp.project, "task": {"template": "python"}})
    assert r.status_code == 409 and any("--code" in d["message"] for d in r.json()["diagnostics"])
    assert cp.call("dev", "POST", "/runs", {"project": cp.project, "task": "print(1)"}).json()["field"] == "task"
    assert cp.call("dev", "POST", "/runs", {"task": {}}).json()["field"] == "project"
    assert run["id"] in {x["id"] for x in cp.call("creator", "GET", f"/runs?project={cp.project}").json()["runs"]}


def test_resource_proposals_need_ten_runs(cp):
    code = "import time; b = bytearray(50 * 2**20); t = time.time()\nwhile time.time() - t < 0.7: pass"
    p = create(cp, "creator", {"name": "tune", "project": cp.project, "parallelism": 1,
                             "tasks": [{"name": "burn", "template": "python", "args": {"--code": code}, "cpu": "2", "memory": "8G"},
                                       {"name": "join", "template": "logical"}], "edges": [["burn", "join"]]})
    ids = []
    for i in range(10):
        ids.append(cp.call("creator", "POST", f"/pipelines/{p['id']}/runs").json()["id"])
        if i == 8:
            for rid in ids:
                cp.wait_run("creator", rid, timeout=60)
            assert cp.call("creator", "GET", f"/pipelines/{p['id']}/resource-proposals").json()["proposals"] == []
    for rid in ids:
        assert cp.wait_run("creator", rid, timeout=60)["status"] == "succeeded"
    proposals = cp.call("dev", "GET", f"/pipelines/{p['id']}/resource-proposals").json()["proposals"]
    assert [x["task"] for x in proposals] == ["burn"]  # 'logical' is NO_RESOURCE_CHECK
    prop = proposals[0]
    assert prop["runs"] == 10 and prop["proposed"]["memory"].startswith("1G") and prop["proposed"]["cpu"].startswith(("1", "2"))
    assert cp.call("dev", "POST", f"/pipelines/{p['id']}/resource-proposals/burn/accept").status_code == 403
    unchanged = cp.call("creator", "GET", f"/pipelines/{p['id']}").json()
    assert unchanged["tasks"][0]["cpu"] == "2"  # nothing applied until accepted
    r = cp.call("creator", "POST", f"/pipelines/{p['id']}/resource-proposals/burn/accept")
    assert r.status_code == 200
    burn = r.json()["tasks"][0]
    assert (burn["cpu"], burn["memory"]) == (prop["proposed"]["cpu"], prop["proposed"]["memory"])


# ---------------------------------------------------------------- schedules


def test_schedule_preview_for_editors(cp):
    r = cp.call("outsider", "POST", "/schedules/preview", {"cron": "30 9 * * 1-5", "timezone": "Asia/Shanghai",
                                                       "start_time": "2030-01-01T00:00:00+08:00", "count": 3})
    assert r.status_code == 200, r.text
    assert r.json()["next"] == ["2030-01-01T09:30:00+08:00", "2030-01-02T09:30:00+08:00", "2030-01-03T09:30:00+08:00"]
    r = cp.call("outsider", "POST", "/schedules/preview", {"cron": "*/5 * * *"})
    assert r.status_code == 400 and r.json()["field"] == "schedule.cron" and "has 4 fields, not 5" in r.json()["message"]
    assert cp.call("outsider", "POST", "/schedules/preview", {"cron": "* * * * *", "count": 500}).json()["field"] == "count"
    assert cp.call(None, "POST", "/schedules/preview", {"cron": "* * * * *"}).status_code == 401


def test_schedule_settings_records_and_backfill(cp):
    p = create(cp, "creator", {"name": "cron", "project": cp.project, "tasks": [sh("a", "echo tick $KFJ_SCHEDULE_TIME")]})
    r = cp.call("creator", "PUT", f"/pipelines/{p['id']}/schedule", {"enabled": True, "cron": "0 25 * * *"})
    assert r.status_code == 400 and r.json()["field"] == "schedule.cron" and "ranges, lists and steps" in r.json()["message"]
    assert cp.call("dev", "PUT", f"/pipelines/{p['id']}/schedule", {"enabled": False}).status_code == 403
    start = time.strftime("%Y-%m-%dT%H:%M:00+00:00", time.gmtime(time.time() - 3600 * 5))
    r = cp.call("creator", "PUT", f"/pipelines/{p['id']}/schedule",
                {"enabled": True, "cron": "0 * * * *", "start_time": start, "backfill": True, "expired_limit": 2, "max_active_runs": 1})
    assert r.status_code == 200, r.text
    assert len(r.json()["next"]) == 5
    # the control plane looks for due ticks every 10 s (its default); max_active_runs=1 holds the
    # second tick until the first run ends, so its run starts one look later
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        records = cp.call("dev", "GET", f"/pipelines/{p['id']}/schedule/records").json()["records"]
        if records and all(x["status"] != "comed" for x in records):
            break
        time.sleep(0.3)
    statuses = [x["status"] for x in records]
    assert statuses[:2] == ["created", "created"] and set(statuses[2:]) == {"skipped"} and len(statuses) >= 5
    assert all("expired_limit=2" in x["reason"] for x in records[2:])
    runs = [cp.wait_run("creator", x["run_id"]) for x in records[:2]]
    assert all(r["trigger"] == "schedule" and r["status"] == "succeeded" for r in runs)
    log = cp.call("creator", "GET", f"/runs/{runs[0]['id']}/tasks/a/logs").text
    assert log.startswith("tick ") and records[0]["tick"][:16] in log.replace("T", "T")
    assert any(s["pipeline_id"] == p["id"] for s in cp.call("ops", "GET", f"/schedules?project={cp.project}&q={p['name']}").json()["schedules"])
    assert cp.call("creator", "PUT", f"/pipelines/{p['id']}/schedule", {"enabled": False}).status_code == 200


# ---------------------------------------------------------------- restart
#
# JupyterHub restarts a managed service that exits (it notices at its next poll
# of the process, up to ~30 s later). The control plane is killed among the
# platform's real processes: SIGKILL is a crash (runs in flight are re-attached
# and finish), SIGTERM a clean stop (runs in flight end failed with the reason,
# and no task process is left behind).


def restarted_controlplane(platform, old_pid: int, timeout: float = 90) -> int:
    """Wait until the hub has started a new control plane and it answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = controlplane_pid(platform)
        if pid is not None and pid != old_pid:
            try:
                if requests.get(f"{platform.url}/services/cubelab/api/v1/openapi.json", timeout=2).status_code == 200:
                    return pid
            except requests.RequestException:
                pass
        time.sleep(0.3)
    raise TimeoutError(f"the hub did not restart the control plane within {timeout}s; see {platform.log_path}")


def wait_exited(pid: int, timeout: float = 30) -> None:
    """Until the process is gone or a zombie its parent (the hub) has yet to reap."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.05)
    raise TimeoutError(f"process {pid} still running")


def test_restart_mid_run(fresh_platform, tmp_path):
    platform = fresh_platform()
    admin = User(platform, platform.admin, platform.admin_password)
    assert admin.login().status_code == 302
    admin.create_token()
    cp = World(platform, admin)
    gates = tmp_path / "gates"  # a task of run R waits for the file gates/R: it is running for as long as the test wants
    gates.mkdir()
    wait_gate = f"while [ ! -f {gates}/$KFJ_RUN_ID ]; do sleep 0.1; done"
    p = create(cp, "creator", {"name": "survivor", "project": cp.project,
                               "tasks": [sh("long", f"{wait_gate}; echo done > $KFJ_TASK_OUTPUT_DIR/v; echo long-finished"),
                                         sh("next", "cat {{tasks.long.outputs.path}}/v")], "edges": [["long", "next"]]})
    schedule = {"enabled": True, "cron": "15 3 * * 1-5", "timezone": "Asia/Shanghai", "max_active_runs": 2}
    assert cp.call("creator", "PUT", f"/pipelines/{p['id']}/schedule", schedule).status_code == 200
    saved_schedule = cp.call("creator", "GET", f"/pipelines/{p['id']}/schedule").json()
    done = cp.call("creator", "POST", f"/pipelines/{p['id']}/runs").json()["id"]
    (gates / str(done)).touch()
    assert cp.wait_run("creator", done)["status"] == "succeeded"

    # a crash: the task is still running when the new control plane starts, and is re-attached
    run_id = cp.call("creator", "POST", f"/pipelines/{p['id']}/runs").json()["id"]
    cp.wait_run("creator", run_id, until=("running",))
    time.sleep(0.3)
    procs = task_processes(run_id)
    assert procs
    old = controlplane_pid(platform)
    assert old is not None
    os.kill(old, signal.SIGKILL)
    wait_exited(old)
    assert alive(procs), "a crash of the control plane must not take its runs' processes with it"
    restarted_controlplane(platform, old)
    assert cp.call("creator", "GET", f"/runs/{run_id}").json()["status"] == "running"  # re-attached, not given up
    (gates / str(run_id)).touch()
    run = cp.wait_run("creator", run_id)
    assert run["status"] == "succeeded", run
    assert cp.call("creator", "GET", f"/runs/{run_id}/tasks/long/logs").text == "long-finished\n"
    assert cp.call("creator", "GET", f"/runs/{run_id}/tasks/next/logs").text == "done\n"
    # finished runs, logs and schedules are intact
    assert cp.call("creator", "GET", f"/runs/{done}").json()["status"] == "succeeded"
    assert cp.call("creator", "GET", f"/runs/{done}/tasks/long/logs").text == "long-finished\n"
    assert cp.call("creator", "GET", f"/pipelines/{p['id']}/schedule").json() == saved_schedule

    # a clean stop ends runs in flight with the reason and leaves no process behind
    run_id = cp.call("creator", "POST", f"/pipelines/{p['id']}/runs").json()["id"]
    cp.wait_run("creator", run_id, until=("running",))
    time.sleep(0.3)
    procs = task_processes(run_id)
    assert procs
    old = controlplane_pid(platform)
    os.kill(old, signal.SIGTERM)
    wait_exited(old)
    assert not alive(procs)
    restarted_controlplane(platform, old)
    run = cp.call("creator", "GET", f"/runs/{run_id}").json()
    assert run["status"] == "failed" and "control plane stopped" in run["message"]
    tasks = {t["name"]: t for t in run["tasks"]}
    assert tasks["long"]["status"] == "cancelled" and "control plane stopped" in tasks["long"]["message"]
    assert tasks["next"]["status"] == "cancelled"
    assert cp.call("creator", "GET", f"/runs/{done}/tasks/long/logs").text == "long-finished\n"
