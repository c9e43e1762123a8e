"""The admin overview through the REST API of a real CubeLab (``cubelab up``):
every route refused to everyone but admins; an admin finds a running task of
another user's project and stops it (audited); a project's use is the sum of its
server, running task and service, each reported by kind; /admin/users counts
what each user runs."""

from __future__ import annotations

import sqlite3
import sys
import time

import pytest
from pipelines.cp import World, fresh
from support.platform import start_server

pytestmark = pytest.mark.hub

# a tiny HTTP server for a service replica
SERVER = r"""
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class H(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header('Content-Length', '2')
        self.end_headers()
        self.wfile.write(b'ok')
    def log_message(self, *args):
        pass

ThreadingHTTPServer(('127.0.0.1', int(os.environ['PORT'])), H).serve_forever()
"""

ROUTES = [("GET", "/admin/users"), ("GET", "/admin/projects"), ("GET", "/admin/running"),
          ("GET", "/admin/running?kind=task"), ("POST", "/admin/running/task/run-0:x/stop"),
          ("POST", "/admin/running/server/someone/stop")]


@pytest.fixture(scope="module")
def world(platform, admin):
    return World(platform, admin)


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not happen in {timeout}s")


def long_run(world, cpu="0.5", memory="512M") -> str:
    body = {"name": fresh("hold-"), "project": world.project,
            "tasks": [{"name": "hold", "template": "shell", "args": {"--command": "sleep 120"}, "cpu": cpu, "memory": memory}]}
    r = world.call("creator", "POST", "/pipelines", body)
    assert r.status_code == 201, r.text
    r = world.call("creator", "POST", f"/pipelines/{r.json()['id']}/runs")
    assert r.status_code == 201, r.text
    return r.json()["id"]


def running(world, **query) -> dict:
    r = world.call("admin", "GET", "/admin/running", params=query)
    assert r.status_code == 200, r.text
    return r.json()


def audit_events(platform, action: str) -> list[tuple]:
    # /admin/audit is another branch's route; until then the control plane's own database says it
    (path,) = list(platform.data_dir.rglob("controlplane.sqlite"))
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute("SELECT actor, project, action, detail FROM audit_events WHERE action = ?", (action,)).fetchall()


@pytest.mark.parametrize("method,path", ROUTES)
def test_every_admin_route_is_refused_to_every_role_but_admins(world, method, path):
    for role in ("creator", "dev", "ops", "outsider"):
        r = world.call(role, method, path, {} if method == "POST" else None)
        assert r.status_code == 403, (role, r.status_code, r.text)
        assert r.json()["error"] == "forbidden" and "admin" in r.json()["message"]
    # anonymous: the 401 every route answers without a login, as /users does
    assert world.call(None, method, path).status_code == 401
    assert world.call(None, "GET", "/users").status_code == 401
    r = world.call("admin", method, path, {} if method == "POST" else None)
    # nothing of that name runs: the admin gets 404, everyone else never learns it
    assert r.status_code == (404 if method == "POST" else 200), r.text


def test_bad_filters_and_kinds_are_named(world):
    r = world.call("admin", "GET", "/admin/running", params={"kind": "pod"})
    assert r.status_code == 400 and r.json()["field"] == "kind" and "server" in r.json()["accepted"]
    r = world.call("admin", "GET", "/admin/running", params={"limit": "0"})
    assert r.status_code == 400 and r.json()["field"] == "limit"
    r = world.call("admin", "GET", "/admin/running", params={"cursor": "nonsense"})
    assert r.status_code == 400 and r.json()["field"] == "cursor"
    r = world.call("admin", "POST", "/admin/running/pod/1/stop")
    assert r.status_code == 404 and r.json()["field"] == "kind"


def test_an_admin_sees_a_running_task_of_another_users_project_and_stops_it(world, platform):
    run_id = long_run(world)
    item_id = f"{run_id}:hold"

    def listed():
        items = running(world, kind="task", project=world.project)["items"]
        return [i for i in items if i["id"] == item_id]

    (item,) = wait_until(listed, 30, "the task listed as running")
    assert item["kind"] == "task" and item["user"] == world.name("creator") and item["project"] == world.project
    assert item["status"] == "running" and item["use"]["cpu"] == 0.5 and item["started"] and item["cluster"] == "local"
    # filtered by user, it is there too; by another user, not
    assert [i["id"] for i in running(world, user=world.name("creator"), kind="task")["items"]].count(item_id) == 1
    assert item_id not in [i["id"] for i in running(world, user=world.name("dev"))["items"]]

    r = world.call("admin", "POST", f"/admin/running/task/{item_id}/stop")
    assert r.status_code == 202, r.text
    assert r.json() == {"kind": "task", "id": item_id, "status": "cancelled"}
    assert world.wait_run("creator", run_id)["status"] == "cancelled"
    wait_until(lambda: not listed(), 10, "the task gone from the running view")
    # stopped once: a second stop finds nothing running
    assert world.call("admin", "POST", f"/admin/running/task/{item_id}/stop").status_code == 404
    events = [e for e in audit_events(platform, "admin.stop") if item_id in e[3]]
    assert len(events) == 1 and events[0][:2] == (platform.admin, world.project), events


