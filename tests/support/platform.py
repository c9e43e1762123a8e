"""Start a real CubeLab (``cubelab up``) for tests, and talk to it as users do.

No mocks: JupyterHub, the proxy, the control plane and user servers are real
processes on 127.0.0.1 with free ports, in a temporary data directory.
"""

from __future__ import annotations

import grp
import itertools
import os
import pwd
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import requests

CUBELAB = [sys.executable, "-m", "cubelab_hub.platform.cli"]
IS_ROOT = os.geteuid() == 0
_prefixes = itertools.count()


def unix_prefix() -> str:
    """A prefix of the tests' own for the Unix accounts and groups a platform
    creates as root, so they are told apart from real ones and removed after."""
    return f"t{os.getpid() % 10000}x{next(_prefixes)}-"


def make_traversable(path: Path) -> None:
    """pytest makes its temporary directories 0700: let the test accounts pass
    through (not list) the ones above a data directory, as /srv would."""
    tmp = Path(tempfile.gettempdir()).resolve()
    for parent in Path(path).resolve().parents:
        if parent == tmp or not parent.is_relative_to(tmp):
            break
        mode = parent.stat().st_mode
        if mode & 0o011 != 0o011:
            os.chmod(parent, (mode & 0o7777) | 0o011)


def remove_unix_accounts(prefix: str) -> list[str]:
    """Every account and group named with ``prefix``: their processes stopped, then removed."""
    removed = []
    for entry in pwd.getpwall():
        if entry.pw_name.startswith(prefix):
            for pid in psutil.pids():
                try:
                    if psutil.Process(pid).uids().real == entry.pw_uid:
                        os.kill(pid, signal.SIGKILL)
                except (psutil.Error, ProcessLookupError):
                    pass
            subprocess.run(["userdel", entry.pw_name], check=False, capture_output=True)
            removed.append(entry.pw_name)
    for group in grp.getgrall():
        if group.gr_name.startswith(prefix):
            subprocess.run(["groupdel", group.gr_name], check=False, capture_output=True)
            removed.append(group.gr_name)
    return removed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < n:
        ports.add(free_port())
    return list(ports)


