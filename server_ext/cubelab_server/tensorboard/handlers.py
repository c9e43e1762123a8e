"""REST API and authenticated reverse proxy for TensorBoard boards.

- ``GET  <base>cubelab/tensorboard/api/boards``         list
- ``POST <base>cubelab/tensorboard/api/boards``         ``{"logdir": "runs/exp1"}`` -> board (201, or 200 if already running)
- ``GET / DELETE <base>cubelab/tensorboard/api/boards/<id>``
- ``<base>cubelab/tensorboard/<id>/...``                 the board itself

Board JSON: ``{"id", "logdir", "url", "started", "running"}``. Every handler
requires the Jupyter server's authentication (JupyterHub's OAuth for the
server's owner), so a board is reachable only by whoever may use this server.
"""

from __future__ import annotations

import json

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.httpclient import HTTPRequest

from .manager import BoardError, TensorBoardManager

AUTH_RESOURCE = "cubelab"  # jupyter_server authorizer resource for CubeLab features

# Hop-by-hop headers are not forwarded (RFC 9110 section 7.6.1).
_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length", "cookie", "authorization"}


class _ManagerMixin:
    auth_resource = AUTH_RESOURCE

    @property
    def manager(self) -> TensorBoardManager:
        settings = self.settings
        manager = settings.get("cubelab_tensorboard")
        if manager is None:
            root = settings.get("server_root_dir") or getattr(settings.get("serverapp"), "root_dir", None) or "."
            manager = TensorBoardManager(root, settings.get("base_url", "/"), log=self.log)
            settings["cubelab_tensorboard"] = manager
        return manager


class BoardsHandler(_ManagerMixin, APIHandler):
    @web.authenticated
    @authorized
    async def get(self):
        self.finish(json.dumps({"boards": [b.to_json() for b in self.manager.list()]}))

    @web.authenticated
    @authorized
    async def post(self):
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            return self._error(BoardError(400, "body: must be a JSON object such as {\"logdir\": \"runs\"}", "body"))
        if not isinstance(body, dict):
            return self._error(BoardError(400, "body: must be a JSON object such as {\"logdir\": \"runs\"}", "body"))
        try:
            board, created = await self.manager.start(body.get("logdir"))
        except BoardError as exc:
            return self._error(exc)
        self.set_status(201 if created else 200)
        self.finish(json.dumps(board.to_json()))

    def _error(self, exc: BoardError):
        self.set_status(exc.status)
        self.finish(json.dumps({"error": "invalid" if exc.status == 400 else "refused" if exc.status == 403 else "failed", "message": exc.message, "field": exc.field}))


class BoardHandler(_ManagerMixin, APIHandler):
    @web.authenticated
    @authorized
    async def get(self, board_id):
        try:
            self.finish(json.dumps(self.manager.get(board_id).to_json()))
        except BoardError as exc:
            self.set_status(exc.status)
            self.finish(json.dumps({"error": "not_found", "message": exc.message, "field": None}))

    @web.authenticated
    @authorized
    async def delete(self, board_id):
        try:
            await self.manager.stop(board_id)
        except BoardError as exc:
            self.set_status(exc.status)
            return self.finish(json.dumps({"error": "not_found", "message": exc.message, "field": None}))
        self.set_status(204)
        self.finish()


class BoardProxyHandler(_ManagerMixin, JupyterHandler):
    """Forward to the board's Unix socket after the Jupyter server's auth."""

    def check_xsrf_cookie(self):
        # TensorBoard's own frontend POSTs data queries without Jupyter's XSRF
        # token; like jupyter-server-proxy, defer to the proxied app (its POST
        # endpoints only read data and require its X-XSRF-Protected header).
        return

    async def _proxy(self, board_id: str, path: str):
        try:
            board = self.manager.get(board_id)
        except BoardError as exc:
            raise web.HTTPError(404, exc.message) from None
        if not path:
            # TensorBoard's page loads relative assets: it needs the trailing slash
            return self.redirect(url_path_join(self.request.path, "/") + (f"?{self.request.query}" if self.request.query else ""))
        url = f"http://localhost{board.prefix}{path}"  # the board's client dials its socket
        if self.request.query:
            url += "?" + self.request.query
        headers = {k: v for k, v in self.request.headers.get_all() if k.lower() not in _HOP}
        body = self.request.body if self.request.method in ("POST", "PUT", "PATCH") else None
        request = HTTPRequest(url, method=self.request.method, headers=headers, body=body, follow_redirects=False, request_timeout=300, decompress_response=False)
        try:
            response = await board.http_client().fetch(request, raise_error=False)
        except (ConnectionError, OSError) as exc:
            raise web.HTTPError(502, f"TensorBoard {board_id} is not answering: {exc}") from None
        self.set_status(response.code, response.reason)
        self._headers = web.httputil.HTTPHeaders()  # the board's own headers, not Jupyter's defaults
        csp = None
        for name, value in response.headers.get_all():
            if name.lower() == "content-security-policy":
                csp = value
            elif name.lower() not in _HOP:
                self.add_header(name, value)
        # A Lab tab may frame the board; other sites may not (TensorBoard sets no frame-ancestors).
        self.set_header("Content-Security-Policy", (csp + "; " if csp else "") + "frame-ancestors 'self'")
        if response.body:
            self.write(response.body)
        self.finish()

    @web.authenticated
    @authorized
    async def get(self, board_id, path):
        await self._proxy(board_id, path)

    @web.authenticated
    @authorized
    async def post(self, board_id, path):
        await self._proxy(board_id, path)


def handlers(base_url: str) -> list[tuple]:
    root = url_path_join(base_url, "cubelab", "tensorboard")
    return [
        (url_path_join(root, "api", "boards") + "/?", BoardsHandler),
        (url_path_join(root, "api", "boards", r"(?P<board_id>[0-9a-f]+)") + "/?", BoardHandler),
        (url_path_join(root, r"(?P<board_id>[0-9a-f]+)") + r"(?P<path>/.*)?", BoardProxyHandler),
    ]
