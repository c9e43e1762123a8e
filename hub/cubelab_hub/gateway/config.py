"""Routes -> the gateway's nginx configuration text. Pure: no files, no processes.

One ``server`` per routed host on one loopback port (``*.localhost`` names reach
127.0.0.1 in browsers with no DNS); any other host gets 404. Per route:

- a weighted split: ``split_clients`` on ``$request_id`` (random per request)
  picks the backend's ``upstream`` group; each group balances over its replicas
  with kept-alive connections;
- a mirror: a ``mirror`` subrequest, cut to the configured share by a second
  ``split_clients`` keyed differently (so the mirrored share is independent of
  the split), goes to a relay: a ``server`` of the same nginx on a Unix socket
  that answers at once (a 43-byte GIF) and sends the copy on to the shadow from its own
  ``mirror`` subrequest, answer discarded. The relay is there because nginx
  holds a kept-alive client connection's next request until that connection's
  mirror subrequests end: the client's connection now waits for the relay's
  immediate answer, never for the shadow. Copies in flight to a shadow are capped
  (``mirror_max_conns`` per worker; beyond it copies are dropped), each may take
  ``mirror_timeout``. ``mirror_request_body on`` copies bodies, which makes
  nginx read a body before proxying it on mirrored routes (every other route
  streams bodies);
- no buffering either way (server-sent events and streamed downloads arrive as
  they are written), WebSocket upgrades passed on;
- ``expose=project``: ``auth_request`` to the control plane's gateway-auth
  endpoint with the client's cookies and ``Authorization``; 204 lets the request
  through (with ``X-CubeLab-User`` naming the user), 401/403 are the client's
  answer. The platform's credentials are not forwarded to the service.
  ``expose=public`` routes skip it and clear ``X-CubeLab-User``.
- an access log per route without query strings (they may carry tokens).

Every value written here was checked by :mod:`.routes`; upstream and variable
names are made from indexes, never from users' strings.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from ..domain.errors import FieldError
from .routes import Backend, Route, check_address, check_routes, percent_of

MIRROR_LOCATION = "/.cubelab-gateway/mirror"
SHADOW_LOCATION = "/.cubelab-gateway/shadow"
RELAY_SOCKET = "run/mirror.sock"
AUTH_LOCATION = "/.cubelab-gateway/auth"
_SAFE_PATH = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/-")
_SAFE_USER = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")


@dataclass(frozen=True)
class GatewaySettings:
    """What the configuration needs beside the routes.

    ``prefix``: the gateway's own directory (config, pid, logs, temp files);
    ``auth_address``/``auth_path``: the control plane's gateway-auth endpoint
    (``127.0.0.1:PORT`` and ``/services/cubelab/gateway/auth``); ``worker_user``:
    the account of nginx's workers when it starts as root ('' otherwise).
    """

    prefix: str
    ip: str = "127.0.0.1"
    port: int = 8090
    auth_address: str = "127.0.0.1:8082"
    auth_path: str = "/services/cubelab/gateway/auth"
    worker_processes: int = 2
    worker_user: str = ""
    worker_group: str = ""
    mirror_timeout: str = "2s"
    read_timeout: str = "3600s"
    keepalive: int = 32
    mirror_max_conns: int = 100


def check_settings(settings: GatewaySettings) -> None:
    def safe_path(value: str, field: str) -> None:
        if not value.startswith("/") or not set(value) <= _SAFE_PATH or "/../" in value + "/":
            raise FieldError(field, f"{value!r} is not an absolute path of letters, digits, '.', '_', '-' and '/'")

    safe_path(settings.prefix, "prefix")
    safe_path(settings.auth_path, "auth_path")
    try:
        if not ipaddress.ip_address(settings.ip).is_loopback:
            raise ValueError
    except ValueError:
        raise FieldError("ip", f"{settings.ip!r} is not a loopback address", "127.0.0.1 or ::1: the gateway serves this machine only") from None
    if not isinstance(settings.port, int) or not 1 <= settings.port <= 65535:
        raise FieldError("port", f"{settings.port!r} is not a port", "1 to 65535")
    check_address(settings.auth_address, "auth_address")
    for field in ("worker_user", "worker_group"):
        value = getattr(settings, field)
        if value and not set(value) <= _SAFE_USER:
            raise FieldError(field, f"{value!r} is not an account name", "lowercase letters, digits, '_' and '-'")
    for field in ("mirror_timeout", "read_timeout"):
        value = getattr(settings, field)
        if not (value[:-2].isdigit() and value.endswith("ms")) and not (value[:-1].isdigit() and value[-1] in "sm"):
            raise FieldError(field, f"{value!r} is not a duration", "a whole number with 'ms', 's' or 'm' (e.g. 500ms, 2s)")
    if len(f"{settings.prefix.rstrip('/')}/{RELAY_SOCKET}") > 100:
        raise FieldError("prefix", f"{settings.prefix!r} is too long for a Unix socket path under it", "at most 80 characters")
    for field in ("worker_processes", "keepalive", "mirror_max_conns"):
        value = getattr(settings, field)
        if not isinstance(value, int) or not 1 <= value <= 1024:
            raise FieldError(field, f"{value!r} is out of range", "1 to 1024")


def _listen(settings: GatewaySettings) -> str:
    ip = f"[{settings.ip}]" if ":" in settings.ip else settings.ip
    return f"{ip}:{settings.port}"


def _server_line(address: str, extra: str = "") -> str:
    # 'localhost:PORT' -> 127.0.0.1: nginx would resolve the name once, at load
    return "server " + address.replace("localhost:", "127.0.0.1:", 1) + extra + ";"


def _upstream(name: str, backend: Backend, keepalive: int, extra: str = "") -> list[str]:
    return [f"upstream {name} {{", *(f"    {_server_line(a, extra)}" for a in backend.addresses), f"    keepalive {keepalive};", "}"]


def _percent(value: Decimal) -> str:
    return f"{value.normalize():f}%"


def _split_lines(variable: str, key: str, shares: list[tuple[Decimal, str]]) -> list[str]:
    """``split_clients`` giving ``variable`` each value for its share; the last
    value takes the rest (``*``), so rounding never leaves a gap."""
    lines = [f'split_clients "{key}" ${variable} {{']
    for share, value in shares[:-1]:
        lines.append(f"    {_percent(share)} {value};")
    lines.append(f"    * {shares[-1][1]};")
    lines.append("}")
    return lines


_PROXY_COMMON = [
    "proxy_http_version 1.1;",
    "proxy_set_header Host $host;",
    "proxy_set_header X-Real-IP $remote_addr;",
    "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
    "proxy_set_header X-Forwarded-Proto $scheme;",
    "proxy_set_header X-Forwarded-Host $http_host;",
    "proxy_set_header Upgrade $http_upgrade;",
    "proxy_set_header Connection $cubelab_connection;",
]


def _route_lines(i: int, route: Route, settings: GatewaySettings, logs: str) -> tuple[list[str], list[str]]:
    """(http-level lines, the server block) of route ``i``."""
    http: list[str] = []
    shares: list[tuple[Decimal, str]] = []
    for j, split in enumerate(route.splits):
        share = percent_of(split.percent, "percent")
        if share == 0:
            continue
        name = f"cubelab_r{i}_s{j}"
        http += _upstream(name, split.backend, settings.keepalive)
        shares.append((share, name))
    if len(shares) == 1:
        target = shares[0][1]
    else:
        http += _split_lines(f"cubelab_r{i}_target", "${request_id}", shares)
        target = f"$cubelab_r{i}_target"
    mirror = route.mirror if route.mirror is not None and percent_of(route.mirror.percent, "percent") > 0 else None
    if mirror is not None:
        http += _upstream(f"cubelab_r{i}_mirror", mirror.backend, settings.keepalive, f" max_conns={settings.mirror_max_conns}")
        share = percent_of(mirror.percent, "percent")
        if share < 100:
            http += _split_lines(f"cubelab_r{i}_mirrored", "mirror${request_id}", [(share, "1"), (100 - share, "0")])

    server = [
        "server {",
        f"    listen {_listen(settings)};",
        f"    server_name {route.host};",
        f"    access_log {logs}/access-{route.host}.log cubelab;",
        # the user, once auth_request names one; empty for public routes and refusals
        '    set $cubelab_user "";',
        "    location / {",
    ]
    body = [*_PROXY_COMMON]
    if route.expose == "project":
        body += [
            f"auth_request {AUTH_LOCATION};",
            "auth_request_set $cubelab_user $upstream_http_x_cubelab_user;",
            "proxy_set_header X-CubeLab-User $cubelab_user;",
            # the platform's token is for the platform, not for the service behind the route
            'proxy_set_header Authorization "";',
        ]
    else:
        body.append('proxy_set_header X-CubeLab-User "";')
    if mirror is not None:
        body += [f"mirror {MIRROR_LOCATION};", "mirror_request_body on;"]
    else:
        body += ["mirror_request_body off;"]
    body += [f"proxy_pass http://{target};"]
    server += [f"        {line}" for line in body]
    server.append("    }")
    if mirror is not None:
        server += [
            f"    location = {MIRROR_LOCATION} {{",
            "        internal;",
            *([f"        if ($cubelab_r{i}_mirrored = 0) {{ return 204; }}"] if percent_of(mirror.percent, "percent") < 100 else []),
            *(f"        {line}" for line in _PROXY_COMMON if "Connection" not in line and "Upgrade" not in line),
            '        proxy_set_header Connection "";',
            # which shadow: the relay maps this index to the route's mirror upstream
            f"        proxy_set_header X-CubeLab-Shadow r{i};",
            *(["        proxy_set_header X-CubeLab-User $cubelab_user;", '        proxy_set_header Authorization "";']
              if route.expose == "project" else ['        proxy_set_header X-CubeLab-User "";']),
            # the relay answers at once; these only bound a relay that does not
            f"        proxy_connect_timeout {settings.mirror_timeout};",
            f"        proxy_send_timeout {settings.mirror_timeout};",
            f"        proxy_read_timeout {settings.mirror_timeout};",
            "        proxy_pass http://cubelab_mirror_relay$request_uri;",
            "    }",
        ]
    if route.expose == "project":
        server += [
            f"    location = {AUTH_LOCATION} {{",
            "        internal;",
            "        proxy_http_version 1.1;",
            "        proxy_method GET;",
            "        proxy_pass_request_body off;",
            '        proxy_set_header Content-Length "";',
            '        proxy_set_header Connection "";',
            "        proxy_set_header Host $host;",
            "        proxy_set_header X-Original-URI $uri;",
            # the project is a checked name: letters, digits and '-'
            f"        proxy_pass http://cubelab_auth{settings.auth_path}?project={route.project};",
            "    }",
        ]
    server.append("}")
    return http, server


def _relay_lines(mirrored: list[int], settings: GatewaySettings, prefix: str) -> list[str]:
    """The mirror relay: answers the client-side mirror subrequest at
    once, and sends the copy to the route's shadow from a mirror of its own."""
    socket = f"{prefix}/{RELAY_SOCKET}"
    return [
        "upstream cubelab_mirror_relay {",
        f"    server unix:{socket};",
        f"    keepalive {settings.keepalive};",
        "}",
        "map $http_x_cubelab_shadow $cubelab_shadow {",
        '    default "";',
        *(f"    r{i} cubelab_r{i}_mirror;" for i in mirrored),
        "}",
        "server {",
        f"    listen unix:{socket};",
        "    access_log off;",
        "    location / {",
        '        if ($cubelab_shadow = "") { return 404; }',
        f"        mirror {SHADOW_LOCATION};",
        "        mirror_request_body on;",
        # a content handler ('return' would answer in the rewrite phase, before the mirror)
        "        empty_gif;",
        "    }",
        f"    location = {SHADOW_LOCATION} {{",
        "        internal;",
        "        proxy_http_version 1.1;",
        "        proxy_set_header Host $host;",
        '        proxy_set_header Connection "";',
        '        proxy_set_header X-CubeLab-Shadow "";',
        "        proxy_set_header X-CubeLab-Mirror 1;",
        f"        proxy_connect_timeout {settings.mirror_timeout};",
        f"        proxy_send_timeout {settings.mirror_timeout};",
        f"        proxy_read_timeout {settings.mirror_timeout};",
        "        proxy_pass http://$cubelab_shadow$request_uri;",
        "    }",
        "}",
    ]


