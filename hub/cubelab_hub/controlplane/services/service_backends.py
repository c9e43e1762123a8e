"""Where a service's replicas run: this machine's replica supervisor, or a
Kubernetes cluster.

:class:`ServiceBackend` is what the :class:`~.services.ServiceManager` asks of
either: deploy a generation of a service with a replica count, stop it, read a
replica's log. A project whose ``engine`` setting (or, without one, the
platform's ``pipeline_engine``) is ``kubernetes`` gets its services on
Kubernetes too, in its ``cluster`` and ``namespace``: one setting says where a
project's work runs (:func:`backend_name`).

- :class:`LocalServiceBackend`: the :class:`~.replicas.ReplicaSupervisor`
  as it is; status reaches the manager through the supervisor's own
  ``on_change``.
- :class:`KubernetesServiceBackend`: the objects of :mod:`cubelab_hub.kube.services`
  server-side applied in the project's namespace of the project's cluster
  (objects the service no longer needs, an HPA after ``max_replicas`` came down
  to ``min_replicas``, are deleted), its Deployment watched, each change
  reported to ``on_status`` with the Deployment's state and one line per pod;
  logs are the pods' ``service`` container's. Only the routing owner of a host
  has its ``VirtualService`` (two on one host would both claim it): the manager
  says who owns it. Before the objects, the project's registry pull Secrets
  are written into the namespace (``pull_secrets``, the control plane's
  :class:`~.pull_secrets.PullSecrets`) and the pods list them in
  ``imagePullSecrets``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace

import aiohttp
from traitlets import Dict, Float, List, Unicode
from traitlets.config import LoggingConfigurable

from ...domain.errors import FieldError, NotFound
from ...domain.projects import ProjectSettings
from ...domain.services import Service, workload_name
from ...kube.client import KubernetesApiError
from ...kube.clusters import ClusterAccess, Clusters, cluster_access, connect
from ...kube.service_client import RESOURCES, ServiceClient, resource_of
from ...kube.service_status import DeploymentState, PodState, deployment_state, pod_state
from ...kube.services import CONTAINER_NAME, ServiceContext, service_objects
from .replicas import ReplicaSupervisor

log = logging.getLogger("cubelab.services")

__all__ = ["KubernetesServiceBackend", "LocalServiceBackend", "ServiceBackend", "backend_name", "objects_for"]

LOCAL, KUBERNETES = "local", "kubernetes"


def backend_name(project: ProjectSettings, default_engine: str) -> str:
    """Where a project's services run: on Kubernetes when its runs do."""
    return KUBERNETES if (project.engine or default_engine) == KUBERNETES else LOCAL


async def _maybe_await(value):
    return await value if inspect.isawaitable(value) else value


class ServiceBackend:
    """What the service manager asks of the place a service runs (a plain base:
    the Kubernetes one is also a traitlets class, whose metaclass ABC's would clash with)."""

    name: str

    async def deploy(self, service_id: int, service: Service, generation: int, count: int, *, owns_host: bool = True) -> None:
        """Run ``count`` replicas of ``service`` at ``generation`` (an edit rolls them)."""
        raise NotImplementedError

    async def stop(self, service_id: int, service: Service | None) -> None:
        """Stop every replica and remove what the service left."""
        raise NotImplementedError

    def logs(self, service_id: int, replica: str, *, follow: bool = False) -> AsyncIterator[str]:
        """A replica's log, line by line; :class:`NotFound` for an unknown replica."""
        raise NotImplementedError

    async def close(self) -> None:
        """The control plane stops."""


