"""The pipelines REST API over real HTTP against a real control-plane process:
templates, pipelines, validation, export/import, runs (end to end, cancel,
re-run, debug, log following), schedules, permissions, restart mid-run."""

import json
import signal
import time

import psutil
import requests

from .conftest import FIXTURES


def sh(name, cmd, **kw):
    return {"name": name, "template": "shell", "args": {"--command": cmd}, **kw}


def create(cp, user, body, status=201):
    r = cp.call(user, "POST", "/pipelines", body)
    assert r.status_code == status, r.text
    return r.json()


# ---------------------------------------------------------------- OpenAPI


def test_every_pipeline_route_is_documented(cp):
    doc = requests.get(cp.url + "/openapi.json", timeout=10).json()
    expected = {
        "/templates": {"get", "post"}, "/templates/import": {"post"}, "/templates/{name}/{version}": {"get", "put", "delete"},
        "/pipelines": {"get", "post"}, "/pipelines/validate": {"post"}, "/pipelines/import": {"post"},
        "/pipelines/{pipeline_id}": {"get", "put", "delete"}, "/pipelines/{pipeline_id}/validate": {"post"},
        "/pipelines/{pipeline_id}/export": {"get"}, "/pipelines/{pipeline_id}/resource-proposals": {"get"},
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
    assert cp.call("alice", "POST", "/templates", alpha).status_code == 403
    assert cp.call(None, "GET", "/templates").status_code == 401
    assert cp.call("admin", "POST", "/templates", alpha).status_code == 201
    assert cp.call("admin", "POST", "/templates", alpha).status_code == 409
    names = {(t["name"], t["version"]) for t in cp.call("alice", "GET", "/templates").json()["templates"]}
    assert ("shell", "Release") in names and ("secret-tool", "Alpha") not in names
    assert ("secret-tool", "Alpha") in {(t["name"], t["version"]) for t in cp.call("admin", "GET", "/templates").json()["templates"]}
    assert cp.call("alice", "GET", "/templates/secret-tool/Alpha").status_code == 404
    changed = cp.call("admin", "PUT", "/templates/secret-tool/Alpha", dict(alpha, description="v2"))
    assert changed.status_code == 200 and changed.json()["description"] == "v2"
    assert cp.call("dan", "DELETE", "/templates/secret-tool/Alpha").status_code == 403
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
        r = cp.call("admin", "POST", "/templates/import", {"format": "kfp", "content": (FIXTURES / "paddle" / f"{name}.yaml").read_text(), "category": "paddle"})
        assert r.status_code == 201, r.text
    training = cp.call("alice", "GET", "/templates/training/Release").json()
    assert training["args"]["inputs"]["--worker_replicas"]["type"] == "int"
    assert training["outputs"][0]["name"] == "model_path"
    r = cp.call("admin", "POST", "/templates/import", {"format": "kfp", "content": (FIXTURES / "paddle" / "dataset.yaml").read_text()})
    assert r.status_code == 409
    cube = {"xgb": {"group_name": "机器学习", "image_name": "busybox", "job_template_name": "xgb", "job_template_command": "python x.py",
                    "job_template_args": {"参数": {"--depth": {"type": "int", "require": 1, "default": 6}}}},
            "bad": {"job_template_name": "bad", "image_name": "busybox", "job_template_args": {"g": {"--x": {"type": "nope"}}}}}
    r = cp.call("admin", "POST", "/templates/import", {"format": "cube-studio", "content": cube})
    assert r.status_code == 400 and r.json()["field"] == "content[1].args.g.--x.type"
    assert cp.call("alice", "GET", "/templates/xgb/Release").status_code == 404  # all or nothing
    del cube["bad"]
    cube["xgb"]["privileged"] = 1
    r = cp.call("admin", "POST", "/templates/import", {"format": "cube-studio", "content": cube})
    assert r.status_code == 201 and r.json()["ignored"] == {"xgb": ["privileged"]}
    assert cp.call("admin", "POST", "/templates/import", {"format": "airflow", "content": ""}).json()["field"] == "format"


# ---------------------------------------------------------------- pipelines and permissions


def test_pipeline_permission_matrix(cp):
    p = create(cp, "alice", {"name": "matrix", "project": "proj", "tasks": [sh("a", "echo a")]})
    pid = p["id"]
    assert p["creator"] == "alice" and p["permissions"] == {"edit": True, "run": True}
    body = {"name": "matrix", "project": "proj", "tasks": [sh("a", "echo changed")]}
    # read: members and admins; a non-member is told it does not exist
    for user, status in (("alice", 200), ("dan", 200), ("olga", 200), ("admin", 200), ("nina", 404), (None, 401)):
        assert cp.call(user, "GET", f"/pipelines/{pid}").status_code == status, user
    # edit: the pipeline's creator, project creators, admins
    for user, status in (("dan", 403), ("olga", 403), ("nina", 404), ("alice", 200), ("admin", 200)):
        assert cp.call(user, "PUT", f"/pipelines/{pid}", body).status_code == status, user
    # create: creators and devs of the project
    assert cp.call("olga", "POST", "/pipelines", {"name": "o", "project": "proj"}).status_code == 403
    assert cp.call("nina", "POST", "/pipelines", {"name": "n", "project": "proj"}).status_code == 403
    mine = create(cp, "dan", {"name": "dans", "project": "proj", "tasks": [sh("a", "true")]})
    assert cp.call("dan", "PUT", f"/pipelines/{mine['id']}", {"name": "dans", "project": "proj"}).status_code == 200
    assert cp.call("alice", "PUT", f"/pipelines/{mine['id']}", {"name": "dans", "project": "proj"}).status_code == 200  # project creator
    # run: the creator, project creators and ops, admins; not devs on others' pipelines
    for user, status in (("dan", 403), ("nina", 404), ("olga", 201), ("alice", 201), ("admin", 201)):
        assert cp.call(user, "POST", f"/pipelines/{pid}/runs").status_code == status, user
    # lists only show what the caller may read
    assert "matrix" not in {x["name"] for x in cp.call("nina", "GET", "/pipelines").json()["pipelines"]}
    assert "matrix" in {x["name"] for x in cp.call("dan", "GET", "/pipelines?project=proj").json()["pipelines"]}
    assert all(r["project"] != "proj" for r in cp.call("nina", "GET", "/runs").json()["runs"])
    # a duplicate name in a project conflicts
    r = cp.call("alice", "POST", "/pipelines", {"name": "matrix", "project": "proj"})
    assert r.status_code == 409 and r.json()["field"] == "name"
    # delete: edit rights; refused while runs are active is covered by the 409 path below
    assert cp.call("dan", "DELETE", f"/pipelines/{mine['id']}").status_code == 204
    assert cp.call("dan", "GET", f"/pipelines/{mine['id']}").status_code == 404


def test_hostpath_mount_only_for_admins(cp):
    body = {"name": "host", "project": "proj", "tasks": [sh("a", "true", volume_mount="/data(hostpath):/data")]}
    p = create(cp, "alice", body)  # drafts save
    assert any(d["field"] == "volume_mount" and "only an admin" in d["message"] for d in p["diagnostics"])
    r = cp.call("alice", "POST", f"/pipelines/{p['id']}/runs")
    assert r.status_code == 409 and r.json()["error"] == "invalid_pipeline"
    assert cp.call("admin", "POST", f"/pipelines/{p['id']}/validate").json()["diagnostics"] == []


def test_validation_endpoints_and_invalid_runs(cp):
    r = cp.call("alice", "POST", "/pipelines/validate", {"name": "v", "project": "proj",
                "tasks": [sh("a", "true"), {"name": "b", "template": "nope"}], "edges": [["a", "b"], ["b", "a"]]})
    diags = r.json()["diagnostics"]
    assert r.status_code == 200
    assert any("cycle" in d["message"] and d["edge"] == ["a", "b"] for d in diags)
    assert any(d["task"] == "b" and d["field"] == "template" for d in diags)
    r = cp.call("alice", "POST", "/pipelines/validate", {"name": "v", "tasks": "nope"})
    assert r.status_code == 400 and r.json()["field"] == "tasks" and "must be a list" in r.json()["message"]
    draft = create(cp, "alice", {"name": "draft", "project": "proj", "tasks": [{"name": "a", "template": "shell"}]})
    assert any("required argument '--command'" in d["message"] for d in draft["diagnostics"])
    r = cp.call("alice", "POST", f"/pipelines/{draft['id']}/runs")
    assert r.status_code == 409 and any("--command" in d["message"] for d in r.json()["diagnostics"])
    assert cp.call("alice", "GET", f"/pipelines/{draft['id']}/runs").json()["runs"] == []


def test_export_import(cp):
    p = create(cp, "alice", {"name": "exp", "project": "proj", "tasks": [sh("a", "true"), {"name": "j", "template": "logical"}],
                             "edges": [["a", "j"]], "env": "A=1"})
    doc = cp.call("dan", "GET", f"/pipelines/{p['id']}/export").json()
    assert doc["format"] == "cubelab.pipeline/v1" and {"name": "logical", "version": "Release"} in doc["templates"]
    r = cp.call("nina", "POST", "/pipelines/import", {"document": doc, "project": "public", "name": "exp-copy"})
    assert r.status_code == 201, r.text
    copy = r.json()
    assert copy["creator"] == "nina" and copy["project"] == "public" and copy["edges"] == [["a", "j"]] and copy["env"] == {"A": "1"}
    doc["templates"].append({"name": "ghost", "version": "Release"})
    r = cp.call("nina", "POST", "/pipelines/import", {"document": doc, "project": "public", "name": "exp-ghost"})
    assert any("ghost" in d["message"] for d in r.json()["diagnostics"])
    assert cp.call("nina", "POST", "/pipelines/import", {"document": doc, "project": "proj"}).status_code == 403


# ---------------------------------------------------------------- runs


def dag_body(name):
    return {
        "name": name, "project": "proj", "parallelism": 4,
        "tasks": [
            sh("prep", "echo prepared > $KFJ_TASK_OUTPUT_DIR/msg"),
            sh("fan-a", "echo A:{{tasks.prep.outputs.msg}}"),
            sh("fan-b", "n=$(cat ../count 2>/dev/null || echo 0); echo $((n+1)) > ../count; [ $n -ge 1 ]", retries=1),
            sh("doomed", "echo boom; exit 3", retries=1),
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
    p = create(cp, "alice", dag_body("e2e"))
    assert p["diagnostics"] == []
    r = cp.call("olga", "POST", f"/pipelines/{p['id']}/runs")
    assert r.status_code == 201
    run = cp.wait_run("olga", r.json()["id"])
    tasks = {t["name"]: t for t in run["tasks"]}
    assert {n: t["status"] for n, t in tasks.items()} == {
        "prep": "succeeded", "fan-a": "succeeded", "fan-b": "succeeded", "doomed": "failed", "slow": "failed", "skipme": "skipped",
        "join": "succeeded", "final": "succeeded", "after-doomed": "upstream-failed"}
    assert run["status"] == "failed" and run["trigger"] == "manual" and run["runner"] == "olga"
    assert tasks["fan-b"]["attempts"] == 2 and tasks["doomed"]["attempts"] == 2 and tasks["doomed"]["exit_code"] == 3
    assert "timed out after 1s" in tasks["slow"]["message"]
    assert [n for n, _ in [(t["name"], 0) for t in run["tasks"]]][0] == "prep"  # pipeline order
    log = cp.call("dan", "GET", f"/runs/{run['id']}/tasks/fan-a/logs")
    assert log.status_code == 200 and log.text == "A:prepared\n" and log.headers["Content-Type"].startswith("text/plain")
    assert cp.call("dan", "GET", f"/runs/{run['id']}/tasks/final/logs").text == "prepared\n"
    assert cp.call("dan", "GET", f"/runs/{run['id']}/tasks/nope/logs").status_code == 404
    assert cp.call("nina", "GET", f"/runs/{run['id']}").status_code == 404
    # fix the failing tasks, then re-run from failed: succeeded tasks keep their outputs
    body = dag_body("e2e")
    body["tasks"][3] = sh("doomed", "echo fixed")
    body["tasks"][4] = sh("slow", "echo quick", timeout=5)
    assert cp.call("alice", "PUT", f"/pipelines/{p['id']}", body).status_code == 200
    assert cp.call("dan", "POST", f"/runs/{run['id']}/rerun", {"mode": "failed"}).status_code == 403
    r = cp.call("alice", "POST", f"/runs/{run['id']}/rerun", {"mode": "failed"})
    assert r.status_code == 201, r.text
    again = cp.wait_run("alice", r.json()["id"])
    t2 = {t["name"]: t for t in again["tasks"]}
    assert again["status"] == "succeeded" and again["trigger"] == "rerun-failed" and again["source_run_id"] == run["id"]
    assert sorted(again["only_tasks"]) == ["after-doomed", "doomed", "slow"]
    assert t2["prep"]["outputs"] == tasks["prep"]["outputs"]  # reused, not re-run
    assert cp.call("alice", "GET", f"/runs/{again['id']}/tasks/after-doomed/logs").text == "never\n"
    assert cp.call("alice", "POST", f"/runs/{again['id']}/rerun", {"mode": "failed"}).status_code == 409
    assert cp.call("alice", "POST", f"/runs/{again['id']}/rerun", {"mode": "sideways"}).json()["field"] == "mode"
    # debug a single task: upstream outputs come from the latest successful run
    r = cp.call("alice", "POST", f"/pipelines/{p['id']}/tasks/fan-a/debug")
    assert r.status_code == 201
    dbg = cp.wait_run("alice", r.json()["id"])
    statuses = {t["name"]: t["status"] for t in dbg["tasks"]}
    assert dbg["trigger"] == "debug" and statuses["fan-a"] == "succeeded" and statuses["prep"] == "succeeded" and statuses["final"] == "skipped"
    assert cp.call("alice", "GET", f"/runs/{dbg['id']}/tasks/fan-a/logs").text == "A:prepared\n"
    # a whole re-run
    r = cp.call("alice", "POST", f"/runs/{run['id']}/rerun")
    assert r.status_code == 201 and cp.wait_run("alice", r.json()["id"])["status"] == "succeeded"
    listed = cp.call("dan", "GET", f"/pipelines/{p['id']}/runs").json()["runs"]
    assert [x["trigger"] for x in listed] == ["rerun", "debug", "rerun-failed", "manual"]


def test_follow_log_cancel_and_concurrent_manual_runs(cp):
    p = create(cp, "alice", {"name": "streamer", "project": "proj",
                             "tasks": [sh("talk", "for i in 1 2 3 4 5 6; do echo tick$i; sleep 0.4; done"), sh("after", "echo after")],
                             "edges": [["talk", "after"]]})
    first = cp.call("alice", "POST", f"/pipelines/{p['id']}/runs").json()["id"]
    second = cp.call("alice", "POST", f"/pipelines/{p['id']}/runs").json()["id"]  # several manual runs at once
    cp.wait_run("alice", first, until=("running",))
    t0 = time.monotonic()
    lines = []
    with requests.get(f"{cp.url}/runs/{first}/tasks/talk/logs?follow=1", headers={"Authorization": "token t-dan"}, stream=True, timeout=30) as resp:
        for line in resp.iter_lines():
            lines.append((time.monotonic() - t0, line.decode()))
    assert [l for _, l in lines] == [f"tick{i}" for i in range(1, 7)]
    assert lines[-1][0] - lines[0][0] > 1.0  # lines arrived as they were written, not all at the end
    # live status as server-sent events, for canvases that update without reloading
    watched = cp.call("alice", "POST", f"/pipelines/{p['id']}/runs").json()["id"]
    seen = []
    with requests.get(f"{cp.url}/runs/{watched}/events", headers={"Authorization": "token t-olga"}, stream=True, timeout=30) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if line.startswith(b"data: "):
                run = json.loads(line[6:])
                seen.append(tuple(t["status"] for t in run["tasks"]))
    assert seen[-1] == ("succeeded", "succeeded") and ("running", "pending") in seen
    assert len(seen) == len(set(seen))  # only changes are sent
    assert cp.call("nina", "GET", f"/runs/{watched}/events").status_code == 404
    # cancel the other run: the task's process group goes away, pending tasks are cancelled
    third = cp.call("alice", "POST", f"/pipelines/{p['id']}/runs").json()["id"]
    cp.wait_run("alice", third, until=("running",))
    time.sleep(0.3)
    pids = [p for p in psutil.process_iter(["cmdline", "environ"]) if (p.info.get("environ") or {}).get("KFJ_RUN_ID") == third]
    assert pids
    assert cp.call("dan", "POST", f"/runs/{third}/cancel").status_code == 403
    r = cp.call("alice", "POST", f"/runs/{third}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert {t["name"]: t["status"] for t in r.json()["tasks"]} == {"talk": "cancelled", "after": "cancelled"}
    assert not [x for x in pids if x.is_running() and x.status() != psutil.STATUS_ZOMBIE]
    assert cp.wait_run("alice", second)["status"] == "succeeded"  # untouched by the cancel
    assert cp.wait_run("alice", first)["status"] == "succeeded"


def test_one_off_task_runs(cp):
    cell = {"project": "proj", "task": {"template": "python", "args": {"--code": "import os; print('cell ran for', os.environ['KFJ_RUNNER'])"}}}
    r = cp.call("dan", "POST", "/runs", cell)
    assert r.status_code == 201, r.text
    run = cp.wait_run("dan", r.json()["id"])
    assert run["status"] == "succeeded" and run["trigger"] == "oneoff" and run["pipeline_id"] is None
    assert [t["name"] for t in run["tasks"]] == ["python"]
    assert cp.call("olga", "GET", f"/runs/{run['id']}/tasks/python/logs").text == "cell ran for dan\n"
    assert cp.call("dan", "POST", f"/runs/{run['id']}/rerun").status_code == 409
    assert cp.call("olga", "POST", "/runs", cell).status_code == 403
    r = cp.call("dan", "POST", "/runs", {"project": "proj", "task": {"template": "python"}})
    assert r.status_code == 409 and any("--code" in d["message"] for d in r.json()["diagnostics"])
    assert cp.call("dan", "POST", "/runs", {"project": "proj", "task": "print(1)"}).json()["field"] == "task"
    assert cp.call("dan", "POST", "/runs", {"task": {}}).json()["field"] == "project"
    assert run["id"] in {x["id"] for x in cp.call("alice", "GET", "/runs?project=proj").json()["runs"]}


def test_resource_proposals_need_ten_runs(cp):
    code = "import time; b = bytearray(50 * 2**20); t = time.time()\nwhile time.time() - t < 0.7: pass"
    p = create(cp, "alice", {"name": "tune", "project": "proj", "parallelism": 1,
                             "tasks": [{"name": "burn", "template": "python", "args": {"--code": code}, "cpu": "4", "memory": "8G"},
                                       {"name": "join", "template": "logical"}], "edges": [["burn", "join"]]})
    ids = []
    for i in range(10):
        ids.append(cp.call("alice", "POST", f"/pipelines/{p['id']}/runs").json()["id"])
        if i == 8:
            for rid in ids:
                cp.wait_run("alice", rid, timeout=60)
            assert cp.call("alice", "GET", f"/pipelines/{p['id']}/resource-proposals").json()["proposals"] == []
    for rid in ids:
        assert cp.wait_run("alice", rid, timeout=60)["status"] == "succeeded"
    proposals = cp.call("dan", "GET", f"/pipelines/{p['id']}/resource-proposals").json()["proposals"]
    assert [x["task"] for x in proposals] == ["burn"]  # 'logical' is NO_RESOURCE_CHECK
    prop = proposals[0]
    assert prop["runs"] == 10 and prop["proposed"]["memory"].startswith("1G") and prop["proposed"]["cpu"].startswith(("1", "2"))
    assert cp.call("dan", "POST", f"/pipelines/{p['id']}/resource-proposals/burn/accept").status_code == 403
    unchanged = cp.call("alice", "GET", f"/pipelines/{p['id']}").json()
    assert unchanged["tasks"][0]["cpu"] == "4"  # nothing applied until accepted
    r = cp.call("alice", "POST", f"/pipelines/{p['id']}/resource-proposals/burn/accept")
    assert r.status_code == 200
    burn = r.json()["tasks"][0]
    assert (burn["cpu"], burn["memory"]) == (prop["proposed"]["cpu"], prop["proposed"]["memory"])


# ---------------------------------------------------------------- schedules


def test_schedule_preview_for_editors(cp):
    r = cp.call("nina", "POST", "/schedules/preview", {"cron": "30 9 * * 1-5", "timezone": "Asia/Shanghai",
                                                       "start_time": "2030-01-01T00:00:00+08:00", "count": 3})
    assert r.status_code == 200, r.text
    assert r.json()["next"] == ["2030-01-01T09:30:00+08:00", "2030-01-02T09:30:00+08:00", "2030-01-03T09:30:00+08:00"]
    r = cp.call("nina", "POST", "/schedules/preview", {"cron": "*/5 * * *"})
    assert r.status_code == 400 and r.json()["field"] == "schedule.cron" and "has 4 fields, not 5" in r.json()["message"]
    assert cp.call("nina", "POST", "/schedules/preview", {"cron": "* * * * *", "count": 500}).json()["field"] == "count"
    assert cp.call(None, "POST", "/schedules/preview", {"cron": "* * * * *"}).status_code == 401


def test_schedule_settings_records_and_backfill(cp):
    p = create(cp, "alice", {"name": "cron", "project": "proj", "tasks": [sh("a", "echo tick $KFJ_SCHEDULE_TIME")]})
    r = cp.call("alice", "PUT", f"/pipelines/{p['id']}/schedule", {"enabled": True, "cron": "0 25 * * *"})
    assert r.status_code == 400 and r.json()["field"] == "schedule.cron" and "ranges, lists and steps" in r.json()["message"]
    assert cp.call("dan", "PUT", f"/pipelines/{p['id']}/schedule", {"enabled": False}).status_code == 403
    start = time.strftime("%Y-%m-%dT%H:%M:00+00:00", time.gmtime(time.time() - 3600 * 5))
    r = cp.call("alice", "PUT", f"/pipelines/{p['id']}/schedule",
                {"enabled": True, "cron": "0 * * * *", "start_time": start, "backfill": True, "expired_limit": 2, "max_active_runs": 1})
    assert r.status_code == 200, r.text
    assert len(r.json()["next"]) == 5
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        records = cp.call("dan", "GET", f"/pipelines/{p['id']}/schedule/records").json()["records"]
        if records and all(x["status"] != "comed" for x in records):
            break
        time.sleep(0.3)
    statuses = [x["status"] for x in records]
    assert statuses[:2] == ["created", "created"] and set(statuses[2:]) == {"skipped"} and len(statuses) >= 5
    assert all("expired_limit=2" in x["reason"] for x in records[2:])
    runs = [cp.wait_run("alice", x["run_id"]) for x in records[:2]]
    assert all(r["trigger"] == "schedule" and r["status"] == "succeeded" for r in runs)
    log = cp.call("alice", "GET", f"/runs/{runs[0]['id']}/tasks/a/logs").text
    assert log.startswith("tick ") and records[0]["tick"][:16] in log.replace("T", "T")
    assert any(s["pipeline_id"] == p["id"] for s in cp.call("olga", "GET", "/schedules").json()["schedules"])
    assert cp.call("alice", "PUT", f"/pipelines/{p['id']}/schedule", {"enabled": False}).status_code == 200


# ---------------------------------------------------------------- restart


def test_restart_mid_run(cp):
    p = create(cp, "alice", {"name": "survivor", "project": "proj",
                             "tasks": [sh("long", "sleep 2; echo done > $KFJ_TASK_OUTPUT_DIR/v; echo long-finished"),
                                       sh("next", "cat {{tasks.long.outputs.path}}/v")], "edges": [["long", "next"]]})
    done = cp.call("alice", "POST", f"/pipelines/{p['id']}/runs").json()["id"]
    cp.wait_run("alice", done)
    run_id = cp.call("alice", "POST", f"/pipelines/{p['id']}/runs").json()["id"]
    cp.wait_run("alice", run_id, until=("running",))
    time.sleep(0.3)
    cp.stop(signal.SIGKILL)  # a crash
    cp.start()
    run = cp.wait_run("alice", run_id)
    assert run["status"] == "succeeded", run
    assert cp.call("alice", "GET", f"/runs/{run_id}/tasks/next/logs").text == "done\n"
    assert cp.call("alice", "GET", f"/runs/{done}/tasks/long/logs").text == "long-finished\n"  # finished runs intact
    # a clean stop ends runs in flight with the reason and leaves no process behind
    run_id = cp.call("alice", "POST", f"/pipelines/{p['id']}/runs").json()["id"]
    cp.wait_run("alice", run_id, until=("running",))
    time.sleep(0.3)
    procs = [x for x in psutil.process_iter(["environ"]) if (x.info.get("environ") or {}).get("KFJ_RUN_ID") == run_id]
    assert procs
    cp.stop(signal.SIGTERM)
    assert not [x for x in procs if x.is_running() and x.status() != psutil.STATUS_ZOMBIE]
    cp.start()
    run = cp.call("alice", "GET", f"/runs/{run_id}").json()
    assert run["status"] == "failed" and "control plane stopped" in run["message"]
    tasks = {t["name"]: t for t in run["tasks"]}
    assert tasks["long"]["status"] == "cancelled" and "control plane stopped" in tasks["long"]["message"]
    assert tasks["next"]["status"] == "cancelled"
