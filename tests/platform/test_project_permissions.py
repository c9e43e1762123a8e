"""The permission matrix of every project, member, user and registration
endpoint, for each kind of caller, against a real CubeLab.

The world (built once for the module on the session platform): project ``P``
with a creator, a dev and an ops member; an outsider (member of ``public``
only); a deactivated user (a dev of ``P`` whose account an admin deactivated,
which revoked their token); the admin; and an anonymous caller with no
credentials. Endpoints that change things act on throw-away objects made for
each cell (a scratch project with the same creator / dev / ops, a victim
user), so every cell is independent of the others.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass

import pytest
from support.paging import all_pages
from support.platform import Platform, User, register

pytestmark = pytest.mark.hub

ACTORS = ("admin", "creator", "dev", "ops", "outsider", "deactivated", "anonymous")

# Expected status of each cell. {p}: the world's project; {s}: a scratch
# project made for the cell (creator/dev/ops as in {p}); {victim}: a user made
# for the cell. DELETE .../members/{ops}: 'ops' removing themselves is leaving.
MATRIX = """
method  path                           admin creator dev  ops  outsider deactivated anonymous
GET     /projects                      200   200     200  200  200      401         401
POST    /projects                      201   201     201  201  201      401         401
GET     /projects/{p}                  200   200     200  200  404      401         401
PATCH   /projects/{p}                  200   200     403  403  404      401         401
DELETE  /projects/{s}                  204   403     403  403  404      401         401
GET     /projects/{p}/members          200   200     200  200  404      401         401
POST    /projects/{s}/members          201   201     403  403  404      401         401
PATCH   /projects/{s}/members/{dev}    200   200     403  403  404      401         401
DELETE  /projects/{s}/members/{ops}    204   204     403  204  404      401         401
GET     /me                            200   200     200  200  200      401         401
GET     /users                         200   403     403  403  403      401         401
GET     /users/{dev}                   200   403     200  403  403      401         401
PATCH   /users/{dev}                   200   403     403  403  403      401         401
DELETE  /users/{victim}                204   403     403  403  403      401         401
GET     /settings/registration         200   200     200  200  200      401         401
PUT     /settings/registration         200   403     403  403  403      401         401
"""

BODIES = {
    ("POST", "/projects"): {"name": "{new}"},
    ("PATCH", "/projects/{p}"): {"description": "changed by {actor}"},
    ("POST", "/projects/{s}/members"): {"name": "{outsider}", "role": "dev"},
    ("PATCH", "/projects/{s}/members/{dev}"): {"role": "ops"},
    ("PATCH", "/users/{dev}"): {"active": True},
    ("PUT", "/settings/registration"): {"open": True},
}

ERROR_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict", 400: "invalid"}


def parse_matrix() -> list[tuple[str, str, str, int]]:
    lines = [line.split() for line in MATRIX.strip().splitlines()]
    header, rows = lines[0], lines[1:]
    assert tuple(header[2:]) == ACTORS
    cells = []
    for row in rows:
        method, path, statuses = row[0], row[1], row[2:]
        assert len(statuses) == len(ACTORS), row
        for actor, status in zip(ACTORS, statuses, strict=True):
            cells.append((method, path, actor, int(status)))
    return cells


def cell_params():
    params = []
    for method, path, actor, status in parse_matrix():
        params.append(pytest.param(method, path, actor, status, id=f"{method} {path} as {actor} -> {status}"))
    return params


_seq = itertools.count()


def fresh(prefix: str) -> str:
    return f"{prefix}{os.getpid() % 10000}m{next(_seq)}"


@dataclass
class World:
    platform: Platform
    admin: User
    creator: User
    dev: User
    ops: User
    outsider: User
    deactivated: User
    anonymous: User
    project: str

    def actor(self, name: str) -> User:
        return getattr(self, name)

    def scratch_project(self) -> str:
        """A project with the world's creator, dev and ops in their roles."""
        name = fresh("scratch-")
        assert self.creator.api("POST", "/projects", json={"name": name}).status_code == 201
        for member, role in ((self.dev, "dev"), (self.ops, "ops")):
            resp = self.creator.api("POST", f"/projects/{name}/members", json={"name": member.name, "role": role})
            assert resp.status_code == 201, resp.text
        return name


