"""The admin page's template routes on a real CubeLab: categories and their
palette order, Alpha -> Release, retiring a version (gone from the palette and
from new pipelines, still run by the pipelines that use it), demo pipelines, with
field-named errors and an audit record of each change. Who may call them is in
test_permissions.py's matrix."""

import json
import sqlite3

import pytest

from .cp import World, fresh

pytestmark = pytest.mark.hub

VIEW_ONLY = ("id", "created_by", "updated_at", "retired", "builtin")


@pytest.fixture(scope="module")
def cp(platform, admin):
    return World(platform, admin)


def audit_actions(cp, action: str) -> list[dict]:
    """The control plane's audit records of ``action`` (read from its database:
    the audit list route belongs to another part of the admin API)."""
    with sqlite3.connect(cp.platform.data_dir / "controlplane.sqlite") as db:
        rows = db.execute("SELECT actor, action, detail FROM audit_events WHERE action = ?", (action,)).fetchall()
    return [{"actor": a, "action": act, "detail": json.loads(d)} for a, act, d in rows]


def shell_copy(cp, name: str, **fields) -> dict:
    """A runnable template of the test's own: the built-in shell runner under another name."""
    body = {k: v for k, v in cp.call("admin", "GET", "/templates/shell/Release").json().items() if k not in VIEW_ONLY}
    body.update(name=name, display_name="", **fields)
    r = cp.call("admin", "POST", "/templates", body)
    assert r.status_code == 201, r.text
    return r.json()


def palette(cp, role: str, q: str, **params) -> list[tuple[str, str]]:
    r = cp.call(role, "GET", "/templates", params={"q": q, "limit": 100, **params})
    assert r.status_code == 200, r.text
    return [(t["name"], t["version"]) for t in r.json()["templates"]]


def test_categories_list_and_reorder_the_palette(cp):
    tag = fresh("ord")
    first, second = f"{tag}-a", f"{tag}-b"
    shell_copy(cp, f"{tag}-x", category=first, category_index=500)
    shell_copy(cp, f"{tag}-y", category=second, category_index=600)
    shell_copy(cp, f"{tag}-z", category=second, category_index=600, version="Alpha")

    cats = cp.call("admin", "GET", "/admin/template-categories").json()["categories"]
    mine = [c for c in cats if c["name"] in (first, second)]
    assert mine == [{"name": first, "index": 500, "templates": 1}, {"name": second, "index": 600, "templates": 2}]
    assert [c["index"] for c in cats] == sorted(c["index"] for c in cats)
    assert palette(cp, "creator", tag) == [(f"{tag}-x", "Release"), (f"{tag}-y", "Release")]

    r = cp.call("admin", "PUT", f"/admin/template-categories/{second}", {"index": 400})
    assert r.status_code == 200, r.text
    assert r.json() == {"name": second, "index": 400, "templates": 2}
    # the palette (everyone's template list) follows the new order
    assert palette(cp, "creator", tag) == [(f"{tag}-y", "Release"), (f"{tag}-x", "Release")]
    assert cp.call("admin", "GET", f"/templates/{tag}-z/Alpha").json()["category_index"] == 400
    assert {"category": second, "index": 400} in [e["detail"] for e in audit_actions(cp, "template.category")]


@pytest.mark.parametrize("body,field,needle", [
    ({"index": "3"}, "index", "whole number"),
    ({"index": True}, "index", "whole number"),
    ({"index": -1}, "index", "out of range"),
    ({"index": 10**7}, "index", "out of range"),
    ({}, "index", "missing"),
    ({"index": 1, "name": "x"}, "name", "cannot be changed"),
])
def test_category_index_errors_name_the_field(cp, body, field, needle):
    r = cp.call("admin", "PUT", "/admin/template-categories/base", body)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field and needle in r.json()["message"] and "index" in r.json()["accepted"]


def test_unknown_category_is_404(cp):
    assert cp.call("admin", "PUT", f"/admin/template-categories/{fresh('nocat')}", {"index": 1}).status_code == 404


