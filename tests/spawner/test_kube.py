"""CubeKubeSpawner: golden overrides (pure) and real KubeSpawner pod manifests,
validated against the Kubernetes OpenAPI schema of a pinned version.

The only fake is the Kubernetes API itself: a kubeconfig pointing at a closed
port, since building a manifest never calls it.
"""

import json
import os

import kubernetes_validate
import pytest
from hubobjects import HubDB
from traitlets.config import Config

from cubelab_hub.domain.projects import settings_from_properties
from cubelab_spawner.objects import KubeSettings, kube_overrides
from cubelab_spawner.profiles import Facts, Limits, kinds_from_config, parse_choice

K8S_VERSION = "1.34.0"  # pinned: schemas shipped by kubernetes-validate 1.37


@pytest.fixture(scope="module", autouse=True)
def kubeconfig(tmp_path_factory):
    path = tmp_path_factory.mktemp("kube") / "config"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: none\n"
        "clusters: [{name: none, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "users: [{name: none, user: {token: not-a-secret}}]\n"
        "contexts: [{name: none, context: {cluster: none, user: none}}]\n"
    )
    import kubernetes_asyncio.config.kube_config as kube_config
    from kubespawner import clients

    # kubernetes-asyncio reads $KUBECONFIG once, at import (maybe by an earlier
    # test module), and KubeSpawner caches the loaded config: set both here
    old = os.environ.get("KUBECONFIG")
    old_default = kube_config.KUBE_CONFIG_DEFAULT_LOCATION
    os.environ["KUBECONFIG"] = str(path)
    kube_config.KUBE_CONFIG_DEFAULT_LOCATION = str(path)
    clients.load_config.cache_clear()
    yield path
    kube_config.KUBE_CONFIG_DEFAULT_LOCATION = old_default
    clients.load_config.cache_clear()
    if old is None:
        os.environ.pop("KUBECONFIG", None)
    else:
        os.environ["KUBECONFIG"] = old


KINDS = {"jupyterlab": {"images": ["quay.io/jupyter/scipy-notebook:2025-06-02"]}, "vscode": {"images": ["cubelab/vscode:1"]}, "rstudio": {"images": ["rocker/rstudio:4.4"]}}


def choice_for(options, projects):
    return parse_choice(options, Facts(projects=projects, kinds=kinds_from_config(KINDS), limits=Limits()))


