"""The only code of the Kubernetes engine that talks to an API server.

Argo ``Workflow`` custom objects (create, get, list, watch, terminate, delete)
on top of the generic pod, log and metrics calls of
:class:`cubelab_hub.kube.client.PodClient`. Objects go in and come out as plain
dicts (the compiler's output, the API server's JSON), so nothing here knows what
a pipeline is.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException

from ...kube.client import KubernetesApiError, PodClient, check_response, read_lines

GROUP = "argoproj.io"
VERSION = "v1alpha1"
PLURAL = "workflows"
MAIN_CONTAINER = "main"  # Argo names the user's container 'main' (beside 'wait' and 'init')


# A watch event of a big workflow's status can be far over aiohttp's 128 KiB line limit.
WATCH_LINE_MAX = 64 * 2**20


class WorkflowExists(KubernetesApiError):
    """409 on create: a workflow of that name is already there."""


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED | MODIFIED | DELETED
    object: dict


class ArgoClient(PodClient):
    """Workflows and their pods in one cluster; the namespace is per call
    (each project may have its own)."""

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
            await check_response(response)
            try:
                async for raw in read_lines(response.content, WATCH_LINE_MAX, split_long=False):
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
            except (TimeoutError, aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError):
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

    # ------------------------------------------------------------ a run's Secret

    async def create_secret(self, namespace: str, body: dict) -> dict:
        """Create, or (a submit repeated after a crash) replace the values of the one there."""
        try:
            return await self.core.create_namespaced_secret(namespace, body)
        except ApiException as exc:
            if exc.status != 409:
                raise KubernetesApiError.from_api_exception(exc) from None
        return await self.patch_secret(namespace, body["metadata"]["name"], {"stringData": body["stringData"]})

    async def patch_secret(self, namespace: str, name: str, patch: dict) -> dict:
        try:
            return await self.core.patch_namespaced_secret(name, namespace, patch, _content_type="application/merge-patch+json")
        except ApiException as exc:
            raise KubernetesApiError.from_api_exception(exc) from None

    async def delete_secret(self, namespace: str, name: str) -> bool:
        """False when it was already gone."""
        try:
            await self.core.delete_namespaced_secret(name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise KubernetesApiError.from_api_exception(exc) from None
        return True

    # ------------------------------------------------------------ logs

    async def pod_log(self, namespace: str, pod: str, *, container: str | None = MAIN_CONTAINER, follow: bool = False) -> AsyncIterator[str]:
        """A task pod's log: its ``main`` container unless told otherwise."""
        async for line in super().pod_log(namespace, pod, container=container, follow=follow):
            yield line
