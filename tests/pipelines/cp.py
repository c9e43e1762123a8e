"""The pipelines REST API as people reach it on a real CubeLab (``cubelab up``:
JupyterHub, proxy, control plane as a hub-managed service): users register by
logging in, a project is made through the control plane's /projects API, and
every call carries the caller's own JupyterHub token.

A ``World`` is one project with a creator, a dev and an ops member, a user who
is no member of it (only of ``public``), the platform's admin and an anonymous
caller. Tests address callers by role name: ``"admin"``, ``"creator"``,
``"dev"``, ``"ops"``, ``"outsider"``, or ``None`` for anonymous."""

from __future__ import annotations

import itertools
import os
import time

import psutil
import requests
from support.platform import Platform, User, register

PREFIX = "/services/cubelab/api/v1"
ROLES = ("admin", "creator", "dev", "ops", "outsider", None)
_seq = itertools.count()


def fresh(prefix: str) -> str:
    """A name no other test of this session uses (users, projects, pipelines)."""
    return f"{prefix}{os.getpid() % 10000}n{next(_seq)}"


class World:
    def __init__(self, platform: Platform, admin: User):
        self.platform = platform
        self.url = platform.url + PREFIX  # the platform's public URL: through the proxy, as browsers call it
        # the control plane's own loopback address, as user servers call it (CUBELAB_API_URL)
        self.direct_url = f"http://127.0.0.1:{platform.cp_port}{PREFIX}"
        self.users: dict[str | None, User | None] = {"admin": admin, None: None}
        for role in ("creator", "dev", "ops", "outsider"):
            self.users[role] = register(platform, fresh(role))
        self.project = fresh("pl-")
        r = self.users["creator"].api("POST", "/projects", json={"name": self.project})
        assert r.status_code == 201, r.text
        for role in ("dev", "ops"):
            r = self.users["creator"].api("POST", f"/projects/{self.project}/members", json={"name": self.users[role].name, "role": role})
            assert r.status_code == 201, r.text

    def name(self, role: str) -> str:
        return self.users[role].name

    def token(self, role: str) -> str:
        return self.users[role].token

    def headers(self, role: str | None) -> dict:
        return {"Authorization": f"token {self.token(role)}"} if role else {}

    def call(self, role: str | None, method: str, path: str, body=None, **kw) -> requests.Response:
        return requests.request(method, self.url + path, json=body, headers=self.headers(role), timeout=30, **kw)

    def wait_run(self, role: str, run_id, timeout: float = 60, until=("succeeded", "failed", "cancelled")) -> dict:
        deadline = time.monotonic() + timeout
        run = {"status": "unknown"}
        while time.monotonic() < deadline:
            r = self.call(role, "GET", f"/runs/{run_id}")
            if r.status_code == 200:
                run = r.json()
                if run["status"] in until:
                    return run
            time.sleep(0.1)
        raise TimeoutError(f"run {run_id} still {run['status']}")


def controlplane_pid(platform: Platform) -> int | None:
    """The control-plane process the hub runs as a managed service."""
    for pid in platform.descendants():
        try:
            if "cubelab_hub.controlplane" in " ".join(psutil.Process(pid).cmdline()):
                return pid
        except psutil.Error:
            continue
    return None


def task_processes(run_id) -> list[psutil.Process]:
    """Live processes of a run's tasks (they carry KFJ_RUN_ID)."""
    found = []
    for proc in psutil.process_iter(["environ"]):
        if (proc.info.get("environ") or {}).get("KFJ_RUN_ID") == str(run_id):
            found.append(proc)
    return found


def alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                out.append(proc)
        except psutil.NoSuchProcess:
            pass
    return out