def test_golden_overrides_gpu_project():
    project = settings_from_properties(
        {"org": "vision", "node_selector": "disk=ssd", "volume_mount": "4G(memory):/dev/shm,/data/coco(hostpath):/coco", "namespace": "team-vision"}
    )
    choice = choice_for({"project": "vision", "kind": "jupyterlab", "cpu": "2~4", "memory": "8G~16G", "gpu": "1(A100)"}, {"vision": project})
    kind = kinds_from_config(KINDS)["jupyterlab"]
    assert kube_overrides(choice, kind, project, "alice") == {
        "image": "quay.io/jupyter/scipy-notebook:2025-06-02",
        "cpu_guarantee": 2.0,
        "cpu_limit": 4.0,
        "mem_guarantee": 8 * 2**30,
        "mem_limit": 16 * 2**30,
        "extra_resource_limits": {"nvidia.com/gpu": "1"},
        "environment": {
            "CUBELAB_PROJECT": "vision",
            "CUBELAB_SERVER_KIND": "jupyterlab",
            "CUBELAB_CPU": "2~4",
            "CUBELAB_MEMORY": "8G~16G",
            "CUBELAB_GPU": "1",
            "KFJ_TASK_PROJECT_NAME": "vision",
            "USERNAME": "alice",
            "CUBELAB_IMAGE": "quay.io/jupyter/scipy-notebook:2025-06-02",
        },
        "node_selector": {"disk": "ssd", "notebook": "true", "gpu": "true", "org": "vision", "gpu-type": "A100"},
        "volumes": [
            {"name": "pvc-kubeflow-user-workspace", "persistentVolumeClaim": {"claimName": "kubeflow-user-workspace"}},
            {"name": "memory-dev-shm", "emptyDir": {"medium": "Memory", "sizeLimit": "4Gi"}},
            {"name": "hostpath-data-coco", "hostPath": {"path": "/data/coco"}},
        ],
        "volume_mounts": [
            {"name": "pvc-kubeflow-user-workspace", "mountPath": "/mnt/alice", "subPath": "alice"},
            {"name": "memory-dev-shm", "mountPath": "/dev/shm"},
            {"name": "hostpath-data-coco", "mountPath": "/coco"},
        ],
        "default_url": "/lab",
        "extra_labels": {"cubelab.io/project": "vision", "cubelab.io/kind": "jupyterlab"},
        "namespace": "team-vision",
        "working_dir": "/mnt/alice",
        # restricted by default: alice's own uid = gid (hashed from her name)
        "pod_security_context": {
            "runAsNonRoot": True,
            "runAsUser": 91220207,
            "runAsGroup": 91220207,
            "fsGroup": 91220207,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "container_security_context": {
            "runAsNonRoot": True,
            "runAsUser": 91220207,
            "runAsGroup": 91220207,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


def test_golden_overrides_cpu_vscode_several_orgs_no_workspace():
    project = settings_from_properties({"org": "a,b"})
    choice = choice_for({"kind": "vscode", "cpu": "1", "memory": "2G", "gpu": "0"}, {"public": project})
    kind = kinds_from_config(KINDS)["vscode"]
    overrides = kube_overrides(choice, kind, project, "bob", KubeSettings(default_mounts=()))
    assert overrides["default_url"] == "/vscode/"
    assert overrides["node_selector"] == {"notebook": "true", "cpu": "true"}
    assert overrides["node_affinity_required"] == [{"matchExpressions": [{"key": "org", "operator": "In", "values": ["a", "b"]}]}]
    assert overrides["environment"]["NVIDIA_VISIBLE_DEVICES"] == "none"
    assert overrides["extra_resource_limits"] == {}
    assert overrides["volumes"] == [] and "working_dir" not in overrides and "namespace" not in overrides
    assert overrides["pod_security_context"]["runAsUser"] == overrides["container_security_context"]["runAsUser"] == 749178650  # bob's


def make_spawner(hubdb, user, options, server_name=""):
    spawner = hubdb.spawner(user, server_name, options)
    return spawner


def config(**extra):
    c = Config()
    c.CubeKubeSpawner.kinds = KINDS
    c.CubeKubeSpawner.role_limits = {"user": {"cpu": "8", "memory": "32G", "gpu": 2}}
    for key, value in extra.items():
        if key == "clusters":  # the platform's setting, shared with the control plane
            c.Clusters.clusters = value
        else:
            setattr(c.CubeKubeSpawner, key, value)
    return c


@pytest.fixture
def hub():
    from cubelab_spawner.kube import CubeKubeSpawner

    return HubDB(CubeKubeSpawner, config(enable_user_namespaces=True))


PROFILES = {
    "cpu-lab": ("public", {}, {"project": "public", "kind": "jupyterlab", "cpu": "0.5~2", "memory": "1G~4G", "gpu": "0"}),
    "gpu-typed": (
        "vision",
        {"org": "vision", "node_selector": "disk=ssd", "volume_mount": "4G(memory):/dev/shm,models(pvc-share):/models,cfg(configmap):/etc/cfg,tok(secret):/etc/tok", "namespace": "team-vision"},
        {"project": "vision", "kind": "jupyterlab", "cpu": "4", "memory": "16G", "gpu": "2(V100)"},
    ),
    "vscode-multi-org-nfs": (
        "edge",
        {"org": "a,b", "volume_mount": "10.0.0.9/export/data(nfs):/nfs,/srv/x(hostpath):/x"},
        {"project": "edge", "kind": "vscode", "cpu": "1", "memory": "2G", "gpu": "1(amd,MI300)"},
    ),
    "rstudio": ("public", {}, {"project": "public", "kind": "rstudio", "cpu": "1", "memory": "1G", "gpu": "0"}),
}


@pytest.mark.parametrize("profile", sorted(PROFILES))
async def test_pod_manifest_validates_against_schema(hub, profile):
    project, properties, options = PROFILES[profile]
    user = hub.user("alice")
    if project != "public":
        hub.group(project, properties, members=[user.orm_user])
    hub.group("public", {}, members=[user.orm_user])
    spawner = make_spawner(hub, user, options)
    await spawner.load_user_options()
    pod = await spawner.get_pod_manifest()
    manifest = spawner.api.api_client.sanitize_for_serialization(pod)
    manifest.setdefault("apiVersion", "v1")
    manifest.setdefault("kind", "Pod")
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)

    container = manifest["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["CUBELAB_PROJECT"] == project
    assert manifest["metadata"]["labels"]["cubelab.io/kind"] == options["kind"]
    assert manifest["spec"]["nodeSelector"]["notebook"] == "true"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/mnt/alice"]["subPath"] == "alice"
    assert spawner.default_url == {"jupyterlab": "/lab", "vscode": "/vscode/", "rstudio": "/rstudio/"}[options["kind"]]
    return manifest


async def test_gpu_manifest_details(hub):
    user = hub.user("alice")
    project, properties, options = PROFILES["gpu-typed"]
    hub.group(project, properties, members=[user.orm_user])
    spawner = make_spawner(hub, user, options)
    await spawner.load_user_options()
    manifest = spawner.api.api_client.sanitize_for_serialization(await spawner.get_pod_manifest())
    container = manifest["spec"]["containers"][0]
    assert container["resources"] == {"requests": {"cpu": 4.0, "memory": 17179869184}, "limits": {"cpu": 4.0, "memory": 17179869184, "nvidia.com/gpu": "2"}}
    assert manifest["spec"]["nodeSelector"] == {"disk": "ssd", "notebook": "true", "gpu": "true", "org": "vision", "gpu-type": "V100"}
    assert spawner.namespace == "team-vision"
    assert container["workingDir"] == "/mnt/alice"
    assert {v["name"] for v in manifest["spec"]["volumes"]} >= {"memory-dev-shm", "pvc-models", "configmap-cfg", "secret-tok"}


async def test_admin_volumes_are_kept(hub):
    hub.config.CubeKubeSpawner.volumes = [{"name": "site-certs", "secret": {"secretName": "site-certs"}}]
    hub.config.CubeKubeSpawner.volume_mounts = [{"name": "site-certs", "mountPath": "/etc/site-certs"}]
    user = hub.user("alice")
    spawner = make_spawner(hub, user, {"project": "public"})
    await spawner.load_user_options()
    names = [v["name"] for v in spawner.volumes]
    assert names == ["site-certs", "pvc-kubeflow-user-workspace"]
    assert [m["mountPath"] for m in spawner.volume_mounts] == ["/etc/site-certs", "/mnt/alice"]


async def test_start_refuses_over_limit_and_non_member_without_form(hub):
    from tornado.web import HTTPError

    user = hub.user("alice")
    hub.group("secret", {}, members=[])
    spawner = make_spawner(hub, user, {"project": "secret", "cpu": "64"})
    with pytest.raises(HTTPError) as err:
        await spawner.load_user_options()
    assert err.value.status_code == 400
    message = err.value.jupyterhub_message
    assert "project: you are not a member of project 'secret'" in message
    assert "cpu: '64' asks for up to 64 cores; your role allows 8 per server" in message


async def test_project_quota_counts_running_servers_of_others(hub):
    from tornado.web import HTTPError

    alice, bob = hub.user("alice"), hub.user("bob")
    hub.group("vision", {"quota": {"gpu": "2"}}, members=[alice.orm_user, bob.orm_user])
    hub.mark_running(hub.spawner(bob, ""), {"project": "vision", "cpu": "1", "memory": "1G", "gpu": "2"})
    spawner = make_spawner(hub, alice, {"project": "vision", "gpu": "1"})
    with pytest.raises(HTTPError) as err:
        await spawner.load_user_options()
    assert "quota of 2 GPU card(s) and its running servers and tasks use 2" in err.value.jupyterhub_message


async def test_project_quota_counts_the_running_tasks_the_control_plane_publishes(hub, tmp_path, caplog):
    from tornado.web import HTTPError

    from cubelab_hub.domain.quotas import Usage, usage_document

    alice = hub.user("alice")
    hub.group("vision", {"quota": {"gpu": "2"}}, members=[alice.orm_user])
    published = tmp_path / "task-usage.json"
    published.write_text(json.dumps(usage_document({"vision": Usage(gpu=1), "other": Usage(gpu=5)})))
    spawner = make_spawner(hub, alice, {"project": "vision", "gpu": "2"})
    spawner.task_usage_file = str(published)
    with pytest.raises(HTTPError) as err:
        await spawner.load_user_options()
    assert "quota of 2 GPU card(s) and its running servers and tasks use 1; '2' asks for 2" in err.value.jupyterhub_message
    # what the control plane could not write counts nothing, and says so in the hub's log
    published.write_text("{half a docu")
    assert spawner.cube_task_usage() == {}
    assert "cannot read the running tasks' usage" in caplog.text


async def test_run_time_settings_the_control_plane_publishes_win_over_the_configuration(hub, tmp_path, caplog):
    from tornado.web import HTTPError

    from cubelab_hub.domain.admin_settings import runtime_document

    alice = hub.user("alice")
    hub.group("vision", {}, members=[alice.orm_user])
    hub.group("tight", {"quota": {"cpu": "8"}}, members=[alice.orm_user])
    published = tmp_path / "runtime-settings.json"
    published.write_text(json.dumps(runtime_document({"user": {"cpu": "1"}}, {"gpu": "0"})))
    spawner = make_spawner(hub, alice, {"project": "vision", "cpu": "2"})
    spawner.runtime_settings_file = str(published)
    with pytest.raises(HTTPError) as err:
        await spawner.load_user_options()
    assert "your role allows 1 per server" in err.value.jupyterhub_message
    # the default quota fills in for a project without one, never over a project's own
    projects, _ = spawner.cube_projects()
    assert projects["vision"].quota.gpu == 0 and projects["tight"].quota.cpu == 8 and projects["tight"].quota.gpu is None
    # an unreadable document leaves the configuration in force, and says so in the hub's log
    published.write_text("{half")
    assert spawner.cube_role_limits() == spawner.role_limits
    assert "cannot read the run-time settings" in caplog.text


async def test_project_namespace_without_user_namespaces():
    # KubeSpawner 7 keeps a pod reflector per namespace: RBAC there is enough
    from cubelab_spawner.kube import CubeKubeSpawner

    hub = HubDB(CubeKubeSpawner, config())
    user = hub.user("alice")
    hub.group("ns", {"namespace": "team-ns"}, members=[user.orm_user])
    spawner = make_spawner(hub, user, {"project": "ns"})
    await spawner.load_user_options()
    assert spawner.namespace == "team-ns"
    assert spawner._get_reflector_key("pods") == ("pods", "team-ns")


def write_kubeconfig(path, server):
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: farm\n"
        f"clusters: [{{name: farm, cluster: {{server: '{server}'}}}}]\n"
        "users: [{name: farm, user: {token: not-a-secret}}]\n"
        "contexts: [{name: farm, context: {cluster: farm, user: farm, namespace: ml}}]\n"
    )
    return path


async def test_project_on_another_cluster_uses_its_client_and_reflectors(tmp_path):
    from kubespawner.reflector import ResourceReflector

    from cubelab_spawner.kube import CubeKubeSpawner, bind_reflector

    farm = write_kubeconfig(tmp_path / "farm.yaml", "https://10.9.9.9:6443")
    hub = HubDB(CubeKubeSpawner, config(clusters={"gpu-farm": {"kubeconfig": str(farm), "context": "farm"}}))
    user = hub.user("alice")
    hub.group("far", {"cluster": "gpu-farm"}, members=[user.orm_user])
    hub.group("unknown", {"cluster": "moon"}, members=[user.orm_user])
    spawner = make_spawner(hub, user, {"project": "far"})
    await spawner.load_user_options()
    assert spawner.api.api_client.configuration.host == "https://10.9.9.9:6443"
    assert spawner._get_reflector_key("pods")[0] == "gpu-farm"
    assert spawner.get_state()["cluster"] == "gpu-farm"
    manifest = spawner.api.api_client.sanitize_for_serialization(await spawner.get_pod_manifest())
    kubernetes_validate.validate({"apiVersion": "v1", "kind": "Pod", **manifest}, K8S_VERSION, strict=True)

    # reflectors for that cluster list and watch through its client
    client = await spawner.cube_client("gpu-farm")
    bound = bind_reflector(ResourceReflector, client)
    reflector = bound(parent=spawner, namespace="default", kind="pods", list_method_name="list_namespaced_pod")
    assert reflector.api.api_client.configuration.host == "https://10.9.9.9:6443"

    # after a hub restart the state brings the cluster back
    again = hub.spawner(user, "later")
    again.load_state(spawner.get_state())
    assert again.cube_cluster == "gpu-farm"

    # back on the hub's own cluster: KubeSpawner's shared client and keys
    hub.spawner(user, "", {"project": "public"})
    await spawner.load_user_options()
    assert spawner.api.api_client.configuration.host == "https://127.0.0.1:9"
    assert spawner._get_reflector_key("pods")[0] == "pods"

    from tornado.web import HTTPError

    moon = make_spawner(hub, user, {"project": "unknown"}, server_name="moon")
    with pytest.raises(HTTPError) as err:
        await moon.load_user_options()
    assert "cluster 'moon'" in err.value.jupyterhub_message and "gpu-farm" in err.value.jupyterhub_message
    for cached in CubeKubeSpawner._cluster_clients.values():
        await cached.close()
    CubeKubeSpawner._cluster_clients.clear()


async def test_profile_list_keeps_plain_kubespawner():
    from cubelab_spawner.kube import CubeKubeSpawner

    c = config(profile_list=[{"display_name": "Small", "slug": "small", "kubespawner_override": {"cpu_limit": 1.5, "image": "plain/image:1"}}])
    hub = HubDB(CubeKubeSpawner, c)
    user = hub.user("alice")
    spawner = make_spawner(hub, user, {"profile": "small"})
    form = await spawner.get_options_form()
    assert "Small" in form and "cubelab-spawn-form" not in form
    await spawner.load_user_options()
    assert spawner.cpu_limit == 1.5 and spawner.image == "plain/image:1"


async def test_form_remembers_last_choices_and_revoked_membership(hub):
    user = hub.user("alice")
    hub.group("vision", {}, members=[user.orm_user])
    spawner = make_spawner(hub, user, {"project": "vision", "kind": "vscode", "cpu": "3", "memory": "3G", "gpu": "0"})
    form = await spawner.get_options_form()
    assert '<option value="vision" selected>' in form and 'value="3"' in form and 'value="vscode" checked' in form
    # a new named server starts from the user's most recent choices
    other = hub.spawner(user, "second")
    assert other.cube_last_choices()["project"] == "vision"
    # membership revoked: the poll reports the server as gone so the hub stops it
    assert spawner.cube_membership_revoked() is None
    group = hub.db.query(__import__("jupyterhub").orm.Group).filter_by(name="vision").one()
    user.orm_user.groups.remove(group)
    hub.db.commit()
    assert spawner.cube_membership_revoked() == "vision"


async def test_form_submission_errors_raise_400_and_are_remembered(hub):
    from tornado.web import HTTPError

    user = hub.user("alice")
    spawner = make_spawner(hub, user, None)
    with pytest.raises(HTTPError) as err:
        spawner.run_options_from_form({"project": ["public"], "cpu": ["99"], "_xsrf": ["t"]})
    assert "cpu:" in err.value.jupyterhub_message
    form = await spawner.get_options_form()
    assert 'value="99"' in form and 'data-field="cpu"' in form
    assert spawner.run_options_from_form({"project": ["public"], "cpu": ["2"]}) == {
        "project": "public", "kind": "jupyterlab", "image": KINDS["jupyterlab"]["images"][0], "cpu": "2", "memory": "2G~4G", "gpu": "0"
    }


async def test_next_start_does_not_inherit_the_previous_project(hub):
    user = hub.user("alice")
    hub.group("vision", {"node_selector": "disk=ssd", "volume_mount": "4G(memory):/dev/shm", "namespace": "team-vision"}, members=[user.orm_user])
    spawner = make_spawner(hub, user, {"project": "vision", "gpu": "2(V100)"})
    await spawner.load_user_options()
    assert spawner.node_selector["disk"] == "ssd" and spawner.extra_resource_limits == {"nvidia.com/gpu": "2"}
    # the same spawner object, started again for another project
    hub.spawner(user, "", {"project": "public", "gpu": "0"})
    await spawner.load_user_options()
    assert spawner.node_selector == {"notebook": "true", "cpu": "true", "org": "public"}
    assert spawner.extra_resource_limits == {}
    assert spawner.namespace != "team-vision"
    assert [m["mountPath"] for m in spawner.volume_mounts] == ["/mnt/alice"]
    assert "NVIDIA_VISIBLE_DEVICES" in spawner.environment and spawner.environment["CUBELAB_PROJECT"] == "public"
    manifest = spawner.api.api_client.sanitize_for_serialization(await spawner.get_pod_manifest())
    kubernetes_validate.validate({"apiVersion": "v1", "kind": "Pod", **manifest}, K8S_VERSION, strict=True)


async def test_several_orgs_and_admin_affinity_are_both_required():
    from cubelab_spawner.kube import CubeKubeSpawner

    admin_terms = [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]},
    ]
    hub = HubDB(CubeKubeSpawner, config(node_affinity_required=admin_terms))
    user = hub.user("alice")
    hub.group("edge", {"org": "x,y"}, members=[user.orm_user])
    spawner = make_spawner(hub, user, {"project": "edge"})
    await spawner.load_user_options()
    org = {"key": "org", "operator": "In", "values": ["x", "y"]}
    assert spawner.node_affinity_required == [
        {"matchExpressions": [admin_terms[0]["matchExpressions"][0], org]},
        {"matchExpressions": [admin_terms[1]["matchExpressions"][0], org]},
    ]
    manifest = spawner.api.api_client.sanitize_for_serialization(await spawner.get_pod_manifest())
    kubernetes_validate.validate({"apiVersion": "v1", "kind": "Pod", **manifest}, K8S_VERSION, strict=True)
