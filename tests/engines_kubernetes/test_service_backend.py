"""Services on Kubernetes (controlplane/services/service_backends.py and
kube/service_client.py) against the fake API server: what is applied, what a
second apply changes, how the status follows the Deployment, where logs come
from, and that stopping leaves nothing behind. The API server validates every
applied object against the Kubernetes schema and the Istio CRDs."""

from __future__ import annotations

import asyncio

import pytest
from kubernetes_asyncio import client as k8s

from cubelab_hub.controlplane.services.service_backends import KubernetesServiceBackend, backend_name
from cubelab_hub.domain.errors import FieldError, NotFound
from cubelab_hub.domain.projects import ProjectSettings, settings_from_properties
from cubelab_hub.domain.services import service_from_dict
from cubelab_hub.kube.service_client import ServiceClient
from cubelab_hub.kube.services import ServiceContext, service_objects

from .fake_apiserver import FakeApiServer

DOMAIN = "svc.example.com"
NS = "team-a"
PROJECT = settings_from_properties({"namespace": NS, "service_external_ip": "10.0.0.5", "node_selector": "disk=ssd"})

DEPLOYMENTS = "apps/v1/deployments"
SERVICES = "v1/services"
HPAS = "autoscaling/v2/horizontalpodautoscalers"
VIRTUAL_SERVICES = "networking.istio.io/v1/virtualservices"
DESTINATION_RULES = "networking.istio.io/v1/destinationrules"
KINDS = (DEPLOYMENTS, SERVICES, HPAS, VIRTUAL_SERVICES, DESTINATION_RULES)


def service(**extra):
    data = {
        "project": "team-a",
        "name": "web",
        "owner": "alice",
        "image": "nginx:1.27",
        "ports": "8080",
        "health": "8080:/healthz",
        "min_replicas": 2,
        "max_replicas": 2,
    }
    data.update(extra)
    return service_from_dict(data, DOMAIN)


TARGETS = {"web-next": service(name="web-next", ports="9000"), "web-shadow": service(name="web-shadow", ports="7000")}


def names(cluster, namespace=NS) -> dict[str, list[str]]:
    return {kind: sorted(cluster.objects_of(kind, namespace)) for kind in KINDS}


class Recorder:
    """What the backend reported, in order; waits for a state."""

    def __init__(self):
        self.seen: list = []
        self.changed = asyncio.Event()

    def __call__(self, service_id, state, pods):
        self.seen.append((service_id, state, pods))
        self.changed.set()

    async def until(self, predicate, timeout=10.0):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for item in self.seen:
                if predicate(*item):
                    return item
            self.changed.clear()
            left = deadline - loop.time()
            assert left > 0, f"no such report; seen: {[(s.state, s.message) for _, s, _ in self.seen]}"
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except TimeoutError:
                pass


@pytest.fixture
async def client(apiserver):
    configuration = k8s.Configuration()
    configuration.host = apiserver.url
    c = ServiceClient(k8s.ApiClient(configuration))
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
async def backend(client):
    recorder = Recorder()
    b = KubernetesServiceBackend(DOMAIN, clusters={"default": client}, project_settings=lambda project: PROJECT,
                                 on_status=recorder, service_named=TARGETS.get)
    b.recorder = recorder
    b.retry_delay = 0.2
    try:
        yield b
    finally:
        await b.close()


# ---------------------------------------------------------------- apply


async def test_apply_creates_exactly_the_builders_objects(apiserver, backend):
    svc = service(min_replicas=2, max_replicas=5, hpa="cpu:50%", canary="web-next:20%", mirror="web-shadow:10%")
    await backend.deploy(1, svc, 1, 2)
    cluster = apiserver.cluster
    assert names(cluster) == {
        DEPLOYMENTS: ["web"], SERVICES: ["web", "web-external"], HPAS: ["web"], VIRTUAL_SERVICES: ["web"], DESTINATION_RULES: ["web"],
    }
    # each stored object is the builder's (in the project's namespace, with the targets' ports)
    expected = service_objects(svc, ServiceContext(namespace=NS, domain=DOMAIN, project=PROJECT, area="default",
                                                   target_ports={"web-next": 9000, "web-shadow": 7000}))
    for obj in expected:
        stored = next(o for (res, ns, name), o in cluster.objects.items() if o["kind"] == obj["kind"] and name == obj["metadata"]["name"])
        assert {k: v for k, v in stored["metadata"].items() if k in ("name", "namespace", "labels")} == obj["metadata"]
        assert stored["spec"] == obj["spec"]
    # one server-side apply per object, all by the platform's field manager
    writes = [r for r in cluster.requests if r["method"] != "GET"]
    assert len(writes) == len(expected)
    assert {(r["method"], r["content_type"], r["query"].get("fieldManager"), r["query"].get("force")) for r in writes} == {
        ("PATCH", "application/apply-patch+yaml", "cubelab", "true")
    }


