"""Image builds on Kubernetes: a BuildKit rootless Job in the project's namespace.

The :class:`~.builds.BuildManager` keeps the rows, the logs and the API; a
project whose ``engine`` setting (or, without one, the platform's
``pipeline_engine``) is ``kubernetes`` has its builds run here, in its
``cluster`` and ``namespace`` (:func:`~.service_backends.backend_name`, the
rule services follow).

- **Prepare** (before the build is stored): the context folder becomes a gzip
  tar, refused when too large for a Secret (:func:`~cubelab_hub.kube.builds.check_context_size`);
  the push target is the registry named by ``push_registry``.
- **Run**: the project's registry pull Secrets (``pull_secrets``: the
  BuildKit image itself may come from a private registry; the pod lists them in
  ``imagePullSecrets``) and its build credentials Secret (the push target and
  the registries the project may pull from, for BuildKit) are written, then
  the build's context Secret and its Job (:mod:`cubelab_hub.kube.builds`); the context Secret is
  owned by the Job, so both go when the Job's TTL ends. The pod's log (its
  init container's, then BuildKit's) is appended to the build's log while it
  runs; the outcome comes from the Job's conditions.
- **Re-attach** (after a restart of the control plane): the build's Job, if
  still there, is followed again; the pod's log lines already in the build's
  log are not appended twice.
- **Cancel** deletes the Job with ``Foreground`` propagation (its pod goes
  first) and the context Secret. BuildKit pushes once every step has
  finished, so a cancelled build leaves nothing half-pushed.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import json
import logging
import tarfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from traitlets import Bool, Float, Int, Unicode
from traitlets.config import LoggingConfigurable

from ...domain.builds import BuildRequest
from ...domain.errors import Conflict
from ...domain.projects import ProjectSettings
from ...kube.builds import (
    BUILD_CONTAINER,
    BUILDKIT_IMAGE,
    CONTEXT_CONTAINER,
    MAX_CONTEXT_BYTES,
    BuildJobContext,
    build_objects,
    check_context_size,
    credentials_secret,
    job_name,
    job_outcome,
    pushed_digest,
)
from ...kube.client import JobClient, KubernetesApiError
from ...kube.clusters import ClusterAccess, Clusters, cluster_access, connect
from ...kube.registry_secrets import docker_config
from .service_backends import KUBERNETES

log = logging.getLogger("cubelab.builds")

__all__ = ["KubernetesBuildBackend", "PreparedBuild", "context_tar"]


# the build's log line before the pod's log
JOB_HEADER = "[cubelab] building on Kubernetes: Job "


class NoPushRegistry(Conflict):
    code = "no_push_registry"


@dataclass(frozen=True)
class PreparedBuild:
    """A build checked and ready for the cluster: its context as a gzip tar and the registry host it pushes to."""

    context_tar: bytes
    registry: str


def context_tar(folder: Path, limit: int = MAX_CONTEXT_BYTES) -> bytes:
    """The folder as a gzip tar (links kept as links, never followed; BuildKit
    reads ``.dockerignore`` from it). Stops as soon as it is over ``limit``."""

    class Capped(io.BytesIO):
        def write(self, data):
            written = super().write(data)
            check_context_size(self.tell())
            return written

    buffer = Capped()
    with tarfile.open(fileobj=buffer, mode="w:gz", dereference=False) as tar:
        tar.add(str(folder), arcname=".", recursive=True)
    data = buffer.getvalue()
    check_context_size(len(data))
    return data


async def _maybe_await(value):
    return await value if inspect.isawaitable(value) else value


Credentials = Mapping[str, object]  # registry name -> credentials (host, username, password)


class KubernetesBuildBackend(LoggingConfigurable):
    """Builds as Jobs running BuildKit rootless in each project's namespace."""

    name = KUBERNETES

    buildkit_image = Unicode(BUILDKIT_IMAGE, help="BuildKit's rootless image (moby/buildkit:<version>-rootless).").tag(config=True)
    push_registry = Unicode(
        "", help="The registered registry (by name) builds on Kubernetes push to, with its credentials: "
        "a build of image I with tag T in project P is <its host>/P/I:T. The cluster must reach it.",
    ).tag(config=True)
    insecure_registry = Bool(False, help="Push to and pull the cache from the push registry over plain HTTP.").tag(config=True)
    namespace = Unicode("default", help="Namespace of the builds of projects without a 'namespace' setting.").tag(config=True)
    ttl_seconds_after_finished = Int(3600, help="Seconds a finished build's Job (and its pod's log) stays in the cluster.").tag(config=True)
    poll_interval = Float(2.0, help="Seconds between two reads of a running build's Job.").tag(config=True)

    def __init__(self, *, clusters: Clusters | Mapping[str, JobClient | ClusterAccess | dict],
                 project_settings: Callable[[str], Awaitable[ProjectSettings] | ProjectSettings],
                 credentials: Callable[[str], Awaitable[Credentials]], default_cluster: str = "default",
                 pull_secrets: Callable[[JobClient, str, str], Awaitable[list[str]]] | None = None, **kwargs):
        """``credentials(project)``: registry name -> credentials of every
        registry the project may use (the platform's :func:`~.pull_secrets.usable_credentials`
        with the push registry); ``pull_secrets(client, project, namespace)``:
        writes the project's pull Secrets there and names them (none: the pod lists none)."""
        super().__init__(**kwargs)
        if isinstance(clusters, Clusters):
            default_cluster = clusters.default
            clusters = {name: clusters.access(name) for name in clusters.names()}
        self.default_cluster = default_cluster
        self._access = {name: cluster_access(name, value) if value is None or isinstance(value, dict) else value
                        for name, value in clusters.items()}
        self._clients = {name: c for name, c in self._access.items() if isinstance(c, JobClient)}
        self._owned: list[JobClient] = []
        self.project_settings = project_settings
        self.credentials = credentials
        self.pull_secrets = pull_secrets
        self._placed: dict[int, tuple[JobClient, str]] = {}
        self._cancelled: set[int] = set()

    async def _client(self, cluster: str) -> JobClient:
        if cluster not in self._clients:
            access = self._access.get(cluster)
            if access is None:
                raise Conflict(f"cluster '{cluster}' is not configured", "cluster")
            self._clients[cluster] = JobClient(await connect(access))
            self._owned.append(self._clients[cluster])
        return self._clients[cluster]

    # ------------------------------------------------------------ prepare

    async def prepare(self, request: BuildRequest, context: Path) -> PreparedBuild:
        """Check what a build needs before it is stored: a push registry and a context small enough."""
        registries = await self.credentials(request.project)
        target = registries.get(self.push_registry) if self.push_registry else None
        if target is None:
            raise NoPushRegistry(f"project '{request.project}' builds on Kubernetes, where images are pushed to the registry "
                                 "an admin names in KubernetesBuildBackend.push_registry; none usable is set", "project")
        tar = await asyncio.get_running_loop().run_in_executor(None, context_tar, context)
        return PreparedBuild(tar, target.host)

    # ------------------------------------------------------------ run

    async def run(self, build_id: int, request: BuildRequest, prepared: PreparedBuild, dockerfile: str, log_path: Path,
                  on_started: Callable[[], Awaitable[None]] | None = None) -> tuple[str, str, str | None]:
        """Run the build to its end: (status, message, pushed digest)."""
        project = await _maybe_await(self.project_settings(request.project)) or ProjectSettings()
        namespace = project.namespace or self.namespace
        client = await self._client(project.cluster or self.default_cluster)
        registries = await self.credentials(request.project)
        # the Secrets exist before the Job whose pod lists them
        pulls = await self.pull_secrets(client, request.project, namespace) if self.pull_secrets is not None else []
        ctx = BuildJobContext(namespace=namespace, registry=prepared.registry, build_id=build_id, buildkit_image=self.buildkit_image,
                              ttl_seconds=self.ttl_seconds_after_finished, insecure_registry=self.insecure_registry,
                              image_pull_secrets=tuple(pulls))
        secret, job = build_objects(request, ctx, prepared.context_tar, dockerfile)
        name = job_name(build_id)
        config = json.dumps(docker_config(registries.values()), sort_keys=True, separators=(",", ":"))
        self._placed[build_id] = (client, namespace)
        try:
            if build_id in self._cancelled:
                return "cancelled", "cancelled before it started", None
            await client.apply_secret(namespace, credentials_secret(request.project, namespace, config))
            await client.apply_secret(namespace, secret)
            created = await client.create_job(namespace, job)
            owner = {"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": created["metadata"]["uid"], "blockOwnerDeletion": False}
            await client.patch_secret(namespace, name, {"metadata": {"ownerReferences": [owner]}})
            _append(log_path, f"{JOB_HEADER}{namespace}/{name} ({self.buildkit_image})\n")
            if on_started is not None:
                await on_started()
            return await self._follow(build_id, client, namespace, request, prepared, log_path)
        finally:
            self._placed.pop(build_id, None)
            self._cancelled.discard(build_id)

    async def reattach(self, build_id: int, request: BuildRequest, registry: str, log_path: Path,
                       on_found: Callable[[], Awaitable[None]] | None = None) -> tuple[str, str, str | None] | None:
        """Follow a build started by an earlier control plane to its end, as
        :meth:`run` does (``on_found`` once its Job is found); None when its
        Job is gone (it cannot be followed)."""
        project = await _maybe_await(self.project_settings(request.project)) or ProjectSettings()
        namespace = project.namespace or self.namespace
        client = await self._client(project.cluster or self.default_cluster)
        if await client.get_job(namespace, job_name(build_id)) is None:
            return None
        self._placed[build_id] = (client, namespace)
        try:
            if on_found is not None:
                await on_found()
            return await self._follow(build_id, client, namespace, request, PreparedBuild(b"", registry), log_path,
                                      skip=_pod_lines(log_path))
        finally:
            self._placed.pop(build_id, None)
            self._cancelled.discard(build_id)

    async def _follow(self, build_id: int, client: JobClient, namespace: str, request: BuildRequest, prepared: PreparedBuild,
                      log_path: Path, skip: int = 0) -> tuple[str, str, str | None]:
        """``skip``: lines of the pod's log already copied (by an earlier control plane)."""
        name = job_name(build_id)
        selector = f"cubelab.io/build={build_id},cubelab.io/project={request.project}"
        follower: asyncio.Task | None = None
        pod: dict | None = None
        # the Job's own deadline ends it; this one only bounds a lost API server
        deadline = asyncio.get_running_loop().time() + request.timeout + 300
        try:
            while True:
                if build_id in self._cancelled:
                    return "cancelled", "cancelled; nothing was published", None
                try:
                    job = await client.get_job(namespace, name)
                    pods = await client.list_pods(namespace, selector)
                except (KubernetesApiError, aiohttp.ClientError) as exc:
                    log.warning("build %s: reading Job %s/%s: %s", build_id, namespace, name, exc)
                    job, pods = {}, []
                if pods:
                    pod = pods[0]
                    if follower is None:
                        follower = asyncio.create_task(self._copy_log(client, namespace, pod["metadata"]["name"], log_path, skip))
                outcome = job_outcome(job, pod, request, prepared.registry) if job != {} else None
                if build_id in self._cancelled:
                    return "cancelled", "cancelled; nothing was published", None
                if outcome is not None:
                    if follower is not None:
                        await asyncio.wait({follower}, timeout=10)
                    status, message = outcome
                    return status, message, _digest(log_path) if status == "succeeded" else None
                if asyncio.get_running_loop().time() > deadline:
                    return "failed", "the cluster did not report the build's end in time", None
                await asyncio.sleep(self.poll_interval)
        finally:
            if follower is not None and not follower.done():
                follower.cancel()
                await asyncio.gather(follower, return_exceptions=True)

    async def _copy_log(self, client: JobClient, namespace: str, pod: str, log_path: Path, skip: int = 0) -> None:
        """The unpacking's log, then BuildKit's, appended as they come (a
        container not started yet is asked again). The first ``skip`` lines
        are already in the build's log."""
        for container in (CONTEXT_CONTAINER, BUILD_CONTAINER):
            while True:
                try:
                    async for line in client.pod_log(namespace, pod, container=container, follow=True):
                        if skip > 0:
                            skip -= 1
                            continue
                        _append(log_path, line)
                    break
                except (KubernetesApiError, aiohttp.ClientError) as exc:
                    if isinstance(exc, KubernetesApiError) and exc.status == 404:
                        return
                    await asyncio.sleep(self.poll_interval)

    # ------------------------------------------------------------ cancel and close

    async def cancel(self, build_id: int) -> None:
        """Delete the build's Job (its pod first) and context Secret."""
        self._cancelled.add(build_id)
        placed = self._placed.get(build_id)
        if placed is None:
            return
        client, namespace = placed
        await client.delete_job(namespace, job_name(build_id))
        await client.delete_secret(namespace, job_name(build_id))

    async def close(self) -> None:
        for client in self._owned:
            await client.close()
        self._owned.clear()
        self._clients = {name: c for name, c in self._access.items() if isinstance(c, JobClient)}


def _append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as out:
        out.write(text)


def _pod_lines(path: Path) -> int:
    """How many lines of the pod's log the build's log holds: those after the
    Job's line that are not the platform's own."""
    count = 0
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith(JOB_HEADER):
                    count = 0
                elif not line.startswith("[cubelab] "):
                    count += 1
    except OSError:
        return 0
    return count


def _digest(path: Path) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return pushed_digest(fh)
    except OSError:
        return None
