"""Golden-dict tests for the shared pod-spec builders (hub/cubelab_hub/kube/objects.py)."""

from types import SimpleNamespace

import pytest

from cubelab_hub.domain.errors import FieldError
from cubelab_hub.domain.formats import merge_mounts, parse_cpu, parse_gpu, parse_memory, parse_volume_mounts
from cubelab_hub.kube.objects import node_selector_for, resources_for, volume_name, volumes_and_mounts


def vm(text):
    return volumes_and_mounts(parse_volume_mounts(text), "alice")


def test_default_workspace_gives_each_user_a_subpath():
    volumes, mounts = vm("kubeflow-user-workspace(pvc):/mnt")
    assert volumes == [{"name": "pvc-kubeflow-user-workspace", "persistentVolumeClaim": {"claimName": "kubeflow-user-workspace"}}]
    assert mounts == [{"name": "pvc-kubeflow-user-workspace", "mountPath": "/mnt/alice", "subPath": "alice"}]


def test_pvc_share_mounts_whole_claim_and_shares_volume_with_pvc():
    volumes, mounts = vm("kubeflow-user-workspace(pvc):/mnt,kubeflow-user-workspace(pvc-share):/shared")
    assert volumes == [{"name": "pvc-kubeflow-user-workspace", "persistentVolumeClaim": {"claimName": "kubeflow-user-workspace"}}]
    assert mounts == [
        {"name": "pvc-kubeflow-user-workspace", "mountPath": "/mnt/alice", "subPath": "alice"},
        {"name": "pvc-kubeflow-user-workspace", "mountPath": "/shared"},
    ]


def test_hostpath_nfs_memory_configmap_secret():
    volumes, mounts = vm(
        "/data/aidata(hostpath):/aidata;10.0.0.5/exports/models(nfs):/models;"
        "4G(memory):/dev/shm;model-config(configmap):/etc/model;registry-auth(secret):/etc/auth"
    )
    names = [v["name"] for v in volumes]
    assert names[0] == "hostpath-data-aidata"
    assert names[2:] == ["memory-dev-shm", "configmap-model-config", "secret-registry-auth"]
    # '10.0.0.5/exports/models' loses its dots in the slug: a hash keeps it unique
    assert names[1].startswith("nfs-10-0-0-5-exports-models-") and len(names[1]) == len("nfs-10-0-0-5-exports-models-") + 8
    assert [{k: v for k, v in vol.items() if k != "name"} for vol in volumes] == [
        {"hostPath": {"path": "/data/aidata"}},
        {"nfs": {"server": "10.0.0.5", "path": "/exports/models"}},
        {"emptyDir": {"medium": "Memory", "sizeLimit": "4Gi"}},
        {"configMap": {"name": "model-config"}},
        {"secret": {"secretName": "registry-auth"}},
    ]
    assert mounts == [
        {"name": names[0], "mountPath": "/aidata"},
        {"name": names[1], "mountPath": "/models"},
        {"name": "memory-dev-shm", "mountPath": "/dev/shm"},
        {"name": "configmap-model-config", "mountPath": "/etc/model", "readOnly": True},
        {"name": "secret-registry-auth", "mountPath": "/etc/auth", "readOnly": True},
    ]


def test_names_are_dns_labels_and_distinct_for_lossy_slugs():
    a = parse_volume_mounts("/data/a_b(hostpath):/x")[0]
    b = parse_volume_mounts("/data/a.b(hostpath):/y")[0]
    assert volume_name(a) != volume_name(b)
    long = parse_volume_mounts("a" * 100 + "(pvc):/mnt")[0]
    assert len(volume_name(long)) <= 63


