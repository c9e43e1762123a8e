"""The kubernetes-asyncio layer against the fake API server (HTTP boundary)."""

from __future__ import annotations

import asyncio

import pytest

from cubelab_hub.engines.kubernetes.client import WorkflowExists
from cubelab_hub.kube.client import KubernetesApiError

from .fake_apiserver import _go_bool

NS = "team-a"


def _workflow(name: str = "run-1", **labels) -> dict:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name, "labels": {"cubelab.io/run-id": name, **labels}},
        "spec": {"entrypoint": "main", "templates": [{"name": "main", "container": {"image": "busybox"}}]},
    }


async def test_create_get_list_delete(argo, apiserver):
    created = await argo.create_workflow(NS, _workflow("run-1", app="x"))
    assert created["metadata"]["namespace"] == NS
    assert created["metadata"]["uid"]
    await argo.create_workflow(NS, _workflow("run-2"))
    await argo.create_workflow("other", _workflow("run-3", app="x"))

    got = await argo.get_workflow(NS, "run-1")
    assert got["spec"]["entrypoint"] == "main"
    assert await argo.get_workflow(NS, "nope") is None

    listed = await argo.list_workflows(NS, label_selector="app=x")
    assert [w["metadata"]["name"] for w in listed] == ["run-1"]

    assert await argo.delete_workflow(NS, "run-1") is True
    assert await argo.delete_workflow(NS, "run-1") is False
    assert await argo.get_workflow(NS, "run-1") is None


async def test_create_twice_is_workflow_exists(argo):
    await argo.create_workflow(NS, _workflow("run-1"))
    with pytest.raises(WorkflowExists) as info:
        await argo.create_workflow(NS, _workflow("run-1"))
    assert info.value.status == 409


async def test_bad_body_is_an_api_error(argo):
    with pytest.raises(KubernetesApiError) as info:
        await argo.create_workflow(NS, {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "x"}})
    assert info.value.status == 400


async def test_invalid_workflow_is_refused_with_the_reason(argo):
    body = _workflow("run-1")
    body["spec"]["templates"][0]["container"]["resources"] = {"limits": {"cpu": "two"}}
    with pytest.raises(KubernetesApiError) as info:
        await argo.create_workflow(NS, body)
    assert info.value.status == 422 and "'two' is not a quantity" in info.value.message


async def test_terminate_is_a_merge_patch(argo, apiserver):
    await argo.create_workflow(NS, _workflow("run-1"))
    patched = await argo.terminate_workflow(NS, "run-1")
    assert patched["spec"]["shutdown"] == "Terminate"
    # the rest of the spec is kept: a merge patch, not a replace
    assert patched["spec"]["entrypoint"] == "main"
    patch_requests = [r for r in apiserver.cluster.requests if r["method"] == "PATCH"]
    assert patch_requests[-1]["content_type"] == "application/merge-patch+json"
    assert await argo.terminate_workflow(NS, "gone") is None


async def test_fake_rejects_json_patch_with_object_body(argo):
    # What kubernetes-asyncio sends for a dict unless told otherwise; the fake
    # (like a real API server) refuses it, so the client must say merge patch.
    with pytest.raises(Exception) as info:
        await argo.custom.patch_namespaced_custom_object("argoproj.io", "v1alpha1", NS, "workflows", "run-1", {"spec": {}})
    assert getattr(info.value, "status", None) in (400, 404)
    await argo.create_workflow(NS, _workflow("run-1"))
    with pytest.raises(Exception) as info:
        await argo.custom.patch_namespaced_custom_object("argoproj.io", "v1alpha1", NS, "workflows", "run-1", {"spec": {"shutdown": "Terminate"}})
    assert info.value.status == 400


def _watch_requests(cluster) -> int:
    return sum(1 for r in cluster.requests if _go_bool(r["query"].get("watch")))


