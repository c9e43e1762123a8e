"""The gateway as a child process of the control plane: nginx in a directory of
its own, configured from routes, validated before every reload, stopped on shutdown.

The prefix directory holds ``nginx.conf``, ``nginx.pid``, ``logs/`` (the error
log and one access log per route) and ``temp/``. A new configuration is written
beside the current one, checked with ``nginx -t``, and only then moved over it
(``os.replace``: never half-written) and loaded with SIGHUP: nginx starts new
workers and lets the old ones finish the requests they hold, so a reload drops
no request nginx has read (the old workers' idle kept-alive connections are
closed: a client resends a request that crossed that close, as browsers do). A
configuration nginx refuses leaves the running one untouched.
"""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import shutil
import signal
import socket
from collections.abc import Iterable
from pathlib import Path

import psutil
from traitlets import Integer, Unicode, default
from traitlets.config import LoggingConfigurable

from .config import RELAY_SOCKET, GatewaySettings, prefix_dirs, render
from .routes import Route


class GatewayError(RuntimeError):
    """nginx refused to start or refused a configuration; the message says why."""


class Gateway(LoggingConfigurable):
    """nginx routing services' host names to their replicas (see :mod:`.config`)."""

    nginx = Unicode(help="The nginx executable; default: 'nginx' on PATH, else /usr/sbin/nginx.").tag(config=True)
    prefix = Unicode(help="The gateway's own directory (config, pid file, logs, temp files), normally '<data dir>/gateway'.").tag(config=True)
    ip = Unicode("127.0.0.1", help="The loopback address the gateway listens on (127.0.0.1 or ::1: this machine only).").tag(config=True)
    port = Integer(8090, help="The gateway's port: every service host name (e.g. 'model.localhost') is served on it.").tag(config=True)
    auth_address = Unicode(
        "127.0.0.1:8082",
        help="Where the control plane listens ('127.0.0.1:PORT'): the gateway asks it whether a request may reach a project-only service.",
    ).tag(config=True)
    auth_path = Unicode("/services/cubelab/gateway/auth", help="The path of the control plane's gateway-auth endpoint.").tag(config=True)
    worker_processes = Integer(2, help="nginx worker processes (one per CPU core is nginx's advice).").tag(config=True)
    worker_user = Unicode(
        "nobody",
        help="The account nginx's workers run as when the control plane runs as root (as any other user, they run as that user).",
    ).tag(config=True)
    mirror_timeout = Unicode(
        "10s", help="How long a shadow may take to answer a mirrored copy before the copy is abandoned (clients never wait for it).",
    ).tag(config=True)
    mirror_max_conns = Integer(
        100, help="Mirrored copies in flight to one shadow replica, per nginx worker; beyond it copies are dropped, so a slow shadow costs bounded resources.",
    ).tag(config=True)
    read_timeout = Unicode("3600s", help="How long a proxied connection may stay silent (WebSockets, long polls, streams).").tag(config=True)
    start_timeout = Integer(20, help="Seconds to wait for nginx to listen after starting it, or for new workers after a reload.").tag(config=True)
    stop_timeout = Integer(10, help="Seconds nginx's workers get to finish their requests on stop before they are terminated.").tag(config=True)

    @default("nginx")
    def _default_nginx(self) -> str:
        return shutil.which("nginx") or "/usr/sbin/nginx"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        self.routes: list[Route] = []

    # ------------------------------------------------------------ files

    @property
    def conf_path(self) -> Path:
        return Path(self.prefix) / "nginx.conf"

    @property
    def error_log(self) -> Path:
        return Path(self.prefix) / "logs" / "error.log"

    def settings(self) -> GatewaySettings:
        root = os.geteuid() == 0
        group = grp.getgrgid(pwd.getpwnam(self.worker_user).pw_gid).gr_name if root else ""
        return GatewaySettings(
            prefix=str(Path(self.prefix).resolve()), ip=self.ip, port=self.port, auth_address=self.auth_address,
            auth_path=self.auth_path, worker_processes=self.worker_processes, worker_user=self.worker_user if root else "", worker_group=group,
            mirror_timeout=self.mirror_timeout, read_timeout=self.read_timeout, mirror_max_conns=self.mirror_max_conns,
        )

    def _make_dirs(self, settings: GatewaySettings) -> None:
        prefix = Path(settings.prefix)
        prefix.mkdir(parents=True, exist_ok=True)
        # the platform's directory: logs name users' hosts and paths
        os.chmod(prefix, 0o700 if not settings.worker_user else 0o711)
        for path in prefix_dirs(prefix):
            path.mkdir(exist_ok=True)
        if settings.worker_user:
            blocked = [str(p) for p in prefix.parents if not p.stat().st_mode & 0o001]
            if blocked:
                raise GatewayError(f"nginx's workers run as {settings.worker_user!r} and cannot pass through {blocked[0]} "
                                   f"to reach {prefix}: let others traverse it (chmod o+x), as the data directory (0711) does")
            # workers write request bodies and the like to temp/ as the worker account
            account = pwd.getpwnam(settings.worker_user)
            for path in prefix_dirs(prefix):
                if path.parent.name == "temp" or path.name in ("temp", "run"):
                    os.chown(path, account.pw_uid, account.pw_gid)
                    os.chmod(path, 0o700)

    async def _check(self, conf: Path) -> None:
        proc = await asyncio.create_subprocess_exec(
            self.nginx, "-t", "-q", "-p", self.settings().prefix, "-c", str(conf), "-e", str(self.error_log),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise GatewayError(f"nginx refused the configuration: {out.decode(errors='replace').strip()}")

    async def _write(self, routes: list[Route]) -> None:
        """Render (refusing bad routes before anything is written), check, then replace."""
        text = render(routes, self.settings())
        new = self.conf_path.with_name("nginx.conf.new")
        new.write_text(text)
        try:
            await self._check(new)
        except GatewayError:
            new.unlink(missing_ok=True)
            raise
        os.replace(new, self.conf_path)

    # ------------------------------------------------------------ lifecycle

    async def start(self, routes: Iterable[Route] = ()) -> None:
        """Start nginx with ``routes``; returns once it listens."""
        if not self.prefix:
            raise GatewayError("Gateway.prefix is not set: the gateway needs a directory of its own")
        routes = list(routes)
        async with self._lock:
            settings = self.settings()
            self._make_dirs(settings)
            # a socket left by a gateway that did not stop would refuse the new one's bind
            (Path(settings.prefix) / RELAY_SOCKET).unlink(missing_ok=True)
            await self._write(routes)
            self.proc = await asyncio.create_subprocess_exec(
                self.nginx, "-p", settings.prefix, "-c", str(self.conf_path), "-e", str(self.error_log),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )
            self.routes = routes
            await self._wait_listening()
        self.log.info("gateway listening on %s:%d with %d routes", self.ip, self.port, len(routes))

    async def _wait_listening(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout
        family = socket.AF_INET6 if ":" in self.ip else socket.AF_INET
        while loop.time() < deadline:
            if self.proc.returncode is not None:
                raise GatewayError(f"nginx exited with {self.proc.returncode} on start: {self._error_tail()}")
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.setblocking(False)
                try:
                    await asyncio.wait_for(loop.sock_connect(probe, (self.ip, self.port)), 1)
                    return
                except (TimeoutError, OSError):
                    pass
            await asyncio.sleep(0.05)
        await self.stop()
        raise GatewayError(f"nginx did not listen on {self.ip}:{self.port} within {self.start_timeout}s: {self._error_tail()}")

    def _error_tail(self, lines: int = 5) -> str:
        try:
            return " | ".join(self.error_log.read_text(errors="replace").strip().splitlines()[-lines:])
        except OSError:
            return "(no error log)"

    def _workers(self) -> set[int]:
        try:
            return {p.pid for p in psutil.Process(self.proc.pid).children() if "worker" in " ".join(p.cmdline())}
        except psutil.NoSuchProcess:
            return set()

    async def apply(self, routes: Iterable[Route]) -> None:
        """Load ``routes`` in place of the current ones, without dropping a request.

        Bad routes raise ``FieldErrors`` and a configuration nginx refuses raises
        :class:`GatewayError`; either way the running configuration stays."""
        routes = list(routes)
        async with self._lock:
            if self.proc is None or self.proc.returncode is not None:
                raise GatewayError("the gateway is not running")
            await self._write(routes)
            old = self._workers()
            self.proc.send_signal(signal.SIGHUP)
            # loaded once workers of the new configuration run (old ones finish their requests meanwhile)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.start_timeout
            while not (self._workers() - old):
                if loop.time() > deadline:
                    raise GatewayError(f"nginx did not start workers for the new configuration: {self._error_tail()}")
                await asyncio.sleep(0.02)
            self.routes = routes
        self.log.info("gateway reloaded with %d routes", len(routes))

    async def stop(self) -> None:
        """Graceful stop (SIGQUIT: requests in flight finish), then SIGTERM, then SIGKILL."""
        proc, self.proc = self.proc, None
        if proc is None or proc.returncode is not None:
            return
        for sig, wait in ((signal.SIGQUIT, self.stop_timeout), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                return
            try:
                await asyncio.wait_for(proc.wait(), wait)
                return
            except TimeoutError:
                self.log.warning("gateway (pid %d) still running after %s", proc.pid, signal.Signals(sig).name)
