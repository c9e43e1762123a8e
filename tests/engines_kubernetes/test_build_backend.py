"""Image builds of projects on Kubernetes through the BuildManager: the
KubernetesBuildBackend (hub/cubelab_hub/controlplane/services/build_backends.py)
against the fake API server, with a real control-plane database."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import tarfile
from dataclasses import dataclass
from decimal import Decimal

import pytest
from kubernetes_asyncio import client as k8s

from cubelab_hub.controlplane.db import Database
from cubelab_hub.controlplane.services.build_backends import KubernetesBuildBackend, NoPushRegistry
from cubelab_hub.controlplane.services.builds import BuildManager
from cubelab_hub.domain.errors import FieldError
from cubelab_hub.domain.projects import ProjectSettings
from cubelab_hub.domain.quotas import Usage
from cubelab_hub.kube.builds import MAX_CONTEXT_BYTES
from cubelab_hub.kube.client import JobClient

SETTINGS = {"kube": ProjectSettings(engine="kubernetes", namespace="kube-team"), "here": ProjectSettings()}
JOBS = "batch/v1/jobs"
DIGEST = "sha256:" + "5e" * 32


@dataclass
class Creds:
    host: str
    username: str
    password: str


async def credentials(project):
    return {"harbor": Creds("harbor.example.com", "robot", "push-pass"), "mirror": Creds("mirror.example.com", "ro", "pull-pass")}


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
    client = JobClient(k8s.ApiClient(configuration))
    backend = KubernetesBuildBackend(clusters={"default": client}, project_settings=SETTINGS.get, credentials=credentials,
                                     push_registry="harbor", poll_interval=0.05)
    workspace = tmp_path / "ws"
    (workspace / "app").mkdir(parents=True)
    (workspace / "app" / "main.py").write_text("print('hi')\n")
    m = BuildManager(db, tmp_path / "data", workspace_for=lambda user: workspace, kubernetes=backend, project_settings=SETTINGS.get)
    try:
        yield m
    finally:
        await m.shutdown()
        await client.close()


async def _until(check, timeout=10.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not check():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.02)


async def _row(manager, build_id):
    return await manager.db.run(lambda s: manager.view(manager.load(s, build_id)))


async def test_a_kubernetes_build_runs_as_a_job_streams_its_log_and_succeeds_from_the_conditions(manager, apiserver):
    cluster = apiserver.cluster
    request = manager.parse({"project": "kube", "image": "trainer", "tags": ["v1"], "dockerfile": "FROM scratch\nCOPY main.py /\n",
                             "context": "app", "timeout": "10m"})
    build_id = await manager.create(request, "alice")
    name = f"cubelab-build-{build_id}"
    await _until(lambda: (JOBS, "kube-team", name) in cluster.objects)
    job = cluster.objects[(JOBS, "kube-team", name)]
    assert job["spec"]["activeDeadlineSeconds"] == 600
    # the context travels in the build's Secret, owned by the Job; the credentials in the project's
    await _until(lambda: "ownerReferences" in cluster.secrets[("kube-team", name)]["metadata"])
    context = cluster.secrets[("kube-team", name)]
    assert context["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(context["data"]["context.tar.gz"]))) as tar:
        assert tar.extractfile("./main.py").read() == b"print('hi')\n"
    auths = json.loads(base64.b64decode(cluster.secrets[("kube-team", "cubelab-build-credentials")]["data"][".dockerconfigjson"]))["auths"]
    assert sorted(auths) == ["harbor.example.com", "mirror.example.com"]
    assert "push-pass" not in json.dumps(job)
    assert (await _row(manager, build_id))["references"] == ["harbor.example.com/kube/trainer:v1"]

    pod = cluster.start_job_pod("kube-team", name)["metadata"]["name"]
    cluster.write_log("kube-team", pod, "context", "")
    cluster.end_log("kube-team", pod, "context")
    cluster.write_log("kube-team", pod, "build", "#1 [internal] load build definition from Dockerfile\n")
    log_path = manager.log_path(build_id)
    await _until(lambda: "load build definition" in log_path.read_text())
    assert (await _row(manager, build_id))["status"] == "running"  # the log arrives while it builds

    cluster.write_log("kube-team", pod, "build", f"#5 exporting manifest {DIGEST} done\n#5 pushing layers done\n")
    cluster.end_log("kube-team", pod, "build")
    cluster.set_object_status(JOBS, "kube-team", name, {"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1})
    await _until(lambda: not manager.is_active(build_id))
    row = await _row(manager, build_id)
    assert (row["status"], row["message"], row["digest"]) == ("succeeded", "built and pushed harbor.example.com/kube/trainer:v1", DIGEST)
    assert "push-pass" not in log_path.read_text()


async def test_a_timed_out_job_fails_saying_so(manager, apiserver):
    cluster = apiserver.cluster
    build_id = await manager.create(manager.parse({"project": "kube", "image": "slow", "dockerfile": "FROM scratch\n", "timeout": "30s"}), "alice")
    name = f"cubelab-build-{build_id}"
    await _until(lambda: (JOBS, "kube-team", name) in cluster.objects)
    cluster.set_object_status(JOBS, "kube-team", name, {"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]})
    await _until(lambda: not manager.is_active(build_id))
    row = await _row(manager, build_id)
    assert (row["status"], row["message"]) == ("failed", "stopped after the timeout of 30s")


async def test_cancel_deletes_the_job_in_the_foreground_and_its_context(manager, apiserver):
    cluster = apiserver.cluster
    build_id = await manager.create(manager.parse({"project": "kube", "image": "app", "dockerfile": "FROM scratch\n"}), "alice")
    name = f"cubelab-build-{build_id}"
    await _until(lambda: (JOBS, "kube-team", name) in cluster.objects)
    pod = cluster.start_job_pod("kube-team", name)["metadata"]["name"]
    await manager.cancel(build_id)
    assert (JOBS, "kube-team", name, "Foreground") in cluster.deletions
    assert ("kube-team", pod) not in cluster.pods and ("kube-team", name) not in cluster.secrets
    row = await _row(manager, build_id)
    assert (row["status"], row["message"]) == ("cancelled", "cancelled; nothing was published")


async def test_a_context_too_large_is_refused_before_anything_is_stored_or_sent(manager, apiserver, tmp_path):
    big = tmp_path / "ws" / "big"
    big.mkdir()
    (big / "data.bin").write_bytes(__import__("os").urandom(MAX_CONTEXT_BYTES + 1024))
    with pytest.raises(FieldError) as caught:
        await manager.create(manager.parse({"project": "kube", "image": "big", "dockerfile": "FROM scratch\n", "context": "big"}), "alice")
    assert caught.value.field == "context"
    assert await manager.db.run(lambda s: s.execute(__import__("sqlalchemy").text("select count(*) from builds")).scalar()) == 0
    assert not apiserver.cluster.objects and not apiserver.cluster.secrets


async def test_without_a_push_registry_a_kubernetes_build_is_refused_and_local_projects_stay_local(manager, apiserver):
    manager.kubernetes.push_registry = ""
    with pytest.raises(NoPushRegistry) as caught:
        await manager.create(manager.parse({"project": "kube", "image": "x", "dockerfile": "FROM scratch\n"}), "alice")
    assert "KubernetesBuildBackend.push_registry" in str(caught.value)
    assert await manager.on_kubernetes("kube") and not await manager.on_kubernetes("here")


async def _until_running(manager, build_id):
    loop = asyncio.get_running_loop()
    end = loop.time() + 10
    while (await _row(manager, build_id))["status"] != "running":
        assert loop.time() < end, "never running"
        await asyncio.sleep(0.02)


async def test_a_build_goes_on_after_a_restart_its_job_followed_again_or_started_again_when_gone(manager, apiserver, db, tmp_path):
    cluster = apiserver.cluster
    build_id = await manager.create(manager.parse({"project": "kube", "image": "held", "dockerfile": "FROM scratch\n", "cpu": "1.5",
                                                   "memory": "2G"}), "alice")
    name = f"cubelab-build-{build_id}"
    await _until_running(manager, build_id)
    assert manager.in_use_by_project() == {"kube": Usage(Decimal("1.5"), 2 * 2**30, 0)}  # a running build holds its limits
    pod = cluster.start_job_pod("kube-team", name)["metadata"]["name"]
    cluster.write_log("kube-team", pod, "context", "")
    cluster.end_log("kube-team", pod, "context")
    cluster.write_log("kube-team", pod, "build", "#1 [internal] load build definition from Dockerfile\n")
    log_path = manager.log_path(build_id)
    await _until(lambda: "load build definition" in log_path.read_text())

    # a clean stop leaves the Job running; the next control plane follows it again
    await manager.shutdown()
    assert (JOBS, "kube-team", name) in cluster.objects and manager.in_use_by_project() == {}
    assert (await _row(manager, build_id))["status"] == "running"
    later = BuildManager(db, tmp_path / "data", workspace_for=manager.workspace_for, kubernetes=manager.kubernetes,
                         project_settings=SETTINGS.get)
    try:
        await later.start()
        await _until(lambda: "following the build's Job on Kubernetes again" in log_path.read_text())
        assert later.in_use_by_project() == {"kube": Usage(Decimal("1.5"), 2 * 2**30, 0)}
        cluster.write_log("kube-team", pod, "build", f"#5 exporting manifest {DIGEST} done\n")
        cluster.end_log("kube-team", pod, "build")
        cluster.set_object_status(JOBS, "kube-team", name, {"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1})
        await _until(lambda: not later.is_active(build_id))
        row = await _row(later, build_id)
        assert (row["status"], row["digest"]) == ("succeeded", DIGEST), row
        assert row["message"] == ("built and pushed harbor.example.com/kube/held:latest "
                                  "(re-attached after the control plane restarted (its Job kept running))")
        assert [r["how"] for r in row["restarts"]] == ["re-attached"]
        # the pod's log lines copied before the restart are not copied twice
        assert log_path.read_text().count("load build definition") == 1 and later.in_use_by_project() == {}

        # a Job gone while no control plane watched (deleted, or its TTL ended): the build starts again
        again = await later.create(later.parse({"project": "kube", "image": "gone", "dockerfile": "FROM scratch\n"}), "alice")
        await _until_running(later, again)
        await later.shutdown()
        cluster.objects.pop((JOBS, "kube-team", f"cubelab-build-{again}"))
        third = BuildManager(db, tmp_path / "data", workspace_for=manager.workspace_for, kubernetes=manager.kubernetes,
                             project_settings=SETTINGS.get)
        try:
            await third.start()
            await _until(lambda: (JOBS, "kube-team", f"cubelab-build-{again}") in cluster.objects)
            cluster.set_object_status(JOBS, "kube-team", f"cubelab-build-{again}",
                                      {"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1})
            await _until(lambda: not third.is_active(again))
            row = await _row(third, again)
            assert row["status"] == "succeeded" and row["message"].endswith("(restarted after the control plane restarted)"), row
            assert [r["how"] for r in row["restarts"]] == ["restarted"]
        finally:
            await third.shutdown()
    finally:
        await later.shutdown()
