"""Clusters and machines for the admin page: the configured clusters and
whether their API servers answer; this machine's cores, memory and GPUs with
what holds them; a Kubernetes cluster's nodes with the platform's role labels,
and relabelling them.

Every call to an API server is through kubernetes-asyncio with a timeout, and
``nvidia-smi`` runs as a subprocess of the loop with a timeout: nothing here
blocks the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import shutil

from ...domain.errors import FieldError, NotFound
from ...domain.formats import parse_bytes, parse_cpu
from ...domain.node_labels import role_labels
from ...kube.client import KubernetesApiError
from ...kube.clusters import connect
from ...kube.nodes import NodeClient, probe
from ...machine import cpu_cores, memory_bytes

log = logging.getLogger("cubelab.clusters")

LOCAL = "local"


def parse_gpu_query(text: str) -> list[dict]:
    """``nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader,nounits``
    -> [{index, name, memory (bytes)}]; lines it cannot read are skipped."""
    gpus = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 3 or not parts[0].isdigit():
            continue
        try:
            memory = int(float(parts[-1]) * 2**20)  # MiB
        except ValueError:
            memory = None
        gpus.append({"index": int(parts[0]), "name": ",".join(parts[1:-1]), "memory": memory})
    return gpus


def _quantity_cpu(text) -> float | None:
    try:
        return float(parse_cpu(str(text).removesuffix("m")).limit) / (1000 if str(text).endswith("m") else 1)
    except FieldError:
        return None


def _quantity_bytes(text) -> int | None:
    value = str(text)
    # Kubernetes writes binary units with 'i' (Ki, Mi, Gi); plain numbers are bytes
    for unit, factor in (("Ki", 2**10), ("Mi", 2**20), ("Gi", 2**30), ("Ti", 2**40)):
        if value.endswith(unit) and value[: -len(unit)].isdigit():
            return int(value[: -len(unit)]) * factor
    if value.isdigit():
        return int(value)
    try:
        return parse_bytes(value)
    except FieldError:
        return None


def node_view(node: dict) -> dict:
    """A node as the admin page shows it: its role labels only, what it can give, whether it is ready."""
    metadata = node.get("metadata") or {}
    status = node.get("status") or {}
    allocatable = status.get("allocatable") or {}
    gpu = sum(int(v) for k, v in allocatable.items() if k.endswith("/gpu") and str(v).isdigit())
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    return {
        "name": metadata.get("name"),
        "labels": role_labels(metadata.get("labels")),
        "allocatable": {"cpu": _quantity_cpu(allocatable.get("cpu", 0)), "memory": _quantity_bytes(allocatable.get("memory", 0)), "gpu": gpu},
        "ready": ready,
    }


class AdminClusters:
    """``clusters``: the ``Clusters`` setting; ``local``: whether work runs on this
    machine (it is listed as the cluster 'local'); ``kubernetes``: whether the
    configured clusters are Kubernetes clusters to list; ``running``:
    ``async () -> holders`` (:meth:`UsageHistory.running`)."""

    def __init__(self, clusters, *, local: bool, kubernetes: bool, running, probe_timeout: float = 5.0,
                 nvidia_smi: str = "nvidia-smi", gpu_timeout: float = 5.0):
        self.clusters = clusters
        self.local = local
        self.kubernetes = kubernetes
        self.running = running
        self.probe_timeout = probe_timeout
        self.nvidia_smi = nvidia_smi
        self.gpu_timeout = gpu_timeout

    def names(self) -> list[tuple[str, str]]:
        found = [(LOCAL, "local")] if self.local else []
        if self.kubernetes:
            found.extend((name, "kubernetes") for name in self.clusters.names() if name != LOCAL)
        return found

    async def _probe(self, name: str) -> str | None:
        try:
            api_client = await asyncio.wait_for(connect(self.clusters.access(name)), self.probe_timeout)
        except Exception as exc:
            return f"cannot configure a client: {type(exc).__name__}: {exc}"[:500]
        try:
            return await probe(api_client, self.probe_timeout)
        finally:
            await api_client.close()

    async def list(self) -> list[dict]:
        names = self.names()

        async def one(name: str, kind: str) -> dict:
            error = None if kind == "local" else await self._probe(name)
            return {"name": name, "kind": kind, "reachable": error is None, "error": error}

        return list(await asyncio.gather(*(one(name, kind) for name, kind in names)))

    def kind_of(self, name: str | None) -> tuple[str, str]:
        """(cluster, kind) of ``?cluster=``; absent: the first listed."""
        names = self.names()
        if not names:
            raise NotFound("no cluster is configured")
        if name is None or name == "":
            return names[0]
        for known, kind in names:
            if known == name:
                return known, kind
        raise NotFound.of("cluster", name)

    # ------------------------------------------------------------ this machine

    async def gpus(self) -> list[dict]:
        path = shutil.which(self.nvidia_smi)
        if not path:
            return []
        try:
            process = await asyncio.create_subprocess_exec(
                path, "--query-gpu=index,name,memory.total", "--format=csv,noheader,nounits",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        except OSError:
            return []
        try:
            out, _ = await asyncio.wait_for(process.communicate(), self.gpu_timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            log.warning("nvidia-smi gave no answer within %gs", self.gpu_timeout)
            return []
        return parse_gpu_query(out.decode(errors="replace")) if process.returncode == 0 else []

    async def local_machine(self) -> dict:
        holders = await self.running()
        gpus = await self.gpus()
        for gpu in gpus:
            # which card a notebook server took is known to the hub's spawner only
            gpu["holder"] = None
        return {
            "kind": "local",
            "cpu": {"count": cpu_cores(), "used": round(sum(h["cpu"] for h in holders), 3)},
            "memory": {"total": memory_bytes(), "used": sum(h["memory"] for h in holders)},
            "gpus": gpus,
            "holders": [{k: h[k] for k in ("kind", "id", "project", "user", "cpu", "memory", "gpu")} for h in holders],
        }

    # ------------------------------------------------------------ Kubernetes nodes

    async def _nodes(self, cluster: str) -> NodeClient:
        return NodeClient(await connect(self.clusters.access(cluster)))

    async def nodes(self, cluster: str, limit: int, continue_token: str | None) -> tuple[list[dict], str | None]:
        client = await self._nodes(cluster)
        try:
            items, following = await asyncio.wait_for(client.list_nodes(limit, continue_token), self.probe_timeout * 2)
        except KubernetesApiError as exc:
            if exc.status == 410:  # the continue token expired: the list changed too much meanwhile
                raise FieldError("cursor", "has expired", "start again without a cursor") from None
            raise
        finally:
            await client.close()
        return [node_view(n) for n in items], following

    async def node_labels(self, cluster: str, node: str) -> dict:
        """A node's role labels; NotFound when the cluster has no such node."""
        client = await self._nodes(cluster)
        try:
            current = await asyncio.wait_for(client.get_node(node), self.probe_timeout * 2)
        finally:
            await client.close()
        if current is None:
            raise NotFound.of("node", node)
        return role_labels((current.get("metadata") or {}).get("labels"))

    async def relabel(self, cluster: str, node: str, patch: dict[str, str | None]) -> dict:
        """Set or remove the platform labels ``patch`` names (and no other); the node's role labels after."""
        client = await self._nodes(cluster)
        try:
            updated = await asyncio.wait_for(client.patch_labels(node, patch), self.probe_timeout * 2)
        except KubernetesApiError as exc:
            if exc.status == 404:
                raise NotFound.of("node", node) from None
            raise
        finally:
            await client.close()
        return role_labels((updated.get("metadata") or {}).get("labels"))