class Platform:
    """One ``cubelab up`` process and its data directory."""

    def __init__(self, data_dir: Path, admin: str = "admin", extra_args: list[str] | None = None, log_path: Path | None = None,
                 run_as_uid: int | None = None):
        """``run_as_uid``: start ``cubelab up`` as this (non-root) user, from root."""
        self.data_dir = Path(data_dir)
        self.run_as_uid = run_as_uid
        self.admin = admin
        self.extra_args = list(extra_args or [])
        if os.environ.get("CUBELAB_TEST_SPAWNER"):  # for debugging with another spawner
            self.extra_args.append(f"--spawner={os.environ['CUBELAB_TEST_SPAWNER']}")
        self.port, self.hub_port, self.proxy_api_port, self.cp_port, self.gateway_port = free_ports(5)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path or self.data_dir.parent / f"{self.data_dir.name}-cubelab.log"
        self.proc: subprocess.Popen | None = None
        self.unix_prefix = unix_prefix() if IS_ROOT and run_as_uid is None else None
        if self.unix_prefix and not any(a.startswith("--unix-prefix") for a in self.extra_args):
            self.extra_args.append(f"--unix-prefix={self.unix_prefix}")

    def start(self, timeout: float = 60) -> Platform:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if IS_ROOT:
            make_traversable(self.data_dir)
        argv = CUBELAB + [
            "up",
            f"--port={self.port}",
            f"--hub-port={self.hub_port}",
            f"--proxy-api-port={self.proxy_api_port}",
            f"--controlplane-port={self.cp_port}",
            f"--gateway-port={self.gateway_port}",
            f"--data-dir={self.data_dir}",
            f"--admin={self.admin}",
            *self.extra_args,
        ]
        self._log = open(self.log_path, "ab")
        preexec = None
        if self.run_as_uid is not None:
            os.chown(self.data_dir, self.run_as_uid, self.run_as_uid)
            uid = self.run_as_uid

            def preexec():
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)

        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, preexec_fn=preexec)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 60) -> float:
        start = time.monotonic()
        deadline = start + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"cubelab up exited with {self.proc.returncode}; see {self.log_path}")
            try:
                hub = requests.get(f"{self.url}/hub/api/", timeout=2)
                cp = requests.get(f"{self.url}/services/cubelab/api/v1/openapi.json", timeout=2)
                if hub.status_code == 200 and cp.status_code == 200:
                    return time.monotonic() - start
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"CubeLab did not answer within {timeout}s; see {self.log_path}")

    def descendants(self) -> list[int]:
        try:
            return [p.pid for p in psutil.Process(self.proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            for pid in self.descendants():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.kill()
            rc = self.proc.wait()
        self._log.close()
        return rc

    def remove_unix_accounts(self) -> list[str]:
        return remove_unix_accounts(self.unix_prefix) if self.unix_prefix else []

    def unix_account(self, user: str) -> pwd.struct_passwd:
        return pwd.getpwnam(self.unix_prefix + user)

    @property
    def admin_password(self) -> str:
        return (self.data_dir / f"initial-password-{self.admin}").read_text().strip()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


class User:
    """A person using CubeLab through HTTP: a browser-like session and a token."""

    def __init__(self, platform: Platform, name: str, password: str):
        self.platform = platform
        self.name = name
        self.password = password
        self.session = requests.Session()
        self.token: str | None = None

    @property
    def url(self) -> str:
        return self.platform.url

    def login(self) -> requests.Response:
        page = self.session.get(f"{self.url}/hub/login", timeout=10)
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
        return self.session.post(
            f"{self.url}/hub/login",
            data={"username": self.name, "password": self.password, "_xsrf": xsrf},
            allow_redirects=False,
            timeout=30,
        )

    def xsrf_headers(self) -> dict:
        return {"X-XSRFToken": self.session.cookies.get("_xsrf", path="/hub/") or ""}

    def create_token(self) -> str:
        resp = self.session.post(
            f"{self.url}/hub/api/users/{self.name}/tokens",
            json={"note": "tests", "expires_in": 3600},
            headers=self.xsrf_headers(),
            timeout=10,
        )
        resp.raise_for_status()
        self.token = resp.json()["token"]
        return self.token

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        """Call the control plane directly with this user's token."""
        headers = kwargs.pop("headers", {})
        if self.token:
            headers["Authorization"] = f"token {self.token}"
        return requests.request(method, f"{self.url}/services/cubelab/api/v1{path}", headers=headers, timeout=30, **kwargs)

    def hub_api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        headers["Authorization"] = f"token {self.token}"
        return requests.request(method, f"{self.url}/hub/api{path}", headers=headers, timeout=60, **kwargs)


def register(platform: Platform, name: str, password: str | None = None) -> User:
    """Log in with a new name (login is registration) and get an API token."""
    user = User(platform, name, password or f"pw-{name}-secret")
    resp = user.login()
    assert resp.status_code == 302, f"login of {name} failed: {resp.status_code} {resp.text[:500]}"
    user.create_token()
    return user


def wait_server_ready(user: User, name: str = "", timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        model = user.hub_api("GET", f"/users/{user.name}").json()
        server = model["servers"].get(name)
        if server and server.get("ready"):
            return server
        time.sleep(0.5)
    raise TimeoutError(f"server {user.name}/{name} not ready in {timeout}s")


def start_server(user: User, name: str = "", options: dict | None = None, timeout: float = 180) -> dict:
    """Start a server through the hub API (with spawn-form options, if any) and wait until ready."""
    path = f"/users/{user.name}/servers/{name}" if name else f"/users/{user.name}/server"
    resp = user.hub_api("POST", path, json=options or {})
    assert resp.status_code in (201, 202), f"{resp.status_code} {resp.text}"
    return wait_server_ready(user, name, timeout)
