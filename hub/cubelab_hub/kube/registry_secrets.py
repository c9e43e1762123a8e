"""Pure builders of image pull Secrets: a registry's credentials as a
``kubernetes.io/dockerconfigjson`` Secret in each namespace whose pods pull
from it.

A project's pods may pull from the platform-wide registries and the project's
own; the control plane writes one Secret per such registry into the project's
namespace (named by :func:`cubelab_hub.domain.registries.pull_secret_name`) and
every pod of the project lists them in ``imagePullSecrets``
(:func:`image_pull_secrets`): services through
``ServiceContext.image_pull_secrets``, pipeline tasks and trials through
``ClusterConfig.image_pull_secrets``, notebook servers through KubeSpawner's
``image_pull_secrets``, builds in their Job's pod spec.

Data in, plain dicts out: no Kubernetes client. The Secret holds the password,
so what this returns is written to the API server and never logged.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Protocol

from ..domain.registries import pull_secret_name

SECRET_TYPE = "kubernetes.io/dockerconfigjson"
# Docker Hub's credentials are keyed by its v1 index URL in a Docker config
DOCKER_HUB_KEY = "https://index.docker.io/v1/"
DOCKER_HUB_HOSTS = ("docker.io", "index.docker.io", "registry-1.docker.io")
LABELS = {"app.kubernetes.io/managed-by": "cubelab", "cubelab.io/kind": "registry-credentials"}


class RegistryCredentials(Protocol):
    host: str
    username: str
    password: str


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def auth_key(host: str) -> str:
    """The key of a host in a Docker config's ``auths``."""
    return DOCKER_HUB_KEY if host in DOCKER_HUB_HOSTS else host


def docker_config(credentials: Iterable[RegistryCredentials]) -> dict:
    """A Docker config (``~/.docker/config.json``, also buildah's and podman's
    ``--authfile``) logging in to each registry."""
    auths = {}
    for cred in credentials:
        auths[auth_key(cred.host)] = {"username": cred.username, "password": cred.password,
                                      "auth": _b64(f"{cred.username}:{cred.password}")}
    return {"auths": auths}


def pull_secret(registry_name: str, namespace: str, credentials: RegistryCredentials, project: str | None = None) -> dict:
    """The Secret of one registry in one namespace."""
    labels = dict(LABELS, **{"cubelab.io/registry": registry_name})
    if project:
        labels["cubelab.io/project"] = project
    payload = json.dumps(docker_config([credentials]), sort_keys=True, separators=(",", ":"))
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": pull_secret_name(registry_name), "namespace": namespace, "labels": labels},
        "type": SECRET_TYPE,
        "data": {".dockerconfigjson": _b64(payload)},
    }


def project_pull_secrets(project: str, namespace: str, registries: dict[str, RegistryCredentials]) -> list[dict]:
    """The Secrets of every registry a project uses (name -> credentials), sorted by name."""
    return [pull_secret(name, namespace, registries[name], project) for name in sorted(registries)]


def image_pull_secrets(registry_names: Iterable[str]) -> list[dict]:
    """A pod spec's ``imagePullSecrets`` for these registries."""
    return [{"name": pull_secret_name(name)} for name in sorted(set(registry_names))]