def test_merged_layers_later_wins_by_path():
    defaults = parse_volume_mounts("kubeflow-user-workspace(pvc):/mnt,2G(memory):/dev/shm")
    project = parse_volume_mounts("8G(memory):/dev/shm")
    volumes, _ = volumes_and_mounts(merge_mounts(defaults, project), "alice")
    assert {"name": "memory-dev-shm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}} in volumes
    assert len(volumes) == 2


def test_pvc_and_pvc_share_colliding_paths_are_refused():
    mounts = parse_volume_mounts("ws(pvc):/mnt") + parse_volume_mounts("other(pvc-share):/mnt/alice")
    with pytest.raises(FieldError) as err:
        volumes_and_mounts(mounts, "alice")
    assert err.value.field == "volume_mount" and "/mnt/alice" in str(err.value)


@pytest.mark.parametrize("bad", ["", "a/b", "..", "."])
def test_username_must_be_one_path_segment(bad):
    with pytest.raises(FieldError) as err:
        volumes_and_mounts(parse_volume_mounts("ws(pvc):/mnt"), bad)
    assert err.value.field == "username"


def test_resources_range_and_gpu():
    resources, env = resources_for(parse_cpu("0.5~2"), parse_memory("1G~8G"), parse_gpu("2(V100)"))
    assert resources == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "2"},
    }
    assert env == {}


def test_resources_vendor_map_and_zero_gpu():
    resources, env = resources_for(parse_cpu("2"), parse_memory("4G"), parse_gpu("1(amd,MI300)"))
    assert resources["limits"] == {"cpu": "2", "memory": "4Gi", "amd.com/gpu": "1"}
    resources, env = resources_for(parse_cpu("2"), parse_memory("4G"), parse_gpu("0"))
    assert resources == {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}
    assert env == {"NVIDIA_VISIBLE_DEVICES": "none"}
    custom = {"nvidia": "example.com/vgpu"}
    resources, _ = resources_for(None, None, parse_gpu("1"), custom)
    assert resources == {"limits": {"example.com/vgpu": "1"}}
    with pytest.raises(FieldError) as err:
        resources_for(None, None, parse_gpu("1(huawei,910)"), custom)
    assert err.value.field == "gpu" and "huawei" in str(err.value)


def test_resources_are_fresh_dicts():
    first, _ = resources_for(parse_cpu("1"), None, None)
    first["limits"]["cpu"] = "99"
    second, _ = resources_for(parse_cpu("1"), None, None)
    assert second["limits"]["cpu"] == "1"


def project(node_selector=None, org=None):
    return SimpleNamespace(node_selector=node_selector or {}, org=org or ["public"])


def test_node_selector_cpu_notebook_default_org():
    assert node_selector_for("notebook", project(), parse_gpu("0")) == (
        {"notebook": "true", "cpu": "true", "org": "public"},
        None,
    )
    assert node_selector_for("notebook", None, None) == ({"notebook": "true", "cpu": "true", "org": "public"}, None)


def test_node_selector_gpu_type_and_project_labels():
    selector, affinity = node_selector_for("train", project({"disk": "ssd"}, ["ai"]), parse_gpu("2(A100)"))
    assert selector == {"disk": "ssd", "train": "true", "gpu": "true", "org": "ai", "gpu-type": "A100"}
    assert affinity is None


def test_several_orgs_become_affinity_in_rule():
    selector, affinity = node_selector_for("service", project(org=["a", "b", "a"]), None)
    assert selector == {"service": "true", "cpu": "true"}
    assert affinity == {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "org", "operator": "In", "values": ["a", "b"]}]}]
            }
        }
    }


def test_project_selector_contradicting_platform_is_refused():
    with pytest.raises(FieldError) as err:
        node_selector_for("notebook", project({"cpu": "false"}), None)
    assert err.value.field == "node_selector" and "cpu=false" in str(err.value)
    # agreeing with the platform is fine
    assert node_selector_for("notebook", project({"notebook": "true"}), None)[0]["notebook"] == "true"
    with pytest.raises(FieldError):
        node_selector_for("notebook", project({"org": "a"}, ["a", "b"]), None)
    with pytest.raises(ValueError):
        node_selector_for("builder", project(), None)
