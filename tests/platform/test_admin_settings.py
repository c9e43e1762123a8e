"""The admin page's settings, audit log, usage, clusters and machines on a real
CubeLab: admins only, changes take effect at once and are audited with old and
new values, bad values are refused naming the field, usage counts a finished
run's task hours."""

from __future__ import annotations

import time

import pytest
import requests
from support.platform import User, register

pytestmark = pytest.mark.hub

API = "/services/cubelab/api/v1"
ROUTES = [
    ("GET", "/admin/settings", None),
    ("PATCH", "/admin/settings", {"registration_open": False}),
    ("GET", "/admin/audit", None),
    ("GET", "/admin/usage", None),
    ("GET", "/admin/clusters", None),
    ("GET", "/admin/machines", None),
    ("PATCH", "/admin/clusters/default/nodes/n1/labels", {"labels": {"train": "true"}}),
]


def test_the_documented_patch_names_any_settings_only():
    # a patch changes only what it names, as the Lab's generated types must read it too
    import jsonschema
    from support.generated_reading import as_generated

    from cubelab_hub.controlplane.handlers.admin_settings import SCHEMAS

    update = as_generated(SCHEMAS["AdminSettingsUpdate"])
    for patch in ({"registration_open": False}, {"server_expiry": {"default": "2d"}},
                  {"default_project_quota": {"cpu": "1"}}, {"role_limits": {"user": {"cpu": 2}}}):
        jsonschema.validate(patch, update)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({}, update)


@pytest.fixture(scope="module")
def world(platform, admin, helpers):
    """A project with a creator, a dev and an ops member, and a plain user."""
    users = {role: register(platform, helpers.fresh_name(role[:3])) for role in ("creator", "dev", "ops", "plain")}
    project = helpers.fresh_name("adm-")
    assert users["creator"].api("POST", "/projects", json={"name": project}).status_code == 201
    for role in ("dev", "ops"):
        r = users["creator"].api("POST", f"/projects/{project}/members", json={"name": users[role].name, "role": role})
        assert r.status_code == 201, r.text
    return {"users": users, "project": project}


def events(admin: User, **filters) -> list[dict]:
    r = admin.api("GET", "/admin/audit", params=filters)
    assert r.status_code == 200, r.text
    return r.json()["events"]


@pytest.mark.parametrize("method, path, body", ROUTES)
def test_every_admin_route_is_refused_to_anonymous_and_non_admins(platform, world, admin, method, path, body):
    anonymous = requests.request(method, f"{platform.url}{API}{path}", json=body, timeout=30)
    assert anonymous.status_code == 401  # as /users: authentication first
    for role, user in world["users"].items():
        r = user.api(method, path, json=body)
        assert r.status_code == 403, (role, r.status_code, r.text)
        assert r.json()["error"] == "forbidden"
    # nothing changed on the way
    assert admin.api("GET", "/admin/settings").json()["registration_open"] is True


def test_closing_registration_takes_effect_and_is_audited_with_old_and_new(platform, admin, helpers):
    before = admin.api("GET", "/admin/settings").json()
    assert before["registration_open"] is True
    try:
        r = admin.api("PATCH", "/admin/settings", json={"registration_open": False})
        assert r.status_code == 200, r.text
        assert r.json()["registration_open"] is False
        newcomer = User(platform, helpers.fresh_name("late"), "a-long-enough-password")
        refused = newcomer.login()
        assert refused.status_code == 403 and "Registration is closed" in helpers.login_error(refused)
        latest = events(admin, action="settings.change", limit=1)[0]
        assert latest["actor"] == admin.name and latest["project"] is None
        assert latest["detail"] == {"setting": "registration_open", "old": True, "new": False}
    finally:
        assert admin.api("PATCH", "/admin/settings", json={"registration_open": True}).status_code == 200
    assert newcomer.login().status_code == 302
    assert events(admin, action="settings.change", limit=1)[0]["detail"] == {"setting": "registration_open", "old": False, "new": True}


