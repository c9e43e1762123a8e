"""Starting, stopping and restarting the platform."""

from __future__ import annotations

import signal
import time

import psutil
import pytest
import requests
from support.platform import User, register, start_server

pytestmark = pytest.mark.hub


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stop_leaves_no_process_behind(fresh_platform, sig):
    platform = fresh_platform()
    alice = register(platform, "alice")
    start_server(alice)
    before = platform.descendants()
    # hub, proxy, control plane and alice's server at least
    assert len(before) >= 4, before
    assert platform.stop(sig) == 0
    time.sleep(0.5)
    alive = [pid for pid in before if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert alive == [], f"left behind: {[psutil.Process(p).cmdline() for p in alive]}"
    with pytest.raises(requests.ConnectionError):
        requests.get(platform.url + "/hub/api/", timeout=2)


def test_restart_keeps_accounts_projects_and_settings(fresh_platform, tmp_path):
    platform = fresh_platform()
    alice = register(platform, "alice", "alice-password-1")
    register(platform, "bob", "bob-password-1")
    admin = User(platform, platform.admin, platform.admin_password)
    assert admin.login().status_code == 302
    admin.create_token()
    created = alice.api("POST", "/projects", json={
        "name": "vision",
        "description": "image models",
        "settings": {"node_selector": "disk=ssd", "quota": {"cpu": "16", "memory": "64G", "gpu": "2"}, "namespace": "vision"},
    })
    assert created.status_code == 201, created.text
    assert alice.api("POST", "/projects/vision/members", json={"name": "bob", "role": "ops"}).status_code == 201
    assert admin.api("PUT", "/settings/registration", json={"open": False}).status_code == 200
    before = alice.api("GET", "/projects/vision").json()
    platform.stop()

    # same data directory, new process tree
    platform.start()
    alice2 = User(platform, "alice", "alice-password-1")
    assert alice2.login().status_code == 302, "alice's account survived the restart"
    alice2.create_token()
    assert alice2.api("GET", "/projects/vision").json() == before
    bob2 = User(platform, "bob", "bob-password-1")
    assert bob2.login().status_code == 302
    bob2.create_token()
    assert {"name": "vision", "role": "ops"} in bob2.api("GET", "/me").json()["projects"]
    # registration stayed closed
    stranger = User(platform, "stranger", "stranger-password")
    resp = stranger.login()
    assert resp.status_code == 403 and "Registration is closed" in resp.text
    # the admin's first password still works and the admin is still admin
    admin2 = User(platform, platform.admin, platform.admin_password)
    assert admin2.login().status_code == 302
    admin2.create_token()
    assert admin2.api("GET", "/me").json()["admin"] is True
