"""What the gateway is told: routes by host, each with weighted backends, an
optional mirror and who may reach it.

These are the gateway's own inputs, small on purpose: the service layer maps its
services (canary splits ``svcA:20%,svcB:30%``, mirror ``svc:20%``, expose) onto
them. :func:`check_routes` validates every value that reaches the gateway's
configuration text, so no caller's string can change that text's structure:
names and hosts are DNS labels, addresses are loopback ports or absolute socket
paths from a small alphabet, shares are percentages with at most two decimals.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from ..domain.errors import FieldError, FieldErrors
from ..domain.projects import PROJECT_NAME_ACCEPTED, validate_project_name

EXPOSE = ("project", "public")
EXPOSE_ACCEPTED = "'project' (project members only, after the platform's login) or 'public' (anyone who reaches the gateway)"
NAME_ACCEPTED = "1 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit"
HOST_ACCEPTED = "a lowercase DNS name of labels made of letters, digits and '-', at most 253 characters (e.g. 'model.localhost')"
ADDRESS_ACCEPTED = "'127.0.0.1:PORT', '[::1]:PORT', 'localhost:PORT' or 'unix:/absolute/path.sock' (letters, digits, '.', '_', '-', '/')"
PERCENT_ACCEPTED = "a number from 0 to 100 with at most two decimals (e.g. 20 or 12.5)"

_LABEL = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
_NAME_RE = re.compile(_LABEL)
_HOST_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_PORT_RE = re.compile(r"(?:127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]|localhost):(\d{1,5})")
_SOCKET_RE = re.compile(r"unix:(/[A-Za-z0-9._/-]{1,200})")


@dataclass(frozen=True)
class Backend:
    """A service's replicas: where a share of a route's traffic goes.

    ``name``: the service's name (a DNS label), used in logs;
    ``addresses``: its replicas, each a loopback port or a Unix socket
    (``127.0.0.1:8001``, ``unix:/srv/a.sock``); requests are balanced over them.
    """

    name: str
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class Split:
    """``percent`` of a route's requests go to ``backend``."""

    backend: Backend
    percent: Decimal | int | float | str


@dataclass(frozen=True)
class Mirror:
    """A copy of ``percent`` of a route's requests goes to ``backend``; its
    answers are discarded, only the route's own answer returns."""

    backend: Backend
    percent: Decimal | int | float | str


@dataclass(frozen=True)
class Route:
    """Requests for ``host`` are split over ``splits`` (shares adding up to 100).

    ``expose``: ``project`` lets only members of ``project`` through (the
    gateway asks the control plane about each request), ``public`` lets anyone.
    """

    host: str
    project: str
    splits: tuple[Split, ...]
    mirror: Mirror | None = None
    expose: str = "project"


def percent_of(value: object, field: str) -> Decimal:
    """A share as a Decimal with at most two decimals, from 0 to 100."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, float, str)):
        raise FieldError(field, f"{value!r} is not a percentage", PERCENT_ACCEPTED)
    try:
        # floats through str: 12.5 stays 12.5, not its binary expansion
        number = Decimal(str(value).strip().removesuffix("%"))
    except InvalidOperation:
        raise FieldError(field, f"{value!r} is not a percentage", PERCENT_ACCEPTED) from None
    if not number.is_finite() or number < 0 or number > 100 or number != number.quantize(Decimal("0.01")):
        raise FieldError(field, f"{value!r} is not a percentage", PERCENT_ACCEPTED)
    return number.quantize(Decimal("0.01"))


def _check_name(value: object, field: str) -> None:
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        raise FieldError(field, f"{value!r} is not a valid name", NAME_ACCEPTED)


def check_project(value: object, field: str) -> str:
    # fullmatch: a name that ends in a newline must not pass
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        raise FieldError(field, f"{value!r} is not a valid project name", PROJECT_NAME_ACCEPTED)
    return validate_project_name(value, field)


def check_host(value: object, field: str = "host") -> str:
    if not isinstance(value, str) or len(value) > 253 or not _HOST_RE.fullmatch(value):
        raise FieldError(field, f"{value!r} is not a host name", HOST_ACCEPTED)
    return value


def check_address(value: object, field: str) -> str:
    if isinstance(value, str):
        port = _PORT_RE.fullmatch(value)
        if port and 1 <= int(port.group(1)) <= 65535:
            host = value.rsplit(":", 1)[0]
            try:
                if host in ("localhost", "[::1]") or ipaddress.ip_address(host).is_loopback:
                    return value
            except ValueError:
                pass
        socket = _SOCKET_RE.fullmatch(value)
        if socket and "/../" not in socket.group(1) + "/" and "/./" not in socket.group(1) + "/":
            return value
    raise FieldError(field, f"{value!r} is not a loopback address or socket", ADDRESS_ACCEPTED)


def _check_backend(backend: object, field: str, errors: list[FieldError]) -> None:
    if not isinstance(backend, Backend):
        errors.append(FieldError(field, "must be a Backend"))
        return
    try:
        _check_name(backend.name, f"{field}.name")
    except FieldError as exc:
        errors.append(exc)
    if not isinstance(backend.addresses, tuple) or not backend.addresses:
        errors.append(FieldError(f"{field}.addresses", "needs at least one replica address", ADDRESS_ACCEPTED))
        return
    for i, address in enumerate(backend.addresses):
        try:
            check_address(address, f"{field}.addresses[{i}]")
        except FieldError as exc:
            errors.append(exc)


def check_route(route: Route, field: str = "route") -> None:
    """Raise :class:`FieldErrors` naming every bad value of ``route``."""
    errors: list[FieldError] = []

    def attempt(check, *args) -> object:
        try:
            return check(*args)
        except FieldError as exc:
            errors.append(exc)
            return None

    attempt(check_host, route.host, f"{field}.host")
    attempt(check_project, route.project, f"{field}.project")
    if route.expose not in EXPOSE:
        errors.append(FieldError(f"{field}.expose", f"{route.expose!r} is not a kind of exposure", EXPOSE_ACCEPTED))
    if not isinstance(route.splits, tuple) or not route.splits:
        errors.append(FieldError(f"{field}.splits", "needs at least one backend", "one or more splits whose percentages add up to 100"))
    else:
        total = Decimal(0)
        for i, split in enumerate(route.splits):
            _check_backend(split.backend, f"{field}.splits[{i}].backend", errors)
            share = attempt(percent_of, split.percent, f"{field}.splits[{i}].percent")
            total += share or 0
        if not errors and total != 100:
            errors.append(FieldError(f"{field}.splits", f"the percentages add up to {total}%, not 100%", "splits whose percentages add up to 100"))
    if route.mirror is not None:
        _check_backend(route.mirror.backend, f"{field}.mirror.backend", errors)
        attempt(percent_of, route.mirror.percent, f"{field}.mirror.percent")
    if errors:
        raise FieldErrors(errors)


def check_routes(routes: Iterable[Route]) -> list[Route]:
    """Every route valid, and no host routed twice."""
    routes = list(routes)
    errors: list[FieldError] = []
    seen: dict[str, int] = {}
    for i, route in enumerate(routes):
        if not isinstance(route, Route):
            errors.append(FieldError(f"routes[{i}]", "must be a Route"))
            continue
        try:
            check_route(route, f"routes[{i}]")
        except FieldErrors as exc:
            errors.extend(exc.errors)
            continue
        if route.host in seen:
            errors.append(FieldError(f"routes[{i}].host", f"'{route.host}' is already routed by routes[{seen[route.host]}]", "one route per host"))
        seen.setdefault(route.host, i)
    if errors:
        raise FieldErrors(errors)
    return routes
