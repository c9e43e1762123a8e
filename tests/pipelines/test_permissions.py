"""Permission matrix of every pipelines/templates/runs/schedules route, for each
kind of caller, on a real CubeLab: admin, project creator (who also created the
pipeline), dev, ops, non-member (an outsider, member of ``public`` only),
anonymous (no token). The world (built once for the module on the session
platform, as in tests/platform/test_project_permissions.py) is a project made
through /projects with users who registered by logging in; routes that change
things act on throw-away objects made for each call."""

import itertools

import pytest

from .cp import ROLES, World, fresh

pytestmark = pytest.mark.hub

_n = itertools.count()
ERROR_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found"}

# (method, path, body or None, expected status per role in ROLES order)
PIPELINE_ROUTES = [
    ("GET", "/pipelines/{pid}", None, [200, 200, 200, 200, 404, 401]),
    ("PUT", "/pipelines/{pid}", "same", [200, 200, 403, 403, 404, 401]),
    ("DELETE", "/pipelines/{fresh}", None, [204, 204, 403, 403, 404, 401]),
    ("POST", "/pipelines/{pid}/validate", None, [200, 200, 200, 200, 404, 401]),
    ("GET", "/pipelines/{pid}/export", None, [200, 200, 200, 200, 404, 401]),
    ("GET", "/pipelines/{pid}/runs", None, [200, 200, 200, 200, 404, 401]),
    ("POST", "/pipelines/{pid}/runs", None, [201, 201, 403, 201, 404, 401]),
    ("POST", "/pipelines/{pid}/tasks/a/debug", None, [201, 201, 403, 201, 404, 401]),
    ("GET", "/pipelines/{pid}/resource-proposals", None, [200, 200, 200, 200, 404, 401]),
    ("POST", "/pipelines/{pid}/resource-proposals/a/accept", None, [409, 409, 403, 403, 404, 401]),
    ("GET", "/pipelines/{pid}/schedule", None, [200, 200, 200, 200, 404, 401]),
    ("PUT", "/pipelines/{pid}/schedule", {"enabled": False, "cron": "0 * * * *"}, [200, 200, 403, 403, 404, 401]),
    ("GET", "/pipelines/{pid}/schedule/records", None, [200, 200, 200, 200, 404, 401]),
    ("GET", "/runs/{rid}", None, [200, 200, 200, 200, 404, 401]),
    ("GET", "/runs/{rid}/events", None, [200, 200, 200, 200, 404, 401]),
    ("GET", "/runs/{rid}/tasks/a/logs", None, [200, 200, 200, 200, 404, 401]),
    ("POST", "/runs/{rid}/cancel", None, [200, 200, 403, 200, 404, 401]),
    ("POST", "/runs/{rid}/rerun", None, [201, 201, 403, 201, 404, 401]),
    ("POST", "/pipelines", "new", [201, 201, 201, 403, 403, 401]),
    ("POST", "/pipelines/import", "import", [201, 201, 201, 403, 403, 401]),
    ("POST", "/pipelines/{pid}/copy", "copy", [201, 201, 201, 403, 404, 401]),
    ("POST", "/pipelines/validate", "new", [200, 200, 200, 200, 200, 401]),
    ("GET", "/pipelines", None, [200, 200, 200, 200, 200, 401]),
    ("GET", "/runs", None, [200, 200, 200, 200, 200, 401]),
    ("POST", "/runs", "oneoff", [201, 201, 201, 403, 403, 401]),
    ("GET", "/schedules", None, [200, 200, 200, 200, 200, 401]),
    ("POST", "/schedules/preview", {"cron": "0 * * * *"}, [200, 200, 200, 200, 200, 401]),
]

TEMPLATE_ROUTES = [
    ("GET", "/templates", None, [200, 200, 200, 200, 200, 401]),
    ("GET", "/templates/shell/Release", None, [200, 200, 200, 200, 200, 401]),
    ("POST", "/templates", "template", [201, 403, 403, 403, 403, 401]),
    ("PUT", "/templates/{tpl}/Release", "template-same", [200, 403, 403, 403, 403, 401]),
    ("DELETE", "/templates/{fresh_tpl}/Release", None, [204, 403, 403, 403, 403, 401]),
    ("POST", "/templates/import", "kfp", [201, 403, 403, 403, 403, 401]),
    # the admin page's (admin-only: 403 to every project role; anonymous 401 as for /users)
    ("PATCH", "/templates/{fresh_tpl}/Release", {"retired": False}, [200, 403, 403, 403, 403, 401]),
    ("POST", "/templates/{fresh_alpha}/Alpha/release", None, [201, 403, 403, 403, 403, 401]),
    ("GET", "/admin/template-categories", None, [200, 403, 403, 403, 403, 401]),
    ("PUT", "/admin/template-categories/{fresh_cat}", {"index": 7}, [200, 403, 403, 403, 403, 401]),
    ("PUT", "/admin/demo-pipelines/{fresh}", None, [200, 403, 403, 403, 403, 401]),
    ("DELETE", "/admin/demo-pipelines/{fresh}", None, [200, 403, 403, 403, 403, 401]),
]