@pytest.fixture(scope="module")
def world(platform, admin) -> World:
    creator, dev, ops, outsider, deactivated = (register(platform, fresh(p)) for p in ("creator", "dev", "ops", "outsider", "deact"))
    project = fresh("perm-")
    assert creator.api("POST", "/projects", json={"name": project}).status_code == 201
    for member, role in ((dev, "dev"), (ops, "ops"), (deactivated, "dev")):
        resp = creator.api("POST", f"/projects/{project}/members", json={"name": member.name, "role": role})
        assert resp.status_code == 201, resp.text
    assert deactivated.api("GET", f"/projects/{project}").status_code == 200
    resp = admin.api("PATCH", f"/users/{deactivated.name}", json={"active": False})
    assert resp.status_code == 200 and resp.json()["active"] is False
    anonymous = User(platform, "anonymous", "")  # no token: no Authorization header
    return World(platform, admin, creator, dev, ops, outsider, deactivated, anonymous, project)


def _fill(template, values: dict):
    if isinstance(template, str):
        return template.format(**values)
    if isinstance(template, dict):
        return {k: _fill(v, values) for k, v in template.items()}
    return template


def _snapshot(world: World, method: str, path: str):
    """What a denied request must leave unchanged, read by the admin."""
    parts = path.strip("/").split("/")
    if parts[0] == "projects" and len(parts) == 1:
        return sorted(p["name"] for p in all_pages(world.admin, "/projects", "projects"))
    if parts[0] == "projects":
        resp = world.admin.api("GET", f"/projects/{parts[1]}")
        return resp.status_code, resp.json()
    if parts[0] == "users" and len(parts) == 2:
        resp = world.admin.api("GET", f"/users/{parts[1]}")
        body = resp.json()
        body.pop("last_activity", None)
        return resp.status_code, body
    if parts[0] == "settings":
        return world.admin.api("GET", path).json()
    return None


@pytest.mark.parametrize("method,template,actor,expected", cell_params())
def test_permission_matrix(world, method, template, actor, expected):
    values = {"p": world.project, "dev": world.dev.name, "ops": world.ops.name, "creator": world.creator.name,
              "outsider": world.outsider.name, "actor": actor, "new": fresh("new-")}
    if "{s}" in template:
        values["s"] = world.scratch_project()
    if "{victim}" in template:
        values["victim"] = register(world.platform, fresh("victim")).name
    path = _fill(template, values)
    body = _fill(BODIES.get((method, template)), values)

    before = _snapshot(world, method, path) if method != "GET" else None
    caller = world.actor(actor)
    resp = caller.api(method, path, json=body) if body is not None else caller.api(method, path)

    assert resp.status_code == expected, f"{method} {path} as {actor}: {resp.status_code} {resp.text[:300]}"
    if expected >= 400:
        error = resp.json()
        assert set(error) >= {"error", "message", "field"}, error
        assert error["error"] == ERROR_CODES[expected], error
        assert isinstance(error["message"], str) and error["message"]
        if method != "GET":
            assert _snapshot(world, method, path) == before, f"a refused {method} {path} changed something"
    elif expected == 204:
        assert resp.content == b""
    else:
        assert resp.headers["Content-Type"].startswith("application/json")
        resp.json()


def test_matrix_covers_every_project_user_and_registration_route():
    """Every (route, method) of these resources appears in the matrix."""
    from cubelab_hub.controlplane.handlers import me, projects, users
    from cubelab_hub.controlplane.openapi import implemented_methods

    documented = {(m.upper(), kwargs["openapi_path"]) for mod in (me, projects, users)
                  for _p, handler, kwargs in mod.ROUTES for m in implemented_methods(handler)}
    in_matrix = set()
    for method, path, _actor, _status in parse_matrix():
        generic = (path.replace("{p}", "{project}").replace("{s}", "{project}")
                   .replace("/members/{dev}", "/members/{member}").replace("/members/{ops}", "/members/{member}")
                   .replace("/users/{dev}", "/users/{user}").replace("/users/{victim}", "/users/{user}"))
        in_matrix.add((method, generic))
    assert documented == in_matrix


