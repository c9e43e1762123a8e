"""Services through the hub: ``<service prefix>proxy/<service name>/<path>``
forwards to the gateway with the service's host, for its project's members.

This is how a browser logged in to the hub (or a client with a hub token)
reaches a service without a name that resolves to this machine or a second
login: the hub's proxy sends ``/services/cubelab/`` here, the caller is
authenticated like every API call (token, or the OAuth cookie: a browser
without one is sent through the hub's login first) and must be allowed to read
the service (``service:read``: members and admins); anyone else gets 404, as
for the service's REST resource. The request then goes to the gateway, so the
service's splits and mirror apply as on its host:

- the caller's platform credentials never reach the service: ``Authorization``
  and the platform's cookies are removed; a project-only route gets the
  caller's own hub token (from the header or the cookie) for the gateway's
  login check, which nginx takes off again before the service;
- ``X-Forwarded-Prefix`` names the path the service is under, for its links;
- answers stream as the service writes them; ``Set-Cookie`` cannot set the
  platform's cookies; and every answer carries ``Content-Security-Policy:
  sandbox``: a page of the service runs as an origin of its own, so its
  scripts cannot use the hub's cookies on the hub's origin (a full web UI of a
  service belongs on its host, ``http://<name>.<domain>:<gateway port>/``);
- WebSockets are not passed here (use the service's host).

Not a REST resource of the API (its answers are the service's, not JSON the
OpenAPI document describes); routed by :func:`routes`.
"""

from __future__ import annotations

import re
from http.cookies import CookieError, SimpleCookie

from sqlalchemy import select
from tornado import httputil
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from ...domain.errors import NotFound
from ..models.services import ServiceRow
from .base import APIError, APIHandler

PATH = "proxy"
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# neither passed on nor answered: they describe one connection, not the request
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers",
                        "transfer-encoding", "upgrade", "content-length", "host"})
SANDBOX = "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads"
_NAME = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"


def path_of(service_prefix: str, name: str) -> str:
    return f"{service_prefix.rstrip('/')}/{PATH}/{name}/"


def is_platform_cookie(name: str, hub_cookie: str) -> bool:
    """The hub's and its services' cookies (sessions, OAuth tokens, XSRF)."""
    return (name.startswith(("jupyterhub-", "service-", "__Host-", hub_cookie)) or name in ("_xsrf", hub_cookie))