def render(routes: list[Route], settings: GatewaySettings) -> str:
    """The whole ``nginx.conf`` for ``routes`` (checked first: :class:`FieldErrors`)."""
    routes = check_routes(routes)
    check_settings(settings)
    prefix = settings.prefix.rstrip("/")
    logs, temp = f"{prefix}/logs", f"{prefix}/temp"
    lines = [
        "# Written by CubeLab's gateway from the control plane's routes; edits are overwritten.",
        *([f"user {settings.worker_user} {settings.worker_group or settings.worker_user};"] if settings.worker_user else []),
        f"worker_processes {settings.worker_processes};",
        "daemon off;",
        f"pid {prefix}/nginx.pid;",
        f"error_log {logs}/error.log warn;",
        "events { worker_connections 4096; }",
        "http {",
    ]
    http = [
        "server_tokens off;",
        "server_names_hash_bucket_size 256;",
        "server_names_hash_max_size 8192;",
        "default_type application/octet-stream;",
        f"client_body_temp_path {temp}/client_body;",
        f"proxy_temp_path {temp}/proxy;",
        f"fastcgi_temp_path {temp}/fastcgi;",
        f"uwsgi_temp_path {temp}/uwsgi;",
        f"scgi_temp_path {temp}/scgi;",
        "client_max_body_size 0;",
        # streaming both ways: nothing waits for a whole body to be buffered
        "proxy_buffering off;",
        "proxy_request_buffering off;",
        f"proxy_read_timeout {settings.read_timeout};",
        f"proxy_send_timeout {settings.read_timeout};",
        "proxy_next_upstream error timeout;",
        # a WebSocket upgrade passes 'Connection: upgrade'; anything else keeps the upstream connection alive
        "map $http_upgrade $cubelab_connection { default upgrade; '' ''; }",
        "log_format cubelab '$time_iso8601 $remote_addr \"$request_method $uri\" $status $body_bytes_sent "
        "$request_time \"$upstream_addr\" $upstream_response_time \"$cubelab_user\"';",
        f"access_log {logs}/access.log cubelab;",
        "upstream cubelab_auth {",
        f"    {_server_line(settings.auth_address)}",
        "    keepalive 8;",
        "}",
        "server {",
        f"    listen {_listen(settings)} default_server;",
        "    server_name _;",
        '    set $cubelab_user "";',
        "    location / { return 404; }",
        "}",
    ]
    for i, route in enumerate(routes):
        route_http, server = _route_lines(i, route, settings, logs)
        http += route_http + server
    mirrored = [i for i, route in enumerate(routes) if route.mirror is not None and percent_of(route.mirror.percent, "percent") > 0]
    if mirrored:
        http += _relay_lines(mirrored, settings, prefix)
    lines += [f"    {line}" for line in http]
    lines.append("}")
    return "\n".join(lines) + "\n"


def prefix_dirs(prefix: str | Path) -> list[Path]:
    """The directories the configuration refers to, to create before nginx starts."""
    prefix = Path(prefix)
    return [prefix / "logs", prefix / "run", prefix / "temp", *(prefix / "temp" / d for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))]