def test_quota_use_adds_up_across_kinds_and_users_are_counted(world, platform):
    world.call("creator", "PATCH", f"/projects/{world.project}", {"settings": {"quota": {"cpu": "8", "gpu": "2"}}})
    creator = world.users["creator"]
    start_server(creator, options={"project": world.project, "cpu": "1", "memory": "1G", "gpu": "0"})
    service = {"project": world.project, "name": fresh("svc-"), "command": [sys.executable, "-c", SERVER], "ports": "8080",
               "health": "8080:/", "cpu": "1", "memory": "1G"}
    r = world.call("creator", "POST", "/services", service)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    run_id = None
    try:
        assert world.call("creator", "POST", f"/services/{sid}/deploy").status_code == 200
        run_id = long_run(world, cpu="0.5", memory="512M")

        def all_three():
            items = running(world, project=world.project)["items"]
            kinds = {i["kind"]: i for i in items}
            return items if {"server", "task", "service"} <= set(kinds) and kinds["service"]["use"]["cpu"] else None

        items = wait_until(all_three, 60, "a server, a task and a service running")
        by_kind = {i["kind"]: i["use"] for i in items}
        assert by_kind["server"]["cpu"] == 1 and by_kind["task"]["cpu"] == 0.5 and by_kind["service"]["cpu"] == 1

        r = world.call("admin", "GET", "/admin/projects", params={"q": world.project})
        assert r.status_code == 200, r.text
        (project,) = [p for p in r.json()["projects"] if p["name"] == world.project]
        assert project["members"] == 3
        assert project["quota"] == {"cpu": 8, "memory": None, "gpu": 2}
        assert project["by_kind"]["servers"] == by_kind["server"]
        assert project["by_kind"]["tasks"] == by_kind["task"]
        assert project["by_kind"]["services"] == by_kind["service"]
        assert project["by_kind"]["trials"] == project["by_kind"]["builds"] == {"cpu": 0, "memory": 0, "gpu": 0}
        assert project["use"] == {
            "cpu": 2.5, "memory": sum(by_kind[k]["memory"] for k in ("server", "task", "service")), "gpu": 0}

        totals = running(world, project=world.project)["totals"]
        assert totals["by_project"][world.project] == {"count": 3, **project["use"]}
        assert totals["by_user"][creator.name]["count"] == 3

        r = world.call("admin", "GET", "/admin/users", params={"q": creator.name})
        assert r.status_code == 200, r.text
        (user,) = [u for u in r.json()["users"] if u["name"] == creator.name]
        assert (user["servers"], user["runs_active"], user["services"], user["experiments_active"]) == (1, 1, 1, 0)
        assert user["use"] == project["use"] and user["active"] is True and world.project in user["projects"]
        (dev,) = [u for u in world.call("admin", "GET", "/admin/users", params={"q": world.name("dev")}).json()["users"]
                  if u["name"] == world.name("dev")]
        assert (dev["servers"], dev["runs_active"], dev["services"], dev["use"]["cpu"]) == (0, 0, 0, 0)

        # the admin stops the service and the server from the same view
        r = world.call("admin", "POST", f"/admin/running/service/{sid}/stop")
        assert r.status_code == 202 and r.json()["status"] == "stopped", r.text
        assert world.call("creator", "GET", f"/services/{sid}").json()["status"] == "stopped"
        r = world.call("admin", "POST", f"/admin/running/server/{creator.name}/stop")
        assert r.status_code == 202 and r.json()["status"] == "stopping", r.text
        wait_until(lambda: not [i for i in running(world, project=world.project)["items"] if i["kind"] in ("server", "service")],
                   60, "the server and the service gone")
        actions = {e[3] for e in audit_events(platform, "admin.stop") if creator.name in e[3]}
        assert any('"service"' in a for a in actions) and any('"server"' in a for a in actions)
    finally:
        world.call("creator", "POST", f"/services/{sid}/stop")
        creator.hub_api("DELETE", f"/users/{creator.name}/server")
        if run_id:
            world.call("creator", "POST", f"/runs/{run_id}/cancel")
            world.wait_run("creator", run_id)  # ended before the next test counts this user's runs


def test_an_admin_stops_one_trial_and_its_experiment_goes_on(world, platform):
    spec = {"name": fresh("exp-"), "project": world.project, "tuner": "Random", "seed": 7,
            "search_space": {"x": {"_type": "uniform", "_value": [0, 1]}}, "trial_concurrency": 1, "max_trials": 3,
            "objective": {"metric": "default", "direction": "maximize"},
            "trial": {"template": "python", "args": {"--code": "import time\ntime.sleep(120)\n"}, "cpu": "0.5", "memory": "512M"}}
    r = world.call("creator", "POST", "/experiments", spec)
    assert r.status_code == 201, r.text
    exp_id = r.json()["id"]
    try:
        (item,) = wait_until(lambda: running(world, kind="trial", project=world.project)["items"], 60, "a trial running")
        assert item["user"] == world.name("creator") and item["name"] == f"{spec['name']} #1" and item["use"]["cpu"] == 0.5
        assert running(world, kind="task", project=world.project)["items"] == []  # a trial's run is not a pipeline task

        r = world.call("admin", "POST", f"/admin/running/trial/{item['id']}/stop")
        assert r.status_code == 202 and r.json() == {"kind": "trial", "id": item["id"], "status": "cancelled"}, r.text
        trial = world.call("creator", "GET", f"/experiments/{exp_id}/trials/{item['id']}").json()
        assert trial["status"] == "cancelled" and platform.admin in trial["message"]
        # the freed slot goes to the next trial; the experiment runs on
        (nxt,) = wait_until(lambda: [i for i in running(world, kind="trial", project=world.project)["items"] if i["id"] != item["id"]],
                            60, "the next trial running")
        assert nxt["name"] == f"{spec['name']} #2"
        assert world.call("creator", "GET", f"/experiments/{exp_id}").json()["status"] == "running"
        (user,) = [u for u in world.call("admin", "GET", "/admin/users", params={"q": world.name("creator")}).json()["users"]
                   if u["name"] == world.name("creator")]
        assert user["experiments_active"] == 1 and user["runs_active"] == 0
    finally:
        world.call("creator", "POST", f"/experiments/{exp_id}/stop")
