"""Start a real JupyterHub (with the configurable-http-proxy CubeLab runs) on
127.0.0.1 and random free ports, in a temporary directory; stop it by PID."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from support.platform import IS_ROOT, free_ports, make_traversable, remove_unix_accounts, unix_prefix

from cubelab_hub.platform.hubconfig import _proxy_command

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class HubProcess:
    def __init__(self, workdir: Path, extra_config: str = "", extra_env: dict | None = None):
        self.workdir = workdir
        self.extra_env = dict(extra_env or {})
        # as root, servers run as Unix accounts of the test's own prefix (removed by stop)
        self.unix_prefix = unix_prefix() if IS_ROOT else None
        if self.unix_prefix:
            self.extra_env.setdefault("CUBELAB_UNIX_PREFIX", self.unix_prefix)
            make_traversable(workdir / "x")
        # three distinct ports (two free_port() calls can return the same one)
        self.port, self.hub_port, proxy_api_port = free_ports(3)
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_hex(16)
        self.data_dir = workdir / "data"
        pythonpath = os.pathsep.join(str(ROOT / p) for p in ("hub", "spawner", "server_ext"))
        self.pythonpath = pythonpath
        # what the cubelab distribution's entry point registers, for an uninstalled tree
        jupyter_config = workdir / "jupyter-config"
        jupyter_config.mkdir(exist_ok=True)
        # servers run as other accounts and cannot write here: jupyter_core's one-time
        # IPython-profile migration marker must already exist
        (jupyter_config / "migrated").touch()
        (jupyter_config / "jupyter_server_config.py").write_text(
            "from cubelab_server.vscode import setup_vscode\n"
            "c.ServerProxy.servers = {'vscode': setup_vscode()}\n"
        )
        (workdir / "jupyterhub_config.py").write_text(
            f"""
c = get_config()  # noqa
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {self.port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {self.hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.command = {_proxy_command()!r}
c.JupyterHub.db_url = "sqlite:///{workdir}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{workdir}/cookie_secret"
c.JupyterHub.pid_file = "{workdir}/jupyterhub.pid"
c.JupyterHub.cleanup_servers = True
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = "pw"
c.Authenticator.allow_all = True
c.Authenticator.admin_users = {{"admin"}}
c.JupyterHub.allow_named_servers = True
c.JupyterHub.services = [{{"name": "tester", "api_token": "{self.token}"}}]
c.JupyterHub.load_roles = [{{"name": "tester", "services": ["tester"], "scopes": ["admin:users", "admin:groups", "admin:servers", "admin:server_state", "access:servers", "tokens"]}}]
c.JupyterHub.spawner_class = "cubelab_spawner.local.CubeLocalSpawner"
c.CubeLocalSpawner.data_dir = "{self.data_dir}"
c.Spawner.environment = {{"PYTHONPATH": "{pythonpath}", "JUPYTER_CONFIG_DIR": "{jupyter_config}"}}
c.Spawner.args = ["--ServerApp.jpserver_extensions=cubelab_server=True"]
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 180
c.Spawner.poll_interval = 3
{extra_config}
"""
        )
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> HubProcess:
        env = dict(os.environ)
        env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONPATH"] = self.pythonpath
        env.update(self.extra_env)
        self.log = open(self.workdir / "hub.log", "wb")
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "jupyterhub"), "-f", str(self.workdir / "jupyterhub_config.py")],
            cwd=self.workdir, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("hub exited:\n" + self.log_text())
            try:
                if requests.get(self.url + "/hub/api/", timeout=2).ok:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError("hub did not answer:\n" + self.log_text())

    def log_text(self) -> str:
        return (self.workdir / "hub.log").read_text(errors="replace")[-6000:]

    def api(self, method: str, path: str, **kw) -> requests.Response:
        headers = kw.pop("headers", {})
        headers["Authorization"] = f"token {self.token}"
        return requests.request(method, self.url + "/hub/api" + path, headers=headers, timeout=30, **kw)

    def login(self, name: str) -> requests.Session:
        session = requests.Session()
        session.get(self.url + "/hub/login", timeout=10)
        r = session.post(
            self.url + "/hub/login",
            data={"username": name, "password": "pw", "_xsrf": session.cookies.get("_xsrf", path="/hub/")},
            allow_redirects=False, timeout=30,
        )
        assert r.status_code == 302, r.text[:500]
        return session

    def wait_ready(self, user: str, server: str = "", timeout: float = 180) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.api("GET", f"/users/{user}").json()
            srv = model.get("servers", {}).get(server)
            if srv and srv.get("ready"):
                return srv
            if srv is None and time.monotonic() > deadline - timeout + 5:
                pass
            time.sleep(0.5)
        raise AssertionError(f"server {user}/{server} not ready:\n" + self.log_text())

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the hub stops the proxy and user servers
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if getattr(self, "log", None):
            self.log.close()
        if self.unix_prefix:
            remove_unix_accounts(self.unix_prefix)
