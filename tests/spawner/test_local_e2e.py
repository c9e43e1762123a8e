"""CubeLocalSpawner end to end: a real JupyterHub on 127.0.0.1, real JupyterLab
servers, the spawn form over HTTP, TensorBoard serving a real event file
through the user's server, refused to another user."""

from __future__ import annotations

import stat
import time
from datetime import UTC
from pathlib import Path

import psutil
import pytest
import requests
from hubprocess import HubProcess

pytestmark = pytest.mark.hub

BOARD_MODULE = "cubelab_server.tensorboard.serve"  # a board's process: python -m BOARD_MODULE


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("hub")
    shared = workdir / "shared-data"
    shared.mkdir()
    (shared / "README.txt").write_text("project data\n")
    hub = HubProcess(
        workdir,
        extra_config='c.CubeLocalSpawner.role_limits = {"user": {"cpu": "2", "memory": "3G", "gpu": 1}, "admin": {}}\n'
        # this hub shows the VS Code route without code-server (whether or not this machine has it)
        'c.CubeLocalSpawner.code_server = "/nonexistent/code-server"\n'
        'c.Spawner.environment["CUBELAB_CODE_SERVER"] = "/nonexistent/code-server"\n',
    )
    hub.shared = shared
    hub.start()
    try:
        for name in ("alice", "bob"):
            assert hub.api("POST", f"/users/{name}").status_code in (201, 409)
        assert hub.api("POST", "/groups/public", json={"users": ["alice", "bob"]}).status_code in (201, 409)
        # projects: alice is in vision (with a host path mount), bob alone in secret
        hub.api("POST", "/groups/vision").raise_for_status()
        hub.api("PUT", "/groups/vision/properties", json={"member_roles": {"alice": "creator"}, "volume_mount": f"{shared}(hostpath):/shared", "quota": {"cpu": "3"}}).raise_for_status()
        hub.api("POST", "/groups/vision/users", json={"users": ["alice"]}).raise_for_status()
        hub.api("POST", "/groups/secret").raise_for_status()
        hub.api("POST", "/groups/secret/users", json={"users": ["bob"]}).raise_for_status()
        yield hub
    finally:
        hub.stop()


def form_post(session, hub, user, data, server=""):
    url = f"{hub.url}/hub/spawn/{user}" + (f"/{server}" if server else "")
    session.get(url, timeout=30)
    return session.post(url, data={**data, "_xsrf": xsrf_cookie(session, "/hub/")}, allow_redirects=False, timeout=60)


def xsrf_cookie(session, path):
    for cookie in session.cookies:
        if cookie.name == "_xsrf" and cookie.path == path:
            return cookie.value
    raise AssertionError(f"no _xsrf cookie for {path}: {[(c.name, c.path) for c in session.cookies]}")


def test_form_offers_only_members_projects_and_refuses_over_limit(hub):
    alice = hub.login("alice")
    page = alice.get(f"{hub.url}/hub/spawn", timeout=30)
    assert page.status_code == 200
    assert '<option value="public"' in page.text and '<option value="vision"' in page.text
    assert '"secret"' not in page.text
    assert "vision (creator)" in page.text
    # code-server is not installed here: the VS Code kind says how to install it
    assert "code-server is not installed" in page.text

    over = form_post(alice, hub, "alice", {"project": "public", "kind": "jupyterlab", "cpu": "1~4", "memory": "1G", "gpu": "0"})
    assert over.status_code == 400
    assert "cpu: &#39;1~4&#39; asks for up to 4 cores; your role allows 2 per server" in over.text or "your role allows 2 per server" in over.text
    assert 'value="1~4"' in over.text  # the form keeps what was typed

    gpu = form_post(alice, hub, "alice", {"project": "public", "cpu": "1", "memory": "1G", "gpu": "1"})
    assert gpu.status_code == 400 and "this machine has 0" in gpu.text

    other = form_post(alice, hub, "alice", {"project": "secret", "cpu": "1", "memory": "1G", "gpu": "0"})
    assert other.status_code == 400 and "not a member of project" in other.text

    # the REST API path is validated too (no form involved)
    r = hub.api("POST", "/users/alice/servers/api", json={"project": "public", "memory": "64G"})
    assert r.status_code == 400 and "memory:" in r.json()["message"]
    # nothing was left running
    assert not hub.api("GET", "/users/alice").json()["servers"].get("api", {}).get("ready")


