"""Pure builders for the Kubernetes pieces every CubeLab workload shares.

Notebook servers (``cubelab_spawner``), pipeline tasks and services all turn the
same user formats (:mod:`cubelab_hub.domain.formats`) into the same pod-spec fragments: volumes
and mounts, container resources, node selector and affinity, security context. Building them in one
place keeps the three in step, and keeps them testable with golden dicts.

Data in, plain dicts out: no Kubernetes client, no Jupyter imports. Every call
returns fresh dicts (Cube Studio shared one request/limit dict between containers;
mutating one pod's resources changed the others).
"""

from __future__ import annotations

import copy
import hashlib
import posixpath
import re
from collections.abc import Iterable
from typing import Any, Protocol

from ..domain.errors import FieldError
from ..domain.formats import (
    CpuRequest,
    GpuRequest,
    MemoryRequest,
    VolumeMount,
    bytes_to_quantity,
    gpu_resource_name,
)

__all__ = [
    "DEFAULT_ID_RANGE",
    "PLATFORM_LABEL_KEYS",
    "RESTRICTED",
    "ROLE_LABELS",
    "UNRESTRICTED",
    "check_id_range",
    "check_security_policy",
    "node_selector_for",
    "resources_for",
    "restricted_security_context",
    "security_contexts_for",
    "user_id",
    "volume_name",
    "volumes_and_mounts",
]

# Role labels the platform puts on nodes (Cube Studio's node labelling scheme):
# a node runs notebooks, training tasks or inference services only when labelled.
ROLE_LABELS = ("notebook", "train", "service")
# Keys the platform sets itself; a project selector may not contradict them.
PLATFORM_LABEL_KEYS = frozenset({*ROLE_LABELS, "cpu", "gpu", "org", "gpu-type"})

_SLUG_RE = re.compile(r"[^a-z0-9-]+")
_PLAIN_PATH_RE = re.compile(r"^(/[a-z0-9]+)+$")


def _slug(text: str) -> str:
    return _SLUG_RE.sub("-", text.lower()).strip("-")


def volume_name(mount: VolumeMount) -> str:
    """A stable, readable DNS-1123 volume name for a mount.

    Claims, config maps and secrets are named after their object (the same claim
    mounted twice shares one volume); host paths, NFS exports and memory volumes
    after what identifies them. A short hash is appended whenever the readable
    part is lossy or too long, so two different sources never share a name.
    """
    if mount.kind in ("pvc", "pvc-share"):
        prefix, key = "pvc", mount.source  # one volume per claim, whatever the kind
    elif mount.kind == "memory":
        prefix, key = "memory", mount.mount_path  # each memory mount is its own emptyDir
    elif mount.kind == "nfs":
        prefix, key = "nfs", f"{mount.server}{mount.export}"
    else:
        prefix, key = mount.kind, mount.source
    readable = _slug(key)
    name = f"{prefix}-{readable}" if readable else prefix
    # The slug alone identifies the source when nothing was lost: a name already
    # in DNS form, or a path of plain segments ('/dev/shm' -> 'dev-shm').
    exact = readable == key or bool(_PLAIN_PATH_RE.match(key))
    if exact and len(name) <= 63:
        return name
    digest = hashlib.sha1(key.encode("utf-8")).hexdigest()[:8]
    return f"{name[:54].rstrip('-')}-{digest}"


def _check_username(username: str) -> str:
    # The username becomes a subPath and a path segment: it must be one segment.
    if not username or "/" in username or username in (".", "..") or "\0" in username:
        raise FieldError("username", f"'{username}' cannot be used as a directory name", "a name without '/'")
    return username


def _volume_source(mount: VolumeMount) -> dict[str, Any]:
    if mount.kind in ("pvc", "pvc-share"):
        return {"persistentVolumeClaim": {"claimName": mount.source}}
    if mount.kind == "hostpath":
        # No "type": like Cube Studio, mount what is there; creating host
        # directories as root is the admin's decision, not the pod's.
        return {"hostPath": {"path": mount.source}}
    if mount.kind == "nfs":
        return {"nfs": {"server": mount.server, "path": mount.export}}
    if mount.kind == "memory":
        return {"emptyDir": {"medium": "Memory", "sizeLimit": bytes_to_quantity(mount.size_bytes or 0)}}
    if mount.kind == "configmap":
        return {"configMap": {"name": mount.source}}
    if mount.kind == "secret":
        return {"secret": {"secretName": mount.source}}
    raise FieldError("volume_mount", f"unknown mount type '{mount.kind}'", None)


