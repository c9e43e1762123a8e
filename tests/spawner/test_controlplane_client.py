"""The spawner's control-plane client (spawner/cubelab_spawner/controlplane.py)
over real sockets: a control plane that is down or does not answer in time is
``ControlPlaneUnavailable`` within the timeout (the form then says so), an error
answer keeps the control plane's message, and ``GET /images`` answers become the
images the form offers."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest
import tornado.web
from tornado.httpserver import HTTPServer

from cubelab_spawner.controlplane import ControlPlaneClient, ControlPlaneError, ControlPlaneUnavailable, built_images
from cubelab_spawner.profiles import BuiltImage


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Slow(tornado.web.RequestHandler):
    async def get(self):
        await asyncio.sleep(5)
        self.finish("{}")


class Images(tornado.web.RequestHandler):
    def get(self):
        if self.request.headers.get("Authorization") != "token t0k":
            self.set_status(403)
            self.finish(json.dumps({"error": "forbidden", "message": "only members of project 'x' may see its images"}))
            return
        self.finish(json.dumps({"images": [{"tags": [
            {"tag": "v2", "reference": "127.0.0.1:5000/x/app:v2", "digest": "sha256:" + "a" * 64},
            {"tag": "v1", "reference": "127.0.0.1:5000/x/app:v1", "digest": None}]}], "next_cursor": None}))


@pytest.fixture
async def server():
    app = tornado.web.Application([(r"/api/slow", Slow), (r"/api/images", Images)])
    http = HTTPServer(app)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    http.add_sockets([sock])
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/api"
    finally:
        http.stop()


async def test_a_control_plane_that_is_down_or_slow_is_unavailable_within_the_timeout(server):
    with pytest.raises(ControlPlaneUnavailable):
        await ControlPlaneClient(f"http://127.0.0.1:{_closed_port()}/api", 1.0).images("x", "t0k")
    started = time.monotonic()
    with pytest.raises(ControlPlaneUnavailable) as err:
        await ControlPlaneClient(server, 0.5).call("GET", "/slow", "t0k")
    assert time.monotonic() - started < 3
    assert "did not answer within 0.5s" in str(err.value)
    with pytest.raises(ControlPlaneUnavailable):
        await ControlPlaneClient("", 1.0).images("x", "t0k")  # none configured


async def test_images_become_what_the_form_offers_and_errors_keep_the_message(server):
    images = await ControlPlaneClient(server, 2.0).images("x", "t0k")
    assert images == [BuiltImage("127.0.0.1:5000/x/app:v1", None), BuiltImage("127.0.0.1:5000/x/app:v2", "sha256:" + "a" * 64)]
    with pytest.raises(ControlPlaneError) as err:
        await ControlPlaneClient(server, 2.0).images("x", "wrong")
    assert err.value.status == 403 and err.value.message == "only members of project 'x' may see its images"
    assert built_images({"images": [{"tags": [{"reference": 5}]}]}) == []
