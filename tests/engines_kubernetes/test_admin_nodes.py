"""The admin page's clusters and nodes against the fake API server: reachability,
nodes paged with their role labels only, relabelling only the platform's keys."""

from __future__ import annotations

import socket

import pytest

from cubelab_hub.controlplane.services.admin_clusters import AdminClusters, node_view, parse_gpu_query
from cubelab_hub.domain.errors import FieldError, NotFound
from cubelab_hub.domain.node_labels import parse_label_patch
from cubelab_hub.kube.clusters import Clusters


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def nobody_running() -> list:
    return []


@pytest.fixture
def admin(apiserver):
    clusters = Clusters(default="farm", clusters={"farm": {"host": apiserver.url},
                                                  "gone": {"host": f"http://127.0.0.1:{closed_port()}"}})
    return AdminClusters(clusters, local=True, kubernetes=True, running=nobody_running, probe_timeout=3)


async def test_clusters_are_listed_with_their_reachability(admin):
    listed = {c["name"]: c for c in await admin.list()}
    assert list(listed) == ["local", "farm", "gone"]
    assert listed["local"] == {"name": "local", "kind": "local", "reachable": True, "error": None}
    assert listed["farm"] == {"name": "farm", "kind": "kubernetes", "reachable": True, "error": None}
    assert listed["gone"]["reachable"] is False and listed["gone"]["error"]


async def test_nodes_are_paged_with_role_labels_only(admin, apiserver):
    apiserver.cluster.add_node("n1", {"notebook": "true", "cpu": "true", "org": "public", "zone": "a"})
    apiserver.cluster.add_node("n2", {"train": "true", "gpu": "true", "gpu-type": "V100"},
                               allocatable={"cpu": "7500m", "memory": "30Gi", "nvidia.com/gpu": "2"})
    apiserver.cluster.add_node("n3", ready=False)
    first, token = await admin.nodes("farm", 2, None)
    assert [n["name"] for n in first] == ["n1", "n2"] and token
    assert first[0]["labels"] == {"notebook": "true", "cpu": "true", "org": "public"}
    assert first[1] == {"name": "n2", "labels": {"train": "true", "gpu": "true", "gpu-type": "V100"},
                        "allocatable": {"cpu": 7.5, "memory": 30 * 2**30, "gpu": 2}, "ready": True}
    second, token = await admin.nodes("farm", 2, token)
    assert [(n["name"], n["ready"], n["labels"]) for n in second] == [("n3", False, {})] and token is None
    listed = [r for r in apiserver.cluster.requests if r["path"] == "/api/v1/nodes"]
    assert [r["query"].get("limit") for r in listed] == ["2", "2"]


async def test_an_expired_continue_token_is_a_cursor_error(admin, apiserver):
    apiserver.cluster.add_node("n1")
    apiserver.cluster.add_node("n2")
    _, token = await admin.nodes("farm", 1, None)
    apiserver.cluster.expired_continue = True
    with pytest.raises(FieldError) as exc:
        await admin.nodes("farm", 1, token)
    assert exc.value.field == "cursor"


async def test_relabelling_sets_and_removes_only_platform_labels(admin, apiserver):
    apiserver.cluster.add_node("n1", {"notebook": "true", "gpu-type": "T4", "zone": "a"})
    assert await admin.node_labels("farm", "n1") == {"notebook": "true", "gpu-type": "T4"}
    patch = parse_label_patch({"labels": {"notebook": None, "train": "true", "gpu-type": "A100", "org": "team-a"}})
    after = await admin.relabel("farm", "n1", patch)
    assert after == {"train": "true", "gpu-type": "A100", "org": "team-a"}
    node = apiserver.cluster.nodes["n1"]
    assert node["metadata"]["labels"] == {"kubernetes.io/hostname": "n1", "zone": "a", "train": "true", "gpu-type": "A100", "org": "team-a"}
    patches = [r for r in apiserver.cluster.requests if r["method"] == "PATCH"]
    assert [p["content_type"] for p in patches] == ["application/strategic-merge-patch+json"]


async def test_an_unknown_node_or_cluster_is_not_found(admin):
    with pytest.raises(NotFound):
        await admin.node_labels("farm", "nowhere")
    with pytest.raises(NotFound):
        await admin.relabel("farm", "nowhere", {"train": "true"})
    with pytest.raises(NotFound):
        admin.kind_of("elsewhere")
    assert admin.kind_of(None) == ("local", "local")
    assert admin.kind_of("farm") == ("farm", "kubernetes")


def test_node_view_reads_quantities_and_readiness():
    node = {"metadata": {"name": "x", "labels": {"cpu": "true"}},
            "status": {"allocatable": {"cpu": "2", "memory": "2048Ki"}, "conditions": [{"type": "Ready", "status": "Unknown"}]}}
    assert node_view(node) == {"name": "x", "labels": {"cpu": "true"}, "allocatable": {"cpu": 2.0, "memory": 2 * 2**20, "gpu": 0}, "ready": False}