async def _until(predicate, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        assert loop.time() < end, "condition not reached"
        await asyncio.sleep(0.02)


async def _collect(iterator, count: int, timeout: float = 5.0) -> list:
    out = []

    async def run():
        async for item in iterator:
            out.append(item)
            if len(out) >= count:
                break

    await asyncio.wait_for(run(), timeout)
    return out


async def test_watch_yields_current_state_then_changes_then_deleted(argo, apiserver):
    cluster = apiserver.cluster
    await argo.create_workflow(NS, _workflow("run-1"))
    await argo.create_workflow(NS, _workflow("run-2"))
    events = []

    async def watch():
        async for event in argo.watch_workflow(NS, "run-1"):
            events.append((event.type, (event.object.get("status") or {}).get("phase")))

    task = asyncio.create_task(watch())
    await _until(lambda: _watch_requests(cluster) >= 1)
    cluster.set_status(NS, "run-1", {"phase": "Running"})
    cluster.set_status(NS, "run-2", {"phase": "Running"})  # another workflow: not seen
    cluster.set_status(NS, "run-1", {"phase": "Succeeded"})
    cluster.delete_workflow(NS, "run-1")
    await asyncio.wait_for(task, 5)  # DELETED ends the stream
    assert events == [("ADDED", None), ("MODIFIED", "Running"), ("MODIFIED", "Succeeded"), ("DELETED", "Succeeded")]


async def test_watch_reconnects_after_server_timeout(argo, apiserver):
    cluster = apiserver.cluster
    await argo.create_workflow(NS, _workflow("run-1"))
    seen = []

    async def watch():
        async for event in argo.watch_workflow(NS, "run-1", timeout_seconds=1):
            seen.append((event.object.get("status") or {}).get("phase"))
            if seen[-1] == "Succeeded":
                return

    task = asyncio.create_task(watch())
    await _until(lambda: _watch_requests(cluster) >= 2, timeout=10)  # the first one timed out
    cluster.set_status(NS, "run-1", {"phase": "Succeeded"})
    await asyncio.wait_for(task, 5)
    assert seen == [None, "Succeeded"]
    watches = [r for r in cluster.requests if _go_bool(r["query"].get("watch"))]
    assert len(watches) >= 2
    # the reconnect resumes from the last version seen, not from scratch
    assert all(r["query"].get("resourceVersion") for r in watches)


async def test_watch_410_rereads_the_object(argo, apiserver):
    cluster = apiserver.cluster
    await argo.create_workflow(NS, _workflow("run-1"))
    cluster.set_status(NS, "run-1", {"phase": "Running"})
    iterator = argo.watch_workflow(NS, "run-1")
    first = await anext(iterator)
    assert first.object["status"]["phase"] == "Running"
    cluster.set_status(NS, "run-1", {"phase": "Failed"})
    cluster.compacted_before = 10**9  # the version the watch resumes from is gone
    # after the 410 the object is read again: the newest state comes as ADDED
    second = await asyncio.wait_for(anext(iterator), 5)
    assert (second.type, second.object["status"]["phase"]) == ("ADDED", "Failed")
    await iterator.aclose()
    assert sum(1 for r in cluster.requests if r["method"] == "GET" and r["path"].endswith("/run-1")) == 2


async def test_watch_handles_events_over_aiohttp_line_limit(argo, apiserver):
    cluster = apiserver.cluster
    await argo.create_workflow(NS, _workflow("run-1"))
    nodes = {f"run-1-{i}": {"id": f"run-1-{i}", "message": "x" * 400, "phase": "Succeeded"} for i in range(600)}
    iterator = argo.watch_workflow(NS, "run-1")
    await anext(iterator)
    cluster.set_status(NS, "run-1", {"phase": "Succeeded", "nodes": nodes})
    event = await asyncio.wait_for(anext(iterator), 5)
    assert len(event.object["status"]["nodes"]) == 600
    await iterator.aclose()


async def test_watch_of_missing_workflow_ends(argo):
    assert await _collect(argo.watch_workflow(NS, "nope"), 1) == []


async def test_pods_by_label_and_logs(argo, apiserver):
    cluster = apiserver.cluster
    cluster.add_pod(NS, "run-1-prep-1", {"cubelab.io/run-id": "run-1", "cubelab.io/task": "prep"})
    cluster.add_pod(NS, "run-1-train-2", {"cubelab.io/run-id": "run-1", "cubelab.io/task": "train"})
    pods = await argo.list_pods(NS, "cubelab.io/run-id=run-1,cubelab.io/task=prep")
    assert [p["metadata"]["name"] for p in pods] == ["run-1-prep-1"]

    cluster.write_log(NS, "run-1-prep-1", "main", "one\ntwo\n")
    cluster.write_log(NS, "run-1-prep-1", "wait", "argo wait output\n")
    cluster.end_log(NS, "run-1-prep-1", "main")
    lines = [line async for line in argo.pod_log(NS, "run-1-prep-1")]
    assert lines == ["one\n", "two\n"]  # the main container only


async def test_log_follow_streams_until_the_container_ends(argo, apiserver):
    cluster = apiserver.cluster
    cluster.add_pod(NS, "p", {"a": "b"})
    cluster.write_log(NS, "p", "main", "first\n")
    got = []

    async def follow():
        async for line in argo.pod_log(NS, "p", follow=True):
            got.append(line)

    task = asyncio.create_task(follow())
    await _until(lambda: got == ["first\n"])
    cluster.write_log(NS, "p", "main", "second\npart")
    await _until(lambda: got == ["first\n", "second\n"])  # 'part' waits for its newline
    cluster.write_log(NS, "p", "main", "ial ünïcode\n" + "y" * 200_000 + "\n")
    cluster.end_log(NS, "p", "main")
    await asyncio.wait_for(task, 5)
    text = "".join(got)
    assert text == "first\nsecond\npartial ünïcode\n" + "y" * 200_000 + "\n"
    assert max(len(line) for line in got) <= 64 * 1024


async def test_log_without_follow_returns_what_is_there(argo, apiserver):
    cluster = apiserver.cluster
    cluster.add_pod(NS, "p", {"a": "b"})
    cluster.write_log(NS, "p", "main", "so far\n")
    lines = await _collect(argo.pod_log(NS, "p"), 10)
    assert lines == ["so far\n"]


async def test_log_of_unknown_container_is_an_error(argo, apiserver):
    apiserver.cluster.add_pod(NS, "p", {"a": "b"})
    with pytest.raises(KubernetesApiError) as info:
        [line async for line in argo.pod_log(NS, "p", container="sidecar")]
    assert info.value.status == 400
    with pytest.raises(KubernetesApiError) as info:
        [line async for line in argo.pod_log(NS, "nope")]
    assert info.value.status == 404


async def test_silent_watch_is_dropped_and_reopened(argo, apiserver):
    cluster = apiserver.cluster
    await argo.create_workflow(NS, _workflow("run-1"))
    cluster.stall_watches = True
    iterator = argo.watch_workflow(NS, "run-1", timeout_seconds=1, read_slack=0.2)
    await anext(iterator)
    following = asyncio.ensure_future(anext(iterator))
    await _until(lambda: _watch_requests(cluster) >= 1)
    cluster.stall_watches = False  # the next connection works
    cluster.set_status(NS, "run-1", {"phase": "Succeeded"})  # the stalled stream never says so
    event = await asyncio.wait_for(following, 10)
    assert event.object["status"]["phase"] == "Succeeded"
    assert _watch_requests(cluster) >= 2  # a second watch picked it up
    await iterator.aclose()