class LocalServiceBackend(ServiceBackend):
    """Replicas as processes on this machine: the replica supervisor, unchanged."""

    name = LOCAL

    def __init__(self, supervisor: ReplicaSupervisor):
        self.supervisor = supervisor

    async def deploy(self, service_id: int, service: Service, generation: int, count: int, *, owns_host: bool = True) -> None:
        await self.supervisor.reconcile(service_id, service, generation, count)

    async def stop(self, service_id: int, service: Service | None) -> None:
        await self.supervisor.stop_service(service_id)

    async def logs(self, service_id: int, replica: str, *, follow: bool = False) -> AsyncIterator[str]:
        if not replica.isdigit():
            raise NotFound.of("replica", replica)
        path = self.supervisor.log_path(service_id, int(replica))
        if not path.exists():
            raise NotFound.of("replica", replica)
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                yield line

    async def close(self) -> None:
        await self.supervisor.close()


# ---------------------------------------------------------------- Kubernetes


def objects_for(service: Service, ctx: ServiceContext, count: int, *, owns_host: bool) -> list[dict]:
    """The objects to apply: the builders', with the manager's replica count
    (unless an autoscaler owns it) and without the ``VirtualService`` when
    another service owns the host."""
    objects = service_objects(service, ctx)
    kinds = {o["kind"] for o in objects}
    for obj in objects:
        if obj["kind"] == "Deployment" and "HorizontalPodAutoscaler" not in kinds and "replicas" in obj["spec"] \
                and ctx.environment_of(service) != "debug":
            obj["spec"]["replicas"] = count
    if not owns_host:
        objects = [o for o in objects if o["kind"] != "VirtualService"]
    return objects


def _selector(service: Service, environment: str) -> str:
    return f"cubelab.io/project={service.project},cubelab.io/service={service.name},cubelab.io/environment={environment}"


@dataclass
class _Placed:
    """Where a deployed service's objects are."""

    cluster: str
    namespace: str
    service: Service
    follower: asyncio.Task | None = None
    state: DeploymentState | None = None


StatusCallback = Callable[[int, DeploymentState, list[PodState]], Awaitable[None] | None]
# (client, project, namespace) -> names of the project's registry pull Secrets, written into the namespace
PullSecretWriter = Callable[[ServiceClient, str, str], Awaitable[list[str]]]


