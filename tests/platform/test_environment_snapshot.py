""""Save as image", the server's half: a real user server records its
environment's package lists when it starts, and on request lists them again
and answers both; the control plane turns them into a Dockerfile.

The kernel's interpreter is a virtualenv of the user's workspace (named by a
kernel spec of their own), so the test can install a package into it with
the real pip (a wheel made here, no network) without touching the platform's."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import requests
from support.platform import IS_ROOT, register, start_server

from cubelab_server.environment import STATE_FILE

pytestmark = pytest.mark.hub


def make_wheel(folder: Path, name: str, version: str) -> Path:
    """A minimal pure-Python wheel (PEP 427): a module, METADATA, WHEEL and RECORD."""
    files = {f"{name}/__init__.py": b"VALUE = 1\n",
             f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
             f"{name}-{version}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: cubelab-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = [f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
              for path, data in files.items()]
    files[f"{name}-{version}.dist-info/RECORD"] = ("\n".join([*record, f"{name}-{version}.dist-info/RECORD,,"]) + "\n").encode()
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return wheel


@pytest.fixture(scope="module")
def saver(platform, tmp_path_factory):
    """A user whose default kernel runs a virtualenv of their workspace; their server started."""
    user = register(platform, "envsaver")
    workspace = platform.data_dir / "workspaces" / user.name
    venv = workspace / "venv"
    base_python = getattr(sys, "_base_executable", None) or sys.executable
    subprocess.run([base_python, "-m", "venv", str(venv)], check=True, timeout=120)
    spec = workspace / ".local/share/jupyter/kernels/wsvenv/kernel.json"
    spec.parent.mkdir(parents=True)
    spec.write_text(json.dumps({"argv": [str(venv / "bin/python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                                "display_name": "workspace venv", "language": "python"}))
    # the user's own configuration makes it their default kernel
    (workspace / ".jupyter").mkdir()
    (workspace / ".jupyter/jupyter_server_config.json").write_text(
        json.dumps({"MappingKernelManager": {"default_kernel_name": "wsvenv"}}))
    start_server(user)
    user.venv = venv
    user.workspace = workspace
    user.wheels = tmp_path_factory.mktemp("wheels")
    return user


def wait_for_before(workspace: Path, timeout: float = 60) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(workspace.glob(f".local/share/jupyter/runtime/{STATE_FILE}"))
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"the server recorded no {STATE_FILE} within {timeout} s")


def test_the_server_records_before_and_answers_both_with_the_change(platform, saver):
    state = wait_for_before(saver.workspace)
    # the server's own private state: its account's file, nobody else's to read or replace
    st = state.stat()
    assert st.st_mode & 0o777 == 0o600
    if IS_ROOT:
        assert st.st_uid == platform.unix_account(saver.name).pw_uid
    recorded = json.loads(state.read_text())
    assert recorded["python"] == str(saver.venv / "bin/python")
    assert "tinypkg" not in recorded["pip"]

    # from a local package index (a folder of wheels), as from PyPI: pip records it as 'name==version'
    make_wheel(saver.wheels, "tinypkg", "1.2")
    subprocess.run([str(saver.venv / "bin/python"), "-m", "pip", "install", "--no-index", "--find-links", str(saver.wheels), "--no-deps",
                    "--disable-pip-version-check", "-q", "tinypkg==1.2"], check=True, timeout=120)

    auth = {"Authorization": f"token {saver.token}"}
    base = f"{platform.url}/user/{saver.name}"
    resp = requests.post(f"{base}/cubelab/environment/snapshots", headers=auth, timeout=120)
    assert resp.status_code == 200, resp.text
    both = resp.json()
    assert both["base"] is None, "a server on this machine runs in the host's environment: no image"
    assert "tinypkg" not in both["before"]["pip"] and "tinypkg==1.2" in both["after"]["pip"].splitlines()
    assert both["before"]["python"] == both["after"]["python"] == str(saver.venv / "bin/python")
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
