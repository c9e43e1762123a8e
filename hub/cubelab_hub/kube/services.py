"""Pure builders for a service's Kubernetes objects.

A :class:`~cubelab_hub.domain.services.Service` becomes, in its project's
namespace (Cube Studio's layout, manual section 九):

- a ``Deployment`` named after the service (``debug-``/``test-`` in front for
  those environments), rolling one replica at a time (``maxUnavailable: 0``,
  ``maxSurge: 1``) with readiness and liveness probes from the health check,
  so an edit never takes a healthy replica away before its successor is ready;
- a ``Service`` of the same name, and ``<name>-external`` on the project's
  ``service_external_ip`` addresses (prod only);
- a ``HorizontalPodAutoscaler`` (``autoscaling/v2`` only) when min and max
  replicas differ (prod only);
- an Istio ``VirtualService`` for the service's host, with the canary split as
  weighted routes and the mirror as ``mirror`` + ``mirrorPercentage`` (prod
  only: the split and mirror targets are other services' prod objects), and a
  ``DestinationRule``.

Data in, plain dicts out, every call fresh: no Kubernetes client here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..domain.errors import FieldError
from ..domain.formats import merge_mounts
from ..domain.projects import ProjectSettings
from ..domain.services import (
    BUILTIN_SERVING_TYPES,
    IMAGE_ACCEPTED,
    HttpHealthCheck,
    Service,
    ShellHealthCheck,
    fit_name,
    inference_env,
    service_host,
    workload_name,
)
from .objects import DEFAULT_ID_RANGE, RESTRICTED, node_selector_for, resources_for, security_contexts_for, volumes_and_mounts

__all__ = [
    "GPU_UTILIZATION_METRIC",
    "ServiceContext",
    "deployment_for",
    "destination_rule_for",
    "external_service_for",
    "hpa_for",
    "service_for",
    "service_labels",
    "service_objects",
    "virtual_service_for",
]

# NVIDIA's DCGM exporter reports each GPU's utilisation (0-100) as this metric;
# prometheus-adapter serves it to the HPA per pod (a "Pods" metric), so a
# 'gpu:50%' rule asks for an average of 50 over the service's pods.
GPU_UTILIZATION_METRIC = "DCGM_FI_DEV_GPU_UTIL"
# Kubernetes' own default when an HPA names no metric, written out so the
# object says what it does.
DEFAULT_CPU_TARGET = 80
CONTAINER_NAME = "service"
# The downward-API values Cube Studio gives inference pods (manual, section 九).
DOWNWARD_ENV = (
    ("K8S_NODE_NAME", "spec.nodeName"),
    ("K8S_POD_NAMESPACE", "metadata.namespace"),
    ("K8S_POD_IP", "status.podIP"),
    ("K8S_HOST_IP", "status.hostIP"),
    ("K8S_POD_NAME", "metadata.name"),
)
_HPA_RESOURCES = {"cpu": "cpu", "mem": "memory"}


@dataclass(frozen=True)
class ServiceContext:
    """Where and how a service is deployed: what the project and the platform
    decide, not the service's owner.

    ``area``: the ``KUBEFLOW_AREA`` of inference pods (the cluster's name).
    ``gateways``: the Istio gateways the host is served on. ``target_ports``:
    the routed port of each canary or mirror target (omitted when unknown: Istio
    then needs the target to have one port). ``external_ports``: the port each
    container port gets on the external IPs (addresses are shared by the
    project's services, so the caller hands out distinct ones; default: the same
    port). ``serving_images``: the model-server image of each built-in serving
    type, used when an inference service names no image.
    """

    namespace: str
    domain: str
    project: ProjectSettings = field(default_factory=ProjectSettings)
    environment: str | None = None  # None: the service's own
    area: str = ""
    gateways: tuple[str, ...] = ("istio-system/ingressgateway",)
    cluster_domain: str = "cluster.local"
    image_pull_policy: str = "IfNotPresent"
    image_pull_secrets: tuple[str, ...] = ()
    security_policy: object = RESTRICTED
    id_range: tuple[int, int] = DEFAULT_ID_RANGE
    gpu_resource_map: Mapping[str, str] | None = None
    gpu_metric: str = GPU_UTILIZATION_METRIC
    target_ports: Mapping[str, int] = field(default_factory=dict)
    external_ports: Mapping[int, int] = field(default_factory=dict)
    serving_images: Mapping[str, str] = field(default_factory=dict)

    def environment_of(self, service: Service) -> str:
        return self.environment or service.environment


def service_labels(service: Service, environment: str) -> dict[str, str]:
    """Labels of every object and pod of ``service`` in ``environment``;
    ``app`` (the object name) is the selector, as in Cube Studio and Istio."""
    return {
        "app": workload_name(service.name, environment),
        "cubelab.io/project": service.project,
        "cubelab.io/service": service.name,
        "cubelab.io/environment": environment,
        "cubelab.io/owner": service.owner,
    }


def _metadata(service: Service, ctx: ServiceContext, name: str | None = None) -> dict:
    environment = ctx.environment_of(service)
    return {
        "name": name or workload_name(service.name, environment),
        "namespace": ctx.namespace,
        "labels": service_labels(service, environment),
    }


def _fqdn(name: str, ctx: ServiceContext) -> str:
    return f"{name}.{ctx.namespace}.svc.{ctx.cluster_domain}"


# ---------------------------------------------------------------- Deployment


def _image(service: Service, ctx: ServiceContext) -> str:
    if service.image:
        return service.image
    if service.is_inference and service.serving_type in BUILTIN_SERVING_TYPES and service.serving_type in ctx.serving_images:
        return ctx.serving_images[service.serving_type]
    raise FieldError("image", "a service on Kubernetes runs an image, and none is given", IMAGE_ACCEPTED)


def _probe_action(health: HttpHealthCheck | ShellHealthCheck) -> dict:
    if isinstance(health, HttpHealthCheck):
        return {"httpGet": {"path": health.path, "port": health.port}}
    return {"exec": {"command": ["sh", "-c", health.command]}}


def _probes(service: Service) -> dict:
    if service.health is None:
        return {}
    # Readiness gates traffic and the rolling update; liveness restarts a replica
    # that stopped answering, after a longer grace so a slow model load is not killed.
    return {
        "readinessProbe": {**_probe_action(service.health), "periodSeconds": 5, "timeoutSeconds": 3, "failureThreshold": 3},
        "livenessProbe": {
            **_probe_action(service.health),
            "initialDelaySeconds": 30,
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 6,
        },
    }


def _env(service: Service, ctx: ServiceContext, resource_env: dict[str, str]) -> list[dict]:
    environment = ctx.environment_of(service)
    values = dict(service.env)
    values.update(inference_env(service, ctx.area, environment))
    values.update(resource_env)  # the platform's values win
    env: list[dict] = [{"name": key, "value": value} for key, value in values.items()]
    if service.is_inference:
        env.extend({"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}} for name, path in DOWNWARD_ENV)
    return env


@dataclass(frozen=True)
class _Placement:
    node_selector: dict[str, str]
    org: list[str]


def deployment_for(service: Service, ctx: ServiceContext) -> dict:
    """The service's ``Deployment`` (``apps/v1``)."""
    environment = ctx.environment_of(service)
    meta = _metadata(service, ctx)
    resources, resource_env = resources_for(service.cpu, service.memory, service.gpu, dict(ctx.gpu_resource_map) if ctx.gpu_resource_map else None)
    placement = _Placement({**ctx.project.node_selector, **service.node_selector}, list(ctx.project.org))
    node_selector, affinity = node_selector_for("service", placement, service.gpu)
    volumes, mounts = volumes_and_mounts(merge_mounts(list(ctx.project.volume_mounts), list(service.volume_mounts)), service.owner)
    pod_security, container_security = security_contexts_for(ctx.security_policy, service.owner, ctx.id_range)

    container: dict = {"name": CONTAINER_NAME, "image": _image(service, ctx), "imagePullPolicy": ctx.image_pull_policy}
    if service.command:
        container["command"] = list(service.command)
    if service.args:
        container["args"] = list(service.args)
    if service.workdir:
        container["workingDir"] = service.workdir
    container["ports"] = [{"name": _port_name(p), "containerPort": p, "protocol": "TCP"} for p in service.ports]
    env = _env(service, ctx, resource_env)
    if env:
        container["env"] = env
    if resources:
        container["resources"] = resources
    if mounts:
        container["volumeMounts"] = mounts
    if environment != "debug":  # a debug replica is for looking inside, not to be restarted
        container.update(_probes(service))
    if container_security:
        container["securityContext"] = container_security

    pod_spec: dict = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "containers": [container],
        "nodeSelector": node_selector,
    }
    if affinity:
        pod_spec["affinity"] = affinity
    if volumes:
        pod_spec["volumes"] = volumes
    if pod_security:
        pod_spec["securityContext"] = pod_security
    if ctx.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": name} for name in ctx.image_pull_secrets]

    spec: dict = {
        "selector": {"matchLabels": {"app": meta["name"]}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "template": {"metadata": {"labels": dict(meta["labels"])}, "spec": pod_spec},
    }
    if environment == "debug":
        spec["replicas"] = 1
    elif hpa_for(service, ctx) is None:
        spec["replicas"] = service.min_replicas
    # else: the autoscaler owns the count; a replicas field here would reset it on every apply
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


def _port_name(port: int) -> str:
    # No protocol prefix: the ports are not all HTTP (neo4j's 7687 is Bolt), and
    # Istio detects the protocol of a port whose name does not declare one.
    return f"port-{port}"


# ---------------------------------------------------------------- Services


def _service_ports(service: Service, external: Mapping[int, int] | None = None) -> list[dict]:
    return [{"name": _port_name(p), "port": (external or {}).get(p, p), "targetPort": p, "protocol": "TCP"} for p in service.ports]


def service_for(service: Service, ctx: ServiceContext) -> dict:
    """The cluster-internal ``Service`` the host's routes point at."""
    meta = _metadata(service, ctx)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {"type": "ClusterIP", "selector": {"app": meta["name"]}, "ports": _service_ports(service)},
    }


