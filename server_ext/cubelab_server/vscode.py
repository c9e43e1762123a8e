"""VS Code (code-server) behind jupyter-server-proxy.

Registered as the ``vscode`` jupyter-server-proxy server (entry point group
``jupyter_serverproxy_servers``), so ``<base_url>vscode/`` is code-server and
the JupyterLab launcher shows a "VS Code" tile when code-server is installed.

Security: jupyter-server-proxy serves the route only to requests the Jupyter
server authenticated (for JupyterHub, the server's owner). code-server itself
runs with ``--auth none`` but listens on a Unix socket inside the server's
private runtime directory (``cubelab_server.unix_sockets``, mode 0700), not on a
TCP port, so nothing else on the machine can reach it.

``scripts/install-code-server.sh`` installs code-server where ``find_code_server``
looks (``/opt/cubelab/bin`` as root, ``~/.local/bin`` otherwise).

When code-server is missing, the route shows how to install it instead of an
error, and the launcher tile is hidden.
"""

from __future__ import annotations

import os
import sys

from cubelab_hub.codeserver import find_code_server

from .unix_sockets import remove_stale_socket, socket_path

INSTALL_HELP = (
    "code-server is not installed. Install it with bash scripts/install-code-server.sh "
    "(or CUBELAB_CODE_SERVER_INSTALL=1 bash scripts/setup.sh) from the CubeLab checkout, "
    "or set CUBELAB_CODE_SERVER to its path; then restart your server."
)


def workspace_folder() -> str:
    return os.environ.get("JUPYTERHUB_ROOT_DIR") or os.environ.get("CUBELAB_WORKSPACE") or os.getcwd()


def user_data_dir() -> str:
    """code-server's settings, state and extensions: kept with the user's data."""
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data_home, "code-server")


def code_server_command(code_server: str, folder: str, data_dir: str) -> list[str]:
    """argv for code-server; '{unix_socket}' is filled in by jupyter-server-proxy."""
    return [
        code_server,
        "--auth", "none",  # the Jupyter server authenticates every request first
        "--socket", "{unix_socket}",
        "--socket-mode", "600",
        "--config", os.path.join(data_dir, "config.yaml"),
        "--user-data-dir", data_dir,
        "--extensions-dir", os.path.join(data_dir, "extensions"),
        "--disable-telemetry",
        "--disable-update-check",
        "--disable-workspace-trust",
        "--disable-getting-started-override",
        folder,
    ]


def _launch_command(code_server: str):
    """A command callable: jupyter-server-proxy calls it at each (re)start, so the
    user-data directory exists before code-server's first start and a stale socket
    left by a crashed run does not block the new one."""

    def command(unix_socket: str) -> list[str]:
        data_dir = user_data_dir()
        # (makedirs gives its mode to the last directory only)
        os.makedirs(data_dir, mode=0o700, exist_ok=True)
        os.makedirs(os.path.join(data_dir, "extensions"), mode=0o700, exist_ok=True)
        config = os.path.join(data_dir, "config.yaml")
        if not os.path.exists(config):
            # without a config file code-server writes one holding a generated password
            fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write("# written by CubeLab: the Jupyter server authenticates VS Code\nauth: none\n")
        remove_stale_socket(unix_socket)
        return code_server_command(code_server, workspace_folder(), data_dir)

    return command


def setup_vscode() -> dict:
    """The jupyter-server-proxy server specification."""
    code_server = find_code_server()
    if code_server is None:
        return {
            "command": [sys.executable, "-m", "cubelab_server.vscode", "{unix_socket}"],
            "unix_socket": socket_path("vscode-help.sock"),
            "timeout": 30,
            "launcher_entry": {"enabled": False, "title": "VS Code"},
        }
    return {
        "command": _launch_command(code_server),
        "unix_socket": socket_path("vscode.sock"),
        "timeout": 120,
        "absolute_url": False,
        "launcher_entry": {"enabled": True, "title": "VS Code", "category": "Notebook"},
        "new_browser_tab": True,
    }


def _serve_install_help(path: str) -> None:  # pragma: no cover - exercised as a subprocess
    """A one-page server explaining how to install code-server (on a Unix socket)."""
    from html import escape
    from http.server import BaseHTTPRequestHandler
    from socketserver import UnixStreamServer

    page = (
        "<!doctype html><title>VS Code is not installed</title>"
        "<body style='font-family:sans-serif;max-width:50em;margin:3em auto'>"
        f"<h1>VS Code is not installed</h1><p>{escape(INSTALL_HELP)}</p></body>"
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    if os.path.exists(path):
        os.unlink(path)
    os.umask(0o077)
    UnixStreamServer(path, Handler).serve_forever()


if __name__ == "__main__":  # pragma: no cover
    _serve_install_help(sys.argv[1])
