"""What ``cubelab up`` checks around the start: that its ports are free before,
and that the platform answers after (so "ready" is only said when it is true)."""

from __future__ import annotations

import errno
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass


@dataclass(frozen=True)
class Port:
    what: str  # what listens there, for people
    option: str  # the `cubelab up` option that changes it
    ip: str
    number: int


def busy_ports(ports: list[Port]) -> list[tuple[Port, str]]:
    """The ports that cannot be used, each with why (taken by another program, or
    given twice). Binding is the check the servers themselves will make."""
    problems: list[tuple[Port, str]] = []
    seen: dict[int, Port] = {}
    for port in ports:
        if port.number in seen:
            problems.append((port, f"also given for {seen[port.number].what}"))
            continue
        seen[port.number] = port
        family = socket.AF_INET6 if ":" in port.ip else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            # as the servers do: a closed connection in TIME_WAIT does not hold the port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((port.ip, port.number))
            except OSError as err:
                if err.errno == errno.EADDRINUSE:
                    problems.append((port, "in use by another program"))
                elif err.errno == errno.EACCES:
                    problems.append((port, "not allowed for this account (ports below 1024 need privileges)"))
                else:
                    problems.append((port, err.strerror or str(err)))
    return problems


def busy_message(problems: list[tuple[Port, str]]) -> str:
    lines = []
    for port, why in problems:
        lines.append(f"Port {port.number} ({port.what}) is {why}: choose another with {port.option}=PORT.")
    return "\n".join(lines)


def loopback_host(ip: str) -> str:
    """Where this machine reaches a server listening on ``ip``."""
    if ip in ("", "0.0.0.0", "*"):
        return "127.0.0.1"
    if ip == "::":
        return "[::1]"
    return f"[{ip}]" if ":" in ip else ip


# no http_proxy from the environment: these are this machine's own servers
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def answers(url: str, timeout: float = 2.0) -> bool:
    try:
        with _opener.open(url, timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_until_ready(urls: list[str], stop: threading.Event, interval: float = 0.25) -> bool:
    """Poll until every URL answers 200 (True), or until ``stop`` is set (False)."""
    pending = list(urls)
    while pending:
        pending = [url for url in pending if not answers(url)]
        if pending and stop.wait(interval):
            return False
    return True


def announce_when_ready(urls: list[str], stop: threading.Event, say, started: float) -> threading.Thread:
    """In the background: once every URL answers, ``say(seconds since started)``."""

    def watch():
        if wait_until_ready(urls, stop) and not stop.is_set():
            say(time.monotonic() - started)

    thread = threading.Thread(target=watch, name="cubelab-readiness", daemon=True)
    thread.start()
    return thread
