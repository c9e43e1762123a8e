"""The server extension inside a user's JupyterLab, reached through the proxy."""

from __future__ import annotations

import re

import pytest
import requests
from support.platform import register, start_server

from cubelab_server.handlers import all_handlers

pytestmark = pytest.mark.hub


@pytest.fixture(scope="module")
def running(platform):
    user = register(platform, "extuser")
    start_server(user)
    return user


def test_lab_page_and_api_through_the_proxy(platform, running):
    auth = {"Authorization": f"token {running.token}"}
    lab = requests.get(f"{platform.url}/user/{running.name}/lab", headers=auth, timeout=60)
    assert lab.status_code == 200
    assert "JupyterLab" in lab.text
    me = requests.get(f"{platform.url}/user/{running.name}/cubelab/api/me", headers=auth, timeout=30)
    assert me.status_code == 200
    assert me.json()["name"] == running.name
    assert {"name": "public", "role": "dev"} in me.json()["projects"]


def test_writes_and_errors_pass_through(platform, running):
    auth = {"Authorization": f"token {running.token}"}
    base = f"{platform.url}/user/{running.name}/cubelab/api"
    created = requests.post(f"{base}/projects", json={"name": "extproj"}, headers=auth, timeout=30)
    assert created.status_code == 201, created.text
    bad = requests.patch(f"{base}/projects/extproj", json={"settings": {"node_selector": "nokey"}}, headers=auth, timeout=30)
    assert bad.status_code == 400
    assert bad.json()["field"] == "node_selector"
    assert "'nokey'" in bad.json()["message"]
    missing = requests.get(f"{base}/projects/does-not-exist", headers=auth, timeout=30)
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    deleted = requests.delete(f"{base}/projects/extproj", headers=auth, timeout=30)
    assert deleted.status_code == 403, "only admins delete projects, also through the extension"


def test_another_user_cannot_use_someone_elses_server(platform, running):
    other = register(platform, "intruder")
    resp = requests.get(f"{platform.url}/user/{running.name}/cubelab/api/me",
                        headers={"Authorization": f"token {other.token}"}, timeout=30, allow_redirects=False)
    assert resp.status_code in (403, 404)
    assert running.name not in resp.text or "name" not in resp.text


def concrete(pattern: str) -> str:
    """A URL matching a handler pattern, with each group filled in."""
    url = re.sub(r"\((?:\?P<\w+>)?[^)]*\)", "0a1b", pattern)
    return url.replace("/?", "").replace("$", "")


def test_every_extension_handler_refuses_anonymous_requests(platform, running):
    base_url = f"/user/{running.name}/"
    routes = all_handlers(base_url)
    assert routes, "the extension registers handlers"
    for route in routes:
        pattern, handler = route[0], route[1]
        url = platform.url + concrete(pattern)
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            if getattr(handler, method.lower()) is getattr(__import__("tornado.web").web.RequestHandler, method.lower()):
                continue
            resp = requests.request(method, url, allow_redirects=False, timeout=30)
            assert resp.status_code in (302, 401, 403), f"{method} {url} answered {resp.status_code} without credentials"
            if resp.status_code == 302:
                assert "/hub/" in resp.headers["Location"] or "oauth" in resp.headers["Location"]


def test_a_followed_log_streams_through_the_extension_and_the_proxy(platform, running):
    """The Lab plugin follows a running task's log at /user/<name>/cubelab/api/...:
    lines must arrive as the task prints them, not all at once at the end."""
    import time

    pipeline = running.api("POST", "/pipelines", json={
        "name": "ticker", "project": "public",
        "tasks": [{"name": "tick", "template": "shell", "args": {"--command": "for i in 1 2 3 4; do echo tick$i; sleep 0.6; done"}}],
    })
    assert pipeline.status_code == 201, pipeline.text
    run = running.api("POST", f"/pipelines/{pipeline.json()['id']}/runs").json()
    url = f"{platform.url}/user/{running.name}/cubelab/api/runs/{run['id']}/tasks/tick/logs?follow=1"
    deadline = time.monotonic() + 60
    while running.api("GET", f"/runs/{run['id']}").json()["tasks"][0]["status"] == "pending" and time.monotonic() < deadline:
        time.sleep(0.1)
    arrivals = []
    start = time.monotonic()
    with requests.get(url, headers={"Authorization": f"token {running.token}"}, stream=True, timeout=60) as resp:
        assert resp.status_code == 200
        for line in resp.iter_lines():
            if line:
                arrivals.append((time.monotonic() - start, line.decode()))
    assert [line for _, line in arrivals] == ["tick1", "tick2", "tick3", "tick4"]
    assert arrivals[-1][0] - arrivals[0][0] >= 1.2, f"lines arrived together: {arrivals}"
