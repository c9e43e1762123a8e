"""Handlers of the server extension, gathered from each feature module.

A feature module exposes ``handlers(base_url) -> list[(pattern, handler[, kwargs])]``;
every handler must require the Jupyter server's authentication (a test
requests every route without credentials and expects a refusal).
"""

from __future__ import annotations

import importlib

from jupyter_server.utils import url_path_join

from ..environment import EnvironmentRecorder
from .environment import SETTING

FEATURES = ["cubelab_server.handlers.proxy", "cubelab_server.handlers.environment", "cubelab_server.tensorboard"]


def all_handlers(base_url: str) -> list[tuple]:
    routes: list[tuple] = []
    for name in FEATURES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real import error inside the module
                raise
            continue
        routes.extend(module.handlers(base_url))
    return routes


def setup_handlers(serverapp) -> None:
    web_app = serverapp.web_app
    base_url = web_app.settings["base_url"]
    web_app.add_handlers(".*$", all_handlers(base_url))
    # "before" of "save as image": taken once the server's loop runs (_start_jupyter_server_extension)
    web_app.settings[SETTING] = EnvironmentRecorder(serverapp, serverapp.runtime_dir)


__all__ = ["all_handlers", "setup_handlers", "url_path_join"]
