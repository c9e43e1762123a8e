"""The Kubernetes calls a service needs: apply its objects, read and watch its
Deployment, list and delete what it left, read its pods' logs.

Objects go in and come out as plain dicts (the builders' output of
:mod:`.services`, the API server's JSON), so nothing here knows what a service
is beyond its labels. Every kind goes through one generic path
(``/api/v1/...`` for the core group, ``/apis/<group>/<version>/...``
otherwise), so Istio's custom resources and ``apps/v1`` travel the same way.

Objects are applied with **server-side apply** (``PATCH`` with
``application/apply-patch+yaml``, one field manager, ``force``): one request
creates or updates an object, a repeated apply is a no-op, and fields that
other managers own (the autoscaler's ``replicas``, a mesh's injected
annotations) are left alone, where a create-or-replace would overwrite them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import quote

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException

from .client import KubernetesApiError, PodClient, check_response, read_json, read_lines

__all__ = [
    "FIELD_MANAGER",
    "RESOURCES",
    "Resource",
    "ServiceClient",
    "resource_of",
]

FIELD_MANAGER = "cubelab"
# A Deployment's watch event is small, but a generous limit costs nothing.
WATCH_LINE_MAX = 16 * 2**20


@dataclass(frozen=True)
class Resource:
    """Where one kind lives in the API."""

    api_version: str  # 'v1', 'apps/v1', 'networking.istio.io/v1'
    kind: str
    plural: str

    def path(self, namespace: str, name: str | None = None) -> str:
        prefix = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        path = f"{prefix}/namespaces/{quote(namespace, safe='')}/{self.plural}"
        return f"{path}/{quote(name, safe='')}" if name else path


# Every kind a service's builders make, in apply order; deletion goes backwards
# (routing first, so no request is sent to a workload that is going away).
RESOURCES = (
    Resource("apps/v1", "Deployment", "deployments"),
    Resource("v1", "Service", "services"),
    Resource("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers"),
    Resource("networking.istio.io/v1", "VirtualService", "virtualservices"),
    Resource("networking.istio.io/v1", "DestinationRule", "destinationrules"),
)
_BY_KIND = {(r.api_version, r.kind): r for r in RESOURCES}


def resource_of(obj: dict) -> Resource:
    """The resource of a built object; a kind the builders do not make is a bug."""
    key = (obj.get("apiVersion"), obj.get("kind"))
    if key not in _BY_KIND:
        raise ValueError(f"no resource known for apiVersion {key[0]!r}, kind {key[1]!r}")
    return _BY_KIND[key]


DEPLOYMENT = RESOURCES[0]


class ServiceClient(PodClient):
    """A service's objects, pods and logs in one cluster; the namespace is per call."""

    async def _call(self, method: str, path: str, *, query: list | None = None, body=None, content_type: str | None = None,
                    timeout=None):
        """One request; the raw response (the caller reads and releases it)."""
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            response = await self.api_client.call_api(
                path, method, query_params=query or [], header_params=headers, body=body,
                auth_settings=["BearerToken"], _preload_content=False, _request_timeout=timeout,
            )
        except ApiException as exc:
            raise KubernetesApiError.from_api_exception(exc) from None
        return response

    async def _json(self, method: str, path: str, **kwargs) -> dict:
        return await read_json(self._call(method, path, **kwargs))

    # ------------------------------------------------------------ objects

    async def apply(self, obj: dict, *, field_manager: str = FIELD_MANAGER) -> dict:
        """Create or update ``obj`` (server-side apply, forcing conflicts: these
        objects are the platform's); the object as stored."""
        resource = resource_of(obj)
        meta = obj["metadata"]
        return await self._json(
            "PATCH", resource.path(meta["namespace"], meta["name"]),
            query=[("fieldManager", field_manager), ("force", "true")],
            body=obj, content_type="application/apply-patch+yaml",
        )

    async def get(self, resource: Resource, namespace: str, name: str) -> dict | None:
        try:
            return await self._json("GET", resource.path(namespace, name))
        except KubernetesApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def list(self, resource: Resource, namespace: str, label_selector: str) -> list[dict]:
        data = await self._json("GET", resource.path(namespace), query=[("labelSelector", label_selector)])
        return data.get("items", [])

    async def delete(self, resource: Resource, namespace: str, name: str) -> bool:
        """Delete one object, its dependents in the background (a Deployment's
        ReplicaSets and pods); False when it was already gone."""
        try:
            response = await self._call("DELETE", resource.path(namespace, name), body={"propagationPolicy": "Background"},
                                        content_type="application/json")
            await check_response(response)
            response.release()
        except KubernetesApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    # ------------------------------------------------------------ watching a Deployment

    async def watch_deployment(self, namespace: str, name: str, *, timeout_seconds: int = 300,
                               read_slack: float = 30.0) -> AsyncIterator[dict | None]:
        """The Deployment now, then again at each change; ``None`` whenever it
        is not there (not created yet, or deleted). Runs until the caller stops
        iterating: server timeouts, dropped streams and compacted versions (410)
        reconnect, re-reading the object when the version is lost."""
        read_timeout = aiohttp.ClientTimeout(total=None, sock_read=timeout_seconds + read_slack)
        version: str | None = None
        while True:
            if version is None:
                # a list, not a get: its resourceVersion is where the watch starts,
                # also when the Deployment is not there yet
                data = await self._json("GET", DEPLOYMENT.path(namespace), query=[("fieldSelector", f"metadata.name={name}")])
                items = data.get("items") or []
                version = (data.get("metadata") or {}).get("resourceVersion") or "0"
                yield items[0] if items else None
            query = [("fieldSelector", f"metadata.name={name}"), ("watch", "true"), ("resourceVersion", version),
                     ("timeoutSeconds", str(timeout_seconds)), ("allowWatchBookmarks", "true")]
            try:
                response = await self._call("GET", DEPLOYMENT.path(namespace), query=query, timeout=read_timeout)
            except KubernetesApiError as exc:
                if exc.status == 410:
                    version = None
                    continue
                raise
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
                    version = (obj.get("metadata") or {}).get("resourceVersion", version)
                    if kind == "BOOKMARK":
                        continue
                    yield None if kind == "DELETED" else obj
            except (TimeoutError, aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError):
                await asyncio.sleep(0)  # reopen from the last version seen
            finally:
                response.release()
