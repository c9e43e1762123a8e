"""An interactive shell in an image built here, over the control plane's
WebSocket (``GET /images/shell``), through the proxy of a real CubeLab with the
real buildah, as root: typed commands run as the caller's account, resizes
reach the shell's terminal, and the container goes when the socket closes,
when the shell exits or when it has been idle. The image is this machine's
dash, id, stty and sleep with their libraries (``FROM scratch`` + ``COPY``)."""

from __future__ import annotations

import json
import subprocess
import time
from urllib.parse import urlencode

import pytest
import requests
import websocket
from pipelines.cp import World
from support.builds import BUILDAH_MARKS, build_from_scratch, storage_containers, with_libraries
from support.platform import User, start_server

pytestmark = BUILDAH_MARKS

PROGRAMS = {"bin/sh": "/bin/dash", "bin/id": "/usr/bin/id", "bin/stty": "/usr/bin/stty", "bin/sleep": "/usr/bin/sleep"}


@pytest.fixture(scope="module")
def cp(platform, admin):
    return World(platform, admin)


@pytest.fixture(scope="module")
def image(cp) -> str:
    return build_image(cp)


def build_image(cp) -> str:
    return build_from_scratch(cp, "shell", "shell", with_libraries(PROGRAMS))


def shell_url(cp, **query) -> str:
    return cp.url.replace("http://", "ws://", 1) + "/images/shell?" + urlencode({"project": cp.project, **query})


def connect(cp, role, **query) -> websocket.WebSocket:
    return websocket.create_connection(shell_url(cp, **query), header=[f"Authorization: token {cp.token(role)}"], timeout=30)


def type_(sock, text: str) -> None:
    sock.send(json.dumps({"type": "input", "data": text}))


def read_until(sock, needle: str, seconds: float = 20) -> str:
    """The terminal's output until ``needle`` shows (or the socket ends); the exit message as text."""
    seen = ""
    deadline = time.monotonic() + seconds
    while needle not in seen and time.monotonic() < deadline:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            opcode, data = sock.recv_data()
        except (websocket.WebSocketTimeoutException, websocket.WebSocketConnectionClosedException):
            break
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            break
        seen += data.decode(errors="replace")
    return seen


def wait_no_containers(cp, seconds: float = 20) -> str:
    deadline = time.monotonic() + seconds
    while (left := storage_containers(cp)) and time.monotonic() < deadline:
        time.sleep(0.3)
    return left


def test_typed_commands_run_as_the_users_account_and_resizes_reach_the_shell(cp, image):
    sock = connect(cp, "dev", image=image, rows=30, cols=100)
    try:
        assert "$ " in read_until(sock, "$ ")
        type_(sock, "id -u; echo hi-$((40+2))\r")
        account = cp.platform.unix_account(cp.name("dev"))
        text = read_until(sock, "hi-42")
        assert f"\r\n{account.pw_uid}\r\n" in text and "hi-42" in text, text
        type_(sock, "stty size\r")
        assert "30 100" in read_until(sock, "30 100"), "the size asked for when connecting"
        sock.send(json.dumps({"type": "resize", "rows": 41, "cols": 121}))
        type_(sock, "stty size\r")
        assert "41 121" in read_until(sock, "41 121")
        sock.send(json.dumps({"type": "resize", "rows": 0, "cols": "wide"}))
        error = read_until(sock, '"type": "error"')
        assert '"field": "rows"' in error, error
        type_(sock, "exit 3\r")
        end = read_until(sock, '"type": "exit"')
        assert '"code": 3' in end, end
    finally:
        sock.close()
    assert wait_no_containers(cp) == ""


def test_closing_the_socket_stops_the_shell_and_removes_the_container(cp, image):
    sock = connect(cp, "creator", image=image)
    read_until(sock, "$ ")
    type_(sock, "sleep 300\r")
    time.sleep(1)
    assert storage_containers(cp) != ""
    sock.close()
    assert wait_no_containers(cp) == ""
    assert not subprocess.run(["pgrep", "-f", "^sleep 300$"], capture_output=True).stdout


