"""The ServiceManager with a project on Kubernetes: its services go to the
cluster (the fake API server), their rows follow the Deployments, a takeover
moves the host's route, stopping and deleting clean up. A real database."""

from __future__ import annotations

import asyncio

import pytest
from kubernetes_asyncio import client as k8s

from cubelab_hub.controlplane.db import Database
from cubelab_hub.controlplane.models.services import ServiceRow
from cubelab_hub.controlplane.services.services import ServiceManager
from cubelab_hub.domain.errors import NotFound
from cubelab_hub.domain.projects import ProjectSettings
from cubelab_hub.domain.services import service_from_dict
from cubelab_hub.kube.service_client import ServiceClient

DOMAIN = "svc.example.com"
SETTINGS = {"kube": ProjectSettings(engine="kubernetes", namespace="kube-team"), "here": ProjectSettings()}


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'cp.sqlite'}")
    database.upgrade()
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
async def manager(apiserver, db, tmp_path):
    configuration = k8s.Configuration()
    configuration.host = apiserver.url
    client = ServiceClient(k8s.ApiClient(configuration))
    m = ServiceManager(db, tmp_path, unix=None, project_settings=SETTINGS.get, clusters={"default": client})
    m.domain = DOMAIN
    m.kubernetes.retry_delay = 0.2
    try:
        yield m
    finally:
        await m.shutdown()
        await client.close()


def body(**extra):
    data = {"project": "kube", "name": "web", "owner": "alice", "image": "nginx:1.27", "ports": "8080", "min_replicas": 2, "max_replicas": 2}
    data.update(extra)
    return data


async def create(manager, **extra) -> int:
    service = service_from_dict(body(**extra), DOMAIN)
    return await manager.db.run(lambda s: manager.create(s, service, "alice").id)


async def row_of(manager, sid) -> dict:
    return await manager.db.run(lambda s: {**manager.view(s, s.get(ServiceRow, sid))})


async def until(manager, sid, predicate, timeout=10.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        view = await row_of(manager, sid)
        if predicate(view):
            return view
        assert loop.time() < deadline, f"service {sid} stayed {view['status']!r}: {view['message']!r}"
        await asyncio.sleep(0.05)


async def test_a_kubernetes_projects_service_runs_there_and_follows_its_deployment(apiserver, manager):
    cluster = apiserver.cluster
    sid = await create(manager)
    await manager.deploy(sid, "alice")
    assert sorted(cluster.objects_of("apps/v1/deployments", "kube-team")) == ["web"]
    assert (await row_of(manager, sid))["status"] == "deploying"
    assert manager.supervisor.of(sid) == []  # no process on this machine

    cluster.roll_out("kube-team", "web")
    view = await until(manager, sid, lambda v: v["status"] == "running")
    assert [r["status"] for r in view["replicas"]] == ["healthy", "healthy"]
    assert view["message"] == "2 of 2 replica(s) ready"

    # a replica's log is its pod's
    pods = sorted(name for (ns, name) in cluster.pods if ns == "kube-team")
    cluster.write_log("kube-team", pods[1], "service", "ready on 8080\n")
    assert [line async for line in manager.kubernetes_replica_log(sid, 1)] == ["ready on 8080\n"]
    with pytest.raises(NotFound):
        [line async for line in manager.kubernetes_replica_log(sid, 5)]

    await manager.stop(sid, "alice")
    assert cluster.objects_of("apps/v1/deployments", "kube-team") == {}
    assert cluster.objects_of("v1/services", "kube-team") == {}
    view = await row_of(manager, sid)
    assert (view["status"], view["replicas"]) == ("stopped", [])


async def test_a_service_without_an_image_is_refused_naming_the_field(apiserver, manager):
    from cubelab_hub.domain.errors import FieldError

    sid = await create(manager, image="", command="python -m http.server")
    with pytest.raises(FieldError) as caught:
        await manager.deploy(sid, "alice")
    assert caught.value.field == "image"
    assert apiserver.cluster.objects == {}


async def test_a_takeover_moves_the_hosts_route_then_takes_the_old_one_offline(apiserver, manager):
    cluster = apiserver.cluster
    old = await create(manager, name="shop-v1", host="shop.svc.example.com")
    await manager.deploy(old, "alice")
    cluster.roll_out("kube-team", "shop-v1")
    await until(manager, old, lambda v: v["status"] == "running")

    new = await create(manager, name="shop-v2", host="shop.svc.example.com")
    await manager.deploy(new, "alice")
    # until the new one is ready the old one keeps the host's route
    assert sorted(cluster.objects_of("networking.istio.io/v1/virtualservices", "kube-team")) == ["shop-v1"]

    cluster.roll_out("kube-team", "shop-v2")
    await until(manager, new, lambda v: v["status"] == "running")
    await until(manager, old, lambda v: v["status"] == "offline")
    assert sorted(cluster.objects_of("networking.istio.io/v1/virtualservices", "kube-team")) == ["shop-v2"]
    assert sorted(cluster.objects_of("apps/v1/deployments", "kube-team")) == ["shop-v2"]
    events = await manager.db.run(lambda s: [e["kind"] for e in manager.events(s, new, 50, None)["events"]])
    assert "takeover" in events


async def test_deleting_a_service_removes_its_objects(apiserver, manager):
    sid = await create(manager, min_replicas=1, max_replicas=3, hpa="cpu:50%")
    await manager.deploy(sid, "alice")
    assert list(apiserver.cluster.objects_of("autoscaling/v2/horizontalpodautoscalers", "kube-team")) == ["web"]
    await manager.delete(sid, "alice")
    assert apiserver.cluster.objects == {}


async def test_other_projects_stay_on_this_machine(manager):
    sid = await create(manager, project="here")  # an image alone: Kubernetes would run it, this machine cannot
    from cubelab_hub.domain.errors import FieldError

    with pytest.raises(FieldError) as caught:
        await manager.deploy(sid, "alice")
    assert caught.value.field == "command"  # the local backend's rule, not Kubernetes'