@pytest.fixture(scope="module")
def alice_server(hub):
    alice = hub.login("alice")
    r = form_post(alice, hub, "alice", {"project": "vision", "kind": "jupyterlab", "cpu": "0.5~2", "memory": "1G~2G", "gpu": "0"})
    assert r.status_code == 302, r.text[-2000:]
    server = hub.wait_ready("alice")
    lab = alice.get(f"{hub.url}/user/alice/lab", timeout=60)
    assert lab.status_code == 200 and "JupyterLab" in lab.text
    return alice, server


def test_local_server_workspace_mounts_limits(hub, alice_server):
    alice, server = alice_server
    assert server["user_options"] == {"project": "vision", "kind": "jupyterlab", "cpu": "0.5~2", "memory": "1G~2G", "gpu": "0"}
    workspace = hub.data_dir / "workspaces" / "alice"
    assert (workspace / "shared").is_symlink() and (workspace / "shared" / "README.txt").read_text() == "project data\n"
    # the contents API roots at the workspace and shows the project mount
    contents = alice.get(f"{hub.url}/user/alice/api/contents", timeout=30).json()
    assert "shared" in {item["name"] for item in contents["content"]}

    pid = _server_pid(hub, "alice")
    proc = psutil.Process(pid)
    env = proc.environ()
    assert env["HOME"] == str(workspace)
    assert env["CUBELAB_PROJECT"] == "vision" and env["CPU_LIMIT"] == "2.0" and env["MEM_LIMIT"] == str(2 * 2**30)
    assert env["OMP_NUM_THREADS"] == "2" and env["CUDA_VISIBLE_DEVICES"] == "" and env["NVIDIA_VISIBLE_DEVICES"] == "none"
    cgroup = [line for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines() if ":memory:" in line]
    if cgroup and "cubelab-alice" in cgroup[0]:
        path = Path("/sys/fs/cgroup/memory") / cgroup[0].split(":", 2)[2].lstrip("/")
        assert int((path / "memory.limit_in_bytes").read_text()) == 2 * 2**30
    else:  # no writable memory cgroup on this machine: RLIMIT_DATA instead
        assert proc.rlimit(psutil.RLIMIT_DATA) == (2 * 2**30, 2 * 2**30)


def test_project_quota_counts_running_server(hub, alice_server):
    alice, _ = alice_server
    # vision's quota is 3 cores; the running server holds 2
    r = form_post(alice, hub, "alice", {"project": "vision", "cpu": "2", "memory": "1G", "gpu": "0"}, server="second")
    assert r.status_code == 400 and "quota of 3 cores and its running servers and tasks use 2" in r.text


def _server_pid(hub, user, server=""):
    r = hub.api("GET", f"/users/{user}")
    # admin:server_state gives the spawner state, which holds the pid
    state = r.json()["servers"][server].get("state") or {}
    return state["pid"]


def _write_events(logdir: Path):
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(logdir))
    for step in range(3):
        value = summary_pb2.Summary.Value(tag="loss", simple_value=1.0 / (step + 1))
        writer.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary_pb2.Summary(value=[value])))
    writer.close()


