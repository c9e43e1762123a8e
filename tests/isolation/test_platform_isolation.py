"""One machine, many users, on a real ``cubelab up`` as root (as CI runs): each
user's kernel and pipeline tasks run as their own Unix account and reach
nothing of the platform's or of other users and projects; deactivating locks
the account and stops its processes, deleting removes it, a restart keeps the
mapping. Accounts and groups carry the test's own prefix and are removed after."""

from __future__ import annotations

import grp
import json
import os
import pwd
import subprocess
import time
import uuid

import psutil
import pytest
import requests
import websocket
from support.platform import Platform, register, start_server

pytestmark = [pytest.mark.hub, pytest.mark.skipif(os.geteuid() != 0, reason="Unix accounts need root (CI runs as root)")]

PROBE = """
import json, os
def probe(path, write=False):
    try:
        if write:
            with open(path, 'w') as fh:
                fh.write('x')
        elif os.path.isdir(path):
            os.listdir(path)
        else:
            open(path, 'rb').read(1)
        return 'ok'
    except PermissionError:
        return 'denied'
    except OSError as exc:
        return type(exc).__name__
print('PROBE ' + json.dumps({'uid': os.getuid(), 'reads': {p: probe(p) for p in READS}, 'writes': {p: probe(p, True) for p in WRITES}}))
"""


def probe_code(reads: list[str], writes: list[str]) -> str:
    return f"READS = {reads!r}\nWRITES = {writes!r}\n" + PROBE


def parse_probe(text: str) -> dict:
    line = next(line for line in text.splitlines() if line.startswith("PROBE "))
    return json.loads(line[len("PROBE "):])


def run_in_kernel(user, code: str, timeout: float = 120) -> str:
    """Execute code in a new kernel of the user's own server; its stdout."""
    base = f"{user.url}/user/{user.name}"
    headers = {"Authorization": f"token {user.token}"}
    kernel = requests.post(f"{base}/api/kernels", json={"name": "python3"}, headers=headers, timeout=60)
    assert kernel.status_code == 201, kernel.text
    kid = kernel.json()["id"]
    ws = websocket.create_connection(f"{base.replace('http', 'ws', 1)}/api/kernels/{kid}/channels", header=[f"Authorization: token {user.token}"], timeout=timeout)
    try:
        msg_id = uuid.uuid4().hex
        ws.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": user.name, "session": uuid.uuid4().hex, "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell",
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {}, "allow_stdin": False},
        }))
        out = ""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                out += msg["content"]["text"]
            elif msg["msg_type"] == "error":
                raise AssertionError(f"kernel error: {msg['content']['ename']}: {msg['content']['evalue']}")
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return out
        raise TimeoutError(out)
    finally:
        ws.close()
        requests.delete(f"{base}/api/kernels/{kid}", headers=headers, timeout=30)


def run_task(user, project: str, code: str, timeout: float = 90) -> tuple[dict, str]:
    body = {"name": f"probe-{uuid.uuid4().hex[:6]}", "project": project,
            "tasks": [{"name": "probe", "template": "python", "args": {"--code": code}}], "edges": []}
    created = user.api("POST", "/pipelines", json=body)
    assert created.status_code == 201, created.text
    run = user.api("POST", f"/pipelines/{created.json()['id']}/runs").json()
    deadline = time.monotonic() + timeout
    while run["status"] not in ("succeeded", "failed") and time.monotonic() < deadline:
        time.sleep(0.3)
        run = user.api("GET", f"/runs/{run['id']}").json()
    return run, user.api("GET", f"/runs/{run['id']}/tasks/probe/logs").text


@pytest.fixture(scope="module")
def world(tmp_path_factory, artifacts_dir):
    data = tmp_path_factory.mktemp("iso") / "data"
    platform = Platform(data, log_path=artifacts_dir / "platform-isolation.log").start()
    try:
        alice = register(platform, "isoalice")
        bob = register(platform, "isobob")
        created = alice.api("POST", "/projects", json={"name": "isoteam", "settings": {"volume_mount": "isoteam(pvc-share):/team"}})
        assert created.status_code == 201, created.text
        start_server(alice, options={"project": "isoteam", "cpu": "1", "memory": "1G~2G"})
        start_server(bob, options={"project": "public", "cpu": "1", "memory": "1G~2G"})
        # bob's run log, in another project
        bob_run, bob_log = run_task(bob, "public", "print('bob private log')")
        assert bob_run["status"] == "succeeded", bob_log
        yield {"platform": platform, "alice": alice, "bob": bob, "bob_run": bob_run}
    finally:
        platform.stop()
        platform.remove_unix_accounts()


def _pids(platform) -> tuple[int, int]:
    hub = psutil.Process(int((platform.data_dir / "jupyterhub.pid").read_text()))
    cp = next(p for p in hub.children(recursive=True) if "cubelab_hub.controlplane" in " ".join(p.cmdline()))
    return hub.pid, cp.pid


