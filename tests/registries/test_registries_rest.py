"""Registries through the REST API of a real platform: who sees and keeps
which, strict errors, and a password that never comes back (API answers, the
platform's log, any process's command line) yet is stored sealed."""

from __future__ import annotations

import sqlite3
import subprocess

import pytest
from support.platform import User, register

from cubelab_hub.controlplane.services.secret_box import KEY_FILE, SecretBox

pytestmark = pytest.mark.hub

PASSWORD = "reg-PW-7c1e9f0a-never-shown"


def _new(platform, prefix: str) -> User:
    import itertools
    import os

    _new.count = getattr(_new, "count", itertools.count())
    return register(platform, f"{prefix}{next(_new.count)}r{os.getpid() % 1000}")


@pytest.fixture(scope="module")
def team(platform, admin):
    creator, dev, outsider = _new(platform, "rcreator"), _new(platform, "rdev"), _new(platform, "routsider")
    project = f"regs-{creator.name}"
    assert creator.api("POST", "/projects", json={"name": project}).status_code == 201
    assert creator.api("POST", f"/projects/{project}/members", json={"name": dev.name, "role": "dev"}).status_code == 201
    return {"creator": creator, "dev": dev, "outsider": outsider, "project": project, "admin": admin}


def test_registries_are_kept_by_their_keepers_and_hidden_from_outsiders(platform, team):
    creator, dev, outsider, admin, project = team["creator"], team["dev"], team["outsider"], team["admin"], team["project"]
    name = f"r-{project}"[:40].rstrip("-")
    body = {"name": name, "project": project, "host": "Registry.Example.com:8443", "username": "robot", "password": PASSWORD}
    answers = []

    # outsiders: 404 before any validation, even with a broken body
    resp = outsider.api("POST", "/registries", json={"project": project, "host": "http://bad"})
    assert resp.status_code == 404 and resp.json()["field"] == "project", resp.text
    # a dev sees the project but may not keep its registries
    assert dev.api("POST", "/registries", json=body).status_code == 403
    # only admins add platform-wide ones
    assert creator.api("POST", "/registries", json={**body, "project": None}).status_code == 403

    created = creator.api("POST", "/registries", json=body)
    answers.append(created.text)
    assert created.status_code == 201, created.text
    view = created.json()
    assert view["password_set"] is True and "password" not in view
    assert view["host"] == "registry.example.com:8443" and view["pull_secret"] == f"cubelab-registry-{name}"
    assert view["permissions"] == {"edit": True}
    assert creator.api("POST", "/registries", json=body).status_code == 409

    for user, status in ((creator, 200), (dev, 200), (admin, 200), (outsider, 404)):
        resp = user.api("GET", f"/registries/{name}")
        answers.append(resp.text)
        assert resp.status_code == status, (user.name, resp.text)
    assert dev.api("GET", f"/registries/{name}").json()["permissions"] == {"edit": False}
    # outsiders: 404 before the body is looked at, for every method
    assert outsider.api("PATCH", f"/registries/{name}", data=b"not json").status_code == 404
    assert outsider.api("DELETE", f"/registries/{name}").status_code == 404
    assert dev.api("PATCH", f"/registries/{name}", json={"username": "x"}).status_code == 403

    listed = {r["name"] for r in dev.api("GET", "/registries").json()["registries"]}
    assert name in listed
    assert name not in {r["name"] for r in outsider.api("GET", "/registries").json()["registries"]}
    assert outsider.api("GET", f"/registries?project={project}").json() == {"registries": [], "next_cursor": None}
    page = admin.api("GET", "/registries?limit=1")
    answers.append(page.text)
    assert page.status_code == 200 and len(page.json()["registries"]) == 1

    # an edit without a password keeps the stored one; the name never changes
    edited = creator.api("PATCH", f"/registries/{name}", json={"username": "robot2", "description": "CI pushes"})
    answers.append(edited.text)
    assert edited.status_code == 200 and edited.json()["username"] == "robot2" and edited.json()["password_set"] is True
    resp = creator.api("PATCH", f"/registries/{name}", json={"name": "other"})
    assert resp.status_code == 400 and resp.json()["field"] == "name"

    # the password is stored sealed, and opens with the platform's key
    row = sqlite3.connect(platform.data_dir / "controlplane.sqlite").execute(
        "SELECT password FROM registries WHERE name = ?", (name,)).fetchone()
    assert row and PASSWORD not in row[0] and row[0].startswith("v1:")
    key_file = platform.data_dir / KEY_FILE
    assert key_file.stat().st_mode & 0o077 == 0
    assert SecretBox(key_file).open(row[0], f"registry:{name}") == PASSWORD

    # the scan: no answer, no log line, no command line holds the password
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    for where, text in (("API answers", "\n".join(answers)), ("the platform's log", platform.log_text()), ("ps", ps)):
        assert PASSWORD not in text, f"the password appears in {where}"

    assert creator.api("DELETE", f"/registries/{name}").status_code == 204
    assert creator.api("GET", f"/registries/{name}").status_code == 404


def test_bad_registries_are_refused_naming_each_field_and_never_echoing_the_password(platform, team):
    resp = team["creator"].api("POST", "/registries", json={"name": "Bad", "project": team["project"], "host": "https://x/y",
                                                             "username": "a b", "password": "one\ntwo-" + PASSWORD})
    assert resp.status_code == 400
    assert sorted(e["field"] for e in resp.json()["errors"]) == ["host", "name", "password", "username"]
    assert "accepted" in resp.json()["errors"][0]["message"]
    assert PASSWORD not in resp.text


def test_platform_wide_registries_are_seen_by_everyone_and_kept_by_admins(platform, team):
    admin, outsider = team["admin"], team["outsider"]
    name = f"hub-{outsider.name}"[:40].rstrip("-")
    created = admin.api("POST", "/registries", json={"name": name, "host": "docker.io", "username": "bot", "password": PASSWORD})
    assert created.status_code == 201, created.text
    assert created.json()["project"] is None
    seen = outsider.api("GET", f"/registries/{name}")
    assert seen.status_code == 200 and seen.json()["permissions"] == {"edit": False} and PASSWORD not in seen.text
    assert outsider.api("DELETE", f"/registries/{name}").status_code == 403
    assert admin.api("DELETE", f"/registries/{name}").status_code == 204
