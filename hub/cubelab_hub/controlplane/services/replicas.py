"""Replicas of services on this machine: processes the control plane supervises.

Each replica is one process tree started the way the local engine starts a
task (:mod:`cubelab_hub.engines.local.processes`): as the service owner's Unix
account when users are Unix accounts, with ``no_new_privs``, in the project's
group, moved into CPU and memory cgroups (the service's limits) before anything
of the owner's runs. It listens on a loopback port of its own: ``PORT`` is the
first, and each declared port ``N`` is mapped to a free one given as
``PORT_N``; the health check's port names a declared port and is mapped the
same way. Its output goes to ``<replicas_dir>/<service id>/replica-<index>.log``
(the platform's, 0600; the process gets it as its open output only).

A replica is ``starting`` until its health check passes (an HTTP GET of
``port:/path`` answered 2xx/3xx, a ``shell:`` command exiting 0 run as the
owner, or with no check a TCP connection to its first port), then
``healthy``. A replica that exits or fails its check ``failure_threshold``
times in a row is restarted after a back-off that doubles up to a maximum.
Stopping a replica first takes it out of the healthy set (``stopping``), waits
``drain_seconds`` for clients and the gateway to stop sending to it, then
stops its process tree. A stopping replica never turns healthy again, even
when its check still passes while it drains.

:meth:`ReplicaSupervisor.reconcile` brings one service to a generation and a
replica count: scaling adds or removes replicas; a new generation (an edited
service) is rolled one replica at a time, each new one healthy before an old
one stops, so a client always has a healthy replica to talk to. The order of
one step: the new replica passes its check; ``on_change`` is awaited (the
service layer stores it and reloads the gateway with it); the old replica is
marked ``stopping`` and ``on_change`` awaited again (the gateway no longer
sends to it); the drain; then its process is stopped. A new replica may take
the slot number of one stopped earlier: the service layer tells them apart by
identity, not by number.

Every change of a replica is reported to ``on_change`` (the service layer
stores it and follows the service's status).
"""

from __future__ import annotations

import asyncio
import http.client
import logging
import os
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ...domain.services import HealthCheck, HttpHealthCheck, Service, ShellHealthCheck
from ...engines.local.processes import SETPRIV, Child, RunAs, kill_group, proc_id, sample_tree
from ...platform.cgroups import make_cpu_cgroup, make_memory_cgroup, remove_cgroup

log = logging.getLogger("cubelab.services")

STARTING, HEALTHY, UNHEALTHY, RESTARTING, STOPPING, FAILED = "starting", "healthy", "unhealthy", "restarting", "stopping", "failed"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Replica:
    """One slot of a service: its process (restarted in place) and its state."""

    service_id: int
    index: int
    generation: int
    service: Service
    ports: dict[int, int]  # declared port -> this replica's loopback port
    log_path: Path
    folder: Path | None = None  # the replica's own folder (a model server's settings)
    status: str = STARTING
    pid: int | None = None
    external_id: str | None = None
    started_at: datetime | None = None
    restarts: int = 0
    last_exit: int | None = None
    message: str = ""
    stopping: bool = False
    task: asyncio.Task | None = None
    child: Child | None = None
    became_healthy: asyncio.Event = field(default_factory=asyncio.Event)
    cpu_sample: tuple[float, float] | None = None  # (wall time, CPU seconds) of the last autoscaler sample

    @property
    def port(self) -> int:
        return next(iter(self.ports.values()))

    def view(self) -> dict:
        return {
            "index": self.index, "generation": self.generation, "status": self.status, "pid": self.pid,
            "external_id": self.external_id, "port": self.port, "ports": {str(k): v for k, v in self.ports.items()},
            "started_at": self.started_at, "restarts": self.restarts, "last_exit": self.last_exit, "message": self.message,
        }