def external_service_for(service: Service, ctx: ServiceContext) -> dict | None:
    """``<name>-external`` on the project's external IPs, or ``None`` when the
    project has none or the environment is not prod (addresses and ports are
    not as plentiful as host names; Cube Studio gives them to prod only)."""
    if not ctx.project.service_external_ip or ctx.environment_of(service) != "prod":
        return None
    name = fit_name(f"{service.name}-external")
    meta = _metadata(service, ctx, name)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": workload_name(service.name, "prod")},
            "externalIPs": list(ctx.project.service_external_ip),
            "ports": _service_ports(service, ctx.external_ports),
        },
    }


# ---------------------------------------------------------------- HorizontalPodAutoscaler


def hpa_for(service: Service, ctx: ServiceContext) -> dict | None:
    """An ``autoscaling/v2`` HPA when min and max replicas differ (prod only).

    ``cpu`` and ``mem`` are Resource metrics (utilisation of the request);
    ``gpu`` is a Pods metric, ``ctx.gpu_metric`` averaged over the pods. With
    no rule, CPU at 80% (Kubernetes' default, written out).
    """
    if not service.autoscaled or ctx.environment_of(service) != "prod":
        return None
    meta = _metadata(service, ctx)
    rule = service.hpa or {"cpu": DEFAULT_CPU_TARGET}
    metrics: list[dict] = []
    for metric, percent in rule.items():
        if metric == "gpu":
            metrics.append(
                {
                    "type": "Pods",
                    "pods": {"metric": {"name": ctx.gpu_metric}, "target": {"type": "AverageValue", "averageValue": str(percent)}},
                }
            )
        else:
            metrics.append(
                {
                    "type": "Resource",
                    "resource": {"name": _HPA_RESOURCES[metric], "target": {"type": "Utilization", "averageUtilization": percent}},
                }
            )
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta,
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": meta["name"]},
            "minReplicas": service.min_replicas,
            "maxReplicas": service.max_replicas,
            "metrics": metrics,
        },
    }


