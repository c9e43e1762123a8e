"""Nodes of a cluster: list them a page at a time, and set or remove labels.

Objects in and out as the API server's JSON (dicts), errors as
:class:`~.client.KubernetesApiError`, as in :mod:`.client`. Which labels are
the platform's is :mod:`cubelab_hub.domain.node_labels`' business, not this one's.
"""

from __future__ import annotations

import asyncio

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException

from .client import KubernetesApiError, check_response, read_json

__all__ = ["NodeClient", "probe"]


class NodeClient:
    def __init__(self, api_client: k8s.ApiClient):
        self.api_client = api_client
        self.core = k8s.CoreV1Api(api_client)

    async def close(self) -> None:
        await self.api_client.close()

    async def list_nodes(self, limit: int, continue_token: str | None = None) -> tuple[list[dict], str | None]:
        """One page of nodes (the API server's own paging: ``limit`` and
        ``continue``) and the token of the next page (None after the last)."""
        kwargs = {"limit": limit}
        if continue_token:
            kwargs["_continue"] = continue_token
        data = await read_json(self.core.list_node(_preload_content=False, **kwargs))
        return data.get("items", []), (data.get("metadata") or {}).get("continue") or None

    async def get_node(self, name: str) -> dict | None:
        try:
            return await read_json(self.core.read_node(name, _preload_content=False))
        except KubernetesApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def patch_labels(self, name: str, labels: dict[str, str | None]) -> dict:
        """Set (or, with None, remove) these labels of a node and no others: a
        strategic merge patch of ``metadata.labels``."""
        body = {"metadata": {"labels": dict(labels)}}
        return await read_json(self.core.patch_node(name, body, _content_type="application/strategic-merge-patch+json",
                                                     _preload_content=False))


async def probe(api_client: k8s.ApiClient, timeout: float) -> str | None:
    """Whether the API server answers within ``timeout`` seconds: None when it
    does, else why not (for an admin to read)."""
    async def ask() -> None:
        # any answer with a 2xx status will do: the version document itself is not read
        response = await k8s.VersionApi(api_client).get_code(_preload_content=False)
        try:
            await check_response(response)
        finally:
            response.release()

    try:
        await asyncio.wait_for(ask(), timeout)
    except TimeoutError:
        return f"no answer within {timeout:g}s"
    except ApiException as exc:
        return str(KubernetesApiError.from_api_exception(exc))
    except KubernetesApiError as exc:
        return str(exc)
    except Exception as exc:  # connection refused, DNS, TLS: all say "unreachable"
        return f"{type(exc).__name__}: {exc}"[:500]
    return None