def test_tensorboard_serves_event_file_through_server_auth(hub, alice_server):
    alice, _ = alice_server
    logdir = hub.data_dir / "workspaces" / "alice" / "runs" / "exp1"
    logdir.mkdir(parents=True)
    _write_events(logdir)
    api = f"{hub.url}/user/alice/cubelab/tensorboard/api/boards"
    xsrf = {"X-XSRFToken": xsrf_cookie(alice, "/user/alice/")}

    # refused: outside the workspace, missing
    r = alice.post(api, json={"logdir": "../../"}, headers=xsrf, timeout=30)
    assert r.status_code == 403 and r.json()["field"] == "logdir" and "outside your workspace" in r.json()["message"]
    r = alice.post(api, json={"logdir": "/etc"}, headers=xsrf, timeout=30)
    assert r.status_code == 403
    r = alice.post(api, json={"logdir": "runs/nope"}, headers=xsrf, timeout=30)
    assert r.status_code == 400 and "not a directory" in r.json()["message"]

    r = alice.post(api, json={"logdir": "runs/exp1"}, headers=xsrf, timeout=90)
    assert r.status_code == 201, r.text
    board = r.json()
    assert board["logdir"] == "runs/exp1" and board["url"] == f"/user/alice/cubelab/tensorboard/{board['id']}/"
    # the same logdir again: the running board
    again = alice.post(api, json={"logdir": "runs/exp1/"}, headers=xsrf, timeout=30)
    assert again.status_code == 200 and again.json()["id"] == board["id"]
    assert [b["id"] for b in alice.get(api, timeout=30).json()["boards"]] == [board["id"]]

    page = alice.get(hub.url + board["url"], timeout=30)
    assert "frame-ancestors 'self'" in page.headers["Content-Security-Policy"]
    assert page.status_code == 200 and "tensorboard" in page.text.lower()
    scalars = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = alice.get(hub.url + board["url"] + "data/plugin/scalars/scalars", params={"run": ".", "tag": "loss"}, timeout=30)
        if r.status_code == 200:
            scalars = r.json()
            break
        time.sleep(1)
    assert scalars is not None and [s[1] for s in scalars] == [0, 1, 2]
    assert scalars[2][2] == pytest.approx(1 / 3)

    # TensorBoard listens on no TCP port at all: only on a socket in a private directory
    pid = _server_pid(hub, "alice")
    boards = [c for c in psutil.Process(pid).children(recursive=True) if BOARD_MODULE in c.cmdline()]
    assert len(boards) == 1
    assert [c.laddr for c in boards[0].net_connections("inet") if c.status == psutil.CONN_LISTEN] == []
    sock = Path(boards[0].cmdline()[boards[0].cmdline().index("--socket") + 1])
    assert sock.is_socket() and stat.S_IMODE(sock.parent.stat().st_mode) == 0o700

    # another user: neither their browser session nor their token reaches it
    bob = hub.login("bob")
    r = bob.get(hub.url + board["url"] + "data/plugin/scalars/tags", timeout=30)
    assert r.status_code == 403 and "loss" not in r.text
    bob_token = hub.api("POST", "/users/bob/tokens", json={"note": "t"}).json()["token"]
    r = requests.get(hub.url + board["url"] + "data/plugin/scalars/tags", headers={"Authorization": f"token {bob_token}"}, timeout=30, allow_redirects=False)
    assert r.status_code in (302, 403) and "loss" not in r.text
    r = requests.get(api, headers={"Authorization": f"token {bob_token}"}, timeout=30, allow_redirects=False)
    assert r.status_code in (302, 403)
    # nobody at all
    r = requests.get(hub.url + board["url"], timeout=30, allow_redirects=False)
    assert r.status_code in (302, 403)

    # stop: gone from the list, process ended
    r = alice.delete(f"{api}/{board['id']}", headers=xsrf, timeout=30)
    assert r.status_code == 204
    assert alice.get(api, timeout=30).json()["boards"] == []
    psutil.wait_procs(boards, timeout=10)
    assert not boards[0].is_running()


def test_vscode_route_is_authenticated_and_explains_missing_code_server(hub, alice_server):
    alice, _ = alice_server
    r = alice.get(f"{hub.url}/user/alice/vscode/", timeout=60)
    assert r.status_code == 200 and "code-server is not installed" in r.text
    bob = hub.login("bob")
    r = bob.get(f"{hub.url}/user/alice/vscode/", timeout=30)
    assert r.status_code == 403 and "code-server is not installed" not in r.text
    r = requests.get(f"{hub.url}/user/alice/vscode/", timeout=30, allow_redirects=False)
    assert r.status_code in (302, 403)


