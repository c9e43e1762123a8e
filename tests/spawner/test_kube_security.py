"""Restricted pods by default: the pure security-context builders, notebook pods
meeting the "restricted" Pod Security Standard, and the check itself."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest
import test_kube
from hubobjects import HubDB
from support.pod_security import restricted_violations
from test_kube import K8S_VERSION, PROFILES, config

from cubelab_hub.domain.errors import FieldError
from cubelab_hub.kube.objects import (
    DEFAULT_ID_RANGE,
    restricted_security_context,
    security_contexts_for,
    user_id,
)

# the spawner tests' fixtures: a hub database, and a kubeconfig for a cluster never called
hub = test_kube.hub
kubeconfig = test_kube.kubeconfig

ALICE = 91220207  # user_id("alice") with the default range: a golden value, it must never change


def test_user_ids_are_stable_distinct_and_in_range():
    assert user_id("alice") == ALICE
    assert user_id("alice") != user_id("bob")
    first, count = DEFAULT_ID_RANGE
    assert all(first <= user_id(f"user{i}") < first + count for i in range(200))
    assert user_id("alice", (5000, 1)) == 5000
    for bad in [(0, 10), (1, 2**31), (10, 0), ("x", 1), (1,)]:
        with pytest.raises(FieldError) as info:
            user_id("alice", bad)
        assert info.value.field == "user_id_range"


def test_restricted_contexts_golden():
    assert restricted_security_context(1234, 1234) == (
        {"runAsNonRoot": True, "runAsUser": 1234, "runAsGroup": 1234, "fsGroup": 1234, "seccompProfile": {"type": "RuntimeDefault"}},
        {
            "runAsNonRoot": True,
            "runAsUser": 1234,
            "runAsGroup": 1234,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    )
    with pytest.raises(ValueError, match="non-root"):
        restricted_security_context(0, 0)


def test_policies():
    pod, container = security_contexts_for("restricted", "alice")
    assert pod["runAsUser"] == container["runAsUser"] == pod["fsGroup"] == ALICE
    assert security_contexts_for("none", "alice") == (None, None)
    explicit = {"pod": {"runAsUser": 1000}, "container": {"readOnlyRootFilesystem": True}}
    pod, container = security_contexts_for(explicit, "alice")
    assert (pod, container) == ({"runAsUser": 1000}, {"readOnlyRootFilesystem": True})
    pod["runAsUser"] = 0
    assert explicit["pod"]["runAsUser"] == 1000  # copies, never the admin's dict
    for bad, field in [("root", "security policy"), ({"pods": {}}, "security policy"), ({"pod": "x"}, "security policy.pod")]:
        with pytest.raises(FieldError) as info:
            security_contexts_for(bad, "alice")
        assert info.value.field == field
        assert "'restricted', 'none'" in info.value.accepted


# ---------------------------------------------------------------- the check itself

GOOD_POD = {
    "spec": {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 5, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "c", "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}}],
        "volumes": [{"name": "w", "persistentVolumeClaim": {"claimName": "w"}}, {"name": "s", "emptyDir": {}}],
    }
}


def _bad(path, value):
    pod = copy.deepcopy(GOOD_POD)
    target = pod
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return pod


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("spec", "hostNetwork"), True, "spec.hostNetwork"),
        (("spec", "hostPID"), True, "spec.hostPID"),
        (("spec", "volumes"), [{"name": "h", "hostPath": {"path": "/"}}], "type hostPath is not allowed"),
        (("spec", "volumes"), [{"name": "n", "nfs": {"server": "a", "path": "/"}}], "type nfs is not allowed"),
        (("spec", "securityContext", "runAsNonRoot"), False, "runAsNonRoot is not true"),
        (("spec", "securityContext", "runAsUser"), 0, "runAsUser is 0"),
        (("spec", "securityContext", "seccompProfile"), {"type": "Unconfined"}, "seccompProfile.type"),
        (("spec", "containers"), [{"name": "c", "securityContext": {"privileged": True, "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}], "privileged"),
        (("spec", "containers"), [{"name": "c", "securityContext": {"capabilities": {"drop": ["ALL"]}}}], "allowPrivilegeEscalation is not false"),
        (("spec", "containers"), [{"name": "c", "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["NET_RAW"]}}}], "drop does not include ALL"),
        (("spec", "containers"), [{"name": "c", "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN"]}}}], "adds capability SYS_ADMIN"),
        (("spec", "containers"), [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 80}], "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}], "hostPort 80"),
    ],
)
def test_the_restricted_check_catches_each_rule(path, value, expected):
    assert restricted_violations(GOOD_POD) == []
    problems = restricted_violations(_bad(path, value))
    assert any(expected in p for p in problems), problems


# ---------------------------------------------------------------- notebook pods


async def manifest_for(hubdb, profile, user_name="alice"):
    from test_kube import make_spawner

    project, properties, options = PROFILES[profile]
    user = hubdb.user(user_name)
    if project != "public":
        hubdb.group(project, properties, members=[user.orm_user])
    hubdb.group("public", {}, members=[user.orm_user])
    spawner = make_spawner(hubdb, user, options)
    await spawner.load_user_options()
    manifest = spawner.api.api_client.sanitize_for_serialization(await spawner.get_pod_manifest())
    manifest = {"apiVersion": "v1", "kind": "Pod", **manifest}
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    return spawner, manifest


@pytest.mark.parametrize("profile", sorted(PROFILES))
async def test_every_notebook_pod_meets_the_restricted_standard(hub, profile):
    _, manifest = await manifest_for(hub, profile)
    problems = restricted_violations(manifest)
    if profile == "vscode-multi-org-nfs":
        # hostPath and NFS mounts are admin-only settings the standard forbids:
        # the pod is restricted in every other way
        assert sorted(problems) == ["volume hostpath-srv-x: type hostPath is not allowed", "volume nfs-10-0-0-9-export-data-c13f9e31: type nfs is not allowed"]
    else:
        assert problems == []
    container = manifest["spec"]["containers"][0]
    assert manifest["spec"]["securityContext"]["runAsUser"] == container["securityContext"]["runAsUser"] == ALICE
    assert manifest["spec"]["securityContext"]["fsGroup"] == ALICE


async def test_kinds_can_be_unrestricted_or_given_their_own_contexts(kubeconfig):
    from cubelab_spawner.kube import CubeKubeSpawner

    hubdb = HubDB(
        CubeKubeSpawner,
        config(
            security_contexts={"rstudio": "none", "vscode": {"pod": {"runAsUser": 1000, "runAsNonRoot": True}, "container": {"readOnlyRootFilesystem": True}}},
            user_id_range=(7000, 1),
            container_security_context={"readOnlyRootFilesystem": False, "procMount": "Default"},
        ),
    )
    _, lab = await manifest_for(hubdb, "cpu-lab")
    assert lab["spec"]["securityContext"]["runAsUser"] == 7000
    # ours over the admin's KubeSpawner setting, the admin's other keys kept
    assert lab["spec"]["containers"][0]["securityContext"]["procMount"] == "Default"
    assert restricted_violations(lab) == []
    _, rstudio = await manifest_for(hubdb, "rstudio", "bob")
    assert "runAsUser" not in (rstudio["spec"].get("securityContext") or {})
    assert restricted_violations(rstudio)  # 'none' is the admin's explicit choice


def test_bad_policies_stop_the_spawner_naming_the_kind(kubeconfig):
    from traitlets import TraitError

    from cubelab_spawner.kube import CubeKubeSpawner

    hubdb = HubDB(CubeKubeSpawner, config(security_contexts={"vscode": "root"}))
    user = hubdb.user("alice")
    with pytest.raises((ValueError, TraitError), match=r"security_contexts\.vscode"):
        hubdb.spawner(user, "", {})
