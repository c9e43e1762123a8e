"""JupyterHub's configurable-http-proxy in front of the platform: kernel WebSockets
with JupyterLab's subprotocol, and event streams that stay open while quiet."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
import requests
from jupyter_server.services.kernels.connection.base import deserialize_msg_from_ws_v1, serialize_msg_to_ws_v1
from support.platform import register, start_server
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from cubelab_hub.platform.hubconfig import find_proxy

pytestmark = pytest.mark.hub

KERNEL_PROTOCOL = "v1.kernel.websocket.jupyter.org"


def test_the_platform_runs_the_node_proxy(platform):
    proxy = find_proxy()
    assert proxy is not None and proxy.name == "configurable-http-proxy"
    # the Node.js proxy's own log lines
    assert "[ConfigProxy]" in platform.log_text()


@pytest.fixture(scope="module")
def kernel_user(platform):
    user = register(platform, "wsuser")
    start_server(user)
    return user


def kernel_info_request(session: str) -> dict:
    return {
        "header": {"msg_id": uuid.uuid4().hex, "msg_type": "kernel_info_request", "username": "test",
                   "session": session, "date": "2026-01-01T00:00:00Z", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "content": {},
    }


async def kernel_round_trip(ws_url: str, token: str) -> tuple[str | None, dict]:
    request = HTTPRequest(ws_url, headers={"Authorization": f"token {token}"})
    conn = await websocket_connect(request, subprotocols=[KERNEL_PROTOCOL])
    try:
        session = uuid.uuid4().hex
        await conn.write_message(serialize_msg_to_ws_v1(kernel_info_request(session), "shell", lambda part: json.dumps(part).encode()), binary=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            raw = await asyncio.wait_for(conn.read_message(), timeout=60)
            assert raw is not None, "the proxy closed the kernel connection"
            channel, parts = deserialize_msg_from_ws_v1(raw)
            header = json.loads(parts[0])
            if channel == "shell" and header["msg_type"] == "kernel_info_reply":
                return conn.selected_subprotocol, json.loads(parts[3])
        raise AssertionError("no kernel_info_reply within 60 s")
    finally:
        conn.close()


def test_a_kernel_websocket_negotiates_jupyters_subprotocol_through_the_proxy(platform, kernel_user):
    base = f"{platform.url}/user/{kernel_user.name}"
    auth = {"Authorization": f"token {kernel_user.token}"}
    kernel = requests.post(f"{base}/api/kernels", json={}, headers=auth, timeout=120)
    assert kernel.status_code == 201, kernel.text
    ws_url = base.replace("http://", "ws://") + f"/api/kernels/{kernel.json()['id']}/channels"
    try:
        protocol, content = asyncio.run(kernel_round_trip(ws_url, kernel_user.token))
    finally:
        requests.delete(f"{base}/api/kernels/{kernel.json()['id']}", headers=auth, timeout=60)
    # the proxy passes the server's choice back; without it browsers drop the connection
    assert protocol == KERNEL_PROTOCOL
    assert content["status"] == "ok" and content["language_info"]["name"] == "python"


def test_a_quiet_event_stream_outlives_proxy_timeouts(platform, kernel_user):
    """A run's event stream says nothing while its task works; the proxy must not cut it
    (tornado's HTTP client gives up after 20 s by default; CHP's timeouts are idle limits)."""
    quiet = 25
    pipeline = kernel_user.api("POST", "/pipelines", json={
        "name": f"quiet{uuid.uuid4().hex[:6]}", "project": "public",
        "tasks": [{"name": "nap", "template": "shell", "args": {"--command": f"sleep {quiet}"}}],
    })
    assert pipeline.status_code == 201, pipeline.text
    run = kernel_user.api("POST", f"/pipelines/{pipeline.json()['id']}/runs")
    assert run.status_code == 201, run.text
    url = f"{platform.url}/services/cubelab/api/v1/runs/{run.json()['id']}/events"
    start = time.monotonic()
    events = []
    with requests.get(url, headers={"Authorization": f"token {kernel_user.token}"}, stream=True, timeout=quiet + 60) as resp:
        assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if line.startswith(b"data: "):
                events.append((time.monotonic() - start, json.loads(line[6:])["status"]))
    assert events and events[-1][1] == "succeeded", events
    longest_silence = max(later[0] - earlier[0] for earlier, later in zip(events, events[1:], strict=False))
    assert longest_silence > 20, events