async def test_reapply_updates_in_place_without_duplicates(apiserver, backend):
    cluster = apiserver.cluster
    await backend.deploy(1, service(), 1, 2)
    first = {key: obj["metadata"]["resourceVersion"] for key, obj in cluster.objects.items()}
    await backend.deploy(1, service(), 1, 2)
    assert {key: obj["metadata"]["resourceVersion"] for key, obj in cluster.objects.items()} == first  # nothing changed
    await backend.deploy(1, service(env="MODE=fast", min_replicas=3, max_replicas=3), 2, 3)
    assert names(cluster) == {DEPLOYMENTS: ["web"], SERVICES: ["web", "web-external"], HPAS: [], VIRTUAL_SERVICES: ["web"],
                              DESTINATION_RULES: ["web"]}
    deployment = cluster.objects[(DEPLOYMENTS, NS, "web")]
    assert deployment["metadata"]["generation"] == 2
    assert deployment["spec"]["replicas"] == 3
    assert {"name": "MODE", "value": "fast"} in deployment["spec"]["template"]["spec"]["containers"][0]["env"]


async def test_an_hpa_only_when_min_and_max_differ(apiserver, backend):
    cluster = apiserver.cluster
    await backend.deploy(1, service(min_replicas=2, max_replicas=2), 1, 2)
    assert names(cluster)[HPAS] == []
    assert cluster.objects[(DEPLOYMENTS, NS, "web")]["spec"]["replicas"] == 2

    await backend.deploy(1, service(min_replicas=1, max_replicas=4, hpa="cpu:60%,mem:80%"), 2, 1)
    hpa = cluster.objects[(HPAS, NS, "web")]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 4)
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu", "memory"]
    # the autoscaler owns the count now: the apply leaves the Deployment's replicas alone
    assert cluster.objects[(DEPLOYMENTS, NS, "web")]["spec"]["replicas"] == 2

    await backend.deploy(1, service(min_replicas=3, max_replicas=3), 3, 3)
    assert names(cluster)[HPAS] == []  # pruned
    assert cluster.objects[(DEPLOYMENTS, NS, "web")]["spec"]["replicas"] == 3


async def test_the_virtual_service_splits_and_mirrors(apiserver, backend):
    await backend.deploy(1, service(canary="web-next:20%", mirror="web-shadow:50%"), 1, 2)
    vs = apiserver.cluster.objects[(VIRTUAL_SERVICES, NS, "web")]
    assert vs["spec"]["hosts"] == ["web.svc.example.com"]
    (http,) = vs["spec"]["http"]
    assert [(r["destination"]["host"], r["destination"].get("port"), r["weight"]) for r in http["route"]] == [
        (f"web.{NS}.svc.cluster.local", {"number": 8080}, 80),
        (f"web-next.{NS}.svc.cluster.local", {"number": 9000}, 20),
    ]
    assert http["mirror"] == {"host": f"web-shadow.{NS}.svc.cluster.local", "port": {"number": 7000}}
    assert http["mirrorPercentage"] == {"value": 50.0}

    # the split taken away: one route, no mirror
    await backend.deploy(1, service(), 2, 2)
    (http,) = apiserver.cluster.objects[(VIRTUAL_SERVICES, NS, "web")]["spec"]["http"]
    assert http == {"route": [{"destination": {"host": f"web.{NS}.svc.cluster.local", "port": {"number": 8080}}}]}