# ---------------------------------------------------------------- rules beyond the matrix


def test_successful_writes_have_their_effect(world):
    scratch = world.scratch_project()
    resp = world.creator.api("PATCH", f"/projects/{scratch}/members/{world.dev.name}", json={"role": "ops"})
    assert resp.json() == {"name": world.dev.name, "role": "ops"}
    assert {"name": world.dev.name, "role": "ops"} in world.admin.api("GET", f"/projects/{scratch}/members").json()["members"]
    me = world.dev.api("GET", "/me").json()
    assert {"name": scratch, "role": "ops"} in me["projects"]
    assert world.admin.api("DELETE", f"/projects/{scratch}").status_code == 204
    assert world.admin.api("GET", f"/projects/{scratch}").status_code == 404
    assert scratch not in world.admin.hub_api("GET", f"/users/{world.dev.name}").json()["groups"]


def test_non_members_do_not_see_a_project_in_their_list(world):
    assert world.project not in {p["name"] for p in all_pages(world.outsider, "/projects", "projects")}
    assert world.project in {p["name"] for p in world.ops.api("GET", "/projects").json()["projects"]}
    assert world.project in {p["name"] for p in world.admin.api("GET", "/projects", params={"q": world.project}).json()["projects"]}


@pytest.mark.parametrize("mount", ["/data/shared(hostpath):/shared", "10.0.0.1/exports/team(nfs):/nfs"])
def test_only_admins_set_hostpath_and_nfs_mounts(world, mount):
    scratch = world.scratch_project()
    before = world.admin.api("GET", f"/projects/{scratch}").json()
    resp = world.creator.api("PATCH", f"/projects/{scratch}", json={"settings": {"volume_mount": mount}})
    assert resp.status_code == 400
    error = resp.json()
    assert error["field"] == "volume_mount"
    assert "only an admin" in error["message"]
    assert world.admin.api("GET", f"/projects/{scratch}").json() == before
    # nor at creation
    resp = world.creator.api("POST", "/projects", json={"name": fresh("mnt-"), "settings": {"volume_mount": mount}})
    assert resp.status_code == 400 and resp.json()["field"] == "volume_mount"

    ok = world.admin.api("PATCH", f"/projects/{scratch}", json={"settings": {"volume_mount": mount}})
    assert ok.status_code == 200, ok.text
    assert ok.json()["settings"]["volume_mount"] == mount
    # the creator may still edit other settings, sending the admin's mount back unchanged
    again = world.creator.api("PATCH", f"/projects/{scratch}", json={"settings": {"volume_mount": mount, "org": "team-a"}})
    assert again.status_code == 200, again.text
    # but not change it to another admin-only mount
    other = world.creator.api("PATCH", f"/projects/{scratch}", json={"settings": {"volume_mount": mount + ",/etc(hostpath):/etc2"}})
    assert other.status_code == 400 and other.json()["field"] == "volume_mount"


def test_the_last_creator_cannot_be_removed_or_demoted(world):
    scratch = world.scratch_project()
    for caller in (world.creator, world.admin):
        resp = caller.api("DELETE", f"/projects/{scratch}/members/{world.creator.name}")
        assert resp.status_code == 409, resp.text
        assert resp.json()["error"] == "conflict" and "last creator" in resp.json()["message"]
        resp = caller.api("PATCH", f"/projects/{scratch}/members/{world.creator.name}", json={"role": "dev"})
        assert resp.status_code == 409 and resp.json()["field"] == "role"
    assert {"name": world.creator.name, "role": "creator"} in world.admin.api("GET", f"/projects/{scratch}/members").json()["members"]
    # with a second creator, the first may step down and leave
    assert world.creator.api("PATCH", f"/projects/{scratch}/members/{world.dev.name}", json={"role": "creator"}).status_code == 200
    assert world.creator.api("PATCH", f"/projects/{scratch}/members/{world.creator.name}", json={"role": "ops"}).status_code == 200
    assert world.creator.api("DELETE", f"/projects/{scratch}/members/{world.creator.name}").status_code == 204
    # the remaining creator is now the last one
    assert world.dev.api("DELETE", f"/projects/{scratch}/members/{world.dev.name}").status_code == 409


