"""``cubelab``: the command line. ``cubelab up`` starts the platform on this machine."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from traitlets import Bool, Dict, Integer, List, Unicode, default
from traitlets.config import Application

from .. import __version__


class UpApp(Application):
    name = "cubelab up"
    description = (
        "Start CubeLab on this machine: JupyterHub with CubeLab's login, projects and spawner, "
        "the configurable-http-proxy, and the control plane as a hub-managed service. "
        "All state lives in --data-dir; Ctrl-C stops everything."
    )
    examples = "cubelab up --admin alice\ncubelab up --port 8080 --data-dir /srv/cubelab --admin alice --no-registration"

    ip = Unicode("127.0.0.1", config=True, help="Address the platform listens on (the proxy's public side).")
    port = Integer(8000, config=True, help="Port of the platform's URL.")
    hub_port = Integer(8081, config=True, help="Port of the hub's internal API (loopback).")
    proxy_api_port = Integer(0, config=True, help="Port of the proxy's REST API (loopback); 0 = hub_port + 1.")
    controlplane_port = Integer(10101, config=True, help="Port of the control-plane service (loopback).")
    data_dir = Unicode(config=True, help="Directory for all state: databases, workspaces, logs. Default ./cubelab-data.")

    @default("data_dir")
    def _data_dir_default(self):
        return os.path.abspath("cubelab-data")

    admin_users = List(Unicode(), config=True, help="Admin usernames (repeat --admin for several). The first one is printed at start.")
    open_registration = Bool(True, config=True, help="Whether logging in with a new username creates the account (admins can change it later).")
    spawner_class = Unicode("", config=True, help="Spawner class; default CubeLab's local spawner.")
    controlplane_options = Dict(
        config=True,
        help="Settings for the control plane, e.g. --controlplane ServerExpiry.default=1d "
        "--controlplane scheduler_interval=5 (a bare name is a ControlPlane setting).",
    )

    aliases = {
        "ip": "UpApp.ip",
        "port": "UpApp.port",
        "hub-port": "UpApp.hub_port",
        "proxy-api-port": "UpApp.proxy_api_port",
        "controlplane-port": "UpApp.controlplane_port",
        "data-dir": "UpApp.data_dir",
        "admin": "UpApp.admin_users",
        "spawner": "UpApp.spawner_class",
        "controlplane": "UpApp.controlplane_options",
        "log-level": "Application.log_level",
    }
    flags = {
        "no-registration": ({"UpApp": {"open_registration": False}}, "Only existing accounts may log in."),
    }

    def write_hub_config(self, data: Path) -> Path:
        """The hub's config file: the same ``configure`` call a hand-written
        jupyterhub_config.py would make (regenerated on every start)."""
        args = dict(
            data_dir=str(data),
            ip=self.ip,
            port=self.port,
            hub_port=self.hub_port,
            proxy_api_port=self.proxy_api_port or None,
            controlplane_port=self.controlplane_port,
            admin_users=list(self.admin_users),
            open_registration=self.open_registration,
            spawner_class=self.spawner_class or None,
            controlplane_config=dict(self.controlplane_options),
        )
        text = (
            "# Written by `cubelab up` at each start; change its options instead of this file.\n"
            "from cubelab_hub.platform.hubconfig import configure\n\n"
            f"configure(c, **{args!r})\n"
        )
        path = data / "jupyterhub_config.py"
        path.write_text(text)
        return path

    def ensure_admin_passwords(self, data: Path) -> list[tuple[str, Path | None]]:
        """An admin who has no account yet gets a random first password in a
        file only the owner can read, so nobody else can claim the name."""
        from .accounts import AccountStore

        store = AccountStore(f"sqlite:///{data / 'accounts.sqlite'}")
        result = []
        for name in self.admin_users:
            path = data / f"initial-password-{name}"
            if store.get(name) is None:
                password = secrets.token_urlsafe(12)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(password + "\n")
                store.create(name, password)
            result.append((name, path if path.exists() else None))
        store.engine.dispose()
        return result

    def ports(self) -> list:
        from .readiness import Port

        return [
            Port("the platform's URL", "--port", self.ip, self.port),
            Port("the hub's internal API", "--hub-port", "127.0.0.1", self.hub_port),
            Port("the proxy's API", "--proxy-api-port", "127.0.0.1", self.proxy_api_port or self.hub_port + 1),
            Port("the control plane", "--controlplane-port", "127.0.0.1", self.controlplane_port),
        ]

    def ready_urls(self) -> list[str]:
        """What must answer before the platform is ready, reached through the
        proxy at the public port: the hub's API and the control plane."""
        from .hubconfig import SERVICE_NAME
        from .readiness import loopback_host

        base = f"http://{loopback_host(self.ip)}:{self.port}"
        return [f"{base}/hub/api/", f"{base}/services/{SERVICE_NAME}/api/v1/openapi.json"]

    def start(self):
        import threading
        import time

        from .hubconfig import find_proxy, proxy_missing_message
        from .readiness import announce_when_ready, busy_message, busy_ports
        from .supervisor import supervise

        started = time.monotonic()
        problems = busy_ports(self.ports())
        if problems:
            print(f"CubeLab cannot start:\n{busy_message(problems)}", file=sys.stderr, flush=True)
            sys.exit(2)
        if find_proxy() is None:
            print(f"CubeLab cannot start: {proxy_missing_message()}", file=sys.stderr, flush=True)
            sys.exit(2)
        data = Path(self.data_dir).resolve()
        data.mkdir(parents=True, exist_ok=True)
        os.chmod(data, 0o700)
        config_file = self.write_hub_config(data)
        admins = self.ensure_admin_passwords(data)
        url = f"http://{self.ip}:{self.port}/"
        print(f"CubeLab {__version__} starting (data: {data})", flush=True)
        print("Ports: " + ", ".join(f"{p.number} ({p.what}, {p.option})" for p in self.ports()), flush=True)

        def ready(seconds: float) -> None:
            print(f"CubeLab is ready at {url} (started in {seconds:.1f} s)", flush=True)
            if admins:
                name, path = admins[0]
                where = f"; first password in {path}" if path else ""
                print(f"First admin: {name}{where}", flush=True)
            else:
                print("No admin configured (use --admin NAME).", flush=True)

        os.environ["CUBELAB_DATA_DIR"] = str(data)
        argv = [sys.executable, "-m", "jupyterhub", "-f", str(config_file), f"--JupyterHub.log_level={self.log_level}"]
        stopped = threading.Event()
        announce_when_ready(self.ready_urls(), stopped, ready, started)
        sys.exit(supervise(argv, log=lambda msg: print(msg, flush=True), stopped=stopped))


class CubeLabApp(Application):
    name = "cubelab"
    version = __version__
    description = "CubeLab: a Jupyter-native ML platform."
    subcommands = {"up": (UpApp, UpApp.description)}

    def start(self):
        if self.subapp is None:
            self.print_help()
            print("\nSubcommands: up (start the platform). Try: cubelab up --help")
            sys.exit(1)
        self.subapp.start()


def main(argv=None):
    CubeLabApp.launch_instance(argv)


if __name__ == "__main__":
    main()
