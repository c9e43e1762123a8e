"""Side apps of a user's server (TensorBoard, VS Code) on the real platform:
they listen on Unix sockets in a private directory, never on TCP, and only the
server's owner reaches them through the authenticated proxy."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import psutil
import pytest
import requests
from support.platform import register, start_server

from cubelab_server.vscode import find_code_server

BOARD_MODULE = "cubelab_server.tensorboard.serve"

needs_code_server = pytest.mark.skipif(
    find_code_server() is None,
    reason="code-server is not installed: run bash scripts/install-code-server.sh (the test set-up, scripts/test.sh, does)",
)


def server_process(platform, user_name: str) -> psutil.Process:
    """The user's Jupyter server: the platform's descendant started for that user."""
    for pid in platform.descendants():
        try:
            proc = psutil.Process(pid)
            if proc.environ().get("JUPYTERHUB_USER") == user_name and proc.parent().environ().get("JUPYTERHUB_USER") != user_name:
                return proc
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    raise AssertionError(f"no server process for {user_name}")


def tcp_listeners(procs) -> list:
    return [(p.pid, p.cmdline()[:3], c.laddr) for p in procs for c in p.net_connections("inet") if c.status == psutil.CONN_LISTEN]


def socket_of(proc: psutil.Process) -> Path:
    argv = proc.cmdline()
    return Path(argv[argv.index("--socket") + 1])


def assert_private_socket(path: Path, server: psutil.Process) -> None:
    assert path.is_socket(), path
    directory = path.parent.stat()
    assert stat.S_IMODE(directory.st_mode) == 0o700, oct(directory.st_mode)
    assert directory.st_uid == server.uids().effective


@pytest.fixture(scope="module")
def owner(platform):
    user = register(platform, f"apps{int(time.time() * 1000) % 10**8}")
    start_server(user)
    return user


@pytest.fixture(scope="module")
def stranger(platform):
    user = register(platform, f"other{int(time.time() * 1000) % 10**8}")
    return user


def refused(platform, url: str, stranger) -> None:
    """Another user's token, another user's browser session, nobody: none gets through."""
    r = requests.get(url, headers={"Authorization": f"token {stranger.token}"}, timeout=60, allow_redirects=False)
    assert r.status_code in (302, 401, 403, 404), r.status_code
    if r.status_code == 302:  # to a login page, never to the app
        assert "/hub/" in r.headers["Location"]
    r = stranger.session.get(url, timeout=60)  # follows the OAuth redirects as a browser does
    assert r.status_code in (401, 403, 404), (r.status_code, r.url)
    r = requests.get(url, timeout=60, allow_redirects=False)
    assert r.status_code in (302, 401, 403) and "/hub/" in r.headers.get("Location", "/hub/")


def test_tensorboard_has_no_tcp_listener_and_only_its_owner_reaches_it(platform, owner, stranger):
    logdir = platform.data_dir / "workspaces" / owner.name / "runs" / "side"
    logdir.mkdir(parents=True, exist_ok=True)
    auth = {"Authorization": f"token {owner.token}"}
    api = f"{platform.url}/user/{owner.name}/cubelab/tensorboard/api/boards"
    r = requests.post(api, json={"logdir": "runs/side"}, headers=auth, timeout=120)
    assert r.status_code == 201, r.text
    board = r.json()
    url = platform.url + board["url"]
    assert requests.get(url + "data/logdir", headers=auth, timeout=60).status_code == 200

    server = server_process(platform, owner.name)
    boards = [p for p in server.children(recursive=True) if BOARD_MODULE in p.cmdline()]
    assert len(boards) == 1
    assert tcp_listeners(boards + boards[0].children(recursive=True)) == []
    assert_private_socket(socket_of(boards[0]), server)

    refused(platform, url + "data/logdir", stranger)
    refused(platform, api, stranger)
    assert requests.delete(f"{api}/{board['id']}", headers={**auth}, timeout=60).status_code == 204


@needs_code_server
def test_vscode_has_no_tcp_listener_and_only_its_owner_reaches_it(platform, owner, stranger):
    auth = {"Authorization": f"token {owner.token}"}
    url = f"{platform.url}/user/{owner.name}/vscode/"
    r = requests.get(url, headers=auth, timeout=180)  # starts code-server, then follows its redirect
    assert r.status_code == 200 and "vscode" in r.text.lower(), (r.status_code, r.text[:300])

    server = server_process(platform, owner.name)
    side = [p for p in server.children() if "--socket" in p.cmdline() and "code-server" in " ".join(p.cmdline())]
    assert len(side) == 1, [p.cmdline()[:4] for p in server.children(recursive=True)]
    code_server = side[0]
    everything = [code_server] + code_server.children(recursive=True)
    assert tcp_listeners(everything) == []
    assert_private_socket(socket_of(code_server), server)
    # no password file written into the workspace: the Jupyter server is its only gate
    assert not (platform.data_dir / "workspaces" / owner.name / ".config" / "code-server").exists()

    refused(platform, url, stranger)