def test_the_idle_timeout_ends_it(cp, image):
    sock = connect(cp, "creator", image=image, idle_timeout="3s")
    started = time.monotonic()
    end = read_until(sock, '"type": "exit"', 30)
    assert "without input or output" in end and time.monotonic() - started < 20, end
    sock.close()
    assert wait_no_containers(cp) == ""


def refused(cp, role, **query) -> int:
    headers = [f"Authorization: token {cp.token(role)}"] if role else []
    with pytest.raises(websocket.WebSocketBadStatusException) as caught:
        websocket.create_connection(shell_url(cp, **query), header=headers, timeout=30)
    return caught.value.status_code


def test_who_may_and_bad_requests(cp, image):
    assert refused(cp, "outsider", image=image) == 404
    assert refused(cp, "outsider", image="nonsense", rows="x") == 404, "404 before any validation"
    assert refused(cp, "ops", image=image) == 403
    assert refused(cp, None, image=image) in (401, 403)
    assert refused(cp, "dev", image=image.replace("shell:1", "missing:1")) == 400
    assert refused(cp, "dev", image=image, rows="0") == 400
    assert refused(cp, "dev", image=image, idle_timeout="100d") == 400
    r = requests.get(f"{cp.url}/images/shell?project={cp.project}&image={image}&rows=10&rows=20", timeout=30,
                     headers={**cp.headers("dev"), "Upgrade": "websocket", "Connection": "Upgrade"})
    assert r.status_code == 400 and r.json()["field"] == "rows" and "more than once" in r.json()["message"], r.text
    r = cp.call("dev", "GET", f"/images/shell?project={cp.project}&image={image}")
    assert r.status_code == 400 and r.json()["field"] == "Upgrade", r.text
    assert wait_no_containers(cp) == ""


def test_the_lab_reaches_it_through_its_server_extension(cp, image):
    user = cp.users["creator"]
    start_server(user)
    base = cp.platform.url.replace("http://", "ws://", 1) + f"/user/{user.name}/cubelab/api/images/shell?"
    sock = websocket.create_connection(base + urlencode({"project": cp.project, "image": image}),
                                       header=[f"Authorization: token {user.token}"], timeout=30)
    try:
        read_until(sock, "$ ")
        type_(sock, "id -u; echo via-$((6*7))\r")
        text = read_until(sock, "via-42")
        assert f"\r\n{cp.platform.unix_account(user.name).pw_uid}\r\n" in text and "via-42" in text, text
    finally:
        sock.close()
    assert wait_no_containers(cp) == ""
    # the control plane's refusal before the upgrade comes back as it was
    with pytest.raises(websocket.WebSocketBadStatusException) as caught:
        websocket.create_connection(base + urlencode({"project": "no-such-project", "image": image}),
                                    header=[f"Authorization: token {user.token}"], timeout=30)
    assert caught.value.status_code == 404 and b"not_found" in caught.value.resp_body


def test_the_platforms_settings_bound_it(fresh_platform):
    """--ControlPlane.image_shell_max_lifetime ends even a busy shell; a client may not ask
    for a longer idle timeout than --ControlPlane.image_shell_idle_timeout."""
    platform = fresh_platform(extra_args=["--controlplane", "image_shell_max_lifetime=5", "--controlplane", "image_shell_idle_timeout=30"])
    admin = User(platform, platform.admin, platform.admin_password)
    assert admin.login().status_code == 302
    admin.create_token()
    world = World(platform, admin)
    built = build_image(world)
    assert refused(world, "dev", image=built, idle_timeout="31s") == 400
    sock = connect(world, "dev", image=built)
    started = time.monotonic()
    read_until(sock, "$ ")
    type_(sock, "while true; do echo busy; sleep 1; done\r")
    end = read_until(sock, '"type": "exit"', 30)
    assert "maximum lifetime of 5s" in end and time.monotonic() - started < 15, end[-300:]
    sock.close()
    assert wait_no_containers(world) == ""
