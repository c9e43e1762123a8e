"""Permission matrix of every pipelines/templates/runs/schedules route, for each
kind of caller: admin, project creator (alice, who also created the pipeline),
dev (dan), ops (olga), non-member (nina), anonymous."""

import itertools

import pytest

ROLES = ["admin", "alice", "dan", "olga", "nina", None]
_n = itertools.count()

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
    ("POST", "/pipelines/validate", "new", [200, 200, 200, 200, 200, 401]),
    ("GET", "/pipelines", None, [200, 200, 200, 200, 200, 401]),
    ("GET", "/runs", None, [200, 200, 200, 200, 200, 401]),
    ("POST", "/runs", {"project": "proj", "task": {"template": "shell", "args": {"--command": "true"}}}, [201, 201, 201, 403, 403, 401]),
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
]


def pipeline_body(name):
    return {"name": name, "project": "proj", "tasks": [{"name": "a", "template": "shell", "args": {"--command": "echo hi"}}]}


def template_body(name):
    return {"name": name, "image": "busybox", "command": ["true"]}


@pytest.fixture(scope="module")
def fixtures(cp):
    pid = cp.call("alice", "POST", "/pipelines", pipeline_body("perm")).json()["id"]
    rid = cp.call("alice", "POST", f"/pipelines/{pid}/runs").json()["id"]
    cp.wait_run("alice", rid)
    cp.call("admin", "POST", "/templates", template_body("perm-tpl"))
    doc = cp.call("alice", "GET", f"/pipelines/{pid}/export").json()
    return {"pid": pid, "rid": rid, "doc": doc}


def resolve(cp, fx, path, body_kind):
    n = next(_n)
    if "{fresh}" in path:
        path = path.replace("{fresh}", str(cp.call("alice", "POST", "/pipelines", pipeline_body(f"fresh{n}")).json()["id"]))
    if "{fresh_tpl}" in path:
        cp.call("admin", "POST", "/templates", template_body(f"fresh-tpl{n}"))
        path = path.replace("{fresh_tpl}", f"fresh-tpl{n}")
    path = path.format(pid=fx["pid"], rid=fx["rid"], tpl="perm-tpl")
    if isinstance(body_kind, dict):
        return path, body_kind
    body = {
        None: None,
        "same": pipeline_body("perm"),
        "new": pipeline_body(f"new{n}"),
        "import": {"document": fx["doc"], "project": "proj", "name": f"imp{n}"},
        "template": template_body(f"tpl{n}"),
        "template-same": template_body("perm-tpl"),
        "kfp": {"format": "kfp", "content": f"name: kfp{n}\nimplementation: {{container: {{image: busybox, command: [true]}}}}"},
    }.get(body_kind, body_kind)
    return path, body


@pytest.mark.parametrize("method,path,body,expected", PIPELINE_ROUTES + TEMPLATE_ROUTES, ids=lambda v: v if isinstance(v, str) else None)
def test_matrix(cp, fixtures, method, path, body, expected):
    got = []
    for role in ROLES:
        real_path, real_body = resolve(cp, fixtures, path, body)
        got.append(cp.call(role, method, real_path, real_body).status_code)
    assert got == expected, dict(zip([r or "anonymous" for r in ROLES], got))


def test_matrix_covers_every_route():
    from cubelab_hub.controlplane.handlers import pipelines, runs, schedules, templates
    from cubelab_hub.controlplane.openapi import implemented_methods

    served = {(m.upper(), kw["openapi_path"]) for mod in (pipelines, runs, schedules, templates)
              for _p, handler, kw in mod.ROUTES for m in implemented_methods(handler)}
    generic = {(m, p.replace("{pid}", "{pipeline_id}").replace("{fresh}", "{pipeline_id}").replace("{rid}", "{run_id}")
                .replace("/tasks/a/", "/tasks/{task}/").replace("/resource-proposals/a/", "/resource-proposals/{task}/")
                .replace("/templates/shell/Release", "/templates/{name}/{version}").replace("{tpl}/Release", "{name}/{version}")
                .replace("{fresh_tpl}/Release", "{name}/{version}"))
               for m, p, _b, _e in PIPELINE_ROUTES + TEMPLATE_ROUTES}
    assert served == generic
