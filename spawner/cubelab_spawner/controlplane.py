"""What the spawner asks the control plane, over its REST API: the project's
images built here (for the spawn form) and the project's registry pull Secrets
(written before a server pod starts).

The spawner asks as the user who starts the server, with a short-lived token
of theirs scoped to the control plane only, so the control plane's own access
rules decide what the user may see (another project's images never reach the
form). Each call has a short timeout and runs on the hub's event loop without
blocking it (tornado's asynchronous client); a control plane that does not
answer is :class:`ControlPlaneUnavailable`, which callers turn into a clear
note rather than a failed form or start.

:func:`built_images` turns an answer into what the form and validation use.
"""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from .profiles import BuiltImage

__all__ = ["ControlPlaneClient", "ControlPlaneError", "ControlPlaneUnavailable", "built_images"]

IMAGES_PAGE = 50  # the form offers the first page of repositories, newest tags included


class ControlPlaneError(Exception):
    """The control plane answered with an error; ``message`` is its own (it holds no secret)."""

    def __init__(self, status: int, message: str):
        self.status = status
        self.message = message
        super().__init__(f"{status}: {message}")


class ControlPlaneUnavailable(ControlPlaneError):
    """No answer within the timeout (or no control plane configured)."""


def built_images(answer: dict) -> list[BuiltImage]:
    """The tags of a ``GET /images`` answer, by reference."""
    found = []
    for image in answer.get("images") or []:
        for tag in image.get("tags") or []:
            if isinstance(tag.get("reference"), str):
                found.append(BuiltImage(tag["reference"], tag.get("digest") if isinstance(tag.get("digest"), str) else None))
    return sorted(found, key=lambda i: i.reference)


class ControlPlaneClient:
    def __init__(self, api_url: str, timeout: float):
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout

    async def call(self, method: str, path: str, token: str, query: dict | None = None, body: dict | None = None) -> dict:
        if not self.api_url:
            raise ControlPlaneUnavailable(0, "no control plane is configured (CubeSpawnerMixin.controlplane_api_url)")
        url = self.api_url + path + (("?" + urlencode(query)) if query else "")
        request = HTTPRequest(url, method=method, headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
                              body=json.dumps(body) if body is not None else ("{}" if method in ("PUT", "POST") else None),
                              connect_timeout=self.timeout, request_timeout=self.timeout)
        unavailable = ControlPlaneUnavailable(0, f"the control plane did not answer within {self.timeout:g}s")
        try:
            # raise_error=False keeps error answers; refused connections and timeouts still raise
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except (OSError, HTTPClientError):
            raise unavailable from None
        if response.code == 599:
            raise unavailable
        try:
            data = json.loads(response.body or b"{}")
        except ValueError:
            data = {}
        if response.code >= 400:
            message = data.get("message") if isinstance(data, dict) else None
            raise ControlPlaneError(response.code, message or response.reason or "error")
        return data if isinstance(data, dict) else {}

    async def images(self, project: str, token: str) -> list[BuiltImage]:
        return built_images(await self.call("GET", "/images", token, {"project": project, "limit": IMAGES_PAGE}))

    async def pull_secrets(self, project: str, token: str) -> dict:
        """Have the project's pull Secrets written where its servers run: {namespace, cluster, pull_secrets}."""
        return await self.call("PUT", f"/projects/{quote(project, safe='')}/pull-secrets", token)