def test_expiry_role_limits_and_default_quota_change_at_run_time(platform, admin, world):
    creator = world["users"]["creator"]
    project = world["project"]
    pipeline = creator.api("POST", "/pipelines", json={"name": "two-cores", "project": project, "tasks": [
        {"name": "t", "template": "shell", "args": {"--command": "true"}, "cpu": "2"}]})
    assert pipeline.status_code == 201, pipeline.text
    try:
        r = admin.api("PATCH", "/admin/settings", json={
            "server_expiry": {"default": "12h", "per_kind": {"vscode": "1h"}},
            "role_limits": {"user": {"cpu": "1", "memory": "1G", "gpu": 0}, "admin": {}},
            "default_project_quota": {"cpu": "1"}})
        assert r.status_code == 200, r.text
        settings = r.json()
        assert settings["server_expiry"] == {"default": "12h", "per_kind": {"vscode": "1h"}, "gpu": ""}
        assert settings["role_limits"] == {"user": {"cpu": "1", "memory": "1G", "gpu": "0"}, "admin": {}}
        assert settings["default_project_quota"] == {"cpu": "1", "memory": None, "gpu": None}
        # the project sets no quota of its own: the default refuses a task over it, with no restart
        refused = creator.api("POST", f"/pipelines/{pipeline.json()['id']}/runs")
        assert refused.status_code == 409, refused.text
        assert "quota" in refused.text
        # the spawner (in the hub's process) reads the role limits on its next spawn
        spawn = creator.hub_api("POST", f"/users/{creator.name}/server", json={"project": "public", "cpu": "2", "memory": "1G"})
        assert spawn.status_code == 400, spawn.text
        assert "your role allows 1 per server" in spawn.text
        changed = {e["detail"]["setting"]: e["detail"] for e in events(admin, action="settings.change", limit=3)}
        assert changed["default_project_quota"]["old"] == {"cpu": None, "memory": None, "gpu": None}
        assert changed["default_project_quota"]["new"] == {"cpu": "1", "memory": None, "gpu": None}
        assert changed["role_limits"]["old"] is None
        assert changed["server_expiry"]["old"]["default"] == "3d" and changed["server_expiry"]["new"]["default"] == "12h"
    finally:
        r = admin.api("PATCH", "/admin/settings", json={"server_expiry": {"default": "3d", "per_kind": {}},
                                                         "role_limits": None, "default_project_quota": None})
        assert r.status_code == 200, r.text
    assert r.json()["role_limits"] is None and r.json()["server_expiry"]["default"] == "3d"
    ok = creator.api("POST", f"/pipelines/{pipeline.json()['id']}/runs")
    assert ok.status_code in (201, 202), ok.text


def test_invalid_settings_are_refused_naming_each_field_and_nothing_changes(admin):
    before = admin.api("GET", "/admin/settings").json()
    r = admin.api("PATCH", "/admin/settings", json={"registration_open": False, "server_expiry": {"default": "soon"},
                                                    "role_limits": {"user": {"cpu": "many"}}, "colour": "blue"})
    assert r.status_code == 400
    body = r.json()
    assert body["field"] == "colour"
    assert [e["field"] for e in body["errors"]] == ["colour", "server_expiry.default", "role_limits.user.cpu"]
    assert all(e["accepted"] for e in body["errors"])
    assert admin.api("GET", "/admin/settings").json() == before
    assert admin.api("PATCH", "/admin/settings", json={}).json()["field"] == "settings"


def test_the_audit_log_pages_newest_first_with_filters(admin, world):
    creator, project = world["users"]["creator"], world["project"]
    dev = world["users"]["dev"].name
    assert creator.api("PATCH", f"/projects/{project}/members/{dev}", json={"role": "ops"}).status_code == 200
    assert creator.api("PATCH", f"/projects/{project}", json={"settings": {"quota": {"gpu": "1"}}}).status_code == 200
    assert creator.api("PATCH", f"/projects/{project}", json={"settings": {"quota": None}}).status_code == 200
    first = admin.api("GET", "/admin/audit", params={"project": project, "limit": 2}).json()
    assert [e["action"] for e in first["events"]] == ["project.update", "project.update"]
    assert first["events"][0]["detail"]["old"] == {"quota": {"gpu": "1"}} and first["events"][0]["detail"]["new"] == {"quota": None}
    assert first["events"][0]["id"] > first["events"][1]["id"]
    rest = admin.api("GET", "/admin/audit", params={"project": project, "limit": 2, "cursor": first["next_cursor"]}).json()
    role_change = rest["events"][0]
    assert role_change["action"] == "member.role" and role_change["actor"] == creator.name
    assert role_change["detail"]["old"] == "dev" and role_change["detail"]["new"] == "ops"
    mine = events(admin, actor=creator.name, action="member.role")
    assert mine and all(e["actor"] == creator.name and e["action"] == "member.role" for e in mine)
    # a cursor belongs to its filters
    other = admin.api("GET", "/admin/audit", params={"limit": 2, "cursor": first["next_cursor"]})
    assert other.status_code == 400 and other.json()["field"] == "cursor"
    assert admin.api("GET", "/admin/audit", params={"actor": "x" * 300}).json()["field"] == "actor"


