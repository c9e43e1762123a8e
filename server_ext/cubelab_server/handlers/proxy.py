"""Forward ``<base_url>cubelab/api/<path>`` to the control plane.

The request is authenticated by the Jupyter server (the user's own login or
token); it is forwarded with the server's JupyterHub token, which the hub
issued for this user with the scope to call the control plane. Responses
stream through, so following a run's log works.
"""

from __future__ import annotations

import os
from urllib.parse import urlencode

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

FORWARDED_REQUEST_HEADERS = ("Content-Type", "Accept")
FORWARDED_RESPONSE_HEADERS = ("Content-Type", "Cache-Control", "Location")


def control_plane_url() -> str:
    url = os.environ.get("CUBELAB_API_URL")
    if url:
        return url.rstrip("/")
    # Same host as the hub API, through the hub's service route.
    hub_api = os.environ.get("JUPYTERHUB_API_URL", "http://127.0.0.1:8081/hub/api")
    return hub_api.rsplit("/hub/api", 1)[0] + "/services/cubelab/api/v1"


class ControlPlaneProxyHandler(APIHandler):
    """Every method is authenticated (``@web.authenticated``) before forwarding."""

    async def _forward(self, path: str) -> None:
        token = os.environ.get("JUPYTERHUB_API_TOKEN")
        if not token:
            raise web.HTTPError(503, "This server has no JupyterHub token: start it from CubeLab's hub")
        query = urlencode([(k, v.decode()) for k, values in self.request.query_arguments.items() for v in values])
        url = f"{control_plane_url()}/{path}" + (f"?{query}" if query else "")
        headers = {k: self.request.headers[k] for k in FORWARDED_REQUEST_HEADERS if k in self.request.headers}
        headers["Authorization"] = f"token {token}"
        body = self.request.body if self.request.method in ("POST", "PUT", "PATCH") else None
        if body is None and self.request.method in ("POST", "PUT", "PATCH"):
            body = b""
        started = False

        def on_headers(line: str) -> None:
            pass

        def on_chunk(chunk: bytes) -> None:
            nonlocal started
            started = True
            self.write(chunk)
            self.flush()

        request = HTTPRequest(
            url,
            method=self.request.method,
            headers=headers,
            body=body,
            allow_nonstandard_methods=True,
            follow_redirects=False,
            request_timeout=3600,  # followed logs stay open while a task runs
            header_callback=self._on_header,
            streaming_callback=on_chunk,
        )
        self._status_set = False
        try:
            await AsyncHTTPClient().fetch(request, raise_error=False)
        except HTTPClientError as exc:  # pragma: no cover - raise_error=False
            raise web.HTTPError(502, f"control plane: {exc}") from None
        except OSError as exc:
            if not started:
                self.set_status(502)
                self.finish({"error": "unavailable", "message": f"the CubeLab control plane cannot be reached: {exc}", "field": None})
                return
            raise
        self.finish()

    def _on_header(self, line: str) -> None:
        line = line.strip()
        if not line:
            return
        if line.startswith("HTTP/"):
            parts = line.split(" ", 2)
            self.set_status(int(parts[1]))
            self._headers.pop("Content-Type", None)
            return
        name, _, value = line.partition(":")
        if name.strip().title() in FORWARDED_RESPONSE_HEADERS:
            self.set_header(name.strip(), value.strip())

    @web.authenticated
    async def get(self, path):
        await self._forward(path)

    @web.authenticated
    async def post(self, path):
        await self._forward(path)

    @web.authenticated
    async def put(self, path):
        await self._forward(path)

    @web.authenticated
    async def patch(self, path):
        await self._forward(path)

    @web.authenticated
    async def delete(self, path):
        await self._forward(path)


def handlers(base_url: str) -> list[tuple]:
    from . import websocket_proxy

    # the WebSocket routes first: the pattern below matches every path
    return [*websocket_proxy.handlers(base_url), (url_path_join(base_url, r"cubelab/api/(.*)"), ControlPlaneProxyHandler)]