def _forbidden(world) -> list[str]:
    platform = world["platform"]
    hub_pid, cp_pid = _pids(platform)
    return [
        str(platform.data_dir),
        str(platform.data_dir / f"initial-password-{platform.admin}"),
        str(platform.data_dir / "jupyterhub.sqlite"),
        f"/proc/{cp_pid}/environ",
        f"/proc/{hub_pid}/environ",
        str(platform.data_dir / "workspaces" / world["bob"].name),
        str(platform.data_dir / "runs" / world["bob_run"]["id"] / "tasks" / "probe" / "log.txt"),
    ]


def test_kernel_runs_as_the_user_and_reaches_nothing_else(world):
    platform, alice = world["platform"], world["alice"]
    forbidden = _forbidden(world)
    shared = platform.data_dir / "volumes" / "isoteam"
    result = parse_probe(run_in_kernel(alice, probe_code(forbidden, [str(shared / "from-alice.txt")])))
    assert result["uid"] == platform.unix_account(alice.name).pw_uid != 0
    assert result["reads"] == {path: "denied" for path in forbidden}
    assert result["writes"] == {str(shared / "from-alice.txt"): "ok"}  # a member writes the project's share
    st = shared.stat()
    assert oct(st.st_mode & 0o7777) == "0o2770"
    # the non-member's kernel cannot
    result = parse_probe(run_in_kernel(world["bob"], probe_code([str(shared)], [str(shared / "from-bob.txt")])))
    assert result["reads"] == {str(shared): "denied"} and result["writes"] == {str(shared / "from-bob.txt"): "denied"}


def test_task_runs_as_the_runner_and_reaches_nothing_else(world):
    platform, alice = world["platform"], world["alice"]
    forbidden = _forbidden(world)
    run, log = run_task(alice, "isoteam", probe_code(forbidden, [str(platform.data_dir / "volumes" / "isoteam" / "from-task.txt")]))
    assert run["status"] == "succeeded", log
    result = parse_probe(log)
    assert result["uid"] == platform.unix_account(alice.name).pw_uid != 0
    assert result["reads"] == {path: "denied" for path in forbidden}
    assert list(result["writes"].values()) == ["ok"]


def test_platform_state_is_private(world):
    data = world["platform"].data_dir
    assert data.stat().st_mode & 0o777 == 0o711
    for name in ("jupyterhub.sqlite", "accounts.sqlite", "jupyterhub_cookie_secret", f"initial-password-{world['platform'].admin}"):
        assert (data / name).stat().st_mode & 0o077 == 0, name


def _shadow_locked(account: str) -> bool:
    """Expired (no login of any kind, su included) with a locked password."""
    entry = subprocess.run(["getent", "shadow", account], capture_output=True, text=True, check=True).stdout.strip().split(":")
    return entry[1].startswith("!") and entry[7] == "1"


def test_deactivate_locks_and_stops_then_delete_removes(world):
    platform = world["platform"]
    admin_user = register(platform, platform.admin, platform.admin_password)
    carol = register(platform, "isocarol")
    run, log = run_task(carol, "public", "print('carol was here')")
    assert run["status"] == "succeeded", log
    account = platform.unix_account(carol.name)
    sleeper = subprocess.Popen(["sleep", "300"], preexec_fn=lambda: (os.setgid(account.pw_gid), os.setuid(account.pw_uid)))
    try:
        resp = admin_user.api("PATCH", f"/users/{carol.name}", json={"active": False})
        assert resp.status_code == 200, resp.text
        assert sleeper.wait(30) != 0  # their processes are stopped
        assert _shadow_locked(account.pw_name)
        assert admin_user.api("PATCH", f"/users/{carol.name}", json={"active": True}).status_code == 200
        assert not _shadow_locked(account.pw_name)
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
    resp = admin_user.api("DELETE", f"/users/{carol.name}")
    assert resp.status_code == 204, resp.text
    with pytest.raises(KeyError):
        pwd.getpwnam(account.pw_name)
    assert not (platform.data_dir / "workspaces" / carol.name).exists()


def test_membership_changes_follow_into_the_project_group(world):
    platform, alice = world["platform"], world["alice"]
    dave = register(platform, "isodave")
    assert alice.api("POST", "/projects/isoteam/members", json={"name": dave.name, "role": "dev"}).status_code == 201
    run, log = run_task(dave, "isoteam", probe_code([], [str(platform.data_dir / "volumes" / "isoteam" / "from-dave.txt")]))
    assert run["status"] == "succeeded", log
    assert parse_probe(log)["writes"] == {str(platform.data_dir / "volumes" / "isoteam" / "from-dave.txt"): "ok"}
    group = f"{platform.unix_prefix}p.isoteam"
    grp_members = grp.getgrnam(group).gr_mem
    assert f"{platform.unix_prefix}{dave.name}" in grp_members
    assert alice.api("DELETE", f"/projects/isoteam/members/{dave.name}").status_code == 204
    assert f"{platform.unix_prefix}{dave.name}" not in grp.getgrnam(group).gr_mem


def test_restart_keeps_the_mapping(world):
    platform, alice = world["platform"], world["alice"]
    uid = platform.unix_account(alice.name).pw_uid
    platform.stop()
    platform.start()
    run, log = run_task(alice, "isoteam", "import os; print('PROBE ' + __import__('json').dumps({'uid': os.getuid()}))")
    assert run["status"] == "succeeded", log
    assert parse_probe(log)["uid"] == uid == platform.unix_account(alice.name).pw_uid