def volumes_and_mounts(mounts: Iterable[VolumeMount], username: str) -> tuple[list[dict], list[dict]]:
    """Pod ``volumes`` and container ``volumeMounts`` for parsed mounts.

    ``pvc`` mounts give each user their own directory of the claim: subPath
    ``<username>`` mounted at ``<path>/<username>`` (so
    ``kubeflow-user-workspace(pvc):/mnt`` is ``/mnt/<username>``); ``pvc-share``
    mounts the whole claim at ``<path>``. The caller merges layers first
    (:func:`cubelab_hub.domain.formats.merge_mounts`); two mounts here with the
    same resulting path are an error, never a silent drop.
    """
    volumes: list[dict] = []
    by_name: dict[str, dict] = {}
    volume_mounts: list[dict] = []
    seen_paths: dict[str, str] = {}
    for mount in mounts:
        name = volume_name(mount)
        source = _volume_source(mount)
        if name in by_name:
            if by_name[name] != source:  # pragma: no cover - names embed the source
                raise FieldError("volume_mount", f"two different volumes would be named '{name}'", None)
        else:
            by_name[name] = source
            volumes.append({"name": name, **source})
        item: dict[str, Any] = {"name": name}
        if mount.kind == "pvc":
            _check_username(username)
            item["mountPath"] = posixpath.join(mount.mount_path, username)
            item["subPath"] = username
        else:
            item["mountPath"] = mount.mount_path
        if mount.kind in ("configmap", "secret"):
            item["readOnly"] = True  # the API server rejects writes to them anyway
        path = item["mountPath"]
        if path in seen_paths:
            raise FieldError(
                "volume_mount",
                f"'{mount}' and '{seen_paths[path]}' both mount at '{path}'",
                "one mount per path",
            )
        seen_paths[path] = str(mount)
        volume_mounts.append(item)
    return volumes, volume_mounts


def resources_for(
    cpu: CpuRequest | None,
    memory: MemoryRequest | None,
    gpu: GpuRequest | None,
    gpu_resource_map: dict[str, str] | None = None,
) -> tuple[dict, dict[str, str]]:
    """Container ``resources`` and the environment that goes with them.

    ``a~b`` becomes request ``a`` and limit ``b``. GPUs are whole cards of the
    vendor's extended resource (requests must equal limits for extended
    resources, so only the limit is set; Kubernetes copies it). ``0`` GPUs sets
    ``NVIDIA_VISIBLE_DEVICES=none`` so the NVIDIA runtime shows no card to a
    CPU-only container on a GPU node.
    """
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    env: dict[str, str] = {}
    if cpu is not None:
        requests["cpu"] = cpu.quantity("request")
        limits["cpu"] = cpu.quantity("limit")
    if memory is not None:
        requests["memory"] = memory.quantity("request")
        limits["memory"] = memory.quantity("limit")
    if gpu is not None:
        if gpu.count > 0:
            limits[gpu_resource_name(gpu, gpu_resource_map)] = str(gpu.count)
        else:
            env["NVIDIA_VISIBLE_DEVICES"] = "none"
    resources: dict[str, dict[str, str]] = {}
    if requests:
        resources["requests"] = requests
    if limits:
        resources["limits"] = limits
    return resources, env


class _ProjectPlacement(Protocol):
    """What :func:`node_selector_for` reads from a project (``ProjectSettings``)."""

    node_selector: dict[str, str]
    org: list[str]


def node_selector_for(
    role_label: str,
    project: _ProjectPlacement | None,
    gpu: GpuRequest | None,
) -> tuple[dict[str, str], dict | None]:
    """Node selector and (when needed) node affinity for a workload.

    The project's own selector, plus the platform's labels: ``<role>=true``,
    ``cpu=true`` or ``gpu=true``, ``org=<org>`` (default ``public``) and
    ``gpu-type=<T>`` when a type is asked for. A project in several orgs
    cannot be said with a selector, so it becomes a required node-affinity
    ``In`` rule and ``org`` stays out of the selector. A project selector that
    contradicts a platform label is an error naming the key.
    """
    if role_label not in ROLE_LABELS:
        raise ValueError(f"role_label must be one of {ROLE_LABELS}, not {role_label!r}")
    own = dict(getattr(project, "node_selector", None) or {})
    orgs = list(getattr(project, "org", None) or ["public"])
    orgs = list(dict.fromkeys(orgs))  # keep order, drop repeats
    has_gpu = gpu is not None and gpu.count > 0

    platform: dict[str, str] = {role_label: "true", ("gpu" if has_gpu else "cpu"): "true"}
    if len(orgs) == 1:
        platform["org"] = orgs[0]
    if has_gpu and gpu.type:
        platform["gpu-type"] = gpu.type

    for key, value in own.items():
        if key in platform and platform[key] != value:
            raise FieldError(
                "node_selector",
                f"the project sets '{key}={value}' but the platform needs '{key}={platform[key]}' here",
                "keys other than " + ", ".join(sorted(PLATFORM_LABEL_KEYS)) + "; set org with the project's org setting",
            )
        if key == "org" and len(orgs) > 1:
            raise FieldError(
                "node_selector",
                f"the project sets 'org={value}' and also lists orgs {', '.join(orgs)}",
                "orgs in the project's org setting only",
            )
    selector = {**own, **platform}
    affinity = None
    if len(orgs) > 1:
        affinity = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [{"key": "org", "operator": "In", "values": orgs}]}]
                }
            }
        }
    return selector, affinity


