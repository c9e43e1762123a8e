"""Services of projects on this machine: stored, validated against each other,
deployed as supervised replicas, upgraded, taken over and autoscaled.

- **Validation**: the domain parses every field
  (:func:`~cubelab_hub.domain.services.service_from_dict`); here the rules that
  need the database are added: the name is unique platform-wide (the generated
  host is ``<name>.<domain>``), and split and mirror targets are services of
  the same project.
- **Deploy** checks the project's quota (each replica holds the service's CPU
  and memory limits and its GPU cards, counted beside the project's running
  servers, tasks and other services' replicas), then asks the
  :class:`~.replicas.ReplicaSupervisor` for ``min_replicas`` replicas. The
  service is ``running`` once all of them are healthy. What replicas hold
  (:meth:`ServiceManager.in_use_by_project`) is published with the running
  tasks (``on_usage_changed``), where the spawners and runs' checks read it.
- **Grey upgrade**: an edit of a deployed service bumps its generation; the
  supervisor rolls the replicas one at a time, each new one healthy and in
  the gateway's routes before an old one is taken out of them, drained and
  stopped.
- **Takeover**: a service deployed on the host of an older running service
  takes it over once healthy; the older one is stopped and marked
  ``offline``, both events kept in the history.
- **Autoscaling**: every ``autoscale_interval`` seconds each autoscaled
  service's replicas are sampled (CPU cores and resident memory of each
  replica's process tree, as percents of the request), the HPA v2 rule
  (:mod:`~cubelab_hub.domain.autoscaling`) proposes a count, the
  stabilization windows and the cooldown decide, and every decision that
  changes the count or holds a change back is recorded with its reason.
- **Where**: a project whose runs go to Kubernetes (its ``engine`` setting,
  else the platform's ``pipeline_engine``) has its services there too: the
  :class:`~.service_backends.KubernetesServiceBackend` applies them in the
  project's cluster and namespace, the service is ``running`` once its
  Deployment's rollout is done, its pods are its replicas, and Kubernetes'
  HPA scales it. Everything else runs on this machine.
- **Routes**: whenever a service's healthy replicas change, the gateway's
  routes (:func:`~.service_routes.gateway_routes`) are handed to
  ``on_routes_changed`` and awaited: :meth:`ServiceManager.routes_changed`
  returns once the gateway routes by them, so a caller can wait for the
  gateway to send traffic to new replicas before old ones are drained.
- **Restart of the control plane**: replicas are children of the control
  plane and stop with it. At start, leftover replica processes of a control
  plane that died without stopping them are killed (found by pid and start
  time), and every service that was deployed is started again.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from traitlets import Float, Integer, Unicode
from traitlets.config import LoggingConfigurable

from ...domain.autoscaling import Recommendation, describe_metrics, desired_replicas, prune, stabilize
from ...domain.errors import Conflict, FieldError, FieldErrors, NotFound
from ...domain.formats import format_bytes
from ...domain.paging import ListFilters, decode_cursor, page_from
from ...domain.projects import ProjectSettings, Quota
from ...domain.quotas import Usage, fmt_cores
from ...domain.services import BUILTIN_SERVING_TYPES, Service, inference_env, parse_health, service_from_dict, service_host
from ...engines.local.commands import base_env
from ...engines.local.processes import RunAs, kill_group
from ...platform.unix import UnixAccounts
from ..models.pipelines import aware
from ..models.services import ServiceEventRow, ServiceReplicaRow, ServiceRow
from .lists import _keyset, _name_contains, _page, _time_range, _visible
from .replicas import Launch, Replica, ReplicaSupervisor, leftover_processes
from .service_backends import KUBERNETES, KubernetesServiceBackend, backend_name
from .service_routes import Route, gateway_routes

log = logging.getLogger("cubelab.services")

SERVICE_KEY = (str, str, int)
DEPLOYED = ("deploying", "running")


async def _maybe_await(value):
    return await value if inspect.isawaitable(value) else value


def replica_usage(service: Service) -> Usage:
    """What one replica holds, as quotas count it: the limits and the cards."""
    return Usage(service.cpu.limit, service.memory.limit, service.gpu.count)


def quota_errors(project: str, quota: Quota, in_use: Usage, service: Service, replicas: int) -> list[FieldError]:
    """A field-named error for each resource that ``replicas`` more replicas of
    ``service`` would take past the project's quota."""
    ask = Usage(replica_usage(service).cpu * replicas, replica_usage(service).memory * replicas, replica_usage(service).gpu * replicas)
    errors = []
    what = f"this service's {replicas} replica(s) ask for up to"
    if quota.cpu is not None and in_use.cpu + ask.cpu > quota.cpu:
        left = max(quota.cpu - in_use.cpu, Decimal(0))
        errors.append(FieldError("cpu", f"project '{project}' has a CPU quota of {fmt_cores(quota.cpu)} cores; {fmt_cores(in_use.cpu)} are in use by "
                                 f"running servers, tasks and services; {what} {fmt_cores(ask.cpu)}", f"at most {fmt_cores(left)} cores in all now"))
    if quota.memory is not None and in_use.memory + ask.memory > quota.memory:
        left = max(quota.memory - in_use.memory, 0)
        errors.append(FieldError("memory", f"project '{project}' has a memory quota of {format_bytes(quota.memory)}; "
                                 f"{format_bytes(in_use.memory) if in_use.memory else '0'} are in use by running servers, tasks and services; "
                                 f"{what} {format_bytes(ask.memory)}", f"at most {format_bytes(left) if left else '0'} in all now"))
    if quota.gpu is not None and ask.gpu and in_use.gpu + ask.gpu > quota.gpu:
        errors.append(FieldError("gpu", f"project '{project}' has a GPU quota of {quota.gpu}; {in_use.gpu} are in use; {what} {ask.gpu}",
                                 f"at most {max(quota.gpu - in_use.gpu, 0)} card(s) in all now"))
    return errors


