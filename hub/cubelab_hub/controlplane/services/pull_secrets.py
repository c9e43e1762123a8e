"""Registries' pull Secrets written into the namespaces of projects on Kubernetes.

A project's pods pull from the registries :meth:`RegistryStore.usable_by`
names (the platform-wide ones and the project's own); each gets its
``kubernetes.io/dockerconfigjson`` Secret
(:func:`cubelab_hub.kube.registry_secrets.project_pull_secrets`) in the
project's namespace, and the Secrets of registries the project no longer uses
(deleted, or moved) are removed, so a namespace holds exactly the credentials
its project may use. Writing them again is harmless: call it whenever a
registry or the project's namespace changes, and before its pods start.
"""

from __future__ import annotations

from collections.abc import Mapping

from ...kube.client import JobClient
from ...kube.registry_secrets import LABELS, RegistryCredentials, project_pull_secrets
from .registries import Credentials, RegistryStore

__all__ = ["usable_credentials", "write_pull_secrets"]


def usable_credentials(session, store: RegistryStore, project: str) -> dict[str, Credentials]:
    """registry name -> clear credentials of every registry the project may pull from."""
    return {name: store.credentials(session, name) for name in store.usable_by(session, project)}


def _selector(project: str) -> str:
    labels = dict(LABELS, **{"cubelab.io/project": project})
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


async def write_pull_secrets(client: JobClient, project: str, namespace: str, registries: Mapping[str, RegistryCredentials]) -> list[str]:
    """Apply the project's pull Secrets into ``namespace`` and remove the
    stale ones; the names of the Secrets now there, sorted (what pods list in
    ``imagePullSecrets``)."""
    secrets = project_pull_secrets(project, namespace, dict(registries))
    for secret in secrets:
        await client.apply_secret(namespace, secret)
    wanted = {s["metadata"]["name"] for s in secrets}
    for found in await client.list_secrets(namespace, _selector(project)):
        name = found["metadata"]["name"]
        if name not in wanted:
            await client.delete_secret(namespace, name)
    return sorted(wanted)
