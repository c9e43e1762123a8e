"""The only code of the Kubernetes engine that talks to an API server.

A thin layer over kubernetes-asyncio: Argo ``Workflow`` custom objects (create,
get, list, watch, terminate, delete) and the pods/logs of their tasks. Objects go
in and come out as plain dicts (the compiler's output, the API server's JSON), so
nothing here knows what a pipeline is.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client.exceptions import ApiException

GROUP = "argoproj.io"
VERSION = "v1alpha1"
PLURAL = "workflows"
MAIN_CONTAINER = "main"  # Argo names the user's container 'main' (beside 'wait' and 'init')


# aiohttp's readline() fails on lines over 128 KiB: a watch event of a big
# workflow's status, or one long log line (a progress bar), is larger than that.
WATCH_LINE_MAX = 64 * 2**20
LOG_PIECE_MAX = 64 * 2**10


async def _lines(stream, limit: int, *, split_long: bool) -> AsyncIterator[bytes]:
    """Newline-terminated lines of a byte stream (the last one may lack it).
    A line over ``limit`` is yielded in pieces (logs) or is an error (watch)."""
    buffer = b""
    async for chunk in stream.iter_any():
        buffer += chunk
        while buffer:
            cut = buffer.find(b"\n")
            if 0 <= cut < limit:
                yield buffer[: cut + 1]
                buffer = buffer[cut + 1 :]
            elif cut >= limit or len(buffer) > limit:
                if not split_long:
                    raise KubernetesApiError(0, "LineTooLong", f"a watch event is over {limit} bytes")
                yield buffer[:limit]
                buffer = buffer[limit:]
            else:
                break
    if buffer:
        yield buffer


class KubernetesApiError(RuntimeError):
    """An API call that failed; ``status`` is the HTTP status (0 = no answer)."""

    def __init__(self, status: int, reason: str, message: str):
        self.status = status
        self.reason = reason
        self.message = message
        super().__init__(f"{status} {reason}: {message}")

    @classmethod
    def from_api_exception(cls, exc: ApiException) -> "KubernetesApiError":
        return cls.from_body(exc.status or 0, exc.reason or "", exc.body)

    @classmethod
    def from_body(cls, status: int, reason: str, body: str | None) -> "KubernetesApiError":
        """The API server's Status object names the reason and says what is wrong."""
        message = reason
        try:
            data = json.loads(body or "{}")
            message = data.get("message", message)
            reason = data.get("reason", reason)
        except (TypeError, ValueError, AttributeError):
            pass
        return cls(status, reason, message)


class WorkflowExists(KubernetesApiError):
    """409 on create: a workflow of that name is already there."""


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED | MODIFIED | DELETED
    object: dict


@dataclass(frozen=True)
class ClusterAccess:
    """How to reach one cluster (the control plane's ``clusters`` setting:
    ``{"kubeconfig": path, "context": name}``; empty = in-cluster when running in
    a pod, else the default kubeconfig)."""

    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: bool = False
    host: str | None = None

    @classmethod
    def from_setting(cls, value: dict | None) -> "ClusterAccess":
        value = dict(value or {})
        unknown = sorted(set(value) - {"kubeconfig", "context", "in_cluster", "host"})
        if unknown:
            raise ValueError(f"unknown cluster setting(s) {', '.join(unknown)} (accepted: kubeconfig, context, in_cluster, host)")
        return cls(value.get("kubeconfig"), value.get("context"), bool(value.get("in_cluster")), value.get("host"))


async def make_api_client(*, host: str | None = None, kubeconfig: str | None = None, context: str | None = None, in_cluster: bool = False) -> k8s.ApiClient:
    """An ApiClient for a configured cluster: in-cluster service account,
    a kubeconfig (and context), or a bare host (tests, ``kubectl proxy``)."""
    configuration = k8s.Configuration()
    if not (host or kubeconfig or context) and os.environ.get("KUBERNETES_SERVICE_HOST"):
        in_cluster = True  # nothing said, and running in a pod: its service account
    if in_cluster:
        k8s_config.load_incluster_config(client_configuration=configuration)
    elif kubeconfig is not None or host is None:
        await k8s_config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
    else:
        configuration.host = host
    return k8s.ApiClient(configuration)


async def _check(response) -> None:
    """With ``_preload_content=False`` kubernetes-asyncio hands back the raw
    response whatever its status: turn an error status into an exception."""
    if 200 <= response.status <= 299:
        return
    body = await response.read()
    response.release()
    raise KubernetesApiError.from_body(response.status, response.reason or "", body.decode("utf-8", errors="replace"))


