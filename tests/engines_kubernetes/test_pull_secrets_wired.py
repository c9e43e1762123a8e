"""Registries' pull Secrets reach every kind of pod of a project on Kubernetes:
the Secrets are written into the namespace before the object whose pods list
them (task workflows, trial workflows, service Deployments, build Jobs), and a
registry change writes them again where they already are. Real registries
stored sealed in a real control-plane database (the control plane's
:class:`PullSecrets`), against the fake API server."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from kubernetes_asyncio import client as k8s

from cubelab_hub.controlplane.db import Database
from cubelab_hub.controlplane.services.build_backends import KubernetesBuildBackend
from cubelab_hub.controlplane.services.builds import BuildManager
from cubelab_hub.controlplane.services.pull_secrets import PullSecrets, PullSecretsFailed, describe_failure
from cubelab_hub.controlplane.services.registries import RegistryStore
from cubelab_hub.controlplane.services.secret_box import SecretBox
from cubelab_hub.controlplane.services.service_backends import KubernetesServiceBackend
from cubelab_hub.domain.projects import ProjectSettings, settings_from_properties
from cubelab_hub.domain.registries import registry_from_dict
from cubelab_hub.domain.services import service_from_dict
from cubelab_hub.engines.base import FAILED
from cubelab_hub.engines.kubernetes.engine import KubernetesEngine
from cubelab_hub.kube.client import JobClient, KubernetesApiError
from cubelab_hub.kube.service_client import ServiceClient

from .specs import BUILTINS_PROJECT, DIAMOND_CONFIG, DIAMOND_PROJECT, diamond_spec, trial_spec

PASSWORDS = ("platform-pass", "team-a-pass", "team-b-pass")
HARBOR, TEAM_REG = "cubelab-registry-harbor", "cubelab-registry-team-reg"


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'cp.sqlite'}")
    database.upgrade()
    try:
        yield database
    finally:
        database.close()


def _add(store, session, **fields):
    store.create(session, registry_from_dict(fields), "admin")


@pytest.fixture
async def pulls(db, tmp_path):
    """The control plane's PullSecrets over three registries: a platform-wide
    one, team-a's own and team-b's own."""
    store = RegistryStore(SecretBox(tmp_path / "registry.key"))

    def setup(session):
        _add(store, session, name="harbor", host="harbor.example.com", username="robot", password="platform-pass")
        _add(store, session, name="team-reg", host="reg.team-a.example", username="ci", password="team-a-pass", project="team-a")
        _add(store, session, name="other", host="reg.team-b.example", username="ci", password="team-b-pass", project="team-b")

    await db.run(setup)
    return PullSecrets(db, store)


def _configuration(apiserver):
    configuration = k8s.Configuration()
    configuration.host = apiserver.url
    return configuration


def _secret_names(cluster, namespace):
    return sorted(name for (ns, name) in cluster.secrets if ns == namespace)


def _first(cluster, method, path_part):
    """Index of the first request with this method whose path contains ``path_part``."""
    for index, request in enumerate(cluster.requests):
        if request["method"] == method and path_part in request["path"]:
            return index
    raise AssertionError(f"no {method} ...{path_part}... request")


def _auths(secret):
    return json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))["auths"]


async def _until(check, timeout=10.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not check():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.02)


# ---------------------------------------------------------------- tasks and trials


async def test_a_runs_and_a_trials_workflows_list_the_projects_pull_secrets_written_before_them(argo, apiserver, pulls, tmp_path):
    projects = {"team-a": DIAMOND_PROJECT, "public": BUILTINS_PROJECT}
    engine = KubernetesEngine(argo, cluster_config=DIAMOND_CONFIG, project_settings=projects.get, logs_dir=tmp_path / "logs",
                              pull_secrets=pulls.write, sample_interval=0)
    cluster = apiserver.cluster
    try:
        await engine.submit(diamond_spec())
        workflow = cluster.workflows[("team-a", "diamond-run-0042")]
        # the platform's own setting first, then every registry team-a may use, never team-b's
        assert workflow["spec"]["imagePullSecrets"] == [{"name": "regcred"}, {"name": HARBOR}, {"name": TEAM_REG}]
        assert _secret_names(cluster, "team-a") == [HARBOR, TEAM_REG]
        assert _first(cluster, "POST", "/namespaces/team-a/secrets") < _first(cluster, "POST", "/namespaces/team-a/workflows")
        assert _auths(cluster.secrets[("team-a", TEAM_REG)])["reg.team-a.example"]["password"] == "team-a-pass"
        # the task's HUBSECRET names them too (names only)
        env = {e["name"]: e.get("value") for t in workflow["spec"]["templates"] for e in (t.get("container") or {}).get("env", [])}
        assert env["HUBSECRET"] == f"regcred,{HARBOR},{TEAM_REG}"
        assert not any(p in json.dumps(workflow) for p in PASSWORDS)

        # an experiment's trial: the same path, in its own project's namespace, with that project's registries
        cluster.requests.clear()
        state = await engine.submit(trial_spec())
        assert state.status != FAILED, state.message
        trial = next(w for (ns, _), w in cluster.workflows.items() if ns == "pipeline")
        assert trial["spec"]["imagePullSecrets"] == [{"name": "regcred"}, {"name": HARBOR}]
        assert _secret_names(cluster, "pipeline")[:1] == [HARBOR] and TEAM_REG not in _secret_names(cluster, "pipeline")
        assert _first(cluster, "POST", "/namespaces/pipeline/secrets") < _first(cluster, "POST", "/namespaces/pipeline/workflows")
    finally:
        await engine.close()


async def test_a_run_whose_pull_secrets_cannot_be_written_fails_saying_so_without_a_secret(argo, apiserver, tmp_path):
    async def refused(client, project, namespace):
        raise KubernetesApiError(403, "Forbidden", 'secrets is forbidden: "platform-pass" cannot be created')

    engine = KubernetesEngine(argo, cluster_config=DIAMOND_CONFIG, project_settings=lambda name: DIAMOND_PROJECT,
                              logs_dir=tmp_path / "logs", pull_secrets=refused, sample_interval=0)
    try:
        state = await engine.submit(diamond_spec())
        assert state.status == FAILED
        assert state.message == "could not write the registries' pull Secrets into namespace team-a: 403 Forbidden"
        assert "platform-pass" not in state.message
        assert not apiserver.cluster.workflows  # nothing half-started
    finally:
        await engine.close()


# ---------------------------------------------------------------- services


async def test_a_services_deployment_lists_the_pull_secrets_written_before_it(apiserver, pulls):
    client = ServiceClient(k8s.ApiClient(_configuration(apiserver)))
    project = settings_from_properties({"namespace": "team-a-svc"})
    backend = KubernetesServiceBackend("svc.example.com", clusters={"default": client}, project_settings=lambda name: project,
                                       pull_secrets=pulls.write)
    svc = service_from_dict({"project": "team-a", "name": "web", "owner": "alice", "image": "reg.team-a.example/team-a/web:1",
                             "ports": "8080", "min_replicas": 1, "max_replicas": 1}, "svc.example.com")
    cluster = apiserver.cluster
    try:
        await backend.deploy(1, svc, 1, 1)
        deployment = cluster.objects[("apps/v1/deployments", "team-a-svc", "web")]
        assert deployment["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": HARBOR}, {"name": TEAM_REG}]
        assert _secret_names(cluster, "team-a-svc") == [HARBOR, TEAM_REG]
        assert _first(cluster, "POST", "/namespaces/team-a-svc/secrets") < _first(cluster, "PATCH", "/namespaces/team-a-svc/deployments")
    finally:
        await backend.close()
        await client.close()


# ---------------------------------------------------------------- builds


async def test_a_build_jobs_pod_lists_the_pull_secrets_written_before_it(apiserver, pulls, db, tmp_path):
    client = JobClient(k8s.ApiClient(_configuration(apiserver)))
    settings = {"team-a": ProjectSettings(engine="kubernetes", namespace="team-a-build")}
    backend = KubernetesBuildBackend(clusters={"default": client}, project_settings=settings.get, credentials=pulls.credentials,
                                     push_registry="harbor", poll_interval=0.05, pull_secrets=pulls.write)
    workspace = tmp_path / "ws"
    (workspace / "app").mkdir(parents=True)
    manager = BuildManager(db, tmp_path / "data", workspace_for=lambda user: workspace, kubernetes=backend, project_settings=settings.get)
    cluster = apiserver.cluster
    try:
        build_id = await manager.create(manager.parse({"project": "team-a", "image": "app", "dockerfile": "FROM scratch\n",
                                                       "context": "app"}), "alice")
        name = f"cubelab-build-{build_id}"
        await _until(lambda: ("batch/v1/jobs", "team-a-build", name) in cluster.objects)
        job = cluster.objects[("batch/v1/jobs", "team-a-build", name)]
        assert job["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": HARBOR}, {"name": TEAM_REG}]
        assert {HARBOR, TEAM_REG} <= set(_secret_names(cluster, "team-a-build"))
        assert _first(cluster, "POST", "/namespaces/team-a-build/secrets") < _first(cluster, "POST", "/namespaces/team-a-build/jobs")
        assert not any(p in json.dumps(job) for p in PASSWORDS)
        await manager.cancel(build_id)
    finally:
        await manager.shutdown()
        await client.close()


# ---------------------------------------------------------------- registry changes


async def test_a_registry_change_is_written_again_where_its_secrets_are_and_a_deleted_one_removed(apiserver, pulls, db):
    client = JobClient(k8s.ApiClient(_configuration(apiserver)))
    cluster = apiserver.cluster
    try:
        await pulls.write(client, "team-a", "team-a")
        await pulls.write(client, "team-a", "team-a-svc")
        await pulls.write(client, "team-b", "team-b")
        store = pulls.store

        # team-a's own registry gets a new password, then goes: only team-a's namespaces are touched
        def rotate(session):
            store.update(session, store.find(session, "team-reg"), registry_from_dict(
                {"name": "team-reg", "project": "team-a", "host": "reg.team-a.example", "username": "ci", "password": "rotated"}))

        await db.run(rotate)
        team_b_before = json.dumps(cluster.secrets[("team-b", HARBOR)])
        assert await pulls.refresh(client, "team-a") == [("team-a", "team-a"), ("team-a-svc", "team-a")]
        for namespace in ("team-a", "team-a-svc"):
            assert _auths(cluster.secrets[(namespace, TEAM_REG)])["reg.team-a.example"]["password"] == "rotated"
        assert json.dumps(cluster.secrets[("team-b", HARBOR)]) == team_b_before

        await db.run(lambda session: store.delete(session, store.find(session, "team-reg")))
        await pulls.refresh(client, "team-a")
        assert _secret_names(cluster, "team-a") == [HARBOR] and _secret_names(cluster, "team-a-svc") == [HARBOR]

        # a platform-wide registry changes: every project's namespaces, each with its own set
        def rotate_platform(session):
            store.update(session, store.find(session, "harbor"), registry_from_dict(
                {"name": "harbor", "host": "harbor.example.com", "username": "robot", "password": "platform-rotated"}))

        await db.run(rotate_platform)
        assert await pulls.refresh(client) == [("team-a", "team-a"), ("team-a-svc", "team-a"), ("team-b", "team-b")]
        for namespace in ("team-a", "team-a-svc", "team-b"):
            assert _auths(cluster.secrets[(namespace, HARBOR)])["harbor.example.com"]["password"] == "platform-rotated"
        assert _secret_names(cluster, "team-b") == [HARBOR, "cubelab-registry-other"]

        # deleted: gone from every namespace
        await db.run(lambda session: store.delete(session, store.find(session, "harbor")))
        await pulls.refresh(client)
        assert _secret_names(cluster, "team-a") == [] and _secret_names(cluster, "team-b") == ["cubelab-registry-other"]
    finally:
        await client.close()


async def test_refresh_everywhere_logs_a_failing_cluster_without_a_secret_and_goes_on(apiserver, pulls, caplog):
    good = JobClient(k8s.ApiClient(_configuration(apiserver)))
    await pulls.write(good, "team-a", "team-a")
    broken = k8s.Configuration()
    broken.host = "http://127.0.0.1:9"  # nothing listens there
    bad = JobClient(k8s.ApiClient(broken))
    pulls_here = PullSecrets(pulls.db, pulls.store, {"down": bad, "default": good})
    try:
        await pulls_here.refresh_everywhere("team-a")
        assert "cluster down could not be refreshed" in caplog.text
        assert not any(p in caplog.text for p in PASSWORDS)
        assert _secret_names(apiserver.cluster, "team-a") == [HARBOR, TEAM_REG]
        # a direct write fails with a message safe to show: the namespace and what went wrong, no API text
        with pytest.raises(PullSecretsFailed) as err:
            await pulls.write(bad, "team-a", "team-a")
        assert str(err.value).startswith("the registries' pull Secrets could not be written into namespace team-a: ")
        with pytest.raises(PullSecretsFailed, match="cluster 'nowhere' is not configured"):
            await pulls_here.write_in_cluster("nowhere", "team-a", "team-a")
    finally:
        await good.close()
        await bad.close()


def test_a_failure_is_described_by_status_and_reason_only():
    exc = KubernetesApiError(422, "Invalid", 'Secret "x" is invalid: data[.dockerconfigjson]: "platform-pass"')
    assert describe_failure(exc) == "the API server answered 422 Invalid"
    assert describe_failure(OSError("platform-pass")) == "OSError"


async def test_a_deleted_projects_pull_secrets_leave_every_namespace(apiserver, pulls):
    client = JobClient(k8s.ApiClient(_configuration(apiserver)))
    cluster = apiserver.cluster
    try:
        everywhere = PullSecrets(pulls.db, pulls.store, {"default": client})
        await pulls.write(client, "team-a", "team-a")
        await pulls.write(client, "team-a", "team-a-svc")
        await pulls.write(client, "team-b", "team-b")
        await everywhere.remove_project_everywhere("team-a")
        assert _secret_names(cluster, "team-a") == [] and _secret_names(cluster, "team-a-svc") == []
        assert _secret_names(cluster, "team-b") == [HARBOR, "cubelab-registry-other"]  # another project's stay
    finally:
        await client.close()