async def test_only_the_hosts_routing_owner_has_the_virtual_service(apiserver, backend):
    cluster = apiserver.cluster
    await backend.deploy(1, service(name="old", host="shop.svc.example.com"), 1, 2)
    await backend.deploy(2, service(name="new", host="shop.svc.example.com"), 1, 2, owns_host=False)
    assert names(cluster)[VIRTUAL_SERVICES] == ["old"]
    assert names(cluster)[DEPLOYMENTS] == ["new", "old"]
    # the takeover: the old one goes, the new one takes the host
    await backend.stop(1, None)
    await backend.deploy(2, service(name="new", host="shop.svc.example.com"), 1, 2, owns_host=True)
    assert names(cluster)[VIRTUAL_SERVICES] == ["new"]
    assert cluster.objects[(VIRTUAL_SERVICES, NS, "new")]["spec"]["hosts"] == ["shop.svc.example.com"]


async def test_environments_are_separate_objects(apiserver, backend):
    inference = {"kind": "inference", "serving_type": "custom", "model_name": "iris", "model_version": "v1", "model_path": "/mnt/m",
                 "command": "python serve.py", "min_replicas": 1, "max_replicas": 1, "name": ""}
    await backend.deploy(1, service(**inference), 1, 1)
    await backend.deploy(2, service(**inference, environment="test"), 1, 1)
    assert names(apiserver.cluster)[DEPLOYMENTS] == ["custom-iris-1", "test-custom-iris-1"]
    await backend.stop(2, None)
    assert names(apiserver.cluster)[DEPLOYMENTS] == ["custom-iris-1"]  # the prod one is untouched


async def test_a_service_without_an_image_is_refused_before_anything_is_sent(apiserver, backend):
    with pytest.raises(FieldError) as caught:
        await backend.deploy(1, service(image="", command="python -m http.server"), 1, 2)
    assert caught.value.field == "image"
    assert apiserver.cluster.objects == {}
    assert [r for r in apiserver.cluster.requests if r["method"] != "GET"] == []


async def test_an_invalid_object_is_an_api_error_naming_the_problem(apiserver, backend):
    from cubelab_hub.kube.client import KubernetesApiError

    bad = service_objects(service(), ServiceContext(namespace=NS, domain=DOMAIN, project=PROJECT))[0]
    bad["spec"]["replicas"] = "two"
    with pytest.raises(KubernetesApiError) as caught:
        await ServiceClient(backend._clients["default"].api_client).apply(bad)
    assert caught.value.status == 422
    assert "replicas" in caught.value.message


# ---------------------------------------------------------------- where


async def test_the_projects_cluster_and_namespace(client):
    other = await FakeApiServer().start()
    configuration = k8s.Configuration()
    configuration.host = other.url
    farm = ServiceClient(k8s.ApiClient(configuration))
    settings = {"team-a": PROJECT, "gpu": ProjectSettings(cluster="gpu-farm", namespace="gpu-team"), "plain": ProjectSettings()}
    backend = KubernetesServiceBackend(DOMAIN, clusters={"default": client, "gpu-farm": farm}, project_settings=settings.get)
    try:
        await backend.deploy(1, service(project="gpu"), 1, 2)
        assert names(other.cluster, "gpu-team")[DEPLOYMENTS] == ["web"]
        await backend.deploy(2, service(project="plain", name="plain-web"), 1, 2)
        assert names(other.cluster, "service")[DEPLOYMENTS] == []
        with pytest.raises(FieldError) as caught:
            await KubernetesServiceBackend(DOMAIN, clusters={"default": client}, project_settings=settings.get).deploy(3, service(project="gpu"), 1, 1)
        assert caught.value.field == "cluster" and "gpu-farm" in caught.value.message
    finally:
        await backend.close()
        await farm.close()
        await other.stop()


def test_the_backend_follows_the_projects_engine():
    assert backend_name(ProjectSettings(engine="kubernetes"), "local") == "kubernetes"
    assert backend_name(ProjectSettings(), "kubernetes") == "kubernetes"
    assert backend_name(ProjectSettings(engine="local"), "kubernetes") == "local"
    assert backend_name(ProjectSettings(), "local") == "local"


# ---------------------------------------------------------------- status