class ServiceProxyHandler(APIHandler):
    """Forwards any request to the gateway as a request to the service's host."""

    def initialize(self, prefix: str):
        super().initialize()
        self.prefix = prefix

    async def prepare(self):
        if self.request.method in ("GET", "HEAD") and "text/html" in self.request.headers.get("Accept", ""):
            # a browser without the OAuth cookie goes through the hub's login and comes back
            model = await self.hub_auth.get_user(self, sync=False)
            if not model:
                self.redirect(self.get_login_url())  # the OAuth state holds this request's URL
                return
        await super().prepare()

    def compute_etag(self):
        return None  # the service's answer, untouched

    async def forward(self, name: str, rest: str) -> None:
        def find(session):
            row = session.scalars(select(ServiceRow).where(ServiceRow.name == name)).first()
            if row is None or not self.allowed("service:read", row.project):
                raise NotFound.of("service", name)
            return row.host

        host = await self.db.run(find)
        if not rest:
            self.redirect(path_of(self.prefix, name) + ("?" + self.request.query if self.request.query else ""))
            return
        if self.request.headers.get("Upgrade", "").lower() == "websocket":
            raise APIError(400, "invalid", f"WebSockets are not passed through the hub's path; connect to the service's host "
                           f"({self.app.gateway_url(host)})")
        gateway = self.app.gateway
        route = next((r for r in gateway.routes if r.host == host), None) if self.app.gateway_running else None
        if route is None:
            why = "the services' gateway is not running" if not self.app.gateway_running else f"service '{name}' has no healthy replica now"
            raise APIError(503, "unavailable", why)
        headers = self._request_headers(host, name, route.expose == "project")
        # the raw path: encoded characters (an encoded '/') reach the service as sent
        path = self.request.path[len(path_of(self.prefix, name)) - 1:]
        address = f"[{gateway.ip}]" if ":" in gateway.ip else gateway.ip
        url = f"http://{address}:{gateway.port}{path}" + ("?" + self.request.query if self.request.query else "")
        body = self.request.body if self.request.body or self.request.method in ("POST", "PUT", "PATCH") else None
        client = AsyncHTTPClient(force_instance=True, max_body_size=1 << 40)
        try:
            response = await client.fetch(HTTPRequest(
                url, method=self.request.method, headers=headers, body=body, follow_redirects=False, decompress_response=False,
                allow_nonstandard_methods=True, connect_timeout=10, request_timeout=24 * 3600,
                header_callback=self._on_header, streaming_callback=self._on_chunk,
            ), raise_error=False)
        finally:
            client.close()
        if response.code == 599 and not self._headers_written:
            raise APIError(502, "bad_gateway", f"the gateway did not answer: {response.error}")
        self._start_answer()
        self.finish()

    def _request_headers(self, host: str, name: str, with_login: bool) -> httputil.HTTPHeaders:
        headers = httputil.HTTPHeaders()
        for key, value in self.request.headers.get_all():
            lower = key.lower()
            if lower in HOP_BY_HOP or lower in ("authorization", "cookie", "x-cubelab-user", "x-forwarded-prefix"):
                continue
            headers.add(key, value)
        cookies = self._service_cookies()
        if cookies:
            headers["Cookie"] = cookies
        headers["Host"] = host
        headers["X-Forwarded-Prefix"] = path_of(self.prefix, name).rstrip("/")
        if with_login:
            # the caller's own credential, for the gateway's check; nginx does not pass it on
            token = self.hub_auth.get_token(self)
            if token:
                headers["Authorization"] = f"token {token}"
        return headers

    def _service_cookies(self) -> str:
        parts = []
        for header in self.request.headers.get_list("Cookie"):
            for item in header.split(";"):
                name = item.split("=", 1)[0].strip()
                if name and not is_platform_cookie(name, self.hub_auth.cookie_name):
                    parts.append(item.strip())
        return "; ".join(parts)

    # ------------------------------------------------------------ the answer, as it arrives

    def _on_header(self, line: str) -> None:
        if line.startswith("HTTP/"):
            start = httputil.parse_response_start_line(line.strip())
            self._answer = (start.code, start.reason, httputil.HTTPHeaders())  # again after a '100 Continue'
        elif line.strip() and getattr(self, "_answer", None):
            self._answer[2].parse_line(line)

    def _start_answer(self) -> None:
        if self._headers_written or getattr(self, "_answer_started", False):
            return
        self._answer_started = True
        code, reason, headers = getattr(self, "_answer", (502, "Bad Gateway", httputil.HTTPHeaders()))
        self.clear()
        self.set_status(code, reason)
        self.clear_header("Content-Type")
        seen: set[str] = set()
        for key, value in headers.get_all():
            lower = key.lower()
            if (lower in HOP_BY_HOP and lower != "content-length") or lower in ("content-security-policy", "server", "date"):
                continue
            if lower == "set-cookie" and self._platform_set_cookie(value):
                continue
            (self.add_header if lower in seen else self.set_header)(key, value)
            seen.add(lower)
        self.set_header("Content-Security-Policy", SANDBOX)
        self.set_header("X-Content-Type-Options", "nosniff")

    def _platform_set_cookie(self, value: str) -> bool:
        try:
            parsed = SimpleCookie()
            parsed.load(value)
        except CookieError:
            return True  # one we cannot read is one we do not pass
        return any(is_platform_cookie(name, self.hub_auth.cookie_name) for name in parsed) or not parsed

    def _on_chunk(self, chunk: bytes) -> None:
        self._start_answer()
        stream = getattr(self.request.connection, "stream", None)
        if stream is None or stream.closed():
            return
        self.write(chunk)
        self.flush().add_done_callback(lambda f: f.exception())  # a caller gone: nothing to tell

    async def get(self, name, rest):
        await self.forward(name, rest)

    head = post = put = patch = delete = options = get


def routes(service_prefix: str) -> list[tuple]:
    prefix = re.escape(service_prefix.rstrip("/") + "/" + PATH + "/")
    return [(prefix + rf"(?P<name>{_NAME})(?P<rest>/.*|)$", ServiceProxyHandler, {"prefix": service_prefix})]