def test_the_documented_node_shape_has_only_the_labels_a_node_has():
    # as the Lab's generated types read the schemas (properties required unless "required" says)
    import jsonschema
    from support.generated_reading import as_generated

    from cubelab_hub.controlplane.handlers.admin_clusters import SCHEMAS

    node = node_view({"metadata": {"name": "x", "labels": {"train": "true", "kubernetes.io/os": "linux"}},
                      "status": {"allocatable": {"cpu": "2", "memory": "1Gi"}}})
    assert node["labels"] == {"train": "true"}
    kube = as_generated(SCHEMAS["AdminMachines"]["oneOf"][1])
    jsonschema.validate({"kind": "kubernetes", "nodes": [node], "next_cursor": None}, kube)
    jsonschema.validate({"labels": node["labels"]}, as_generated(SCHEMAS["NodeLabels"]))
    jsonschema.validate({"labels": {"gpu": None}}, as_generated(SCHEMAS["NodeLabelsUpdate"]))


def test_nvidia_smi_output_is_read():
    text = "0, NVIDIA H200, 143771\n1, Tesla V100-SXM2-16GB, 16160\nNo devices were found\n"
    assert parse_gpu_query(text) == [{"index": 0, "name": "NVIDIA H200", "memory": 143771 * 2**20},
                                     {"index": 1, "name": "Tesla V100-SXM2-16GB", "memory": 16160 * 2**20}]


async def test_this_machine_is_counted_with_its_holders(apiserver):
    async def running():
        return [{"kind": "server", "id": "alice/", "project": "p", "user": "alice", "cpu": 2.0, "memory": 2**30, "gpu": 0, "started": None},
                {"kind": "task", "id": "r1/train", "project": "p", "user": "bob", "cpu": 0.5, "memory": 2**29, "gpu": 1, "started": None}]

    local = AdminClusters(Clusters(), local=True, kubernetes=False, running=running, nvidia_smi="no-such-nvidia-smi")
    view = await local.local_machine()
    assert view["kind"] == "local" and view["gpus"] == []
    assert view["cpu"]["count"] >= 1 and view["cpu"]["used"] == 2.5
    assert view["memory"]["used"] == 2**30 + 2**29 and view["memory"]["total"] > 0
    assert [h["id"] for h in view["holders"]] == ["alice/", "r1/train"] and "started" not in view["holders"][0]


@pytest.mark.hub
async def test_nodes_listed_and_relabelled_through_the_rest_api(apiserver, fresh_platform):
    """The admin routes on a real CubeLab whose control plane is given the fake
    API server as a cluster (requests run in threads: the fake serves on this loop)."""
    import asyncio
    import json

    from support.platform import User

    for name in ("n1", "n2", "n3"):
        apiserver.cluster.add_node(name, {"cpu": "true", "zone": "a"})
    farm = json.dumps({"host": apiserver.url})
    platform = await asyncio.to_thread(fresh_platform, extra_args=["--controlplane", f"Clusters.clusters=farm={farm}"])
    admin = User(platform, platform.admin, platform.admin_password)
    assert (await asyncio.to_thread(admin.login)).status_code == 302
    await asyncio.to_thread(admin.create_token)

    def call(method, path, **kwargs):
        return asyncio.to_thread(admin.api, method, path, **kwargs)

    clusters = {c["name"]: c for c in (await call("GET", "/admin/clusters")).json()["clusters"]}
    assert clusters["farm"] == {"name": "farm", "kind": "kubernetes", "reachable": True, "error": None}
    first = (await call("GET", "/admin/machines", params={"cluster": "farm", "limit": 2})).json()
    assert first["kind"] == "kubernetes" and [n["name"] for n in first["nodes"]] == ["n1", "n2"]
    assert first["nodes"][0]["labels"] == {"cpu": "true"}
    rest = (await call("GET", "/admin/machines", params={"cluster": "farm", "limit": 2, "cursor": first["next_cursor"]})).json()
    assert [n["name"] for n in rest["nodes"]] == ["n3"] and rest["next_cursor"] is None

    path = "/admin/clusters/farm/nodes/n2/labels"
    bad = await call("PATCH", path, json={"labels": {"train": "yes", "zone": "b"}})
    assert bad.status_code == 400 and [e["field"] for e in bad.json()["errors"]] == ["labels.train", "labels.zone"]
    assert (await call("PATCH", "/admin/clusters/farm/nodes/none/labels", data="not even json")).status_code == 404
    ok = await call("PATCH", path, json={"labels": {"train": "true", "cpu": None, "org": "team-a"}})
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"labels": {"train": "true", "org": "team-a"}}
    assert apiserver.cluster.nodes["n2"]["metadata"]["labels"] == {"kubernetes.io/hostname": "n2", "zone": "a", "train": "true", "org": "team-a"}
    [event] = (await call("GET", "/admin/audit", params={"action": "node.labels"})).json()["events"]
    assert event["detail"] == {"cluster": "farm", "node": "n2", "old": {"cpu": "true"}, "new": {"train": "true", "org": "team-a"}}
    # a cluster that stops answering is a 502 naming it
    await apiserver.stop()
    gone = await call("GET", "/admin/machines", params={"cluster": "farm"})
    assert gone.status_code == 502 and "farm" in gone.json()["message"]