# ---------------------------------------------------------------- Istio


def _destination(name: str, ctx: ServiceContext, port: int | None) -> dict:
    destination: dict = {"host": _fqdn(name, ctx)}
    if port is not None:
        destination["port"] = {"number": port}
    return destination


def virtual_service_for(service: Service, ctx: ServiceContext) -> dict:
    """The Istio ``VirtualService`` (``networking.istio.io/v1``) of the
    service's host: this service keeps what the canary split leaves, each
    target gets its share as a weighted route, and the mirror target gets a
    copy of ``percent`` of the requests (its answers are dropped by Envoy)."""
    environment = ctx.environment_of(service)
    meta = _metadata(service, ctx)
    own = _destination(meta["name"], ctx, service.ports[0])
    route: dict = {}
    if environment == "prod" and service.canary:
        routes = []
        if service.local_share:
            routes.append({"destination": own, "weight": service.local_share})
        for target, percent in service.canary.items():
            routes.append({"destination": _destination(target, ctx, ctx.target_ports.get(target)), "weight": percent})
        route["route"] = routes
    else:
        route["route"] = [{"destination": own}]
    if environment == "prod" and service.mirror:
        target, percent = service.mirror
        route["mirror"] = _destination(target, ctx, ctx.target_ports.get(target))
        route["mirrorPercentage"] = {"value": float(percent)}
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": meta,
        "spec": {
            "hosts": [service_host(service, ctx.domain, environment)],
            "gateways": list(ctx.gateways),
            "http": [route],
        },
    }


def destination_rule_for(service: Service, ctx: ServiceContext) -> dict:
    """The Istio ``DestinationRule`` of the service's own ``Service``: requests
    go to the replica with the fewest in flight (inference requests vary widely
    in cost, so round robin would queue behind slow ones)."""
    meta = _metadata(service, ctx)
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": meta,
        "spec": {"host": _fqdn(meta["name"], ctx), "trafficPolicy": {"loadBalancer": {"simple": "LEAST_REQUEST"}}},
    }


def service_objects(service: Service, ctx: ServiceContext) -> list[dict]:
    """Every object of ``service`` in ``ctx``'s environment, in apply order."""
    objects = [deployment_for(service, ctx), service_for(service, ctx)]
    for optional in (external_service_for(service, ctx), hpa_for(service, ctx)):
        if optional is not None:
            objects.append(optional)
    objects += [virtual_service_for(service, ctx), destination_rule_for(service, ctx)]
    return objects