def pipeline_body(name, project):
    return {"name": name, "project": project, "tasks": [{"name": "a", "template": "shell", "args": {"--command": "echo hi"}}]}


def template_body(name):
    return {"name": name, "image": "busybox", "command": ["true"]}


@pytest.fixture(scope="module")
def cp(platform, admin):
    return World(platform, admin)


@pytest.fixture(scope="module")
def fixtures(cp):
    r = cp.call("creator", "POST", "/pipelines", pipeline_body("perm", cp.project))
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    rid = cp.call("creator", "POST", f"/pipelines/{pid}/runs").json()["id"]
    assert cp.wait_run("creator", rid)["status"] == "succeeded"
    tpl = fresh("perm-tpl-")  # templates are platform-wide: names of this module's own
    assert cp.call("admin", "POST", "/templates", template_body(tpl)).status_code == 201
    doc = cp.call("creator", "GET", f"/pipelines/{pid}/export").json()
    return {"pid": pid, "rid": rid, "doc": doc, "tpl": tpl}


def resolve(cp, fx, path, body_kind):
    n = fresh("x")
    if "{fresh}" in path:
        r = cp.call("creator", "POST", "/pipelines", pipeline_body(f"fresh{n}", cp.project))
        assert r.status_code == 201, r.text
        path = path.replace("{fresh}", str(r.json()["id"]))
    if "{fresh_tpl}" in path:
        assert cp.call("admin", "POST", "/templates", template_body(f"fresh-tpl{n}")).status_code == 201
        path = path.replace("{fresh_tpl}", f"fresh-tpl{n}")
    if "{fresh_alpha}" in path:
        assert cp.call("admin", "POST", "/templates", {**template_body(f"fresh-alpha{n}"), "version": "Alpha"}).status_code == 201
        path = path.replace("{fresh_alpha}", f"fresh-alpha{n}")
    if "{fresh_cat}" in path:
        body = {**template_body(f"fresh-cat{n}"), "category": f"perm-cat{n}"}
        assert cp.call("admin", "POST", "/templates", body).status_code == 201
        path = path.replace("{fresh_cat}", f"perm-cat{n}")
    path = path.format(pid=fx["pid"], rid=fx["rid"], tpl=fx["tpl"])
    if isinstance(body_kind, dict):
        return path, body_kind
    body = {
        None: None,
        "same": pipeline_body("perm", cp.project),
        "new": pipeline_body(f"new{n}", cp.project),
        "import": {"document": fx["doc"], "project": cp.project, "name": f"imp{n}"},
        "copy": {"project": cp.project, "name": f"copy{n}"},
        "oneoff": {"project": cp.project, "task": {"template": "shell", "args": {"--command": "true"}}},
        "template": template_body(f"tpl{n}"),
        "template-same": template_body(fx["tpl"]),
        "kfp": {"format": "kfp", "content": f"name: kfp{n}\nimplementation: {{container: {{image: busybox, command: ['true']}}}}"},
    }.get(body_kind, body_kind)
    return path, body


@pytest.mark.parametrize("method,path,body,expected", PIPELINE_ROUTES + TEMPLATE_ROUTES, ids=lambda v: v if isinstance(v, str) else None)
def test_matrix(cp, fixtures, method, path, body, expected):
    got, errors = [], []
    for role in ROLES:
        real_path, real_body = resolve(cp, fixtures, path, body)
        r = cp.call(role, method, real_path, real_body)
        got.append(r.status_code)
        if r.status_code in ERROR_CODES:  # refusals are JSON that say which refusal
            assert r.headers["Content-Type"].startswith("application/json"), (role, r.text[:200])
            errors.append((role, r.json().get("error"), ERROR_CODES[r.status_code]))
    assert got == expected, dict(zip([r or "anonymous" for r in ROLES], got, strict=True))
    assert [e for e in errors if e[1] != e[2]] == []


def test_matrix_covers_every_route():
    from cubelab_hub.controlplane.handlers import pipelines, runs, schedules, templates
    from cubelab_hub.controlplane.openapi import implemented_methods

    served = {(m.upper(), kw["openapi_path"]) for mod in (pipelines, runs, schedules, templates)
              for _p, handler, kw in mod.ROUTES for m in implemented_methods(handler)}
    generic = {(m, p.replace("{pid}", "{pipeline_id}").replace("{fresh}", "{pipeline_id}").replace("{rid}", "{run_id}")
                .replace("/tasks/a/", "/tasks/{task}/").replace("/resource-proposals/a/", "/resource-proposals/{task}/")
                .replace("/templates/shell/Release", "/templates/{name}/{version}").replace("{tpl}/Release", "{name}/{version}")
                .replace("{fresh_tpl}/Release", "{name}/{version}").replace("{fresh_alpha}", "{name}")
                .replace("{fresh_cat}", "{name}"))
               for m, p, _b, _e in PIPELINE_ROUTES + TEMPLATE_ROUTES}
    assert served == generic
