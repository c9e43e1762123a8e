"""Registries' pull Secrets written into the namespaces of projects on Kubernetes.

A project's pods pull from the registries :meth:`RegistryStore.usable_by`
names (the platform-wide ones and the project's own); each gets its
``kubernetes.io/dockerconfigjson`` Secret
(:func:`cubelab_hub.kube.registry_secrets.project_pull_secrets`) in the
project's namespace, and the Secrets of registries the project no longer uses
(deleted, or moved) are removed, so a namespace holds exactly the credentials
its project may use. Writing them again is harmless: call it whenever a
registry or the project's namespace changes, and before its pods start.

:class:`PullSecrets` is what the control plane hands its Kubernetes backends
(the engine's runs and trials, services, builds, and through
``PUT /projects/{project}/pull-secrets`` the spawner's servers): "write this
project's Secrets into this namespace with this client, tell me their names".
After a registry changes, :meth:`PullSecrets.refresh` writes them again in
every namespace of each cluster that already holds some (found by their
labels), so a rotated password or a deleted registry reaches running
namespaces without waiting for their next pod.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Protocol

from ...domain.errors import Conflict
from ...kube.client import PodClient
from ...kube.clusters import ClusterAccess, connect
from ...kube.registry_secrets import LABELS, RegistryCredentials, project_pull_secrets
from .registries import Credentials, RegistryStore

log = logging.getLogger("cubelab.registries")

__all__ = ["PullSecrets", "PullSecretsFailed", "SecretClient", "describe_failure", "usable_credentials", "write_pull_secrets"]


class PullSecretsFailed(Conflict):
    code = "pull_secrets_failed"


class SecretClient(Protocol):
    """The Secret calls of :class:`cubelab_hub.kube.client.PodClient` (every cluster client has them)."""

    async def apply_secret(self, namespace: str, body: dict) -> dict: ...
    async def list_secrets(self, namespace: str, label_selector: str) -> list[dict]: ...
    async def list_secrets_everywhere(self, label_selector: str) -> list[dict]: ...
    async def delete_secret(self, namespace: str, name: str) -> bool: ...


def usable_credentials(session, store: RegistryStore, project: str) -> dict[str, Credentials]:
    """registry name -> clear credentials of every registry the project may pull from."""
    return {name: store.credentials(session, name) for name in store.usable_by(session, project)}


def _selector(project: str) -> str:
    labels = dict(LABELS, **{"cubelab.io/project": project})
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


async def write_pull_secrets(client: SecretClient, project: str, namespace: str, registries: Mapping[str, RegistryCredentials]) -> list[str]:
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


def describe_failure(exc: BaseException) -> str:
    """A failure to write Secrets, for a log: the API server's status and
    reason, never its message (a rejected Secret's message may quote its data)."""
    status = getattr(exc, "status", None)
    if status is not None:
        return f"the API server answered {status} {getattr(exc, 'reason', '')}".strip()
    return type(exc).__name__


def _places(found: list[dict], project: str | None) -> list[tuple[str, str]]:
    """(namespace, project) of each found pull Secret, once each, sorted."""
    places = set()
    for secret in found:
        meta = secret.get("metadata") or {}
        owner = (meta.get("labels") or {}).get("cubelab.io/project")
        if owner and meta.get("namespace") and (project is None or owner == project):
            places.add((meta["namespace"], owner))
    return sorted(places)


class PullSecrets:
    """The project's pull Secrets, written on demand from the registries stored in ``database``.

    The backends write with the clients they hold (:meth:`write`); the
    refresh after a registry change and the spawner's request
    (:meth:`write_in_cluster`) use this object's own client per cluster of
    ``clusters`` (name -> :class:`~cubelab_hub.kube.clusters.ClusterAccess`, or a
    connected client in tests)."""

    def __init__(self, database, store: RegistryStore, clusters: Mapping[str, object] | None = None):
        self.db = database
        self.store = store
        self._access = dict(clusters or {})
        self._clients: dict[str, SecretClient] = {n: c for n, c in self._access.items() if isinstance(c, PodClient)}
        self._owned: list[PodClient] = []
        self._refreshing = asyncio.Lock()  # one refresh at a time: a later change is written last

    async def client(self, cluster: str) -> SecretClient:
        if cluster not in self._clients:
            access = self._access.get(cluster)
            if access is None:
                raise KeyError(cluster)
            client = PodClient(await connect(access))
            self._clients[cluster] = client
            self._owned.append(client)
        return self._clients[cluster]

    async def close(self) -> None:
        for client in self._owned:
            await client.close()
        self._owned.clear()
        self._clients = {n: c for n, c in self._access.items() if isinstance(c, PodClient)}

    def connected(self) -> bool:
        """Whether a client of this object's own was ever needed (the spawner asked for Secrets)."""
        return bool(self._clients)

    async def write_in_cluster(self, cluster: str, project: str, namespace: str) -> list[str]:
        """:meth:`write` with this object's client of ``cluster``; :class:`PullSecretsFailed` also for a cluster
        not configured or not reachable."""
        try:
            client = await self.client(cluster)
        except KeyError:
            raise PullSecretsFailed(f"cluster '{cluster}' is not configured on the control plane (Clusters.clusters)", "cluster") from None
        except Exception as exc:  # noqa: BLE001 - no kubeconfig, no in-cluster account
            raise PullSecretsFailed(f"cluster '{cluster}' cannot be reached: {describe_failure(exc)}") from None
        return await self.write(client, project, namespace)

    async def remove_project(self, client: SecretClient, project: str) -> int:
        """Delete the project's pull Secrets from every namespace of this cluster (the project is gone); how many."""
        removed = 0
        for secret in await client.list_secrets_everywhere(_selector(project)):
            meta = secret.get("metadata") or {}
            if meta.get("namespace") and await client.delete_secret(meta["namespace"], meta["name"]):
                removed += 1
        return removed

    async def remove_project_everywhere(self, project: str) -> None:
        """:meth:`remove_project` in every cluster; a cluster that fails is logged and skipped."""
        async with self._refreshing:
            for cluster in self._access:
                try:
                    await self.remove_project(await self.client(cluster), project)
                except Exception as exc:  # noqa: BLE001 - logged, never with a secret
                    log.warning("registries: the pull Secrets of deleted project %s in cluster %s could not be removed: %s",
                                project, cluster, describe_failure(exc))

    async def refresh_everywhere(self, project: str | None) -> None:
        """:meth:`refresh` in every cluster; a cluster that fails is logged and skipped."""
        async with self._refreshing:
            for cluster in self._access:
                if not isinstance(self._access[cluster], (ClusterAccess, PodClient)):
                    continue
                try:
                    await self.refresh(await self.client(cluster), project)
                except Exception as exc:  # noqa: BLE001 - logged, never with a secret; the next cluster is still refreshed
                    log.warning("registries: the pull Secrets in cluster %s could not be refreshed: %s", cluster, describe_failure(exc))

    async def credentials(self, project: str) -> dict[str, Credentials]:
        return await self.db.run(usable_credentials, self.store, project)

    async def write(self, client: SecretClient, project: str, namespace: str) -> list[str]:
        """Write the project's Secrets into ``namespace``; their names (what its
        pods list). :class:`PullSecretsFailed` when they cannot be, its message
        safe to show and log (the API server's status and reason only)."""
        credentials = await self.credentials(project)
        try:
            return await write_pull_secrets(client, project, namespace, credentials)
        except Exception as exc:  # noqa: BLE001 - said without the API server's message
            raise PullSecretsFailed(f"the registries' pull Secrets could not be written into namespace {namespace}: "
                                    f"{describe_failure(exc)}") from None

    async def refresh(self, client: SecretClient, project: str | None = None) -> list[tuple[str, str]]:
        """Write again the Secrets of every (namespace, project) of this cluster
        that holds some: all projects' after a platform-wide registry changed
        (``project`` None), one project's after one of its own did. Each place
        is its own attempt: one failing (logged, never with a secret) does not
        stop the others. The places written."""
        selector = _selector(project) if project else ",".join(f"{k}={v}" for k, v in sorted(LABELS.items()))
        written = []
        for namespace, owner in _places(await client.list_secrets_everywhere(selector), project):
            try:
                await self.write(client, owner, namespace)
            except Exception as exc:  # noqa: BLE001 - logged; the next place is still written
                log.warning("registries: the pull Secrets of project %s in namespace %s could not be written again: %s",
                            owner, namespace, describe_failure(exc))
                continue
            written.append((namespace, owner))
        return written
