"""A real control-plane process for REST tests, with JupyterHub's REST API
played by fake_hub.py at the HTTP boundary (users, tokens, groups)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import socket

import requests

HERE = Path(__file__).parent
PREFIX = "/services/cubelab/api/v1"

USERS = {"admin": {"admin": True}, "alice": {}, "dan": {}, "olga": {}, "nina": {}}
STATE = {
    "users": USERS,
    "tokens": {f"t-{name}": name for name in USERS},
    "groups": {
        "public": {"users": list(USERS), "properties": {}},
        "proj": {"users": ["alice", "dan", "olga"],
                 "properties": {"creator": "alice", "member_roles": {"alice": "creator", "dan": "dev", "olga": "ops"}}},
    },
}


def free_ports(n: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < n:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.add(s.getsockname()[1])
    return list(ports)


class ControlPlane:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.data_dir = self.root / "data"
        self.hub_port, self.port = free_ports(2)
        self.url = f"http://127.0.0.1:{self.port}{PREFIX}"
        state = self.root / "hub-state.json"
        state.write_text(json.dumps(STATE))
        self.hub = subprocess.Popen([sys.executable, str(HERE / "fake_hub.py"), str(self.hub_port), str(state)],
                                    stdout=open(self.root / "hub.log", "ab"), stderr=subprocess.STDOUT)
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> "ControlPlane":
        env = dict(os.environ)
        env.update({
            "JUPYTERHUB_API_URL": f"http://127.0.0.1:{self.hub_port}/hub/api",
            "JUPYTERHUB_API_TOKEN": "service-token-for-tests",
            "JUPYTERHUB_SERVICE_URL": f"http://127.0.0.1:{self.port}",
            "JUPYTERHUB_SERVICE_PREFIX": "/services/cubelab/",
            "JUPYTERHUB_SERVICE_NAME": "cubelab",
            "CUBELAB_SCHEDULER_INTERVAL": "0.5",
        })
        self.proc = subprocess.Popen([sys.executable, "-m", "cubelab_hub.controlplane", f"--ControlPlane.data_dir={self.data_dir}"],
                                     env=env, stdout=open(self.root / "cp.log", "ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"control plane exited: {(self.root / 'cp.log').read_text()[-3000:]}")
            try:
                if requests.get(self.url + "/openapi.json", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise TimeoutError("control plane did not start")

    def stop(self, sig=signal.SIGTERM, timeout: float = 20) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout)

    def close(self) -> None:
        self.stop()
        self.hub.terminate()
        self.hub.wait(10)

    def call(self, user: str | None, method: str, path: str, body=None, **kw) -> requests.Response:
        headers = {"Authorization": f"token t-{user}"} if user else {}
        return requests.request(method, self.url + path, json=body, headers=headers, timeout=30, **kw)

    def wait_run(self, user: str, run_id: str, timeout: float = 30, until=("succeeded", "failed", "cancelled")) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.call(user, "GET", f"/runs/{run_id}").json()
            if run["status"] in until:
                return run
            time.sleep(0.1)
        raise TimeoutError(f"run {run_id} still {run['status']}")