def test_alpha_is_released_and_release_follows_a_later_alpha(cp):
    name = fresh("rel")
    shell_copy(cp, name, version="Alpha", description="first")
    assert palette(cp, "creator", name) == []  # Alpha: admins only

    r = cp.call("admin", "POST", f"/templates/{name}/Alpha/release")
    assert r.status_code == 201, r.text
    assert (r.json()["version"], r.json()["description"], r.json()["retired"]) == ("Release", "first", False)
    assert palette(cp, "creator", name) == [(name, "Release")]

    alpha = cp.call("admin", "GET", f"/templates/{name}/Alpha").json()
    alpha = {k: v for k, v in alpha.items() if k not in VIEW_ONLY}
    assert cp.call("admin", "PUT", f"/templates/{name}/Alpha", {**alpha, "description": "second"}).status_code == 200
    r = cp.call("admin", "POST", f"/templates/{name}/Alpha/release")
    assert r.status_code == 200 and r.json()["description"] == "second", r.text
    # the Alpha stays for pipelines pinned to it
    assert cp.call("admin", "GET", f"/templates/{name}/Alpha").status_code == 200
    assert [e["detail"]["created"] for e in audit_actions(cp, "template.release") if e["detail"]["template"] == name] == [True, False]


def test_release_without_alpha_is_404_and_builtins_are_not_replaced(cp):
    assert cp.call("admin", "POST", f"/templates/{fresh('none')}/Alpha/release").status_code == 404
    shell_alpha = cp.call("admin", "GET", "/templates/shell/Release").json()
    body = {k: v for k, v in shell_alpha.items() if k not in VIEW_ONLY}
    body["version"] = "Alpha"
    created = cp.call("admin", "POST", "/templates", body)
    assert created.status_code in (201, 409), created.text
    r = cp.call("admin", "POST", "/templates/shell/Alpha/release")
    assert r.status_code == 409 and "built-in" in r.json()["message"], r.text


def test_retired_template_leaves_palette_and_new_pipelines_but_old_ones_run(cp):
    name = fresh("ret")
    shell_copy(cp, name)
    task = {"name": "a", "template": name, "args": {"--command": "echo still here"}}
    old = cp.call("creator", "POST", "/pipelines", {"name": fresh("old"), "project": cp.project, "tasks": [task]})
    assert old.status_code == 201, old.text
    pid = old.json()["id"]

    r = cp.call("admin", "PATCH", f"/templates/{name}/Release", {"retired": True})
    assert r.status_code == 200 and r.json()["retired"] is True, r.text
    assert palette(cp, "creator", name) == []
    assert palette(cp, "admin", name) == []
    assert palette(cp, "admin", name, retired="true") == [(name, "Release")]
    assert cp.call("creator", "GET", "/templates", params={"retired": "true"}).status_code == 403
    assert cp.call("admin", "GET", "/templates", params={"retired": "maybe"}).json()["field"] == "retired"

    # a new pipeline may not take it up ...
    r = cp.call("creator", "POST", "/pipelines", {"name": fresh("new"), "project": cp.project, "tasks": [task]})
    assert r.status_code == 400 and r.json()["field"] == "tasks[0].template" and "retired" in r.json()["message"], r.text
    r = cp.call("creator", "POST", f"/pipelines/{pid}/copy", {"project": cp.project, "name": fresh("cp")})
    assert r.status_code == 400 and r.json()["field"] == "tasks[0].template", r.text
    # ... nor a changed one add it; the pipeline that used it keeps it, saves and runs
    other = cp.call("creator", "POST", "/pipelines", {"name": fresh("oth"), "project": cp.project,
                                                      "tasks": [{**task, "template": "shell"}]}).json()
    r = cp.call("creator", "PUT", f"/pipelines/{other['id']}", {"name": other["name"], "project": cp.project, "tasks": [task]})
    assert r.status_code == 400 and r.json()["field"] == "tasks[0].template", r.text
    body = cp.call("creator", "GET", f"/pipelines/{pid}").json()
    r = cp.call("creator", "PUT", f"/pipelines/{pid}", {"name": body["name"], "project": cp.project, "tasks": [task],
                                                       "description": "edited after retirement"})
    assert r.status_code == 200, r.text
    # nor an imported Cube Studio pipeline: its entry is refused, naming the task's template
    cube = {"pipeline": {"name": fresh("cube"), "dag_json": {"a": {"upstream": []}}},
            "tasks": [{"job_templete": name, "name": "a", "args": {"--command": "true"}}]}
    r = cp.call("creator", "POST", "/pipelines/import", {"format": "cube-studio", "document": cube, "project": cp.project})
    assert r.status_code == 201, r.text
    entry = r.json()["entries"][0]
    assert entry["status"] == "refused" and entry["errors"][0]["field"].endswith("tasks[0].template"), entry
    assert r.json()["pipelines"] == []
    run = cp.call("creator", "POST", f"/pipelines/{pid}/runs")
    assert run.status_code == 201, run.text
    assert cp.wait_run("creator", run.json()["id"])["status"] == "succeeded"

    r = cp.call("admin", "PATCH", f"/templates/{name}/Release", {"retired": False})
    assert r.status_code == 200 and r.json()["retired"] is False
    assert palette(cp, "creator", name) == [(name, "Release")]
    details = [e["detail"] for e in audit_actions(cp, "template.retire") + audit_actions(cp, "template.unretire")]
    assert details.count({"template": name, "version": "Release"}) == 2


