"""``POST <base_url>cubelab/environment/snapshots``: the package lists of this
server's environment at its start and now, with the image it started from
(:mod:`cubelab_server.environment`). The Lab's "Save environment as image…"
sends them on to the control plane's ``dockerfile-from-environment``.

POST, not GET: each call runs ``pip freeze`` and its neighbours again.
Authenticated by the Jupyter server like every CubeLab route.
"""

from __future__ import annotations

import json

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from ..environment import EnvironmentRecorder

AUTH_RESOURCE = "cubelab"
SETTING = "cubelab_environment"


def recorder(settings: dict) -> EnvironmentRecorder:
    found = settings.get(SETTING)
    if found is None:  # the extension was loaded without its start hook (tests that mount handlers alone)
        serverapp = settings.get("serverapp")
        found = settings[SETTING] = EnvironmentRecorder(serverapp, getattr(serverapp, "runtime_dir", "."))
    return found


class EnvironmentSnapshotsHandler(APIHandler):
    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    async def post(self):
        self.finish(json.dumps(await recorder(self.settings).both()))


def handlers(base_url: str) -> list[tuple]:
    return [(url_path_join(base_url, "cubelab/environment/snapshots"), EnvironmentSnapshotsHandler)]
