"""Load and authorize before validating: for every route that names a project,
pipeline or run, a caller who may not see it gets 404 whatever body they send
(valid, invalid, empty, not JSON), and the answer is the same whether the
thing exists or not, so nobody learns what exists where they may not look.

Members who may see a thing but lack the action keep 403, also before the body
is read. On a real CubeLab (the session platform), the world of :mod:`.cp`.
"""

from __future__ import annotations

import re

import pytest

from .cp import World, fresh

pytestmark = pytest.mark.hub

MISSING_ID = "987654321"
MISSING_RUN = "0000000000000000000000000000000000000000"
MISSING_PROJECT = "no-such-project-x"

# (method, path template); {pid}, {rid}, {project}, {member} are filled with an
# existing thing or a missing one
ROUTES = [
    ("GET", "/pipelines/{pid}"),
    ("PUT", "/pipelines/{pid}"),
    ("DELETE", "/pipelines/{pid}"),
    ("POST", "/pipelines/{pid}/validate"),
    ("GET", "/pipelines/{pid}/export"),
    ("GET", "/pipelines/{pid}/runs"),
    ("POST", "/pipelines/{pid}/runs"),
    ("POST", "/pipelines/{pid}/tasks/a/debug"),
    ("GET", "/pipelines/{pid}/resource-proposals"),
    ("POST", "/pipelines/{pid}/resource-proposals/a/accept"),
    ("GET", "/pipelines/{pid}/schedule"),
    ("PUT", "/pipelines/{pid}/schedule"),
    ("GET", "/pipelines/{pid}/schedule/records"),
    ("GET", "/runs/{rid}"),
    ("GET", "/runs/{rid}/events"),
    ("GET", "/runs/{rid}/tasks/a/logs"),
    ("POST", "/runs/{rid}/cancel"),
    ("POST", "/runs/{rid}/rerun"),
    ("GET", "/projects/{project}"),
    ("PATCH", "/projects/{project}"),
    ("DELETE", "/projects/{project}"),
    ("GET", "/projects/{project}/members"),
    ("POST", "/projects/{project}/members"),
    ("PATCH", "/projects/{project}/members/{member}"),
    ("DELETE", "/projects/{project}/members/{member}"),
    ("PUT", "/projects/{project}/pull-secrets"),
]

# what a careless caller may send: None = no body at all
BODIES = {
    "empty": None,
    "not-json": b"{not json",
    "not-an-object": b"[1, 2]",
    "incomplete": b"{}",
    "invalid": b'{"name": 5, "cron": "nonsense", "role": "king", "mode": "sideways", "description": 7, "limit": -1}',
    "valid-looking": b'{"name": "x", "project": "public", "tasks": [], "cron": "0 * * * *", "role": "dev", "mode": "all", "description": "d"}',
}


@pytest.fixture(scope="module")
def world(platform, admin):
    cp = World(platform, admin)
    body = {"name": "hidden", "project": cp.project, "tasks": [{"name": "a", "template": "shell", "args": {"--command": "true"}}]}
    r = cp.call("creator", "POST", "/pipelines", body)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    rid = cp.call("creator", "POST", f"/pipelines/{pid}/runs").json()["id"]
    assert cp.wait_run("creator", rid)["status"] == "succeeded"
    cp.existing = {"pid": str(pid), "rid": rid, "project": cp.project, "member": cp.name("dev")}
    cp.missing = {"pid": MISSING_ID, "rid": MISSING_RUN, "project": MISSING_PROJECT, "member": cp.name("dev")}
    return cp


def call_raw(cp: World, role: str, method: str, path: str, body: bytes | None):
    import requests

    headers = {**cp.headers(role), "Content-Type": "application/json"}
    return requests.request(method, cp.url + path, data=body, headers=headers, timeout=30)


def masked(resp, path: str, ids: dict) -> dict:
    """The answer with the names from the path that it may echo replaced, for comparing answers."""
    text = resp.text
    for value in sorted({ids[key] for key in re.findall(r"\{(\w+)\}", path)}, key=len, reverse=True):
        text = text.replace(value, "<id>")
    return {"status": resp.status_code, "body": text}


@pytest.mark.parametrize("method,path", ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_outsider_gets_the_same_404_whatever_the_body_and_whether_it_exists(world, method, path):
    for kind, body in BODIES.items():
        answers = []
        for ids in (world.existing, world.missing):
            r = call_raw(world, "outsider", method, path.format(**ids), body)
            assert r.status_code == 404, f"{kind} body, {ids}: {r.status_code} {r.text[:300]}"
            assert r.json()["error"] == "not_found"
            answers.append(masked(r, path, ids))
        assert answers[0] == answers[1], f"{kind} body: the answer tells an existing thing from a missing one"


# members who may see the thing but lack the action: 403 before the body is read
FORBIDDEN = [
    ("dev", "PUT", "/pipelines/{pid}"),
    ("dev", "PUT", "/pipelines/{pid}/schedule"),
    ("dev", "POST", "/runs/{rid}/rerun"),
    ("dev", "PATCH", "/projects/{project}"),
    ("dev", "POST", "/projects/{project}/members"),
    ("ops", "PATCH", "/projects/{project}/members/{member}"),
]


@pytest.mark.parametrize("role,method,path", FORBIDDEN, ids=[f"{r} {m} {p}" for r, m, p in FORBIDDEN])
def test_member_without_the_right_gets_403_before_validation(world, role, method, path):
    for kind, body in BODIES.items():
        r = call_raw(world, role, method, path.format(**world.existing), body)
        assert r.status_code == 403, f"{kind} body: {r.status_code} {r.text[:300]}"
        assert r.json()["error"] == "forbidden"


def test_a_project_left_is_hidden_again(world, platform):
    from support.platform import register

    leaver = register(platform, fresh("leaver"))
    project = fresh("hide-")
    assert leaver.api("POST", "/projects", json={"name": project}).status_code == 201
    assert leaver.api("POST", f"/projects/{project}/members", json={"name": world.name("dev"), "role": "creator"}).status_code == 201
    assert leaver.api("DELETE", f"/projects/{project}/members/{leaver.name}").status_code == 204
    for method, path in (("GET", f"/projects/{project}"), ("PATCH", f"/projects/{project}"), ("GET", f"/projects/{project}/members")):
        r = leaver.api(method, path, json={})
        assert r.status_code == 404, (method, path, r.text)


@pytest.mark.parametrize("path", ["/runs/run-1%00", "/projects/x%00y", "/projects/x%00y/members/z", "/templates/shell%00/Release",
                                  "/users/{me}%00/server"])
def test_names_that_no_row_can_have_answer_404(world, path):
    # a NUL byte names nothing (and PostgreSQL refuses it in a query): 404, not a 5xx
    r = world.call("creator", "GET", path.format(me=world.name("creator")))
    assert r.status_code == 404, r.text
    assert r.json()["error"] == "not_found"