# ---------------------------------------------------------------- security context
#
# Every pod CubeLab builds runs as its user, not as root: a uid and gid derived
# from the user name (the same on every cluster and for every kind of pod, so
# files a user's notebook writes on a shared claim belong to the same id as the
# files their tasks write), no privilege escalation, no capabilities and the
# runtime's default seccomp profile: the Kubernetes "restricted" Pod Security
# Standard. The gid equals the uid (a user-private group); ``fsGroup`` makes
# fresh volumes writable by it.

RESTRICTED = "restricted"
UNRESTRICTED = "none"
# first id, how many ids: 10**9 ids above the ranges distributions and images
# use, so two of a thousand users share an id with a chance of about 1 in 2000.
DEFAULT_ID_RANGE = (1_000_000, 1_000_000_000)
_POLICY_FORM = "'restricted', 'none', or {'pod': {securityContext of the pod}, 'container': {securityContext of the container}}"


def user_id(name: str, id_range: tuple[int, int] = DEFAULT_ID_RANGE) -> int:
    """The uid (and gid) of ``name``'s pods: a hash of the name in ``id_range``
    (first id, how many); the same name always gets the same id."""
    first, count = check_id_range(id_range)
    digest = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big")
    return first + digest % count


def check_id_range(id_range, field_name: str = "user_id_range") -> tuple[int, int]:
    """(first, count) with first >= 1 and the last id below 2**31."""
    try:
        first, count = (int(v) for v in id_range)
    except (TypeError, ValueError):
        raise FieldError(field_name, f"{id_range!r} is not a pair of integers", "(first id, how many ids), e.g. (1000000, 1000000000)") from None
    if first < 1 or count < 1 or first + count > 2**31:
        raise FieldError(field_name, f"({first}, {count}) reaches outside 1..2147483647", "ids from 1 (never root) below 2**31")
    return first, count


def restricted_security_context(uid: int, gid: int) -> tuple[dict, dict]:
    """Pod and container ``securityContext`` meeting the "restricted" Pod
    Security Standard, running as ``uid``:``gid``."""
    if uid < 1 or gid < 0:
        raise ValueError(f"a restricted pod runs as a non-root uid, not {uid}:{gid}")
    seccomp = {"type": "RuntimeDefault"}
    pod = {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": gid, "fsGroup": gid, "seccompProfile": dict(seccomp)}
    container = {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": gid,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": dict(seccomp),
    }
    return pod, container


def check_security_policy(policy, field_name: str) -> None:
    """A policy is 'restricted', 'none' or explicit pod/container contexts."""
    if policy in (RESTRICTED, UNRESTRICTED):
        return
    if not isinstance(policy, dict) or not policy or set(policy) - {"pod", "container"}:
        raise FieldError(field_name, f"{policy!r} is not a security policy", _POLICY_FORM)
    for part, value in policy.items():
        if not isinstance(value, dict):
            raise FieldError(f"{field_name}.{part}", f"{value!r} is not a securityContext", _POLICY_FORM)


def security_contexts_for(policy, username: str, id_range: tuple[int, int] = DEFAULT_ID_RANGE) -> tuple[dict | None, dict | None]:
    """Pod and container ``securityContext`` of ``username``'s pod under
    ``policy``: 'restricted' (as that user), 'none' (the image's own user, no
    context), or the admin's explicit ``{'pod': ..., 'container': ...}``
    (copied; the admin takes responsibility for what it allows)."""
    check_security_policy(policy, "security policy")
    if policy == UNRESTRICTED:
        return None, None
    if policy == RESTRICTED:
        uid = user_id(username, id_range)
        return restricted_security_context(uid, uid)
    return _copy(policy.get("pod")), _copy(policy.get("container"))


def _copy(value: dict | None) -> dict | None:
    return copy.deepcopy(value) if value is not None else None


# ---------------------------------------------------------------- credentials a pod reads from a Secret


def env_secret(name: str, namespace: str, values: dict[str, str], labels: dict[str, str] | None = None,
               owner: dict | None = None) -> dict:
    """A Secret holding environment variables (``values``: name -> value) that a
    pod reads through ``secretKeyRef`` (:func:`secret_env_entries`), so they are
    in neither the pod's nor its Workflow's spec. ``owner``: an ownerReference
    (:func:`owner_reference`); the Secret is deleted with its owner."""
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = dict(labels)
    if owner is not None:
        metadata["ownerReferences"] = [dict(owner)]
    return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": "Opaque", "stringData": dict(values)}


def secret_env_entries(secret_name: str, names: Iterable[str]) -> list[dict]:
    """Container ``env`` entries reading each of ``names`` from the Secret (the key is the variable's name)."""
    return [{"name": key, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}}} for key in names]


def owner_reference(api_version: str, kind: str, name: str, uid: str) -> dict:
    """An ownerReference: the owned object goes when its owner is deleted."""
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": uid}
