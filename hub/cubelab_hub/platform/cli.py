"""``cubelab``: the command line. ``cubelab up`` starts the platform on this machine."""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from pathlib import Path

from traitlets import Bool, Dict, Integer, List, Unicode, default
from traitlets.config import Application

from .. import __version__
from .unix import UnixAccounts, check_runnable_by_accounts

# entries of the data directory that users reach (their homes, shared claims, their
# tasks' output directories): traversable by all, listable by none
USER_REACHABLE = ("workspaces", "volumes", "runs")


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
    gateway_port = Integer(
        8090, config=True, help="Port of the services' gateway (loopback): a service answers at http://<name>.localhost:PORT/.",
    )
    data_dir = Unicode(config=True, help="Directory for all state: databases, workspaces, logs. Default ./cubelab-data.")

    @default("data_dir")
    def _data_dir_default(self):
        return os.path.abspath("cubelab-data")

    admin_users = List(Unicode(), config=True, help="Admin usernames (repeat --admin for several). The first one is printed at start.")
    open_registration = Bool(True, config=True, help="Whether logging in with a new username creates the account (admins can change it later).")
    registration_without_isolation = Bool(
        False,
        config=True,
        help="Open registration even though the platform does not run as root. Without root every account's "
        "code (notebook servers, terminals, kernels, pipeline tasks) runs as this one OS user, so each user can "
        "read every other user's files and the platform's own state; only do this for people you trust with all of it.",
    )
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
        "gateway-port": "UpApp.gateway_port",
        "data-dir": "UpApp.data_dir",
        "admin": "UpApp.admin_users",
        "spawner": "UpApp.spawner_class",
        "controlplane": "UpApp.controlplane_options",
        "log-level": "Application.log_level",
        "unix-prefix": "UnixAccounts.prefix",
        "unix-uid-min": "UnixAccounts.uid_min",
        "unix-uid-max": "UnixAccounts.uid_max",
    }
    flags = {
        "no-registration": ({"UpApp": {"open_registration": False}}, "Only existing accounts may log in."),
        "registration-without-isolation": (
            {"UpApp": {"registration_without_isolation": True}},
            "Not root: open registration anyway, though every account's code runs as this one OS user "
            "and can read every other user's files and the platform's state.",
        ),
    }
    classes = [UnixAccounts]

    @property
    def unix(self) -> UnixAccounts:
        if getattr(self, "_unix", None) is None:
            self._unix = UnixAccounts(parent=self)
        return self._unix

    @property
    def registration_open(self) -> bool:
        return self.open_registration and (self.unix.enabled or self.registration_without_isolation)

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
            gateway_port=self.gateway_port,
            admin_users=list(self.admin_users),
            open_registration=self.registration_open,
            unix_accounts=self.unix.to_environment(),
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
            Port("the services' gateway", "--gateway-port", "127.0.0.1", self.gateway_port),
        ]

    def services_url(self) -> str:
        """Where services answer, as the readiness line shows it."""
        domain = self.controlplane_options.get("ServiceManager.domain") or "localhost"
        return f"http://<name>.{domain}:{self.gateway_port}/"

    def ready_urls(self) -> list[str]:
        """What must answer before the platform is ready, reached through the
        proxy at the public port: the hub's API and the control plane."""
        from .hubconfig import SERVICE_NAME
        from .readiness import loopback_host

        base = f"http://{loopback_host(self.ip)}:{self.port}"
        return [f"{base}/hub/api/", f"{base}/services/{SERVICE_NAME}/api/v1/openapi.json"]

    def secure_data_dir(self, data: Path) -> None:
        """The platform's state is the platform account's alone (files 0600,
        directories 0700); users only traverse to what is theirs."""
        # everything the platform's processes create from here on: theirs alone
        os.umask(0o077)
        data.mkdir(parents=True, exist_ok=True)
        os.chmod(data, 0o711 if self.unix.enabled else 0o700)
        for entry in data.iterdir():
            if entry.is_symlink():
                continue
            if entry.is_dir():
                os.chmod(entry, 0o711 if self.unix.enabled and entry.name in USER_REACHABLE else 0o700)
            else:
                os.chmod(entry, 0o600)

    def check_isolation(self) -> None:
        """Root: user code must be able to run this interpreter and its packages.
        Not root: say plainly that every account's code runs as this OS user."""
        if self.unix.enabled:
            problem = check_runnable_by_accounts(sys.executable)
            real = Path(sys.prefix).resolve()
            if problem and real != Path(sys.prefix):
                problem += f" (start it by the virtualenv's real path instead, {real}/bin/cubelab, which may be readable)"
            if problem:
                print(
                    f"CubeLab cannot start: user servers and tasks run as each user's own Unix account, but {problem}.\n"
                    "Set CubeLab up with scripts/setup.sh as root (it builds the environment under /opt/cubelab with "
                    "the system's Python, readable by every account), or start `cubelab up` as an ordinary user "
                    "(then every account's code runs as that one user).",
                    file=sys.stderr,
                    flush=True,
                )
                sys.exit(1)
            print(f"Each CubeLab user's code runs as their own Unix account ({self.unix.prefix}<name>).", flush=True)
            return
        import getpass

        print(
            f"WARNING: CubeLab is not running as root, so every account's code (notebook servers, terminals, kernels, "
            f"pipeline tasks) runs as this one OS user ({getpass.getuser()}): users can read each other's files and "
            "the platform's state. Run `cubelab up` as root for one Unix account per user.",
            flush=True,
        )
        if self.open_registration and not self.registration_without_isolation:
            print("Registration is closed (only the admins and existing accounts log in); "
                  "--registration-without-isolation opens it anyway.", flush=True)

    def start(self):
        import threading
        import time

        from .cgroups import describe_support
        from .hubconfig import find_proxy, proxy_missing_message
        from .readiness import announce_when_ready, busy_message, busy_ports
        from .supervisor import supervise

        started = time.monotonic()
        problems = busy_ports(self.ports())
        if problems:
            print(f"CubeLab cannot start:\n{busy_message(problems)}", file=sys.stderr, flush=True)
            sys.exit(2)
        if shutil.which("nginx") is None and not os.access("/usr/sbin/nginx", os.X_OK):
            print("Services' gateway: nginx is not installed (scripts/setup.sh installs it); services will answer on their "
                  "replicas' own ports only.", flush=True)
        if find_proxy() is None:
            print(f"CubeLab cannot start: {proxy_missing_message()}", file=sys.stderr, flush=True)
            sys.exit(2)
        data = Path(self.data_dir).resolve()
        self.check_isolation()
        print(describe_support(), flush=True)
        self.secure_data_dir(data)
        config_file = self.write_hub_config(data)
        admins = self.ensure_admin_passwords(data)
        url = f"http://{self.ip}:{self.port}/"
        print(f"CubeLab {__version__} starting (data: {data})", flush=True)
        print("Ports: " + ", ".join(f"{p.number} ({p.what}, {p.option})" for p in self.ports()), flush=True)

        def ready(seconds: float) -> None:
            print(f"CubeLab is ready at {url} (started in {seconds:.1f} s)", flush=True)
            print(f"Services are at {self.services_url()} (members also reach them at {url}services/cubelab/proxy/<name>/)", flush=True)
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
