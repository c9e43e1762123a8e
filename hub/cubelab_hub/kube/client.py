"""Generic calls to a Kubernetes API server: pods, their logs and their metrics;
Jobs and Secrets (:class:`JobClient`).

A thin layer over kubernetes-asyncio shared by everything that runs pods
(pipeline engines, later services and image builds). Objects go in and come out
as plain dicts, the API server's JSON, so nothing here knows what a pipeline or
a notebook is. Errors are :class:`KubernetesApiError`, naming the API server's
reason and message.
"""

from __future__ import annotations

import codecs
import json
import os
from collections.abc import AsyncIterator

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client.exceptions import ApiException

__all__ = [
    "LOG_PIECE_MAX",
    "JobClient",
    "KubernetesApiError",
    "PodClient",
    "check_response",
    "make_api_client",
    "read_json",
    "read_lines",
]

# aiohttp's readline() fails on lines over 128 KiB: one long log line (a
# progress bar) is larger than that, so logs are read in pieces of this size.
LOG_PIECE_MAX = 64 * 2**10


class KubernetesApiError(RuntimeError):
    """An API call that failed; ``status`` is the HTTP status (0 = no answer)."""

    def __init__(self, status: int, reason: str, message: str):
        self.status = status
        self.reason = reason
        self.message = message
        super().__init__(f"{status} {reason}: {message}")

    @classmethod
    def from_api_exception(cls, exc: ApiException) -> KubernetesApiError:
        return cls.from_body(exc.status or 0, exc.reason or "", exc.body)

    @classmethod
    def from_body(cls, status: int, reason: str, body: str | None) -> KubernetesApiError:
        """The API server's Status object names the reason and says what is wrong."""
        message = reason
        try:
            data = json.loads(body or "{}")
            message = data.get("message", message)
            reason = data.get("reason", reason)
        except (TypeError, ValueError, AttributeError):
            pass
        return cls(status, reason, message)


async def read_lines(stream, limit: int, *, split_long: bool) -> AsyncIterator[bytes]:
    """Newline-terminated lines of a byte stream (the last one may lack it).
    A line over ``limit`` is yielded in pieces (logs) or is an error (watches)."""
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


async def check_response(response) -> None:
    """With ``_preload_content=False`` kubernetes-asyncio hands back the raw
    response whatever its status: turn an error status into an exception."""
    if 200 <= response.status <= 299:
        return
    body = await response.read()
    response.release()
    raise KubernetesApiError.from_body(response.status, response.reason or "", body.decode("utf-8", errors="replace"))


async def read_json(call) -> dict:
    """Await a kubernetes-asyncio call made with ``_preload_content=False``: its
    JSON body, or the API server's error as :class:`KubernetesApiError`."""
    try:
        response = await call
    except ApiException as exc:
        raise KubernetesApiError.from_api_exception(exc) from None
    await check_response(response)
    try:
        return json.loads(await response.read())
    finally:
        response.release()


async def make_api_client(*, host: str | None = None, kubeconfig: str | None = None, context: str | None = None, in_cluster: bool = False) -> k8s.ApiClient:
    """An ApiClient for a configured cluster: in-cluster service account,
    a kubeconfig (and context), or a bare host (tests, ``kubectl proxy``).
    Nothing said, and running in a pod: that pod's service account."""
    configuration = k8s.Configuration()
    if not (host or kubeconfig or context) and os.environ.get("KUBERNETES_SERVICE_HOST"):
        in_cluster = True
    if in_cluster:
        k8s_config.load_incluster_config(client_configuration=configuration)
    elif kubeconfig is not None or host is None:
        await k8s_config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
    else:
        configuration.host = host
    return k8s.ApiClient(configuration)


class PodClient:
    """Pods, logs and metrics in one cluster; the namespace is per call (each
    project may have its own)."""

    def __init__(self, api_client: k8s.ApiClient):
        self.api_client = api_client
        self.custom = k8s.CustomObjectsApi(api_client)
        self.core = k8s.CoreV1Api(api_client)

    async def close(self) -> None:
        await self.api_client.close()

    # ------------------------------------------------------------ Secrets
    # Every client may write Secrets: runs, services and builds need the
    # project's registry pull Secrets in its namespace before their pods.

    async def apply_secret(self, namespace: str, body: dict) -> dict:
        """Create a Secret, or give the one there this body's labels, type and data."""
        try:
            return await read_json(self.core.create_namespaced_secret(namespace, body, _preload_content=False))
        except KubernetesApiError as exc:
            if exc.status != 409:
                raise
        patch = {"metadata": {"labels": body["metadata"].get("labels", {})}, "data": body.get("data", {})}
        return await self.patch_secret(namespace, body["metadata"]["name"], patch)

    async def patch_secret(self, namespace: str, name: str, patch: dict) -> dict:
        return await read_json(self.core.patch_namespaced_secret(name, namespace, patch, _content_type="application/merge-patch+json",
                                                                  _preload_content=False))

    async def list_secrets(self, namespace: str, label_selector: str) -> list[dict]:
        data = await read_json(self.core.list_namespaced_secret(namespace, label_selector=label_selector, _preload_content=False))
        return data.get("items", [])

    async def list_secrets_everywhere(self, label_selector: str) -> list[dict]:
        """Secrets of every namespace with these labels (needs ``secrets`` list cluster-wide)."""
        data = await read_json(self.core.list_secret_for_all_namespaces(label_selector=label_selector, _preload_content=False))
        return data.get("items", [])

    async def delete_secret(self, namespace: str, name: str) -> bool:
        """False when it was already gone."""
        try:
            await read_json(self.core.delete_namespaced_secret(name, namespace, _preload_content=False))
        except KubernetesApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    # ------------------------------------------------------------ pods

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
        data = await read_json(self.core.list_namespaced_pod(namespace, label_selector=label_selector, _preload_content=False))
        return data.get("items", [])

    async def pod_log(self, namespace: str, pod: str, *, container: str | None = None, follow: bool = False) -> AsyncIterator[str]:
        """Lines of a container's log (with their newline); with ``follow`` the
        stream goes on until the container ends. No ``container``: the pod's only one."""
        try:
            response = await self.core.read_namespaced_pod_log(pod, namespace, container=container, follow=follow, _preload_content=False)
        except ApiException as exc:
            raise KubernetesApiError.from_api_exception(exc) from None
        await check_response(response)
        try:
            # incremental: a long line's pieces may cut a UTF-8 character in two
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            async for raw in read_lines(response.content, LOG_PIECE_MAX, split_long=True):
                text = decoder.decode(raw)
                if text:
                    yield text
            tail = decoder.decode(b"", final=True)
            if tail:
                yield tail
        finally:
            response.release()


class JobClient(PodClient):
    """Jobs in one cluster, beside pods, logs and Secrets: what an image
    build needs. Objects in and out as dicts."""

    def __init__(self, api_client: k8s.ApiClient):
        super().__init__(api_client)
        self.batch = k8s.BatchV1Api(api_client)

    async def create_job(self, namespace: str, body: dict) -> dict:
        return await read_json(self.batch.create_namespaced_job(namespace, body, _preload_content=False))

    async def get_job(self, namespace: str, name: str) -> dict | None:
        try:
            return await read_json(self.batch.read_namespaced_job(name, namespace, _preload_content=False))
        except KubernetesApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def delete_job(self, namespace: str, name: str) -> bool:
        """Delete a Job and, before it is gone, its pods (Foreground); False when it was already gone."""
        try:
            await read_json(self.batch.delete_namespaced_job(name, namespace, propagation_policy="Foreground", _preload_content=False))
        except KubernetesApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True