def test_membership_revoked_stops_server_and_stop_cleans_up(hub, alice_server):
    alice, _ = alice_server
    pid = _server_pid(hub, "alice")
    # a board left running: it must go with the server
    (hub.data_dir / "workspaces" / "alice" / "runs" / "left").mkdir(parents=True)
    r = alice.post(f"{hub.url}/user/alice/cubelab/tensorboard/api/boards", json={"logdir": "runs/left"},
                   headers={"X-XSRFToken": xsrf_cookie(alice, "/user/alice/")}, timeout=90)
    assert r.status_code == 201, r.text
    boards = [c for c in psutil.Process(pid).children(recursive=True) if BOARD_MODULE in c.cmdline()]
    assert len(boards) == 1
    cgroup_lines = [line for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines() if ":memory:" in line]
    hub.api("DELETE", "/groups/vision/users", json={"users": ["alice"]}).raise_for_status()
    # the hub polls every 30s by default; ask it now through a poll-triggering API read
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        servers = hub.api("GET", "/users/alice").json()["servers"]
        if "" not in servers:
            break
        time.sleep(2)
    assert "" not in hub.api("GET", "/users/alice").json()["servers"], hub.log_text()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    psutil.wait_procs(boards, timeout=15)
    assert not any(b.is_running() and b.status() != psutil.STATUS_ZOMBIE for b in boards)
    if cgroup_lines and "cubelab-alice" in cgroup_lines[0]:
        assert not (Path("/sys/fs/cgroup/memory") / cgroup_lines[0].split(":", 2)[2].lstrip("/")).exists()



async def test_reaper_stops_expired_server_and_renewal_postpones(hub, tmp_path):
    """The control plane's expiry pass, against this real hub and a real
    (migrated) control-plane database; the clock is a parameter."""
    from datetime import datetime, timedelta

    from cubelab_hub.controlplane.db import Database
    from cubelab_hub.controlplane.hubclient import HubClient
    from cubelab_hub.controlplane.services.servers import ServerExpiry, ServerManager

    database = Database(f"sqlite:///{tmp_path / 'cp.sqlite'}")
    database.upgrade()
    audits = []

    async def audit(actor, project, action, detail):
        audits.append((actor, project, action, detail))

    manager = ServerManager(database, HubClient(hub.url + "/hub/api", hub.token, 0), ServerExpiry(default="3d", gpu="1d"), audit=audit)
    r = hub.api("POST", "/users/bob/servers/exp", json={"project": "public", "cpu": "1", "memory": "1G", "gpu": "0"})
    assert r.status_code in (201, 202), r.text
    hub.wait_ready("bob", "exp")

    [view] = [s for s in await manager.user_servers("bob") if s["name"] == "exp"]
    started = datetime.fromisoformat(view["started"].replace("Z", "+00:00"))
    assert datetime.fromisoformat(view["expires_at"].replace("Z", "+00:00")) == started + timedelta(days=3)

    # many registered users without servers: the pass asks the hub about running servers only
    hub.api("POST", "/users", json={"usernames": [f"idle{i:03d}" for i in range(300)]}).raise_for_status()
    hub_client = manager.hub
    asked: list[tuple[str, str]] = []
    forward = hub_client.request

    async def counting(method, path, *args, **kwargs):
        asked.append((method, path))
        return await forward(method, path, *args, **kwargs)

    hub_client.request = counting  # counts what reaches the real hub, changes nothing
    assert await manager.reap(started + timedelta(days=2)) == []
    assert len(asked) == 1 and asked[0][0] == "GET" and "state=active" in asked[0][1], asked
    renewed = await manager.renew("bob", "exp", "bob")
    renewed_at = datetime.fromisoformat(renewed["renewed_at"].replace("Z", "+00:00"))
    assert renewed_at > started
    # past the start's expiry, within the renewal's: kept
    assert await manager.reap(started + timedelta(days=3) + (renewed_at - started) / 2) == []
    asked.clear()
    assert await manager.reap(renewed_at + timedelta(days=3, seconds=1)) == [("bob", "exp")]
    # one page of active users, then the stop: nothing per idle account
    assert [m for m, _ in asked] == ["GET", "DELETE"], asked
    assert audits[-1][2] == "server:expired"
    deadline = datetime.now(UTC) + timedelta(seconds=60)
    import asyncio

    while "exp" in hub.api("GET", "/users/bob").json()["servers"] and datetime.now(UTC) < deadline:
        await asyncio.sleep(0.5)
    assert "exp" not in hub.api("GET", "/users/bob").json()["servers"]
