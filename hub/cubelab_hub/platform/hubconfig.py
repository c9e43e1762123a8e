"""JupyterHub configuration for CubeLab, as one function.

``cubelab up`` calls it; so can a hand-written ``jupyterhub_config.py``::

    from cubelab_hub.platform.hubconfig import configure
    configure(c, data_dir="/srv/cubelab", admin_users=["alice"])
    # then override anything, e.g. on Kubernetes:
    c.JupyterHub.spawner_class = "cubelab_spawner.kube.CubeKubeSpawner"

Everything CubeLab adds is ordinary JupyterHub configuration: an authenticator,
a spawner, a hub-managed service with a role, the group ``public``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

SERVICE_NAME = "cubelab"
REGISTRY_SERVICE_NAME = "cubelab-registry"
# The admin page's entry in the hub's "Services" menu: a service of its own that only
# admins may access (the hub lists a service to those who may), routed to the control
# plane, which sends it on to <prefix>/services/cubelab/admin/ (the name is repeated in
# controlplane/handlers/admin_page.py: platform/ does not import the control plane).
ADMIN_SERVICE_NAME = "cubelab-admin"

# What the control plane may do through the hub's REST API.
CONTROL_PLANE_SCOPES = [
    "list:users",
    "read:users",
    "admin:users",  # account activation, deleting users
    "admin:groups",  # projects = groups: create, delete, members, properties
    "list:groups",
    "read:groups",
    "admin:servers",  # stop servers of deactivated users and revoked members
    "read:servers",
]

# The token each user's Jupyter server gets: enough to call the control plane
# as its user (the server extension forwards the Lab plugin's calls with it).
SERVER_TOKEN_SCOPES = [
    "users:activity!user",
    "access:servers!server",
    f"access:services!service={SERVICE_NAME}",
]


# JupyterHub's standard proxy (Node.js configurable-http-proxy), pinned and locked in
# its own npm project next to this module; scripts/setup.sh installs it with `npm ci`.
PROXY_PROJECT = Path(__file__).resolve().parent / "proxy"
PROXY_BIN = Path("node_modules") / ".bin" / "configurable-http-proxy"
PROXY_INSTALL = Path("share") / "cubelab" / "proxy"  # under the virtualenv (sys.prefix)
PROXY_MISSING = (
    "configurable-http-proxy (JupyterHub's proxy, Node.js) is not installed. Install it with "
    "`bash scripts/setup.sh`, or by hand: `npm ci --ignore-scripts --prefix {prefix}` "
    "after copying package.json and package-lock.json from {project} there."
)


def find_proxy() -> Path | None:
    """The configurable-http-proxy executable: the one installed next to the
    virtualenv, then one installed in a source checkout, then a Node.js one on PATH."""
    for candidate in (Path(sys.prefix) / PROXY_INSTALL / PROXY_BIN, PROXY_PROJECT / PROXY_BIN):
        if candidate.exists() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("configurable-http-proxy")
    # not the PyPI package of the same name: it buffers whole responses and does
    # not answer WebSocket subprotocols
    return Path(found) if found and _is_node_script(Path(found)) else None


def _is_node_script(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            line = f.readline(200)
    except OSError:
        return False
    # "#!/usr/bin/env node" or "#!/usr/bin/node"
    return line.startswith(b"#!") and any(os.path.basename(part) == b"node" for part in line[2:].split())


def proxy_missing_message() -> str:
    return PROXY_MISSING.format(prefix=Path(sys.prefix) / PROXY_INSTALL, project=PROXY_PROJECT)


def _proxy_command() -> list[str]:
    """configurable-http-proxy with no idle timeouts: CHP sets none unless told
    (--timeout / --proxy-timeout are *idle* limits on each socket), and a run's
    event stream or a followed log may stay quiet for hours while a task works.
    Without the executable, JupyterHub's own default name, whose failure to
    start JupyterHub reports; ``cubelab up`` says how to install it before that."""
    found = find_proxy()
    return [str(found)] if found else ["configurable-http-proxy"]


def _registry_service(data: Path, port: int, controlplane_port: int) -> dict | None:
    """The image registry as a hub-managed service (no URL: clients reach it
    at 127.0.0.1:port, not through the proxy); None when it is not installed."""
    from ..registry import config as registry_config

    executable = registry_config.find_registry()
    if executable is None:
        return None
    realm = f"http://127.0.0.1:{controlplane_port}/services/{SERVICE_NAME}/api/v1/registry/token"
    path = registry_config.write_config(data, address=f"127.0.0.1:{port}", realm=realm)
    return {"name": REGISTRY_SERVICE_NAME, "command": registry_config.command(executable, path), "display": False}


def default_spawner_class() -> str:
    if importlib.util.find_spec("cubelab_spawner.local") is not None:
        return "cubelab_spawner.local.CubeLocalSpawner"
    return "jupyterhub.spawner.SimpleLocalProcessSpawner"


def configure(
    c,
    *,
    data_dir: str,
    ip: str = "127.0.0.1",
    port: int = 8000,
    hub_port: int = 8081,
    proxy_api_port: int | None = None,
    controlplane_port: int = 10101,
    gateway_port: int = 8090,
    admin_users: list[str] | tuple[str, ...] = (),
    open_registration: bool = True,
    spawner_class: str | None = None,
    controlplane_config: dict | None = None,
    clusters: dict | None = None,
    default_cluster: str = "default",
    unix_accounts: dict[str, str] | None = None,
    registry_port: int | None = None,
) -> None:
    """Apply CubeLab's settings to a JupyterHub config object ``c``.

    ``unix_accounts``: ``UnixAccounts.to_environment()`` of the caller's
    settings; the hub and the control plane both read them from the environment.

    ``registry_port``: run the platform's image registry on this loopback
    port (a hub-managed service, restarted by the hub if it exits), with token
    authentication served by the control plane; None: no registry.

    ``clusters`` and ``default_cluster`` are the Kubernetes clusters projects may
    use (:class:`cubelab_hub.kube.clusters.Clusters`): set here, they reach both
    the spawner (``c.Clusters``) and the control plane (its command line). Set
    them here rather than on ``c.Clusters`` afterwards, which the control plane
    would not see.

    ``gateway_port``: the loopback port of the services' gateway, which the
    control plane runs (``Gateway.port``).
    """
    from ..kube.clusters import Clusters, command_line

    # checked now: a bad entry stops the start with a message naming it
    cluster_setting = Clusters(default=default_cluster, clusters=dict(clusters or {}))
    data = Path(data_dir).resolve()
    data.mkdir(parents=True, exist_ok=True)
    os.environ["CUBELAB_DATA_DIR"] = str(data)
    os.environ.update(unix_accounts or {})

    c.JupyterHub.ip = ip
    c.JupyterHub.port = port
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.hub_port = hub_port
    c.JupyterHub.db_url = f"sqlite:///{data / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(data / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(data / "jupyterhub.pid")
    c.JupyterHub.cleanup_servers = True
    c.JupyterHub.cleanup_proxy = True
    c.JupyterHub.allow_named_servers = True

    c.ConfigurableHTTPProxy.command = _proxy_command()
    c.ConfigurableHTTPProxy.pid_file = str(data / "proxy.pid")
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{proxy_api_port or hub_port + 1}"

    c.JupyterHub.authenticator_class = "cubelab_hub.platform.authenticator.CubeAuthenticator"
    c.CubeAuthenticator.db_url = f"sqlite:///{data / 'accounts.sqlite'}"
    c.CubeAuthenticator.open_registration = open_registration
    c.Authenticator.admin_users = set(admin_users)

    c.JupyterHub.spawner_class = spawner_class or default_spawner_class()
    c.Spawner.default_url = "/lab"
    # a loaded 2-core machine can take a while to import JupyterLab
    c.Spawner.http_timeout = 120
    c.Spawner.start_timeout = 180
    # the single-user server from this environment, whether or not it is on PATH
    singleuser = Path(sys.executable).parent / "jupyterhub-singleuser"
    if singleuser.exists():
        c.Spawner.cmd = [str(singleuser)]
    # user servers make no calls to the internet on their own (news feed, update check)
    args = ["--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # containers often run everything as root; Jupyter refuses that unless told
        args.append("--ServerApp.allow_root=True")
    c.Spawner.args = args
    c.Spawner.server_token_scopes = SERVER_TOKEN_SCOPES
    api_url = f"http://127.0.0.1:{controlplane_port}/services/{SERVICE_NAME}/api/v1"
    c.Spawner.environment = {"CUBELAB_API_URL": api_url, "CUBELAB_DATA_DIR": str(data)}
    # The fallback spawner: one workspace per user under the data directory.
    c.SimpleLocalProcessSpawner.home_dir_template = str(data / "users" / "{username}")

    c.Clusters.default = cluster_setting.default
    c.Clusters.clusters = cluster_setting.clusters

    # the services' gateway, which the control plane runs (--controlplane Gateway.* settings come after and win)
    cp_args = [sys.executable, "-m", "cubelab_hub.controlplane", f"--Gateway.port={gateway_port}"]
    if clusters or default_cluster != "default":
        cp_args += command_line(cluster_setting)
    # "pipeline_engine" means ControlPlane.pipeline_engine; "ServerExpiry.default" is taken as is
    for key, value in (controlplane_config or {}).items():
        cp_args.append(f"--{key if '.' in key else 'ControlPlane.' + key}={value}")
    registry = _registry_service(data, registry_port, controlplane_port) if registry_port else None
    if registry:
        cp_args.append(f"--ControlPlane.local_registry=127.0.0.1:{registry_port}")
    c.JupyterHub.services = [
        {
            "name": SERVICE_NAME,
            "url": f"http://127.0.0.1:{controlplane_port}",
            "command": cp_args,
            "environment": {"CUBELAB_DATA_DIR": str(data), **(unix_accounts or {})},
            "oauth_no_confirm": True,
            "display": False,
        },
        {"name": ADMIN_SERVICE_NAME, "url": f"http://127.0.0.1:{controlplane_port}", "display": True},
        *([registry] if registry else []),
    ]
    c.JupyterHub.load_roles = [
        {"name": "cubelab-controlplane", "scopes": CONTROL_PLANE_SCOPES, "services": [SERVICE_NAME]},
        {"name": "user", "scopes": ["self", f"access:services!service={SERVICE_NAME}"]},
    ]
    # create 'public' if missing, without touching its members or properties
    c.JupyterHub.load_groups = {"public": {"users": []}}
