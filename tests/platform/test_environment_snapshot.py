""""Save as image", the server's half: a real user server records its
environment's package lists when it starts, and on request lists them again
and answers both; the control plane turns them into a Dockerfile.

The kernel's interpreter is a virtualenv of the user's workspace (named by a
kernel spec of their own), so the test can install a package into it with
the real pip (a wheel made here, no network) without touching the platform's."""

from __future__ import annotations

import json
import os

import pytest
import requests
from support.environments import make_wheel, pip_install_from, wait_for_before, workspace_venv_kernel
from support.platform import IS_ROOT, register, start_server

pytestmark = pytest.mark.hub


@pytest.fixture(scope="module")
def saver(platform, tmp_path_factory):
    """A user whose default kernel runs a virtualenv of their workspace; their server started."""
    user = register(platform, "envsaver")
    user.workspace = platform.data_dir / "workspaces" / user.name
    user.python = workspace_venv_kernel(user.workspace)
    start_server(user)
    user.wheels = tmp_path_factory.mktemp("wheels")
    return user


def test_the_server_records_before_and_answers_both_with_the_change(platform, saver):
    state = wait_for_before(saver.workspace)
    # the server's own private state: its account's file, nobody else's to read or replace
    st = state.stat()
    assert st.st_mode & 0o777 == 0o600
    if IS_ROOT:
        assert st.st_uid == platform.unix_account(saver.name).pw_uid
    recorded = json.loads(state.read_text())
    assert recorded["python"] == str(saver.python)
    assert "tinypkg" not in recorded["pip"]

    make_wheel(saver.wheels, "tinypkg", "1.2")
    pip_install_from(saver.python, saver.wheels, "tinypkg==1.2")

    auth = {"Authorization": f"token {saver.token}"}
    base = f"{platform.url}/user/{saver.name}"
    resp = requests.post(f"{base}/cubelab/environment/snapshots", headers=auth, timeout=120)
    assert resp.status_code == 200, resp.text
    both = resp.json()
    assert both["base"] is None, "a server on this machine runs in the host's environment: no image"
    assert "tinypkg" not in both["before"]["pip"] and "tinypkg==1.2" in both["after"]["pip"].splitlines()
    assert both["before"]["python"] == both["after"]["python"] == str(saver.python)
    assert "pip" in both["managers"]
    if os.access("/var/lib/dpkg/status", os.R_OK):
        assert "apt" in both["managers"] and both["before"]["apt"] == both["after"]["apt"]
        assert "\t" in both["before"]["apt"].splitlines()[0], "apt packages come with their versions"

    # what the Lab does next: the control plane makes the Dockerfile from both lists
    body = {"base": "127.0.0.1:5000/public/base:1"}
    for manager in both["managers"]:
        body[f"{manager}_before"], body[f"{manager}_after"] = both["before"][manager], both["after"][manager]
    generated = requests.post(f"{base}/cubelab/api/images/dockerfile-from-environment", json=body, headers=auth, timeout=60)
    assert generated.status_code == 200, generated.text
    dockerfile = generated.json()["dockerfile"]
    assert "FROM 127.0.0.1:5000/public/base:1" in dockerfile
    assert "RUN pip install --no-cache-dir tinypkg==1.2" in dockerfile
    assert generated.json()["changes"]["pip"]["added"] == ["tinypkg==1.2"]
    if "apt" in both["managers"]:
        assert generated.json()["changes"]["apt"] == {"added": [], "changed": [], "removed": [], "left_out": []}


def test_another_user_cannot_read_someone_elses_environment(platform, saver):
    other = register(platform, "envpeeker")
    resp = requests.post(f"{platform.url}/user/{saver.name}/cubelab/environment/snapshots",
                         headers={"Authorization": f"token {other.token}"}, timeout=30, allow_redirects=False)
    assert resp.status_code in (403, 404)
    assert "pip" not in resp.text
