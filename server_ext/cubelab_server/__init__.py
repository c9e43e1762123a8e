"""CubeLab's Jupyter server extension: the Lab plugin's same-origin API.

Each user's Jupyter server serves ``<base_url>cubelab/api/*`` and forwards it to
the control plane with the server's own JupyterHub token, so the Lab plugin and
notebook code never handle a token themselves.
"""

from __future__ import annotations

__version__ = "0.1.0"


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "cubelab"}]


def _jupyter_server_extension_points():
    return [{"module": "cubelab_server"}]


def _load_jupyter_server_extension(serverapp):
    from .handlers import setup_handlers

    setup_handlers(serverapp)
    serverapp.log.info("CubeLab server extension loaded")


async def _start_jupyter_server_extension(serverapp):
    from .handlers.environment import recorder

    recorder(serverapp.web_app.settings).start()
