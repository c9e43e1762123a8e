"""Choice + project + user in, KubeSpawner overrides out.

Pure functions (no Kubernetes client, no hub): :class:`CubeKubeSpawner` applies
the result with KubeSpawner's own override machinery, so everything an admin
configured on KubeSpawner still applies underneath.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from cubelab_hub.domain.errors import FieldError
from cubelab_hub.domain.formats import VolumeMount, merge_mounts, parse_volume_mounts
from cubelab_hub.domain.projects import ProjectSettings
from cubelab_hub.kube.objects import (
    DEFAULT_ID_RANGE,
    RESTRICTED,
    node_selector_for,
    resources_for,
    security_contexts_for,
    volumes_and_mounts,
)

from .profiles import Choice, KindSpec

DEFAULT_WORKSPACE = "kubeflow-user-workspace(pvc):/mnt"


@dataclass(frozen=True)
class KubeSettings:
    """The admin's settings that shape every notebook pod."""

    # Mounts every server gets, under the project's (the project wins by path).
    default_mounts: tuple[VolumeMount, ...] = field(default_factory=lambda: tuple(parse_volume_mounts(DEFAULT_WORKSPACE)))
    gpu_resource_map: dict[str, str] | None = None
    # kind -> 'restricted' | 'none' | {'pod': {...}, 'container': {...}}; unlisted kinds are restricted
    security: dict[str, Any] = field(default_factory=dict)
    user_id_range: tuple[int, int] = DEFAULT_ID_RANGE


def server_environment(choice: Choice, username: str) -> dict[str, str]:
    """What a server knows about itself (both spawners set these)."""
    env = {
        "CUBELAB_PROJECT": choice.project,
        "CUBELAB_SERVER_KIND": choice.kind,
        "CUBELAB_CPU": str(choice.cpu),
        "CUBELAB_MEMORY": str(choice.memory),
        "CUBELAB_GPU": str(choice.gpu.count),
        # Cube Studio's notebook images read these names.
        "KFJ_TASK_PROJECT_NAME": choice.project,
        "USERNAME": username,
    }
    if choice.image:
        # the image it started from: the base of "save as image" (server_ext's environment.py)
        env["CUBELAB_IMAGE"] = choice.image
    return env


def workspace_dir(mounts: list[VolumeMount], username: str) -> str | None:
    """The user's own directory: the first ``pvc`` mount's ``<path>/<username>``."""
    for mount in mounts:
        if mount.kind == "pvc":
            return posixpath.join(mount.mount_path, username)
    return None


def kube_overrides(
    choice: Choice,
    kind: KindSpec,
    project: ProjectSettings,
    username: str,
    settings: KubeSettings = KubeSettings(),
) -> dict[str, Any]:
    """KubeSpawner attribute overrides for one server.

    Lists (volumes, mounts) are complete for CubeLab's part; the spawner adds
    them to whatever the admin configured. Dicts are merged by KubeSpawner.
    """
    if choice.kind != kind.name:
        raise ValueError(f"choice kind {choice.kind!r} does not match kind spec {kind.name!r}")
    mounts = merge_mounts(list(settings.default_mounts), project.volume_mounts)
    volumes, volume_mounts = volumes_and_mounts(mounts, username)
    resources, resource_env = resources_for(choice.cpu, choice.memory, choice.gpu, settings.gpu_resource_map)
    node_selector, affinity = node_selector_for("notebook", project, choice.gpu)

    limits = resources.get("limits", {})
    extra_limits = {k: v for k, v in limits.items() if k not in ("cpu", "memory")}
    overrides: dict[str, Any] = {
        # KubeSpawner's own resource traits, so admins' hooks that read them see
        # the user's numbers (floats for cores, bytes for memory).
        "cpu_guarantee": float(choice.cpu.request),
        "cpu_limit": float(choice.cpu.limit),
        "mem_guarantee": choice.memory.request,
        "mem_limit": choice.memory.limit,
        "extra_resource_limits": extra_limits,
        "environment": {**server_environment(choice, username), **resource_env},
        "node_selector": node_selector,
        "volumes": volumes,
        "volume_mounts": volume_mounts,
        "default_url": kind.default_url,
        "extra_labels": {"cubelab.io/project": choice.project, "cubelab.io/kind": choice.kind},
    }
    if project.namespace:
        overrides["namespace"] = project.namespace
    if choice.image:
        overrides["image"] = choice.image
    if affinity is not None:
        overrides["node_affinity_required"] = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    pod_context, container_context = security_contexts_for(settings.security.get(choice.kind, RESTRICTED), username, settings.user_id_range)
    if pod_context is not None:
        overrides["pod_security_context"] = pod_context
    if container_context is not None:
        overrides["container_security_context"] = container_context
    workdir = workspace_dir(mounts, username)
    if workdir:
        overrides["working_dir"] = workdir
    return overrides


def check_volume_names(admin_volumes: list[dict], ours: list[dict]) -> None:
    """Admin-configured volumes and CubeLab's must not collide by name."""
    taken = {v.get("name"): v for v in admin_volumes}
    for volume in ours:
        other = taken.get(volume["name"])
        if other is not None and other != volume:
            raise FieldError(
                "volume_mount",
                f"volume '{volume['name']}' is configured by the admin with a different source",
                "mounts whose volume names differ from the admin's volumes",
            )