class QuotaExceeded(Conflict):
    code = "quota_exceeded"


class ServiceManager(LoggingConfigurable):
    """Services: their rows, their replicas and their autoscaler."""

    domain = Unicode(
        "localhost",
        help="The wildcard domain of services' hosts: a service answers at <name>.<domain> (custom hosts must end with it). "
        "The default, 'localhost', needs no DNS: browsers resolve *.localhost to this machine.",
    ).tag(config=True)

    replicas_dir = Unicode(
        "",
        help="Where replicas' logs and exit files are kept, one folder per service. Default: <data_dir>/services.",
    ).tag(config=True)

    autoscale_interval = Float(15.0, help="Seconds between samples of autoscaled services' replicas (the HPA's sync period).").tag(config=True)
    scale_up_window = Float(0.0, help="Stabilization window of scaling up, seconds (HPA v2's default: 0).").tag(config=True)
    scale_down_window = Float(300.0, help="Stabilization window of scaling down, seconds (HPA v2's default: 300).").tag(config=True)
    scale_cooldown = Float(0.0, help="Seconds after a scaling change during which the next one is held.").tag(config=True)
    health_interval = Float(2.0, help="Seconds between health checks of a healthy replica (a starting one is checked more often).").tag(config=True)
    health_timeout = Float(3.0, help="Seconds a health check may take before it counts as failed.").tag(config=True)
    failure_threshold = Integer(3, help="Failed health checks in a row after which a healthy replica is restarted.").tag(config=True)
    start_timeout = Float(120.0, help="Seconds a new replica has to pass its health check before it is restarted.").tag(config=True)
    restart_backoff = Float(1.0, help="Seconds before restarting a replica that failed; doubles at each failure in a row.").tag(config=True)
    restart_backoff_max = Float(60.0, help="The longest wait before restarting a failed replica.").tag(config=True)
    drain_seconds = Float(
        2.0, help="Seconds between taking a replica out of its service's healthy set (and the gateway's routes) and stopping it."
    ).tag(config=True)
    kill_grace = Float(5.0, help="Seconds a stopped replica gets between SIGTERM and SIGKILL.").tag(config=True)
    python = Unicode("", help="Interpreter of built-in model servers; empty: the control plane's own.").tag(config=True)

    def __init__(self, database, data_dir: str | os.PathLike, *, project_quota=None, others_in_use=None,
                 unix: UnixAccounts | None | str = "environment", workspace_for: Callable[[str], Path] | None = None,
                 on_routes_changed=None, on_usage_changed=None, project_settings=None, default_engine: str = "local",
                 clusters=None, pull_secrets=None, **kwargs):
        """``project_quota``: project -> :class:`Quota` (may be a coroutine);
        ``others_in_use``: project -> :class:`Usage` of its running servers and
        tasks (may be a coroutine); ``on_routes_changed``: ``async (routes)``,
        given the gateway's routes whenever the healthy replicas of any service
        change, returning once the gateway routes by them (see
        :meth:`routes_changed`); ``on_usage_changed``: called (no arguments)
        whenever replicas start or stop, so what they hold
        (:meth:`in_use_by_project`) can be published; ``project_settings``:
        project -> its settings (may be a coroutine), ``default_engine`` and
        ``clusters``: with them, where each project's services run (see
        :func:`~.service_backends.backend_name`); ``pull_secrets``: ``async
        (client, project, namespace) -> names``, writes the project's registry
        pull Secrets before its Deployment on Kubernetes (:class:`~.pull_secrets.PullSecrets`)."""
        super().__init__(**kwargs)
        self.db = database
        self.data_dir = Path(data_dir)
        self.project_quota = project_quota
        self.others_in_use = others_in_use
        self.on_routes_changed = on_routes_changed
        self.on_usage_changed = on_usage_changed
        if unix == "environment":
            unix = UnixAccounts() if os.environ.get("CUBELAB_UNIX_ENABLED") == "1" else None
        self.unix: UnixAccounts | None = unix if unix is not None and unix.enabled else None
        self.workspace_for = workspace_for or (lambda user: self.data_dir / "workspaces" / user)
        directory = Path(self.replicas_dir) if self.replicas_dir else self.data_dir / "services"
        directory.mkdir(parents=True, exist_ok=True)
        if self.unix:
            os.chmod(directory, 0o700)
        self.supervisor = ReplicaSupervisor(
            directory, self._launch, self._replica_changed,
            health_interval=self.health_interval, health_timeout=self.health_timeout, failure_threshold=self.failure_threshold,
            restart_backoff=self.restart_backoff, restart_backoff_max=self.restart_backoff_max, start_timeout=self.start_timeout,
            drain_seconds=self.drain_seconds, kill_grace=self.kill_grace,
        )
        # service id -> (generation, Service) of what is deployed
        self._deployed: dict[int, tuple[int, Service]] = {}
        self._recommendations: dict[int, list[Recommendation]] = {}
        self._last_scaled: dict[int, float] = {}
        self._held: dict[int, str] = {}
        self._tasks: set[asyncio.Task] = set()
        # the replica rows' writer of each service (see _store_replicas)
        self._rows_wanted: dict[int, int] = {}
        self._rows_written: dict[int, int] = {}
        self._rows_waiters: dict[int, list] = {}
        self._rows_writers: dict[int, asyncio.Task] = {}
        # routes_changed: callers take a ticket; one pass serves every ticket taken before it began
        self._routes_lock = asyncio.Lock()
        self._routes_asked = 0
        self._routes_done = 0
        self._routes_ok = True
        self.project_settings = project_settings
        self.default_engine = default_engine
        self.clusters = clusters
        self.pull_secrets = pull_secrets  # (client, project, namespace) -> the pull Secrets' names, on Kubernetes
        self._kubernetes: KubernetesServiceBackend | None = None
        self._on_kubernetes: set[int] = set()  # ids of services deployed there

    # ------------------------------------------------------------ where services run

    async def _uses_kubernetes(self, project: str) -> bool:
        if self.project_settings is None:
            return False
        settings = await _maybe_await(self.project_settings(project))
        return backend_name(settings or ProjectSettings(), self.default_engine) == KUBERNETES

    @property
    def kubernetes(self) -> KubernetesServiceBackend:
        if self._kubernetes is None:
            self._kubernetes = KubernetesServiceBackend(
                self.domain, clusters=self.clusters or {"default": {}}, project_settings=self.project_settings,
                on_status=self._kubernetes_status, service_named=self._deployed_named, pull_secrets=self.pull_secrets, parent=self)
        return self._kubernetes

    def _deployed_named(self, name: str) -> Service | None:
        return next((svc for _gen, svc in self._deployed.values() if svc.name == name), None)

    async def _owns_host(self, service_id: int) -> bool:
        """Whether no other deployed service holds this one's host (the older one keeps it until a takeover)."""
        def others(session) -> bool:
            row = session.get(ServiceRow, service_id)
            return row is None or session.scalars(select(ServiceRow.id).where(
                ServiceRow.host == row.host, ServiceRow.id != service_id, ServiceRow.status.in_(DEPLOYED))).first() is None

        return await self.db.run(others)

    async def _deploy_on_kubernetes(self, service_id: int, service: Service, generation: int, count: int) -> None:
        self._deployed[service_id] = (generation, service)
        self._on_kubernetes.add(service_id)
        try:
            await self.kubernetes.deploy(service_id, service, generation, count, owns_host=await self._owns_host(service_id))
        except (FieldError, FieldErrors):
            raise
        except Exception as exc:  # the API server's refusal or an unreachable cluster: said on the service
            log.warning("service %s: applying on kubernetes failed: %s", service_id, exc)
            problem = f"cannot apply on kubernetes: {exc}"

            def mark(session):
                r = session.get(ServiceRow, service_id)
                if r is not None:
                    r.status, r.message = "failed", problem

            await self.db.run(mark)

    async def _kubernetes_status(self, service_id: int, state, pods) -> None:
        """The Deployment changed: the row's status and replicas follow; once
        running, an older service on the same host is taken offline and this
        one takes its route."""
        def store(session) -> tuple[bool, list[tuple[int, str]]]:
            row = session.get(ServiceRow, service_id)
            if row is None or row.status not in DEPLOYED:
                return False, []
            session.execute(delete(ServiceReplicaRow).where(ServiceReplicaRow.service_id == service_id))
            for index, pod in enumerate(pods):
                session.add(ServiceReplicaRow(service_id=service_id, index=index, generation=row.generation, status=pod.status,
                                              external_id=pod.name[:64], restarts=pod.restarts, message=pod.message,
                                              started_at=datetime.fromisoformat(pod.started_at.replace("Z", "+00:00")) if pod.started_at else None))
            row.message = state.message
            if state.state == "failed" and row.status == "deploying":
                self._event(session, service_id, "failed", None, state.message)
            if state.state == "running" and row.status == "deploying":
                row.status = "running"
                self._event(session, service_id, "running", None, state.message)
                older = session.scalars(select(ServiceRow).where(ServiceRow.host == row.host, ServiceRow.id != row.id,
                                                                 ServiceRow.status.in_(DEPLOYED))).all()
                return True, [(o.id, o.name) for o in older]
            return False, []

        became_running, older = await self.db.run(store)
        deployed = self._deployed.get(service_id)
        if older and deployed is not None:
            # this one's route first, then the old one's goes: the host is never without one
            row = await self.db.run(lambda s: _snapshot(s, service_id))
            await self.kubernetes.deploy(service_id, deployed[1], deployed[0], row["desired_replicas"], owns_host=True)
        for old_id, old_name in older:
            await self.record(service_id, "takeover", None, f"took host {self.host_of(deployed[1])} over from '{old_name}'", previous=old_name)
            await self.stop(old_id, None, status="offline", message=f"taken offline: '{deployed[1].name}' took its host over once healthy")
        if became_running:
            self._routes_changed()

    def on_kubernetes(self, service_id: int) -> bool:
        return service_id in self._on_kubernetes

    async def kubernetes_replica_log(self, service_id: int, index: int, follow: bool = False):
        """The log of replica ``index`` of a service on Kubernetes: its pod's,
        the pod named by the replica row (:class:`NotFound` when there is none)."""
        pod = await self.db.run(lambda s: s.scalars(select(ServiceReplicaRow.external_id).where(
            ServiceReplicaRow.service_id == service_id, ServiceReplicaRow.index == index)).first())
        if not pod:
            raise NotFound.of("replica", str(index))
        deployed = self._deployed.get(service_id)
        async for line in self.kubernetes.logs(service_id, pod, follow=follow, service=deployed[1] if deployed else None):
            yield line

    # ------------------------------------------------------------ parsing and validation

    def parse(self, body: Any, *, is_admin: bool) -> Service:
        return service_from_dict(body, self.domain, is_admin=is_admin)

    def host_of(self, service: Service) -> str:
        return service_host(service, self.domain)

    def check_against_others(self, session, service: Service, exclude: int | None = None) -> list[FieldError]:
        """The rules that need the database: a unique name; split and mirror
        targets that are services of the same project."""
        errors = []
        taken = session.scalars(select(ServiceRow).where(ServiceRow.name == service.name)).first()
        if taken is not None and taken.id != exclude:
            errors.append(FieldError("name", f"'{service.name}' is taken (service names are unique: the host is <name>.{self.domain})",
                                     "a name no other service uses"))
        targets = [("canary", name) for name in service.canary] + ([("mirror", service.mirror[0])] if service.mirror else [])
        for field_name, name in targets:
            row = session.scalars(select(ServiceRow).where(ServiceRow.name == name)).first()
            if row is None or row.project != service.project:
                errors.append(FieldError(field_name, f"'{name}' is not a service of project '{service.project}'",
                                         f"names of other services of project '{service.project}'"))
        return errors

    def diagnostics(self, session, body: Any, *, is_admin: bool, exclude: int | None = None) -> list[dict]:
        """Every problem of a draft, each naming its field (empty: it would save)."""
        try:
            service = self.parse(body, is_admin=is_admin)
        except FieldErrors as exc:
            return [e.to_dict() for e in exc.errors]
        except FieldError as exc:
            return [exc.to_dict()]
        return [e.to_dict() for e in self.check_against_others(session, service, exclude)]

    # ------------------------------------------------------------ rows

    def create(self, session, service: Service, actor: str) -> ServiceRow:
        errors = self.check_against_others(session, service)
        if errors:
            raise FieldErrors(errors)
        row = ServiceRow(project=service.project, name=service.name, owner=service.owner, kind=service.kind, host=self.host_of(service),
                         body=service.to_dict(), status="stopped", message="", desired_replicas=0, generation=1)
        session.add(row)
        session.flush()
        self._event(session, row.id, "create", actor, f"created by {actor}")
        return row

    def update(self, session, row: ServiceRow, service: Service, actor: str) -> bool:
        """Store an edit; True when the deployed replicas must roll to it."""
        if service.project != row.project:
            raise FieldError("project", f"a service stays in its project ('{row.project}')", f"'{row.project}'")
        if service.name != row.name:
            raise FieldError("name", f"a service keeps its name ('{row.name}'); create another one to change the host", f"'{row.name}'")
        errors = self.check_against_others(session, service, exclude=row.id)
        if errors:
            raise FieldErrors(errors)
        changed = service.to_dict() != row.body
        row.body = service.to_dict()
        row.owner, row.kind, row.host = service.owner, service.kind, self.host_of(service)
        if changed:
            row.generation += 1
            self._event(session, row.id, "edit", actor, f"edited by {actor} (generation {row.generation})")
        return changed and row.status in DEPLOYED

    @staticmethod
    def _event(session, service_id: int, kind: str, actor: str | None, message: str, **detail) -> None:
        session.add(ServiceEventRow(service_id=service_id, kind=kind, actor=actor, message=message, detail=detail, at=datetime.now(UTC)))

    async def record(self, service_id: int, kind: str, actor: str | None, message: str, **detail) -> None:
        def add(session):
            if session.get(ServiceRow, service_id) is not None:
                self._event(session, service_id, kind, actor, message, **detail)

        await self.db.run(add)

    def view(self, session, row: ServiceRow) -> dict:
        data = dict(row.body)
        data.update(
            id=row.id, host=row.host, custom_host=row.body.get("host") or "", status=row.status, message=row.message,
            desired_replicas=row.desired_replicas, generation=row.generation,
            deployed_at=aware(row.deployed_at).isoformat() if row.deployed_at else None,
            created_at=aware(row.created_at).isoformat() if row.created_at else None,
            updated_at=aware(row.updated_at).isoformat() if row.updated_at else None,
            replicas=[self.replica_view(r) for r in self.replica_rows(session, row.id)],
        )
        return data

    @staticmethod
    def replica_rows(session, service_id: int) -> list[ServiceReplicaRow]:
        return list(session.scalars(select(ServiceReplicaRow).where(ServiceReplicaRow.service_id == service_id).order_by(ServiceReplicaRow.index)))

    @staticmethod
    def replica_view(r: ServiceReplicaRow) -> dict:
        return {"index": r.index, "generation": r.generation, "status": r.status, "pid": r.pid, "port": r.port,
                "started_at": aware(r.started_at).isoformat() if r.started_at else None, "restarts": r.restarts,
                "last_exit": r.last_exit, "message": r.message}

    def list(self, session, projects: Collection[str] | None, filters: ListFilters, limit: int, cursor: str | None) -> dict:
        after = decode_cursor("services", cursor, SERVICE_KEY, filters)
        query = select(ServiceRow)
        if filters.q:
            query = query.where(_name_contains(ServiceRow.name, filters.q))
        if filters.status:
            query = query.where(ServiceRow.status == filters.status)
        if filters.creator:
            query = query.where(ServiceRow.owner == filters.creator)
        query = _time_range(query, ServiceRow.created_at, filters)
        rows = _keyset(session, query, (ServiceRow.project, ServiceRow.name, ServiceRow.id), after, limit,
                       projects=_visible(projects, filters), project_column=ServiceRow.project)
        items, next_cursor = _page(rows, limit, "services", lambda r: (r.project, r.name, r.id), filters, lambda r: self.view(session, r))
        return {"services": items, "next_cursor": next_cursor}

    def events(self, session, service_id: int, limit: int, cursor: str | None) -> dict:
        after = decode_cursor("service-events", cursor, (int,))
        query = select(ServiceEventRow).where(ServiceEventRow.service_id == service_id)
        if after is not None:
            query = query.where(ServiceEventRow.id > after[0])
        rows = list(session.scalars(query.order_by(ServiceEventRow.id).limit(limit + 1)))
        page = page_from(rows, limit, "service-events", lambda r: (r.id,))
        return {"events": [{"id": r.id, "at": aware(r.at).isoformat(), "kind": r.kind, "actor": r.actor, "message": r.message,
                            "detail": r.detail or {}} for r in page.items], "next_cursor": page.next_cursor}

    # ------------------------------------------------------------ deploy and stop

    async def deploy(self, service_id: int, actor: str) -> None:
        """Start ``min_replicas`` replicas (a deployed service: roll to its latest edit)."""
        row = await self.db.run(lambda s: _snapshot(s, service_id))
        service = self.parse(row["body"], is_admin=True)
        on_kubernetes = await self._uses_kubernetes(service.project)
        if not on_kubernetes:
            self._check_runnable(service)
        running = row["status"] in DEPLOYED
        count = max(row["desired_replicas"], service.min_replicas) if running else service.min_replicas
        count = min(count, service.max_replicas)
        # this service's own replicas are left out of what is in use: all `count` are asked for
        await self._check_quota(service, count, exclude=service_id)

        def mark(session):
            r = session.get(ServiceRow, service_id)
            r.status, r.message, r.desired_replicas, r.deployed_at = "deploying", "", count, datetime.now(UTC)
            self._event(session, service_id, "deploy", actor, f"deployed by {actor} with {count} replica(s)", replicas=count)

        await self.db.run(mark)
        if on_kubernetes:
            await self._deploy_on_kubernetes(service_id, service, row["generation"], count)
            return
        self._apply(service_id, service, row["generation"], count)

    async def upgrade(self, service_id: int, actor: str) -> None:
        """An edit of a deployed service: roll its replicas to the new generation."""
        row = await self.db.run(lambda s: _snapshot(s, service_id))
        service = self.parse(row["body"], is_admin=True)
        if service_id in self._on_kubernetes:
            await self.record(service_id, "upgrade", actor, f"rolling to generation {row['generation']} on kubernetes", generation=row["generation"])
            await self.db.run(lambda s: setattr(s.get(ServiceRow, service_id), "status", "deploying"))
            await self._deploy_on_kubernetes(service_id, service, row["generation"], max(row["desired_replicas"], service.min_replicas))
            return
        self._check_runnable(service)
        count = min(max(row["desired_replicas"], service.min_replicas), service.max_replicas)
        await self.record(service_id, "upgrade", actor, f"rolling {count} replica(s) to generation {row['generation']}, one at a time",
                          generation=row["generation"])
        self._apply(service_id, service, row["generation"], count)

    async def stop(self, service_id: int, actor: str | None, status: str = "stopped", message: str = "") -> None:
        deployed = self._deployed.get(service_id)
        if service_id in self._on_kubernetes:
            self._on_kubernetes.discard(service_id)
            await self.kubernetes.stop(service_id, deployed[1] if deployed else None)
        self._deployed.pop(service_id, None)
        self._recommendations.pop(service_id, None)

        def mark(session):
            r = session.get(ServiceRow, service_id)
            if r is not None:
                r.status, r.message, r.desired_replicas = status, message, 0
                self._event(session, service_id, "stop" if status == "stopped" else status, actor, message or f"stopped by {actor}")

        await self.db.run(mark)
        await self.routes_changed()  # the gateway stops sending to it before its replicas drain
        await self.supervisor.stop_service(service_id)
        await self._store_replicas(service_id)
        self._usage_changed()

    async def delete(self, service_id: int, actor: str) -> None:
        if service_id in self._on_kubernetes:
            self._on_kubernetes.discard(service_id)
            deployed = self._deployed.get(service_id)
            await self.kubernetes.stop(service_id, deployed[1] if deployed else None)
        self._deployed.pop(service_id, None)
        await self.routes_changed()
        await self.supervisor.stop_service(service_id, drain=False)
        await self._store_replicas(service_id)

        def remove(session):
            session.execute(delete(ServiceReplicaRow).where(ServiceReplicaRow.service_id == service_id))
            session.execute(delete(ServiceEventRow).where(ServiceEventRow.service_id == service_id))
            session.execute(delete(ServiceRow).where(ServiceRow.id == service_id))

        await self.db.run(remove)
        for table in (self._rows_wanted, self._rows_written, self._rows_waiters, self._rows_writers):
            table.pop(service_id, None)
        self._usage_changed()

    async def delete_project(self, project: str) -> None:
        ids = await self.db.run(lambda s: list(s.scalars(select(ServiceRow.id).where(ServiceRow.project == project))))
        for service_id in ids:
            await self.delete(service_id, None)

    def _check_runnable(self, service: Service) -> None:
        if service.is_inference and service.serving_type in BUILTIN_SERVING_TYPES:
            from ...serving import find_serving_venv, resolve_model_path, serving_missing_message

            if find_serving_venv() is None:
                raise FieldError("serving_type", f"'{service.serving_type}' models are served by the platform's model server, "
                                 f"which this installation lacks: {serving_missing_message()}", "'custom' with a command")
            resolve_model_path(service.model_path, str(self.workspace_for(service.owner)))  # a URL or '..' names model_path
            return
        if not service.command:
            raise FieldError("command", "a service on this machine runs a command; an image alone needs Kubernetes",
                             "a command line, e.g. 'python -m http.server $PORT'")

    async def _check_quota(self, service: Service, replicas: int, exclude: int | None = None) -> None:
        if replicas <= 0 or self.project_quota is None:
            return
        quota = await _maybe_await(self.project_quota(service.project)) or Quota()
        if quota == Quota():
            return
        in_use = self.services_in_use(service.project, exclude=exclude)
        if self.others_in_use is not None:
            in_use = in_use + await _maybe_await(self.others_in_use(service.project))
        errors = quota_errors(service.project, quota, in_use, service, replicas)
        if errors:
            raise QuotaExceeded(f"the project's quota cannot hold it: {errors[0]}", errors[0].field, errors=[e.to_dict() for e in errors])

    def services_in_use(self, project: str, exclude: int | None = None) -> Usage:
        return self.in_use_by_project(exclude).get(project, Usage())

    def in_use_by_project(self, exclude: int | None = None) -> dict[str, Usage]:
        """What every replica on this machine holds, per project: starting,
        healthy, restarting and draining ones alike (each holds its limits
        until its process is gone)."""
        used: dict[str, Usage] = {}
        for service_id in list(self.supervisor.replicas):
            if service_id == exclude:
                continue
            for replica in self.supervisor.of(service_id):
                project = replica.service.project
                used[project] = used.get(project, Usage()) + replica_usage(replica.service)
        return used

    def _apply(self, service_id: int, service: Service, generation: int, count: int) -> None:
        self._deployed[service_id] = (generation, service)
        self._spawn(self._reconcile(service_id, service, generation, count))

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reconcile(self, service_id: int, service: Service, generation: int, count: int) -> None:
        try:
            await self.supervisor.reconcile(service_id, service, generation, count)
        except Exception:
            log.exception("service %s: reconciling replicas failed", service_id)
        await self._follow_status(service_id)

    # ------------------------------------------------------------ replicas

    async def _launch(self, replica: Replica) -> Launch:
        """The argv, environment, working directory and account of a replica
        (listening on ``replica.port``)."""
        service = replica.service
        workspace = Path(self.workspace_for(service.owner))
        run_as = None
        loop = asyncio.get_running_loop()
        if self.unix:
            entry = await loop.run_in_executor(None, self.unix.ensure_account, service.owner, workspace)
            gid = await loop.run_in_executor(None, self.unix.add_member, service.project, service.owner)
            run_as = RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid, [entry.pw_gid, gid])
        else:
            workspace.mkdir(parents=True, exist_ok=True)
        env = base_env()
        env.update(service.env)
        env.update(inference_env(service, "local"))
        env.update({"HOME": str(workspace), "CUBELAB_SERVICE": service.name, "CUBELAB_PROJECT": service.project})
        if run_as:
            env.update({"USER": run_as.name, "LOGNAME": run_as.name})
        if not service.has_gpu:
            # GPU '0' hides every card, as for tasks; a service with cards sees the machine's
            env["NVIDIA_VISIBLE_DEVICES"] = "none"
            env["CUDA_VISIBLE_DEVICES"] = ""
        health = None
        if service.is_inference and service.serving_type in BUILTIN_SERVING_TYPES:
            argv, serving_env, health = await loop.run_in_executor(None, self._model_server, replica, str(workspace), run_as)
            env.update(serving_env)
        else:
            argv = [*service.command, *service.args]
        cwd = service.workdir if service.workdir and Path(service.workdir).is_dir() else str(workspace)
        return Launch(argv, env, cwd, run_as, health)

    def _model_server(self, replica: Replica, workspace: str, run_as: RunAs | None):
        """A built-in model server's command line, environment and health check;
        its settings files are written into the replica's own folder, which
        belongs to the owner (the server writes its own files there too)."""
        from ...serving import find_serving_venv, health_check, replica_command, serving_missing_message, write_settings

        service = replica.service
        venv = find_serving_venv()
        if venv is None:
            raise RuntimeError(serving_missing_message())
        folder = replica.folder or self.supervisor.folder(replica.service_id, replica.index)
        folder.parent.mkdir(parents=True, exist_ok=True)
        if self.unix:
            # the owner passes through the platform's folders to its own, and lists none of them
            for parent in (folder.parent.parent, folder.parent):
                os.chmod(parent, 0o711)
        folder.mkdir(mode=0o700, exist_ok=True)
        argv, env, files = replica_command(service, replica.port, settings_dir=str(folder), workspace=workspace, serving_venv=str(venv))
        write_settings(folder, files)
        if run_as is not None:
            for path in (folder, *folder.iterdir()):
                os.chown(path, run_as.uid, run_as.gid)
        health = service.health or parse_health(health_check(service.model_name, service.ports[0]), "health")
        return argv, env, health

    async def _replica_changed(self, replica: Replica) -> None:
        await self._store_replicas(replica.service_id)
        if replica.status in ("restarting",) and replica.restarts:
            await self.record(replica.service_id, "restart", None, f"replica {replica.index}: {replica.message}", replica=replica.index)
        await self.routes_changed()
        self._usage_changed()
        await self._follow_status(replica.service_id)

    async def _store_replicas(self, service_id: int) -> None:
        """Bring the service's replica rows to what the supervisor holds now.

        Writes of one service are made by one writer task, one at a time, each
        from a snapshot taken when it starts, so rows never go back to an older
        state: database calls run on a pool of threads and could otherwise land
        out of order (a slot number reused by a new replica right after the old
        one's row was deleted, or a late write of a stopped replica). Returns
        once a write that started after this call has finished; the writer is
        not cancelled with the caller."""
        wanted = self._rows_wanted[service_id] = self._rows_wanted.get(service_id, 0) + 1
        waiter = asyncio.get_running_loop().create_future()
        self._rows_waiters.setdefault(service_id, []).append((wanted, waiter))
        writer = self._rows_writers.get(service_id)
        if writer is None or writer.done():
            self._rows_writers[service_id] = asyncio.get_running_loop().create_task(self._write_replicas(service_id))
        await waiter

    async def _write_replicas(self, service_id: int) -> None:
        while self._rows_written.get(service_id, 0) < self._rows_wanted.get(service_id, 0):
            target = self._rows_wanted[service_id]
            snapshot = [replica.view() for replica in self.supervisor.of(service_id)]
            try:
                await self.db.run(_sync_replica_rows, service_id, snapshot)
            except Exception:
                log.exception("service %s: storing its replicas failed", service_id)
            self._rows_written[service_id] = target
            waiting = []
            for wanted, waiter in self._rows_waiters.get(service_id, []):
                if wanted <= target:
                    if not waiter.done():
                        waiter.set_result(None)
                else:
                    waiting.append((wanted, waiter))
            self._rows_waiters[service_id] = waiting

    def routes(self) -> list[Route]:
        """The gateway's routes now: one per host of a deployed service with healthy replicas."""
        # older services first: during a takeover the older one keeps the shared host until it goes offline
        deployed = sorted(self._deployed.items())
        addresses = {service.name: self.replica_addresses(sid) for sid, (_gen, service) in deployed}
        return gateway_routes([service for _sid, (_gen, service) in deployed], addresses, self.domain)

    async def routes_changed(self) -> bool:
        """Hand the current routes to ``on_routes_changed`` and wait until the
        gateway routes by them: False when it refused them (logged; the
        gateway keeps its previous routes). Calls made while a reload is under
        way share the next one, which reads the replicas after all of them."""
        self._routes_asked += 1
        ticket = self._routes_asked
        async with self._routes_lock:
            if self._routes_done >= ticket:
                return self._routes_ok
            covered = self._routes_asked
            ok = True
            if self.on_routes_changed is not None:
                try:
                    await self.on_routes_changed(self.routes())
                except Exception:
                    log.exception("the gateway did not take the new routes")
                    ok = False
            self._routes_done, self._routes_ok = covered, ok
            return ok

    def _routes_changed(self) -> None:
        """:meth:`routes_changed` in the background, for callers that need not wait."""
        self._spawn(self.routes_changed())

    def _usage_changed(self) -> None:
        if self.on_usage_changed is not None:
            try:
                self.on_usage_changed()
            except Exception:
                log.exception("publishing the services' usage failed")

    async def _follow_status(self, service_id: int) -> None:
        """``running`` once every wanted replica of the current generation is
        healthy; then an older service on the same host goes offline."""
        deployed = self._deployed.get(service_id)
        if deployed is None:
            return
        generation, service = deployed
        healthy = [r for r in self.supervisor.healthy(service_id) if r.generation == generation]

        def update(session) -> tuple[bool, list[tuple[int, str]]]:
            row = session.get(ServiceRow, service_id)
            if row is None or row.status not in DEPLOYED:
                return False, []
            want = row.desired_replicas
            if row.status == "deploying" and want and len(healthy) >= want:
                row.status = "running"
                self._event(session, service_id, "running", None, f"{len(healthy)} replica(s) healthy")
                older = session.scalars(select(ServiceRow).where(ServiceRow.host == row.host, ServiceRow.id != row.id,
                                                                 ServiceRow.status.in_(DEPLOYED))).all()
                return True, [(o.id, o.name) for o in older]
            return False, []

        became_running, older = await self.db.run(update)
        if became_running:
            await self.routes_changed()
        if older:
            # not awaited here: this runs inside a replica's health check, and the
            # older service's replicas take drain_seconds to stop
            self._spawn(self._take_over(service_id, service, older))

    async def _take_over(self, service_id: int, service: Service, older: list[tuple[int, str]]) -> None:
        """The older services on this one's host go offline; the gateway hands
        the host to this one before their replicas drain (:meth:`stop`)."""
        for old_id, old_name in older:
            try:
                await self.record(service_id, "takeover", None, f"took host {self.host_of(service)} over from '{old_name}'", previous=old_name)
                await self.stop(old_id, None, status="offline", message=f"taken offline: '{service.name}' took its host over once healthy")
            except Exception:
                log.exception("service %s: taking service %s offline failed", service_id, old_id)

    def replica_addresses(self, service_id: int) -> list[str]:
        return [f"127.0.0.1:{r.port}" for r in self.supervisor.healthy(service_id)]

    def running_services(self) -> list[tuple[int, Service, int, bool]]:
        """Every deployed service: (id, service, replicas on this machine, deployed on Kubernetes)."""
        return [(sid, svc, len(self.supervisor.of(sid)), sid in self._on_kubernetes)
                for sid, (_gen, svc) in self._deployed.items()]

    def deployed_services(self) -> dict[int, Service]:
        return {sid: svc for sid, (_gen, svc) in self._deployed.items()}

    # ------------------------------------------------------------ start, autoscaler, shutdown

    async def start(self) -> None:
        """Kill replicas left by a control plane that died, start every deployed
        service again, then scale autoscaled ones until cancelled."""
        def leftovers(session) -> list[dict]:
            ext = [r.external_id for r in session.scalars(select(ServiceReplicaRow)) if r.external_id]
            session.execute(delete(ServiceReplicaRow))
            return ext

        for pid in leftover_processes(await self.db.run(leftovers)):
            await kill_group(pid, self.kill_grace)
        rows = await self.db.run(lambda s: [_snapshot(s, r.id) for r in s.scalars(select(ServiceRow).where(ServiceRow.status.in_(DEPLOYED)))])
        for row in rows:
            try:
                service = self.parse(row["body"], is_admin=True)
                if await self._uses_kubernetes(service.project):
                    # the objects are still there: apply again (a no-op when unchanged) and follow
                    await self._deploy_on_kubernetes(row["id"], service, row["generation"], max(row["desired_replicas"], service.min_replicas))
                    continue
                self._check_runnable(service)
            except (FieldError, FieldErrors) as exc:
                await self.stop(row["id"], None, status="failed", message=f"cannot start again: {exc}")
                continue
            await self.record(row["id"], "deploy", None, "started again with the control plane")
            self._apply(row["id"], service, row["generation"], max(row["desired_replicas"], service.min_replicas))
        while True:
            await asyncio.sleep(self.autoscale_interval)
            try:
                await self.autoscale_once()
            except Exception:
                log.exception("autoscaling pass failed")

    async def autoscale_once(self) -> None:
        now = asyncio.get_running_loop().time()
        for service_id, (generation, service) in list(self._deployed.items()):
            if not service.autoscaled or not service.hpa:
                continue
            replicas = [r for r in self.supervisor.healthy(service_id) if r.generation == generation]
            current = await self.db.run(lambda s, sid=service_id: (s.get(ServiceRow, sid).desired_replicas if s.get(ServiceRow, sid) else 0))
            if not current or len(replicas) < current:
                continue  # scaling from a service still starting would measure too few replicas
            cpu, mem = [], []
            for replica in replicas:
                cores, rss = self.supervisor.sample(replica)
                if cores is not None and service.cpu.request > 0:
                    cpu.append(100.0 * cores / float(service.cpu.request))
                if rss is not None and service.memory.request > 0:
                    mem.append(100.0 * rss / service.memory.request)
            metrics = {"cpu": sum(cpu) / len(cpu) if cpu else None, "mem": sum(mem) / len(mem) if mem else None, "gpu": None}
            targets = {name: float(value) for name, value in service.hpa.items()}
            if all(metrics.get(name) is None for name in targets):
                continue
            wanted = desired_replicas(current, metrics, targets, service.min_replicas, service.max_replicas)
            recs = self._recommendations.setdefault(service_id, [])
            recs.append(Recommendation(now, wanted))
            self._recommendations[service_id] = prune(recs, now, max(self.scale_up_window, self.scale_down_window))
            decision = stabilize(current, self._recommendations[service_id], now, up_window=self.scale_up_window,
                                 down_window=self.scale_down_window, cooldown=self.scale_cooldown,
                                 last_scaled_at=self._last_scaled.get(service_id), why=describe_metrics(metrics, targets))
            if decision.changed and decision.replicas > current:
                try:
                    await self._check_quota(service, decision.replicas - current, exclude=None)
                except QuotaExceeded as exc:
                    await self._hold(service_id, f"scale up to {decision.replicas} held: {exc.message}", key="quota")
                    continue
            if not decision.changed:
                if wanted != current:
                    await self._hold(service_id, decision.reason)
                else:
                    self._held.pop(service_id, None)
                continue
            self._held.pop(service_id, None)
            self._last_scaled[service_id] = now

            def scale(session, sid=service_id, to=decision.replicas):
                row = session.get(ServiceRow, sid)
                if row is not None:
                    row.desired_replicas = to

            await self.db.run(scale)
            await self.record(service_id, "scale", None, decision.reason, replicas=decision.replicas, previous=current,
                              metrics={k: (round(v, 1) if v is not None else None) for k, v in metrics.items() if k in targets})
            self._apply(service_id, service, generation, decision.replicas)

    async def _hold(self, service_id: int, reason: str, key: str | None = None) -> None:
        """A held scaling change is recorded once, not at every pass (``key``:
        what makes two holds the same; default: the reason up to its colon)."""
        kind = key or reason.split(":", 1)[0]
        if self._held.get(service_id) == kind:
            return
        self._held[service_id] = kind
        await self.record(service_id, "scale-held", None, reason)

    async def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._kubernetes is not None:
            await self._kubernetes.close()
        await self.supervisor.close()


def _sync_replica_rows(session, service_id: int, replicas: list[dict]) -> None:
    """Make the service's replica rows the given views: one row per slot."""
    if session.get(ServiceRow, service_id) is None:
        return
    rows = {r.index: r for r in session.scalars(select(ServiceReplicaRow).where(ServiceReplicaRow.service_id == service_id))}
    wanted = {r["index"]: r for r in replicas}
    for index, row in rows.items():
        if index not in wanted:
            session.delete(row)
    session.flush()
    for index, view in wanted.items():
        row = rows.get(index)
        if row is None:
            row = ServiceReplicaRow(service_id=service_id, index=index)
            session.add(row)
        row.generation, row.status, row.pid, row.external_id = view["generation"], view["status"], view["pid"], view["external_id"]
        row.port, row.started_at, row.restarts, row.last_exit = view["port"], view["started_at"], view["restarts"], view["last_exit"]
        row.message = view["message"]


def _snapshot(session, service_id: int) -> dict:
    row = session.get(ServiceRow, service_id)
    if row is None:
        raise NotFound.of("service", str(service_id))
    return {"id": row.id, "body": dict(row.body), "status": row.status, "generation": row.generation,
            "desired_replicas": row.desired_replicas, "project": row.project}