class KubernetesServiceBackend(LoggingConfigurable, ServiceBackend):
    """Services as Deployments, Services, HPAs and Istio routes in each
    project's cluster and namespace."""

    name = KUBERNETES

    namespace = Unicode(
        "service",
        help="Namespace of the services of projects without a 'namespace' setting (Cube Studio keeps services in 'service').",
    ).tag(config=True)
    gateways = List(
        Unicode(), ["istio-system/ingressgateway"],
        help="The Istio gateways services' hosts are served on (namespace/name).",
    ).tag(config=True)
    cluster_domain = Unicode("cluster.local", help="The clusters' DNS domain, in the routes' destination hosts.").tag(config=True)
    image_pull_policy = Unicode("IfNotPresent", help="imagePullPolicy of services' containers.").tag(config=True)
    serving_images = Dict(
        {}, help="The model-server image of each built-in serving type ('sklearn', 'xgboost', ...), for inference services "
        "that name no image, e.g. {'sklearn': 'seldonio/mlserver:1.6.1-sklearn'}.",
    ).tag(config=True)
    retry_delay = Float(5.0, help="Seconds before watching a Deployment again after the API failed.").tag(config=True)
    watch_timeout = Float(300.0, help="Seconds a Deployment watch stays open before it is renewed.").tag(config=True)

    def __init__(self, domain: str, *, clusters: Clusters | Mapping[str, ServiceClient | ClusterAccess],
                 project_settings: Callable[[str], Awaitable[ProjectSettings] | ProjectSettings],
                 on_status: StatusCallback | None = None, service_named: Callable[[str], Service | None] | None = None,
                 default_cluster: str = "default", pull_secrets: PullSecretWriter | None = None, **kwargs):
        """``clusters``: the platform's :class:`Clusters`, or clients or access
        settings per cluster name; ``project_settings``: project -> its
        settings (may be a coroutine); ``on_status``: called with the service
        id, the Deployment's state and its pods at each change;
        ``service_named``: a service by name (the ports of split and mirror targets);
        ``pull_secrets``: writes the project's registry pull Secrets (none: pods list none)."""
        super().__init__(**kwargs)
        self.domain = domain
        if isinstance(clusters, Clusters):
            default_cluster = clusters.default
            clusters = {name: clusters.access(name) for name in clusters.names()}
        self.default_cluster = default_cluster
        # a setting's plain dict ({} = in-cluster or the default kubeconfig) becomes its access
        self._access = {name: cluster_access(name, value) if value is None or isinstance(value, dict) else value
                        for name, value in clusters.items()}
        self._clients = {name: c for name, c in self._access.items() if isinstance(c, ServiceClient)}
        self._owned: list[ServiceClient] = []
        self.project_settings = project_settings
        self.on_status = on_status
        self.service_named = service_named or (lambda name: None)
        self.pull_secrets = pull_secrets
        self._placed: dict[int, _Placed] = {}

    # ------------------------------------------------------------ where

    async def _client(self, cluster: str) -> ServiceClient:
        if cluster in self._clients:
            return self._clients[cluster]
        access = self._access.get(cluster)
        if access is None:
            raise FieldError("cluster", f"'{cluster}' is not a configured cluster", "one of " + (", ".join(sorted(self._access)) or "none"))
        client = ServiceClient(await connect(access))
        self._clients[cluster] = client
        self._owned.append(client)
        return client

    def context(self, service: Service, project: ProjectSettings) -> ServiceContext:
        cluster = project.cluster or self.default_cluster
        targets = [*service.canary, *([service.mirror[0]] if service.mirror else [])]
        ports = {}
        for name in targets:
            target = self.service_named(name)
            if target is not None and target.ports:
                ports[name] = target.ports[0]
        return ServiceContext(
            namespace=project.namespace or self.namespace, domain=self.domain, project=project, area=cluster,
            gateways=tuple(self.gateways), cluster_domain=self.cluster_domain, image_pull_policy=self.image_pull_policy,
            target_ports=ports, serving_images=dict(self.serving_images),
        )

    async def _placement(self, service_id: int, service: Service | None) -> tuple[_Placed, ServiceClient] | None:
        placed = self._placed.get(service_id)
        if placed is None:
            if service is None:
                return None
            project = await _maybe_await(self.project_settings(service.project)) or ProjectSettings()
            placed = _Placed(project.cluster or self.default_cluster, project.namespace or self.namespace, service)
        return placed, await self._client(placed.cluster)

    # ------------------------------------------------------------ deploy and stop

    async def deploy(self, service_id: int, service: Service, generation: int, count: int, *, owns_host: bool = True) -> None:
        project = await _maybe_await(self.project_settings(service.project)) or ProjectSettings()
        ctx = self.context(service, project)
        objects = objects_for(service, ctx, count, owns_host=owns_host)  # a FieldError (no image) before anything is sent
        cluster = project.cluster or self.default_cluster
        client = await self._client(cluster)
        previous = self._placed.get(service_id)
        if previous is not None and (previous.cluster, previous.namespace) != (cluster, ctx.namespace):
            await self.stop(service_id, previous.service)  # the project moved: nothing left behind in the old place
        if self.pull_secrets is not None:
            # the Secrets exist before the Deployment whose pods list them
            names = await self.pull_secrets(client, service.project, ctx.namespace)
            if names:
                ctx = replace(ctx, image_pull_secrets=tuple(dict.fromkeys([*ctx.image_pull_secrets, *names])))
                objects = objects_for(service, ctx, count, owns_host=owns_host)
        for obj in objects:
            await client.apply(obj)
        await self._prune(client, ctx.namespace, service, objects)
        placed = self._placed.get(service_id)
        if placed is None:
            placed = self._placed[service_id] = _Placed(cluster, ctx.namespace, service)
        placed.service = service
        if placed.follower is None or placed.follower.done():
            placed.follower = asyncio.get_running_loop().create_task(self._follow(service_id, placed, client))

    async def _prune(self, client: ServiceClient, namespace: str, service: Service, keep: list[dict]) -> None:
        """Delete the service's objects (in this environment) that ``keep`` does not name."""
        wanted = {(resource_of(o), o["metadata"]["name"]) for o in keep}
        for resource in reversed(RESOURCES):
            for found in await client.list(resource, namespace, _selector(service, service.environment)):
                if (resource, found["metadata"]["name"]) not in wanted:
                    await client.delete(resource, namespace, found["metadata"]["name"])

    async def stop(self, service_id: int, service: Service | None) -> None:
        """Delete every object of the service: routing first, the Deployment last."""
        where = await self._placement(service_id, service)
        placed = self._placed.pop(service_id, None)
        if placed is not None and placed.follower is not None:
            placed.follower.cancel()
            await asyncio.gather(placed.follower, return_exceptions=True)
        if where is None:
            return
        placement, client = where
        await self._prune(client, placement.namespace, placement.service, [])

    # ------------------------------------------------------------ status

    def state(self, service_id: int) -> DeploymentState | None:
        placed = self._placed.get(service_id)
        return placed.state if placed is not None else None

    async def pods(self, service_id: int, service: Service | None = None) -> list[PodState]:
        where = await self._placement(service_id, service)
        if where is None:
            return []
        placement, client = where
        app = workload_name(placement.service.name, placement.service.environment)
        pods = await client.list_pods(placement.namespace, f"app={app}")
        return [pod_state(p) for p in sorted(pods, key=lambda p: p["metadata"]["name"])]

    async def _follow(self, service_id: int, placed: _Placed, client: ServiceClient) -> None:
        name = workload_name(placed.service.name, placed.service.environment)
        while True:
            try:
                async for deployment in client.watch_deployment(placed.namespace, name, timeout_seconds=int(self.watch_timeout)):
                    placed.state = deployment_state(deployment)
                    pods = await self.pods(service_id) if deployment is not None else []
                    if self.on_status is not None:
                        try:
                            await _maybe_await(self.on_status(service_id, placed.state, pods))
                        except Exception:
                            log.exception("service %s: storing its status failed", service_id)
            except asyncio.CancelledError:
                raise
            except (KubernetesApiError, aiohttp.ClientError, TimeoutError, ValueError) as exc:
                log.warning("service %s: watching Deployment %s/%s: %s", service_id, placed.namespace, name, exc)
            await asyncio.sleep(self.retry_delay)

    # ------------------------------------------------------------ logs

    async def logs(self, service_id: int, replica: str, *, follow: bool = False, service: Service | None = None) -> AsyncIterator[str]:
        """The log of pod ``replica`` of the service (only its own pods: the
        name is checked against the service's pods, not trusted)."""
        where = await self._placement(service_id, service)
        if where is None:
            raise NotFound.of("replica", replica)
        placement, client = where
        app = workload_name(placement.service.name, placement.service.environment)
        names = {p["metadata"]["name"] for p in await client.list_pods(placement.namespace, f"app={app}")}
        if replica not in names:
            raise NotFound.of("replica", replica)
        async for line in client.pod_log(placement.namespace, replica, container=CONTAINER_NAME, follow=follow):
            yield line

    async def close(self) -> None:
        """Stop watching (the objects stay; a new control plane follows them again)."""
        followers = [p.follower for p in self._placed.values() if p.follower is not None]
        for task in followers:
            task.cancel()
        await asyncio.gather(*followers, return_exceptions=True)
        self._placed.clear()
        for client in self._owned:
            await client.close()
        self._owned.clear()
        self._clients = {name: c for name, c in self._access.items() if isinstance(c, ServiceClient)}
