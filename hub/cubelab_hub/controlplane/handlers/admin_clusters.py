"""The admin page's clusters and machines (admins only): the configured
clusters and whether they answer, this machine's resources and what holds
them, a Kubernetes cluster's nodes with the platform's role labels, and
relabelling a node."""

from __future__ import annotations

import aiohttp

from ...domain.node_labels import ROLE_LABEL_KEYS, parse_label_patch
from ...domain.paging import ListFilters, decode_cursor, encode_cursor
from ...kube.client import KubernetesApiError
from .base import APIError, APIHandler, op, route
from .listing import ListArguments, list_params

TAGS = ["admin"]
CLUSTER_PARAM = {"name": "cluster", "in": "path", "required": True, "schema": {"type": "string"}}
NODE_PARAM = {"name": "node", "in": "path", "required": True, "schema": {"type": "string"}}


class ClusterCalls(APIHandler):
    """A cluster that fails to answer is a 502 naming it, not an internal error."""

    async def cluster_call(self, cluster: str, call):
        try:
            return await call
        except KubernetesApiError as exc:
            raise APIError(502, "cluster_error", f"cluster '{cluster}' refused: {exc.reason}: {exc.message}") from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise APIError(502, "cluster_unreachable", f"cluster '{cluster}' did not answer ({type(exc).__name__})") from None


class ClusterListHandler(APIHandler):
    openapi = {"get": op("The configured clusters and whether their API servers answer (admins); 'local' is this machine",
                         tags=TAGS, returns="AdminClusters", errors=(401, 403))}

    async def get(self):
        self.require("admin")
        self.send({"clusters": await self.app.admin_clusters.list()})


class MachinesHandler(ListArguments, ClusterCalls):
    openapi = {"get": op("One cluster's machines (admins): this machine's CPU, memory and GPUs with what holds them, or a "
                         "Kubernetes cluster's nodes with the platform's role labels (paged)", tags=TAGS, returns="AdminMachines",
                         errors=(400, 401, 403, 404, 502),
                         params=list_params() + [{"name": "cluster", "in": "query", "required": False,
                                                  "description": "a cluster of GET /admin/clusters (default: the first)",
                                                  "schema": {"type": "string"}}])}

    async def get(self):
        self.require("admin")
        clusters = self.app.admin_clusters
        cluster, kind = clusters.kind_of(self.get_argument("cluster", None))
        if kind == "local":
            self.send(await clusters.local_machine())
            return
        limit, cursor, _ = self.page_arguments()
        filters = ListFilters(project=cluster)  # a cursor continues the list of its own cluster only
        start = decode_cursor("nodes", cursor, (str,), filters)
        nodes, following = await self.cluster_call(cluster, clusters.nodes(cluster, limit, start[0] if start else None))
        self.send({"kind": "kubernetes", "nodes": nodes,
                   "next_cursor": encode_cursor("nodes", [following], filters) if following else None})


class NodeLabelsHandler(ClusterCalls):
    openapi = {"patch": op("Set (a value) or remove (null) a node's platform role labels: notebook, train, service, cpu, gpu "
                           "('true'), org, gpu-type; other labels are left alone (admins). Audited", tags=TAGS,
                           body="NodeLabelsUpdate", returns="NodeLabels", params=[CLUSTER_PARAM, NODE_PARAM],
                           errors=(400, 401, 403, 404, 502))}

    async def patch(self, cluster, node):
        self.require("admin")
        clusters = self.app.admin_clusters
        cluster, kind = clusters.kind_of(cluster)
        if kind != "kubernetes":
            raise APIError(404, "not_found", f"cluster '{cluster}' is this machine: it has no nodes to label")
        before = await self.cluster_call(cluster, clusters.node_labels(cluster, node))  # 404 before the body is read
        patch = parse_label_patch(self.json_body())
        after = await self.cluster_call(cluster, clusters.relabel(cluster, node, patch))
        await self.app.audit(self.actor.name, None, "node.labels", {"cluster": cluster, "node": node, "old": before, "new": after})
        self.send({"labels": after})


# only the labels a node has are present ("required": [] keeps them optional in the generated types)
_ROLE_LABELS = {"type": "object", "required": [], "properties": {key: {"type": "string"} for key in ROLE_LABEL_KEYS},
                "additionalProperties": False}

SCHEMAS = {
    "AdminClusters": {"type": "object", "required": ["clusters"], "properties": {"clusters": {"type": "array", "items": {
        "type": "object", "required": ["name", "kind", "reachable", "error"], "properties": {
            "name": {"type": "string"}, "kind": {"type": "string", "enum": ["local", "kubernetes"]},
            "reachable": {"type": "boolean"}, "error": {"type": ["string", "null"]}}}}}},
    "AdminMachines": {"oneOf": [
        {"type": "object", "required": ["kind", "cpu", "memory", "gpus", "holders"], "properties": {
            "kind": {"const": "local"},
            "cpu": {"type": "object", "properties": {"count": {"type": "integer"}, "used": {"type": "number"}}},
            "memory": {"type": "object", "properties": {"total": {"type": ["integer", "null"]}, "used": {"type": "integer"}}},
            "gpus": {"type": "array", "items": {"type": "object", "properties": {
                "index": {"type": "integer"}, "name": {"type": "string"}, "memory": {"type": ["integer", "null"]},
                "holder": {"type": ["string", "null"]}}}},
            "holders": {"type": "array", "items": {"type": "object", "properties": {
                "kind": {"type": "string", "enum": ["server", "task", "trial", "service"]}, "id": {"type": "string"},
                "project": {"type": ["string", "null"]}, "user": {"type": "string"},
                "cpu": {"type": "number"}, "memory": {"type": "integer"}, "gpu": {"type": "number"}}}}}},
        {"type": "object", "required": ["kind", "nodes", "next_cursor"], "properties": {
            "kind": {"const": "kubernetes"},
            "nodes": {"type": "array", "items": {"type": "object", "required": ["name", "labels", "allocatable", "ready"], "properties": {
                "name": {"type": "string"}, "labels": _ROLE_LABELS, "ready": {"type": "boolean"},
                "allocatable": {"type": "object", "properties": {"cpu": {"type": ["number", "null"]}, "memory": {"type": ["integer", "null"]},
                                                                 "gpu": {"type": "integer"}}}}}},
            "next_cursor": {"type": ["string", "null"], "description": "pass as ?cursor= for the next page; null on the last page"}}},
    ]},
    "NodeLabelsUpdate": {"type": "object", "required": ["labels"], "additionalProperties": False, "properties": {
        "labels": {"type": "object", "minProperties": 1, "additionalProperties": False, "required": [],
                   "properties": {key: {"type": ["string", "null"]} for key in ROLE_LABEL_KEYS}}}},
    "NodeLabels": {"type": "object", "required": ["labels"], "properties": {"labels": _ROLE_LABELS}},
}

ROUTES = [
    route("/admin/clusters", ClusterListHandler),
    route("/admin/machines", MachinesHandler),
    route("/admin/clusters/{cluster}/nodes/{node}/labels", NodeLabelsHandler),
]