async def test_status_follows_the_deployment(apiserver, backend):
    cluster = apiserver.cluster
    recorder = backend.recorder
    await backend.deploy(7, service(), 1, 2)
    await recorder.until(lambda sid, state, pods: sid == 7 and state.state == "deploying")

    cluster.roll_out(NS, "web", ready=1)
    _, state, pods = await recorder.until(lambda sid, state, pods: state.ready == 1)
    assert state.state == "deploying" and state.message.startswith("1 of 2 replica(s) ready")
    assert sorted(p.status for p in pods) == ["healthy", "starting"]

    cluster.roll_out(NS, "web")
    _, state, pods = await recorder.until(lambda sid, state, pods: state.state == "running")
    assert (state.desired, state.ready) == (2, 2)
    assert [p.status for p in pods] == ["healthy", "healthy"]
    assert backend.state(7).state == "running"

    # an edit: the controller has not seen the new generation yet, so not running
    await backend.deploy(7, service(env="A=1"), 2, 2)
    await recorder.until(lambda sid, state, pods: state.message == "the new spec is not picked up yet")

    status = dict(cluster.objects[(DEPLOYMENTS, NS, "web")]["status"], observedGeneration=2, conditions=[
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
         "message": 'ReplicaSet "web-2abc" has timed out progressing.'}])
    cluster.set_deployment_status(NS, "web", status)
    _, state, _ = await recorder.until(lambda sid, state, pods: state.state == "failed")
    assert "has timed out progressing" in state.message


async def test_a_deleted_deployment_is_reported_absent(apiserver, backend):
    await backend.deploy(3, service(), 1, 2)
    await backend.recorder.until(lambda sid, state, pods: state.state == "deploying")
    apiserver.cluster.delete_object(DEPLOYMENTS, NS, "web")
    await backend.recorder.until(lambda sid, state, pods: state.state == "absent")


# ---------------------------------------------------------------- logs


async def test_logs_come_from_the_services_pods(apiserver, backend):
    cluster = apiserver.cluster
    await backend.deploy(1, service(), 1, 2)
    pods = cluster.roll_out(NS, "web")
    first, second = (p["metadata"]["name"] for p in pods)
    cluster.write_log(NS, first, "service", "listening on 8080\nGET / 200\n")
    cluster.write_log(NS, second, "service", "listening on 8080\n")
    assert [line async for line in backend.logs(1, first)] == ["listening on 8080\n", "GET / 200\n"]
    assert [line async for line in backend.logs(1, second)] == ["listening on 8080\n"]

    # a pod of another service is not this service's replica, whatever its name
    cluster.add_pod(NS, "other-1", {"app": "other"}, containers=("service",))
    with pytest.raises(NotFound):
        [line async for line in backend.logs(1, "other-1")]

    # following: lines as they come, until the container ends
    got = []

    async def follow():
        async for line in backend.logs(1, first, follow=True):
            got.append(line)

    task = asyncio.create_task(follow())
    await asyncio.sleep(0.3)
    cluster.write_log(NS, first, "service", "GET /later 200\n")
    cluster.end_log(NS, first, "service")
    await asyncio.wait_for(task, 10)
    assert got[-1] == "GET /later 200\n"


# ---------------------------------------------------------------- stop


async def test_stop_removes_every_object_and_the_pods(apiserver, backend):
    cluster = apiserver.cluster
    await backend.deploy(1, service(min_replicas=1, max_replicas=3, hpa="cpu:50%", canary="web-next:20%"), 1, 1)
    await backend.deploy(2, service(name="keep"), 1, 1)
    cluster.roll_out(NS, "web")
    assert names(cluster)[HPAS] == ["web"]
    await backend.stop(1, None)
    assert names(cluster) == {DEPLOYMENTS: ["keep"], SERVICES: ["keep", "keep-external"], HPAS: [], VIRTUAL_SERVICES: ["keep"],
                              DESTINATION_RULES: ["keep"]}
    assert [name for (ns, name) in cluster.pods if ns == NS] == []
    assert backend.state(1) is None
    # stopping again, or a service this control plane never deployed (after a restart): the same clean-up, no error
    await backend.stop(1, None)
    await backend.stop(2, service(name="keep"))
    assert names(cluster)[DEPLOYMENTS] == []
