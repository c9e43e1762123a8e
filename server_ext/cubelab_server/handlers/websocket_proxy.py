"""Forward the control plane's WebSockets (``<base_url>cubelab/api/images/shell``)
as :mod:`.proxy` forwards its HTTP requests: the Jupyter server authenticates the
browser (its own login), the control plane is called with the server's hub token,
and messages pass both ways unchanged. The control plane's refusals before the
upgrade (401, 403, 404, 400 naming a field) reach the browser with their JSON body.
"""

from __future__ import annotations

import asyncio
import os
from urllib.parse import urlencode

from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClosedError, WebSocketHandler, websocket_connect

from .proxy import control_plane_url

# the control plane's WebSocket routes, below /api/v1
WEBSOCKET_PATHS = ("images/shell",)


class ControlPlaneWebSocketHandler(WebSocketMixin, WebSocketHandler, JupyterHandler):
    upstream = None

    def set_default_headers(self):
        """No JSON headers on a WebSocket upgrade (as the Jupyter server's kernel sockets)."""

    @ws_authenticated
    async def get(self, path):
        token = os.environ.get("JUPYTERHUB_API_TOKEN")
        if not token:
            raise web.HTTPError(503, "This server has no JupyterHub token: start it from CubeLab's hub")
        if self.request.headers.get("Upgrade", "").lower() != "websocket":  # before the control plane makes anything
            raise web.HTTPError(400, "this is a WebSocket: connect with 'Upgrade: websocket'")
        # the Jupyter server's own token (a browser may send it in the query) is never passed on
        query = urlencode([(k, v.decode()) for k, values in self.request.query_arguments.items() if k != "token" for v in values])
        url = "ws" + control_plane_url().removeprefix("http") + f"/{path}" + (f"?{query}" if query else "")
        request = HTTPRequest(url, headers={"Authorization": f"token {token}"}, connect_timeout=30, request_timeout=300)
        try:
            self.upstream = await websocket_connect(request, max_message_size=2**24)
        except HTTPClientError as exc:  # refused before the upgrade: the same answer for the browser
            response = exc.response
            self.set_status(exc.code)
            if response is not None and response.body:
                self.set_header("Content-Type", response.headers.get("Content-Type", "application/json"))
                self.finish(response.body)
            else:
                self.finish()
            return
        except OSError as exc:
            raise web.HTTPError(502, f"the CubeLab control plane cannot be reached: {exc}") from None
        try:
            await super().get(path)
        finally:
            if self.ws_connection is None:  # the browser's upgrade was refused
                self.upstream.close()

    def open(self, *args, **kwargs):
        super().open(*args, **kwargs)
        self._relay = asyncio.ensure_future(self._from_upstream())

    async def _from_upstream(self):
        upstream = self.upstream
        while True:
            message = await upstream.read_message()
            if message is None:
                self.close(upstream.close_code, upstream.close_reason)
                return
            try:
                await self.write_message(message, binary=isinstance(message, bytes))
            except WebSocketClosedError:
                upstream.close()
                return

    async def on_message(self, message):
        try:
            await self.upstream.write_message(message, binary=isinstance(message, bytes))
        except WebSocketClosedError:
            self.close()

    def on_close(self):
        if self.upstream is not None:
            self.upstream.close()


def handlers(base_url: str) -> list[tuple]:
    paths = "|".join(WEBSOCKET_PATHS)
    return [(url_path_join(base_url, rf"cubelab/api/({paths})"), ControlPlaneWebSocketHandler)]