@pytest.mark.parametrize("body,field", [({"retired": "yes"}, "retired"), ({}, "retired"), ({"retired": True, "image": "x"}, "image")])
def test_retire_errors_name_the_field(cp, body, field):
    name = fresh("reterr")
    shell_copy(cp, name)
    r = cp.call("admin", "PATCH", f"/templates/{name}/Release", body)
    assert r.status_code == 400 and r.json()["field"] == field, r.text
    assert cp.call("admin", "GET", f"/templates/{name}/Release").json()["retired"] is False  # nothing half-written


def test_retire_unknown_version_is_404_before_the_body(cp):
    assert cp.call("admin", "PATCH", f"/templates/{fresh('nope')}/Release", {"retired": "bad"}).status_code == 404


def test_demo_pipelines_mark_and_unmark(cp):
    created = cp.call("creator", "POST", "/pipelines", {
        "name": fresh("demo"), "project": cp.project, "parameter": {"img": "/x.png"},
        "tasks": [{"name": "a", "template": "shell", "args": {"--command": "true"}}]}).json()
    pid = created["id"]
    r = cp.call("admin", "PUT", f"/admin/demo-pipelines/{pid}")
    assert r.status_code == 200 and r.json() == {"id": pid, "name": created["name"], "project": cp.project, "demo": True}, r.text
    assert cp.call("creator", "GET", f"/pipelines/{pid}").json()["parameter"] == {"img": "/x.png", "demo": "true"}
    listed = cp.call("creator", "GET", "/pipelines", params={"project": cp.project, "q": created["name"]}).json()["pipelines"]
    assert [p["demo"] for p in listed] == [True]

    r = cp.call("admin", "DELETE", f"/admin/demo-pipelines/{pid}")
    assert r.status_code == 200 and r.json()["demo"] is False
    assert cp.call("creator", "GET", f"/pipelines/{pid}").json()["parameter"] == {"img": "/x.png"}
    assert [e["detail"]["pipeline"] for e in audit_actions(cp, "pipeline.demo")].count(pid) == 1
    assert [e["detail"]["pipeline"] for e in audit_actions(cp, "pipeline.undemo")].count(pid) == 1
    for missing in ("999999", "abc"):
        assert cp.call("admin", "PUT", f"/admin/demo-pipelines/{missing}").status_code == 404
