"""VS Code (code-server) behind jupyter-server-proxy.

Registered as the ``vscode`` jupyter-server-proxy server (entry point group
``jupyter_serverproxy_servers``), so ``<base_url>vscode/`` is code-server and
the JupyterLab launcher shows a "VS Code" tile when code-server is installed.

Security: jupyter-server-proxy serves the route only to requests the Jupyter
server authenticated (for JupyterHub, the server's owner). code-server itself
runs with ``--auth none`` but listens on a Unix socket inside a private runtime
directory, not on a TCP port, so nothing else on the machine can reach it.

When code-server is missing, the route shows how to install it instead of an
error, and the launcher tile is hidden.
"""

from __future__ import annotations

import os
import sys

from cubelab_hub.codeserver import find_code_server

INSTALL_HELP = (
    "code-server is not installed. Install it with node 20 (no install scripts are needed): "
    "npm install --prefix ~/.local --ignore-scripts code-server@4.100.3 && "
    "ln -s ~/.local/node_modules/.bin/code-server ~/.local/bin/code-server — "
    "or set CUBELAB_CODE_SERVER to its path; then restart your server."
)


def workspace_folder() -> str:
    return os.environ.get("JUPYTERHUB_ROOT_DIR") or os.environ.get("CUBELAB_WORKSPACE") or os.getcwd()


def code_server_command(code_server: str, folder: str) -> list[str]:
    """argv for code-server; '{unix_socket}' is filled in by jupyter-server-proxy."""
    return [
        code_server,
        "--auth", "none",  # the Jupyter server authenticates every request first
        "--socket", "{unix_socket}",
        "--disable-telemetry",
        "--disable-update-check",
        "--disable-workspace-trust",
        folder,
    ]


def setup_vscode() -> dict:
    """The jupyter-server-proxy server specification."""
    code_server = find_code_server()
    if code_server is None:
        return {
            "command": [sys.executable, "-m", "cubelab_server.vscode", "{port}"],
            "timeout": 30,
            "launcher_entry": {"enabled": False, "title": "VS Code"},
        }
    return {
        "command": code_server_command(code_server, workspace_folder()),
        "unix_socket": True,
        "timeout": 120,
        "absolute_url": False,
        "launcher_entry": {"enabled": True, "title": "VS Code", "category": "Notebook"},
        "new_browser_tab": True,
    }


def _serve_install_help(port: int) -> None:  # pragma: no cover - exercised as a subprocess
    """A one-page server explaining how to install code-server (loopback only)."""
    from html import escape
    from http.server import BaseHTTPRequestHandler, HTTPServer

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

    HTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":  # pragma: no cover
    _serve_install_help(int(sys.argv[1]))