def test_members_cannot_be_removed_from_public(world):
    for caller, member in ((world.admin, world.dev), (world.dev, world.dev), (world.admin, world.outsider)):
        resp = caller.api("DELETE", f"/projects/public/members/{member.name}")
        assert resp.status_code == 409, resp.text
        assert resp.json()["error"] == "conflict"
    assert world.dev.name in {m["name"] for m in world.admin.api("GET", "/projects/public/members", params={"q": world.dev.name}).json()["members"]}


def test_public_cannot_be_deleted(world):
    resp = world.admin.api("DELETE", "/projects/public")
    assert resp.status_code == 409
    assert resp.json()["error"] == "conflict" and "public" in resp.json()["message"]
    assert world.admin.api("GET", "/projects/public").status_code == 200


def test_a_member_may_leave_a_project(world):
    scratch = world.scratch_project()
    resp = world.dev.api("DELETE", f"/projects/{scratch}/members/{world.dev.name}")
    assert resp.status_code == 204
    assert world.dev.api("GET", f"/projects/{scratch}").status_code == 404  # hidden again, as for any outsider
    assert scratch not in {p["name"] for p in world.dev.api("GET", "/me").json()["projects"]}
    members = world.admin.api("GET", f"/projects/{scratch}/members").json()["members"]
    assert world.dev.name not in {m["name"] for m in members}
    group = world.admin.hub_api("GET", f"/groups/{scratch}").json()
    assert world.dev.name not in group["users"]
    assert world.dev.name not in group["properties"]["member_roles"]


@pytest.mark.parametrize(
    "method,path,body,status,error,field",
    [
        ("GET", "/projects/no-such-project", None, 404, "not_found", None),
        ("PATCH", "/projects/{p}/members/nobody-here", {"role": "dev"}, 404, "not_found", None),
        ("POST", "/projects/{p}/members", {"name": "no-such-user-x", "role": "dev"}, 404, "not_found", "name"),
        ("POST", "/projects/{p}/members", {"name": "{dev}", "role": "dev"}, 409, "conflict", "name"),
        ("POST", "/projects/{p}/members", {"name": "{outsider}", "role": "boss"}, 400, "invalid", "role"),
        ("POST", "/projects/{p}/members", {"name": "{outsider}", "colour": "red"}, 400, "invalid", "colour"),
        ("PATCH", "/projects/{p}/members/{dev}", {"role": "owner"}, 400, "invalid", "role"),
        ("POST", "/projects", {"name": "Bad_Name"}, 400, "invalid", "name"),
        ("POST", "/projects", {"name": "{p}"}, 409, "conflict", "name"),
        ("POST", "/projects", {"name": "ok-name", "owner": "x"}, 400, "invalid", "owner"),
        ("PATCH", "/projects/{p}", {"name": "renamed"}, 400, "invalid", "name"),
        ("PATCH", "/projects/{p}", {"description": 5}, 400, "invalid", "description"),
    ],
)
def test_error_bodies_are_json_with_error_message_field(world, method, path, body, status, error, field):
    values = {"p": world.project, "dev": world.dev.name, "outsider": world.outsider.name}
    before = world.admin.api("GET", f"/projects/{world.project}").json()
    resp = world.creator.api(method, _fill(path, values), json=_fill(body, values))
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    data = resp.json()
    assert set(data) >= {"error", "message", "field"}
    assert (data["error"], data["field"]) == (error, field), data
    assert data["message"]
    assert world.admin.api("GET", f"/projects/{world.project}").json() == before


def test_malformed_json_bodies_are_refused_as_json(world):
    for raw in (b"{not json", b"[1, 2]", b""):
        resp = world.creator.api("PATCH", f"/projects/{world.project}", data=raw, headers={"Content-Type": "application/json"})
        assert resp.status_code == 400, raw
        data = json.loads(resp.text)
        assert data["error"] == "invalid" and data["message"]