@dataclass
class Launch:
    """How to start a replica: the argv, the account and the working
    directory; ``health`` replaces the service's own check when set (a built-in
    model server's readiness)."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    run_as: RunAs | None
    health: HealthCheck | None = None


class ReplicaSupervisor:
    """The replicas of every deployed service on this machine."""

    def __init__(
        self,
        replicas_dir: Path,
        prepare: Callable[[Replica], Awaitable[Launch]],
        on_change: Callable[[Replica], Awaitable[None]],
        *,
        health_interval: float = 1.0,
        health_timeout: float = 2.0,
        failure_threshold: int = 3,
        restart_backoff: float = 1.0,
        restart_backoff_max: float = 60.0,
        start_timeout: float = 120.0,
        drain_seconds: float = 2.0,
        kill_grace: float = 5.0,
    ):
        self.replicas_dir = Path(replicas_dir)
        self.prepare = prepare
        self.on_change = on_change
        self.health_interval = health_interval
        self.health_timeout = health_timeout
        self.failure_threshold = failure_threshold
        self.restart_backoff = restart_backoff
        self.restart_backoff_max = restart_backoff_max
        self.start_timeout = start_timeout
        self.drain_seconds = drain_seconds
        self.kill_grace = kill_grace
        self.replicas: dict[int, dict[int, Replica]] = {}  # service id -> index -> replica
        self._locks: dict[int, asyncio.Lock] = {}

    # ------------------------------------------------------------ queries

    def of(self, service_id: int) -> list[Replica]:
        return sorted(self.replicas.get(service_id, {}).values(), key=lambda r: r.index)

    def healthy(self, service_id: int) -> list[Replica]:
        return [r for r in self.of(service_id) if r.status == HEALTHY and not r.stopping]

    def log_path(self, service_id: int, index: int) -> Path:
        return self.replicas_dir / str(service_id) / f"replica-{index}.log"

    def folder(self, service_id: int, index: int) -> Path:
        return self.replicas_dir / str(service_id) / f"replica-{index}"

    # ------------------------------------------------------------ changes

    def lock(self, service_id: int) -> asyncio.Lock:
        return self._locks.setdefault(service_id, asyncio.Lock())

    async def reconcile(self, service_id: int, service: Service, generation: int, count: int) -> None:
        """Run ``count`` replicas of ``service`` at ``generation``: replicas of
        other generations are replaced one at a time (new one healthy first),
        then extra replicas stop or missing ones start."""
        async with self.lock(service_id):
            slots = self.replicas.setdefault(service_id, {})
            old = [r for r in self.of(service_id) if r.generation != generation and not r.stopping]
            for stale in old:
                if len([r for r in self.of(service_id) if r.generation == generation and not r.stopping]) < count:
                    fresh = await self._start(service_id, service, generation)
                    if not await self._wait_healthy(fresh):
                        # the new generation does not come up: keep the old replicas serving
                        return
                await self._stop(stale)
            current = [r for r in self.of(service_id) if not r.stopping]
            for extra in sorted(current, key=lambda r: r.index, reverse=True)[: max(0, len(current) - count)]:
                await self._stop(extra)
            missing = count - len([r for r in self.of(service_id) if not r.stopping])
            for _ in range(max(0, missing)):
                await self._start(service_id, service, generation)
            if not slots:
                self.replicas.pop(service_id, None)

    async def stop_service(self, service_id: int, drain: bool = True) -> None:
        async with self.lock(service_id):
            await asyncio.gather(*(self._stop(r, drain) for r in self.of(service_id)))
            self.replicas.pop(service_id, None)

    async def close(self) -> None:
        """Stop every replica (the control plane is stopping)."""
        await asyncio.gather(*(self.stop_service(sid, drain=False) for sid in list(self.replicas)))

    async def kill_replica(self, service_id: int, index: int) -> None:
        """Kill one replica's process (it is restarted as after a crash)."""
        replica = self.replicas.get(service_id, {}).get(index)
        if replica is not None and replica.pid:
            await kill_group(replica.pid, self.kill_grace)

    # ------------------------------------------------------------ one replica

    async def _start(self, service_id: int, service: Service, generation: int) -> Replica:
        slots = self.replicas.setdefault(service_id, {})
        index = 0
        while index in slots:
            index += 1
        ports = {declared: free_port() for declared in service.ports}
        replica = Replica(service_id, index, generation, service, ports, self.log_path(service_id, index), self.folder(service_id, index))
        slots[index] = replica
        replica.task = asyncio.create_task(self._supervise(replica))
        await self.on_change(replica)
        return replica

    async def _wait_healthy(self, replica: Replica) -> bool:
        try:
            await asyncio.wait_for(replica.became_healthy.wait(), self.start_timeout)
            return True
        except TimeoutError:
            return False

    async def _stop(self, replica: Replica, drain: bool = True) -> None:
        replica.stopping = True
        replica.status = STOPPING
        await self.on_change(replica)
        if drain and self.drain_seconds:
            await asyncio.sleep(self.drain_seconds)  # clients and the gateway move to the other replicas first
        if replica.pid:
            await kill_group(replica.pid, self.kill_grace)
        if replica.task is not None:
            replica.task.cancel()
            try:
                await replica.task
            except (asyncio.CancelledError, Exception):
                pass
        self.replicas.get(replica.service_id, {}).pop(replica.index, None)
        await self.on_change(replica)

    async def _supervise(self, replica: Replica) -> None:
        failures = 0
        while not replica.stopping:
            try:
                code, why = await self._run_once(replica)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug or a setup failure must not end supervision silently
                log.exception("replica %s/%s", replica.service_id, replica.index)
                code, why = None, f"could not start: {exc}"
            if replica.stopping:
                return
            if replica.became_healthy.is_set():
                failures = 0  # it had been healthy: the back-off starts again
                replica.became_healthy = asyncio.Event()
            failures += 1
            replica.last_exit = code
            replica.restarts += 1
            wait = min(self.restart_backoff * 2 ** (failures - 1), self.restart_backoff_max)
            replica.status = RESTARTING
            replica.message = f"{why}; restarting in {wait:g} s"
            replica.pid = replica.external_id = None
            self._note(replica, replica.message)
            await self.on_change(replica)
            await asyncio.sleep(wait)

    def _note(self, replica: Replica, text: str) -> None:
        try:
            with open(replica.log_path, "ab") as fh:
                fh.write(f"\n[cubelab] {text}\n".encode())
        except OSError:
            pass

    async def _run_once(self, replica: Replica) -> tuple[int | None, str]:
        """Start the process, check its health until it exits or fails its
        check; the exit code (None: killed for failing checks) and why."""
        launch = await self.prepare(replica)
        replica.log_path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(replica.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        env = dict(launch.env)
        env["PORT"] = str(replica.port)
        for declared, actual in replica.ports.items():
            env[f"PORT_{declared}"] = str(actual)
        env["CUBELAB_SERVICE_REPLICA"] = str(replica.index)
        exit_file = replica.log_path.parent / f"exit-{replica.index}"
        with open(exit_file, "w"):
            pass
        if launch.run_as:
            os.chown(exit_file, launch.run_as.uid, launch.run_as.gid)
        groups = self._cgroups(replica)
        with open(replica.log_path, "ab") as out:
            out.write(f"\n[cubelab] starting replica {replica.index} (generation {replica.generation}) on port {replica.port}\n".encode())
            out.flush()
            try:
                child = Child.spawn(launch.argv, exit_file, out, launch.cwd, env, [g for g in groups if g], launch.run_as)
            except (OSError, subprocess.SubprocessError) as exc:
                self._drop_cgroups(groups)
                return 127, f"could not start: {exc}"
        replica.child = child
        replica.pid = child.pid
        replica.external_id = proc_id(child.pid)
        replica.started_at = datetime.now(UTC)
        replica.status = STARTING
        replica.message = ""
        replica.cpu_sample = None
        await self.on_change(replica)
        checker = asyncio.create_task(self._check_health(replica, launch, env))
        try:
            done, _ = await asyncio.wait({checker, asyncio.ensure_future(child.wait())}, return_when=asyncio.FIRST_COMPLETED)
            if checker in done and not checker.cancelled() and checker.exception() is None:
                why = checker.result()
                await kill_group(child.pid, self.kill_grace)
                code = await child.wait()
                return None, why
            code = await child.wait()
            # what the process left behind in its group (a child still holding the
            # replica's port) would keep the restarted one from binding it
            await kill_group(child.pid, self.kill_grace)
            return code, f"exited with code {code}" if code >= 0 else f"killed by signal {-code}"
        finally:
            checker.cancel()
            replica.child = None
            loop = asyncio.get_running_loop()
            loop.run_in_executor(None, self._drop_cgroups, groups)

    def _cgroups(self, replica: Replica) -> tuple[Path | None, Path | None]:
        name = f"cubelab-svc-{replica.service_id}-{replica.index}-{int(time.time() * 1000)}"
        memory = replica.service.memory.limit
        cores = float(replica.service.cpu.limit)
        return (make_memory_cgroup(name, memory) if memory else None, make_cpu_cgroup(name, cores) if cores else None)

    @staticmethod
    def _drop_cgroups(groups) -> None:
        for group in groups:
            if group is not None:
                remove_cgroup(group)

    async def _check_health(self, replica: Replica, launch: Launch, env: dict[str, str]) -> str:
        """Returns (ending the replica) once the check has failed too often
        after having passed; marks the replica healthy when it passes."""
        failures = 0
        started = time.monotonic()
        while True:
            await asyncio.sleep(self.health_interval if replica.status == HEALTHY else min(self.health_interval, 0.2))
            if replica.stopping:
                continue  # draining: the process is left alone until the stop ends it
            ok, why = await self._probe(replica, launch, env)
            if replica.stopping:
                continue  # it stays out of the healthy set whatever the check says
            if ok:
                failures = 0
                if replica.status != HEALTHY:
                    replica.status = HEALTHY
                    replica.message = ""
                    # the service layer stores it and reloads the gateway first, so a
                    # roll waiting on this event only then takes an old replica out
                    await self.on_change(replica)
                    replica.became_healthy.set()
                continue
            if replica.status != HEALTHY:
                if time.monotonic() - started > self.start_timeout:
                    return f"not healthy {self.start_timeout:g} s after its start: {why}"
                continue
            failures += 1
            if failures >= self.failure_threshold:
                replica.status = UNHEALTHY
                replica.message = f"health check failed {failures} times: {why}"
                await self.on_change(replica)
                return replica.message

    async def _probe(self, replica: Replica, launch: Launch, env: dict[str, str]) -> tuple[bool, str]:
        check = launch.health or replica.service.health
        if isinstance(check, ShellHealthCheck):
            return await self._shell_probe(check, launch, env)
        port = replica.port
        path = None
        if isinstance(check, HttpHealthCheck):
            port = replica.ports.get(check.port, port)
            path = check.path
        return await asyncio.get_running_loop().run_in_executor(None, _tcp_or_http_probe, port, path, self.health_timeout)

    async def _shell_probe(self, check: ShellHealthCheck, launch: Launch, env: dict[str, str]) -> tuple[bool, str]:
        argv = ["/bin/sh", "-c", check.command]
        user = {}
        if launch.run_as is not None:
            argv = [SETPRIV, "--no-new-privs", "--", *argv]
            user = {"user": launch.run_as.uid, "group": launch.run_as.gid, "extra_groups": launch.run_as.groups}
        try:
            proc = await asyncio.create_subprocess_exec(*argv, cwd=launch.cwd, env=env, stdin=subprocess.DEVNULL,
                                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, **user)
        except OSError as exc:
            return False, f"the check could not start: {exc}"
        try:
            code = await asyncio.wait_for(proc.wait(), self.health_timeout)
        except TimeoutError:
            await kill_group(proc.pid, 0.5)
            await proc.wait()
            return False, f"'shell:{check.command}' took more than {self.health_timeout:g} s"
        return code == 0, f"'shell:{check.command}' exited with {code}"

    # ------------------------------------------------------------ measuring

    def sample(self, replica: Replica) -> tuple[float | None, int | None]:
        """Cores used since the last sample and the resident memory of the
        replica's process tree (None, None before two samples)."""
        if not replica.pid or replica.status != HEALTHY:
            return None, None
        measured = sample_tree(replica.pid)
        if measured is None:
            return None, None
        cpu_seconds, rss, _ = measured
        now = time.monotonic()
        previous, replica.cpu_sample = replica.cpu_sample, (now, cpu_seconds)
        if previous is None or now <= previous[0]:
            return None, rss
        return max(0.0, (cpu_seconds - previous[1]) / (now - previous[0])), rss


def _tcp_or_http_probe(port: int, path: str | None, timeout: float) -> tuple[bool, str]:
    if path is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout):
                return True, ""
        except OSError as exc:
            return False, f"port {port} does not accept connections ({exc.strerror or exc})"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": "cubelab-health"})
        status = conn.getresponse().status
    except OSError as exc:
        return False, f"GET {path} on port {port}: {exc.strerror or exc}"
    except http.client.HTTPException as exc:
        return False, f"GET {path} on port {port}: {exc!r}"
    finally:
        conn.close()
    return 200 <= status < 400, f"GET {path} on port {port} answered {status}"


def leftover_processes(external_ids: list[str]) -> list[int]:
    """The pids among ``pid:start`` ids that still name the same live process."""
    pids = []
    for ext in external_ids:
        pid = int(ext.split(":", 1)[0]) if ext and ext.split(":", 1)[0].isdigit() else None
        if pid is not None and proc_id(pid) == ext:
            pids.append(pid)
    return pids