def test_usage_counts_a_finished_runs_task_hours(admin, world):
    creator, project = world["users"]["creator"], world["project"]
    r = creator.api("POST", "/pipelines", json={"name": "usage", "project": project, "tasks": [
        {"name": "work", "template": "shell", "args": {"--command": "sleep 2"}, "cpu": "1"}]})
    assert r.status_code == 201, r.text
    run = creator.api("POST", f"/pipelines/{r.json()['id']}/runs")
    assert run.status_code in (201, 202), run.text
    run_id = run.json()["id"]
    deadline = time.monotonic() + 60
    while creator.api("GET", f"/runs/{run_id}").json()["status"] != "succeeded":
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(0.2)

    def series(by: str, q: str = "") -> dict:
        # other tests' projects share this platform: `q` keeps this test's own in the top
        answer = admin.api("GET", "/admin/usage", params={"days": 7, "by": by, "q": q})
        assert answer.status_code == 200, answer.text
        data = answer.json()
        assert len(data["days"]) == 7 and data["days"] == sorted(data["days"])
        for s in data["series"]:
            assert len(s["cpu_hours"]) == 7 and len(s["gpu_hours"]) == 7
        return {s["key"]: s for s in data["series"]}

    deadline = time.monotonic() + 15
    while project not in series("project", project):
        assert time.monotonic() < deadline, "the task's hours were not recorded"
        time.sleep(0.5)
    hours = series("project", project)[project]["cpu_hours"][-1]
    # one core for about two seconds (the task's own start and end as the engine saw them)
    assert 1.5 / 3600 <= hours <= 30 / 3600, hours
    assert series("user", creator.name)[creator.name]["cpu_hours"][-1] >= hours
    # the largest `top` series, the rest summed: together they are every matching one
    everything = admin.api("GET", "/admin/usage", params={"days": 7, "top": 100}).json()
    one = admin.api("GET", "/admin/usage", params={"days": 7, "top": 1}).json()
    if len(everything["series"]) > 1 and everything["others"] is None:
        assert len(one["series"]) == 1 and one["others"]["keys"] == len(everything["series"]) - 1
        total = sum(map(sum, (s["cpu_hours"] for s in everything["series"])))
        assert abs(sum(one["series"][0]["cpu_hours"]) + sum(one["others"]["cpu_hours"]) - total) < 1e-3
    for bad, field in (({"days": 91}, "days"), ({"days": "x"}, "days"), ({"by": "cluster"}, "by"), ({"top": 0}, "top"),
                       ({"q": "x" * 101}, "q")):
        refused = admin.api("GET", "/admin/usage", params=bad)
        assert refused.status_code == 400 and refused.json()["field"] == field


def test_clusters_and_this_machine(admin):
    clusters = admin.api("GET", "/admin/clusters").json()["clusters"]
    assert clusters[0] == {"name": "local", "kind": "local", "reachable": True, "error": None}
    machine = admin.api("GET", "/admin/machines").json()
    assert machine["kind"] == "local"
    assert machine["cpu"]["count"] >= 1 and machine["memory"]["total"] > 0
    assert isinstance(machine["gpus"], list) and isinstance(machine["holders"], list)
    assert admin.api("GET", "/admin/machines", params={"cluster": "nowhere"}).status_code == 404
    # this machine has no nodes to label; the body is not even read
    r = admin.api("PATCH", "/admin/clusters/local/nodes/n1/labels", data="not json")
    assert r.status_code == 404
