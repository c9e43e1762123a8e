"""Server expiry, renewal and reset over the control plane's REST API, on a
real ``cubelab up`` (the shared platform fixture) with the CubeLab local spawner;
and the reaper against a real hub."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from support.paging import all_pages
from support.platform import start_server, wait_server_ready

pytestmark = pytest.mark.hub


def parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def test_expiry_renew_reset_and_permissions(platform, new_user):
    alice, bob = new_user("srv"), new_user("srv")
    options = {"project": "public", "kind": "jupyterlab", "cpu": "1", "memory": "1G", "gpu": "0"}
    server = start_server(alice, options=options)
    assert server["user_options"] == options

    r = alice.api("GET", "/servers")
    assert r.status_code == 200, r.text
    [view] = r.json()["servers"]
    assert view["user"] == alice.name and view["name"] == "" and view["project"] == "public" and view["kind"] == "jupyterlab"
    started = parse(view["started"])
    assert parse(view["expires_at"]) == started + timedelta(days=3)
    assert view["renewed_at"] is None

    # another user sees and changes nothing
    assert bob.api("GET", "/servers", params={"user": alice.name}).status_code == 403
    assert bob.api("GET", f"/users/{alice.name}/server").status_code == 403
    assert bob.api("POST", f"/users/{alice.name}/server/renew").status_code == 403
    assert bob.api("POST", f"/users/{alice.name}/server/reset").status_code == 403
    assert bob.api("GET", "/servers", params={"all": "1"}).status_code == 403
    assert bob.api("GET", "/servers").json()["servers"] == []
    assert bob.api("POST", f"/users/{bob.name}/server/renew").status_code == 404  # bob runs nothing

    before = datetime.now(UTC)
    r = alice.api("POST", f"/users/{alice.name}/server/renew")
    assert r.status_code == 200, r.text
    renewed = r.json()
    assert renewed["renewed_by"] == alice.name
    assert parse(renewed["renewed_at"]) >= before - timedelta(seconds=1)
    assert parse(renewed["expires_at"]) == parse(renewed["renewed_at"]) + timedelta(days=3)
    assert alice.api("GET", f"/users/{alice.name}/server").json()["renewed_at"] == renewed["renewed_at"]

    # the Lab plugin's path: same-origin through the user's own Jupyter server
    assert alice.session.get(f"{platform.url}/user/{alice.name}/lab", timeout=60).status_code == 200
    xsrf = next(c.value for c in alice.session.cookies if c.name == "_xsrf" and c.path == f"/user/{alice.name}/")
    r = alice.session.post(f"{platform.url}/user/{alice.name}/cubelab/api/users/{alice.name}/server/renew", headers={"X-XSRFToken": xsrf}, timeout=30)
    assert r.status_code == 200, r.text
    assert parse(r.json()["renewed_at"]) >= parse(renewed["renewed_at"])
    r = alice.session.get(f"{platform.url}/user/{alice.name}/cubelab/api/servers", timeout=30)
    assert r.status_code == 200 and r.json()["servers"][0]["expires_at"]

    # reset through the very server it resets (as the Lab plugin does): the answer
    # comes back as JSON before the server goes away, and GET follows the reset
    assert alice.api("GET", f"/users/{alice.name}/server/reset").status_code == 404  # none requested yet
    r = alice.session.post(f"{platform.url}/user/{alice.name}/cubelab/api/users/{alice.name}/server/reset",
                           headers={"X-XSRFToken": xsrf}, timeout=30)
    assert r.status_code == 202, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    accepted = r.json()
    assert accepted["options"] == options and accepted["status"] == "stopping"
    assert r.headers["Location"].endswith(f"/users/{alice.name}/server/reset")
    r = alice.api("POST", f"/users/{alice.name}/server/reset")
    assert r.status_code == 409 and "already" in r.json()["message"]  # one reset at a time
    assert bob.api("GET", f"/users/{alice.name}/server/reset").status_code == 403
    deadline = time.monotonic() + 120
    while (state := alice.api("GET", f"/users/{alice.name}/server/reset").json())["status"] in ("stopping", "starting"):
        assert time.monotonic() < deadline, state
        time.sleep(0.2)
    assert state["status"] == "started", state
    assert state["options"] == options and state["requested_at"] == accepted["requested_at"]
    again = wait_server_ready(alice)
    assert again["user_options"] == options
    assert parse(again["started"]) > started
    view = alice.api("GET", f"/users/{alice.name}/server").json()
    assert view["renewed_at"] is None and parse(view["expires_at"]) == parse(again["started"]) + timedelta(days=3)

    # unauthenticated: refused
    import requests

    assert requests.get(f"{platform.url}/services/cubelab/api/v1/servers", timeout=10).status_code in (302, 401, 403)
    alice.hub_api("DELETE", f"/users/{alice.name}/server")


def test_admin_lists_everyone_and_leaving_project_stops_server(platform, admin, new_user):
    carol = new_user("srv")
    project = f"p{carol.name}"[:30]
    r = carol.api("POST", "/projects", json={"name": project})
    assert r.status_code == 201, r.text
    dave = new_user("srv")
    assert carol.api("POST", f"/projects/{project}/members", json={"name": dave.name, "role": "dev"}).status_code == 201
    dave_server = start_server(dave, name="work", options={"project": project, "cpu": "1", "memory": "1G", "gpu": "0"})
    assert dave_server["user_options"]["project"] == project

    everyone = all_pages(admin, "/servers", "servers", all="1")
    assert any(s["user"] == dave.name and s["name"] == "work" for s in everyone)

    # the creator removes dave: his server for that project stops
    assert carol.api("DELETE", f"/projects/{project}/members/{dave.name}").status_code in (200, 204)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        servers = dave.hub_api("GET", f"/users/{dave.name}").json()["servers"]
        if "work" not in servers:
            break
        time.sleep(1)
    assert "work" not in dave.hub_api("GET", f"/users/{dave.name}").json()["servers"]