class ArgoClient:
    """Workflows and their pods in one cluster; the namespace is per call
    (each project may have its own)."""

    def __init__(self, api_client: k8s.ApiClient):
        self.api_client = api_client
        self.custom = k8s.CustomObjectsApi(api_client)
        self.core = k8s.CoreV1Api(api_client)

    async def close(self) -> None:
        await self.api_client.close()

    # ------------------------------------------------------------ workflows

    async def create_workflow(self, namespace: str, body: dict) -> dict:
        try:
            return await self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
        except ApiException as exc:
            error = KubernetesApiError.from_api_exception(exc)
            if error.status == 409:
                raise WorkflowExists(error.status, error.reason, error.message) from None
            raise error from None

    async def get_workflow(self, namespace: str, name: str) -> dict | None:
        try:
            return await self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise KubernetesApiError.from_api_exception(exc) from None

    async def list_workflows(self, namespace: str, label_selector: str | None = None) -> list[dict]:
        try:
            result = await self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, label_selector=label_selector)
        except ApiException as exc:
            raise KubernetesApiError.from_api_exception(exc) from None
        return result.get("items", [])

    async def watch_workflow(self, namespace: str, name: str, *, timeout_seconds: int = 300, read_slack: float = 30.0) -> AsyncIterator[WatchEvent]:
        """The workflow's current state (as ADDED), then each change, until it is
        deleted (a DELETED event ends the stream) or the caller stops iterating.

        Server-side timeouts and dropped streams reconnect from the last
        resourceVersion; a 410 (version compacted away) re-reads the object, so a
        long watch never misses the final state. A stream silent for longer than
        the server's timeout plus ``read_slack`` (a connection lost without a
        word) is dropped and reopened too.
        """
        read_timeout = aiohttp.ClientTimeout(total=None, sock_read=timeout_seconds + read_slack)
        version: str | None = None
        while True:
            if version is None:
                current = await self.get_workflow(namespace, name)
                if current is None:
                    return
                version = current["metadata"]["resourceVersion"]
                yield WatchEvent("ADDED", current)
            try:
                response = await self.custom.list_namespaced_custom_object(
                    GROUP,
                    VERSION,
                    namespace,
                    PLURAL,
                    field_selector=f"metadata.name={name}",
                    watch=True,
                    resource_version=version,
                    timeout_seconds=timeout_seconds,
                    _preload_content=False,
                    _request_timeout=read_timeout,
                )
            except ApiException as exc:
                if exc.status == 410:
                    version = None
                    continue
                raise KubernetesApiError.from_api_exception(exc) from None
            if response.status == 410:
                response.release()
                version = None
                continue
            await _check(response)
            try:
                async for raw in _lines(response.content, WATCH_LINE_MAX, split_long=False):
                    line = raw.strip()
                    if not line:
                        continue
                    event = json.loads(line)
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        if obj.get("code") == 410:
                            version = None
                            break
                        raise KubernetesApiError(obj.get("code", 0), obj.get("reason", ""), obj.get("message", ""))
                    version = obj.get("metadata", {}).get("resourceVersion", version)
                    if kind == "BOOKMARK":
                        continue
                    yield WatchEvent(kind, obj)
                    if kind == "DELETED":
                        return
            except (asyncio.TimeoutError, aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError):
                continue  # reopen from the last version seen
            finally:
                response.release()

    async def terminate_workflow(self, namespace: str, name: str) -> dict | None:
        """Argo's 'terminate': stop every running pod now, skip exit handlers.
        None when the workflow is not there (nothing left to stop)."""
        return await self._merge_patch(namespace, name, {"spec": {"shutdown": "Terminate"}})

    async def _merge_patch(self, namespace: str, name: str, patch: dict) -> dict | None:
        try:
            # kubernetes-asyncio would pick json-patch for custom objects, which
            # the API server rejects for an object body: say merge patch.
            return await self.custom.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, patch, _content_type="application/merge-patch+json"
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise KubernetesApiError.from_api_exception(exc) from None

    async def delete_workflow(self, namespace: str, name: str) -> bool:
        """Delete (the controller's finalizers and pod GC remove the pods).
        False when it was already gone."""
        try:
            await self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise KubernetesApiError.from_api_exception(exc) from None
        return True

    # ------------------------------------------------------------ pods and logs

    async def pod_metrics(self, namespace: str, pod: str) -> dict | None:
        """metrics.k8s.io usage of a pod (metrics-server); None when there is none
        (no metrics-server, or the pod not sampled yet)."""
        try:
            return await self.custom.get_namespaced_custom_object("metrics.k8s.io", "v1beta1", namespace, "pods", pod)
        except ApiException as exc:
            if exc.status in (404, 503):
                return None
            raise KubernetesApiError.from_api_exception(exc) from None

    async def list_pods(self, namespace: str, label_selector: str) -> list[dict]:
        try:
            response = await self.core.list_namespaced_pod(namespace, label_selector=label_selector, _preload_content=False)
            await _check(response)
            try:
                data = json.loads(await response.read())
            finally:
                response.release()
        except ApiException as exc:
            raise KubernetesApiError.from_api_exception(exc) from None
        return data.get("items", [])

    async def pod_log(self, namespace: str, pod: str, *, container: str = MAIN_CONTAINER, follow: bool = False) -> AsyncIterator[str]:
        """Lines of a container's log (with their newline); with ``follow`` the
        stream goes on until the container ends."""
        try:
            response = await self.core.read_namespaced_pod_log(pod, namespace, container=container, follow=follow, _preload_content=False)
        except ApiException as exc:
            raise KubernetesApiError.from_api_exception(exc) from None
        await _check(response)
        try:
            # incremental: a long line's pieces may cut a UTF-8 character in two
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            async for raw in _lines(response.content, LOG_PIECE_MAX, split_long=True):
                text = decoder.decode(raw)
                if text:
                    yield text
            tail = decoder.decode(b"", final=True)
            if tail:
                yield tail
        finally:
            response.release()
