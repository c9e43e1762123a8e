"""The pure service builders (hub/cubelab_hub/kube/services.py): golden objects, each
validated (core kinds with kubernetes-validate for 1.34, strict; Istio's kinds with
jsonschema against their CRDs, closed), then the behaviours one at a time.

Regenerate the golden files after an intended change with
``CUBELAB_UPDATE_GOLDEN=1 pytest tests/engines_kubernetes/test_service_objects.py``
and read the diff.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
from support.pod_security import restricted_violations
from support.service_schema import istio_errors, kubernetes_errors, object_errors

from cubelab_hub.domain.errors import FieldError
from cubelab_hub.domain.projects import settings_from_properties
from cubelab_hub.domain.services import service_from_dict
from cubelab_hub.kube.services import (
    GPU_UTILIZATION_METRIC,
    ServiceContext,
    deployment_for,
    external_service_for,
    hpa_for,
    service_objects,
    virtual_service_for,
)

GOLDEN = Path(__file__).parent / "golden"
DOMAIN = "*.svc.example.com"
PROJECT = settings_from_properties(
    {
        "node_selector": "disk=ssd",
        "volume_mount": "kubeflow-user-workspace(pvc):/mnt",
        "service_external_ip": "10.0.0.5",
        "org": "team-a",
    }
)


def internal(**extra):
    data = {
        "project": "team-a",
        "name": "phpmyadmin",
        "owner": "alice",
        "image": "phpmyadmin:5.2",
        "env": "PMA_HOST=10.0.0.9\nPMA_PORT=3306",
        "ports": "80,8080",
        "volume_mount": "4G(memory):/dev/shm",
        "cpu": "0.5~2",
        "memory": "1G~4G",
        "health": "80:/healthz",
        "min_replicas": 2,
        "max_replicas": 5,
        "hpa": "cpu:50%,mem:70%",
        "canary": "phpmyadmin-next:20%,phpmyadmin-old:30%",
        "mirror": "phpmyadmin-shadow:10%",
    }
    data.update(extra)
    return service_from_dict(data, DOMAIN)


def inference(**extra):
    data = {
        "kind": "inference",
        "project": "team-a",
        "owner": "alice",
        "serving_type": "custom",
        "model_name": "resnet",
        "model_version": "v2024.01.01.1",
        "model_path": "/mnt/alice/models/resnet.onnx",
        "image": "registry.example.com/team-a/resnet-server:1.0",
        "command": "python serve.py --model $KUBEFLOW_MODEL_PATH",
        "ports": "8080",
        "gpu": "1(A100)",
        "health": "shell:curl -fs localhost:8080/v2/health/ready",
        "min_replicas": 1,
        "max_replicas": 4,
        "hpa": "cpu:60%,gpu:50%",
    }
    data.update(extra)
    return service_from_dict(data, DOMAIN)


def context(**extra):
    values = {"namespace": "team-a", "domain": DOMAIN, "project": PROJECT, "area": "gpu-cluster"}
    values.update(extra)
    return ServiceContext(**values)


CASES = {
    "service-internal": lambda: service_objects(
        internal(), context(target_ports={"phpmyadmin-next": 80}, external_ports={80: 20010, 8080: 20011}, image_pull_secrets=("hubsecret",))
    ),
    "service-inference-prod": lambda: service_objects(inference(), context()),
    "service-inference-test": lambda: service_objects(inference(environment="test"), context()),
    "service-inference-debug": lambda: service_objects(inference(), context(environment="debug")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case):
    objects = CASES[case]()
    path = GOLDEN / f"{case}.json"
    if os.environ.get("CUBELAB_UPDATE_GOLDEN"):
        path.write_text(json.dumps(objects, indent=2, ensure_ascii=False) + "\n")
    assert objects == json.loads(path.read_text())


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_is_valid(case):
    objects = CASES[case]()
    assert [problem for obj in objects for problem in object_errors(obj)] == []
    deployment = objects[0]
    assert deployment["kind"] == "Deployment"
    assert restricted_violations(deployment["spec"]["template"]) == []


# ---------------------------------------------------------------- the validators are not vacuous


def test_a_misspelt_istio_field_is_refused():
    vs = virtual_service_for(internal(), context())
    # (Istio still lists the deprecated 'mirror_percent' and 'mirrorPercent'; the builders write 'mirrorPercentage')
    vs["spec"]["http"][0]["mirrorPercentages"] = {"value": 10.0}
    assert any("'mirrorPercentages' was unexpected" in problem for problem in istio_errors(vs))
    vs = virtual_service_for(internal(), context())
    vs["spec"]["http"][0]["mirrorPercentage"] = {"value": "ten"}
    assert istio_errors(vs) != []
    vs = virtual_service_for(internal(), context())
    vs["spec"]["http"][0]["route"][0]["weight"] = 49
    assert any("weights add up to 99" in problem for problem in istio_errors(vs))


def test_a_wrong_core_field_is_refused():
    hpa = hpa_for(internal(), context())
    hpa["spec"]["targetCPUUtilizationPercentage"] = 50  # autoscaling/v1's field, which Cube Studio mixed in
    assert kubernetes_errors(hpa) != []
    deployment = deployment_for(internal(), context())
    deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = {"cores": 2}
    assert kubernetes_errors(deployment) != []


# ---------------------------------------------------------------- behaviours


def test_rolling_update_keeps_every_healthy_replica():
    spec = deployment_for(internal(), context())["spec"]
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    container = spec["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": 80}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 80}
    assert container["livenessProbe"]["initialDelaySeconds"] > 0


def test_replicas_belong_to_the_autoscaler_when_there_is_one():
    assert "replicas" not in deployment_for(internal(), context())["spec"]
    fixed = internal(min_replicas=3, max_replicas=3, hpa="")
    assert deployment_for(fixed, context())["spec"]["replicas"] == 3
    assert hpa_for(fixed, context()) is None


def test_hpa_is_autoscaling_v2_with_resource_and_pods_metrics():
    hpa = hpa_for(inference(), context())
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "custom-resnet-202401011"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 4)
    assert hpa["spec"]["metrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}},
        {"type": "Pods", "pods": {"metric": {"name": GPU_UTILIZATION_METRIC}, "target": {"type": "AverageValue", "averageValue": "50"}}},
    ]
    mem = hpa_for(internal(hpa="mem:70%"), context())["spec"]["metrics"]
    assert mem == [{"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 70}}}]


def test_an_hpa_without_a_rule_says_kubernetes_default():
    hpa = hpa_for(internal(hpa=""), context())
    assert hpa["spec"]["metrics"] == [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
    assert object_errors(hpa) == []


def test_weighted_routes_and_mirror():
    vs = virtual_service_for(internal(), context(target_ports={"phpmyadmin-next": 80}))
    assert vs["spec"]["hosts"] == ["phpmyadmin.svc.example.com"]
    (http,) = vs["spec"]["http"]
    assert http["route"] == [
        {"destination": {"host": "phpmyadmin.team-a.svc.cluster.local", "port": {"number": 80}}, "weight": 50},
        {"destination": {"host": "phpmyadmin-next.team-a.svc.cluster.local", "port": {"number": 80}}, "weight": 20},
        {"destination": {"host": "phpmyadmin-old.team-a.svc.cluster.local"}, "weight": 30},
    ]
    assert http["mirror"] == {"host": "phpmyadmin-shadow.team-a.svc.cluster.local"}
    assert http["mirrorPercentage"] == {"value": 10.0}


def test_a_full_split_leaves_no_route_here():
    vs = virtual_service_for(internal(canary="phpmyadmin-next:100%", mirror=""), context())
    (http,) = vs["spec"]["http"]
    assert http["route"] == [{"destination": {"host": "phpmyadmin-next.team-a.svc.cluster.local"}, "weight": 100}]
    assert "mirror" not in http and object_errors(vs) == []


def test_a_plain_service_routes_everything_to_itself():
    vs = virtual_service_for(internal(canary="", mirror="", host="admin.svc.example.com"), context(gateways=("kubeflow/kubeflow-gateway",)))
    assert vs["spec"] == {
        "hosts": ["admin.svc.example.com"],
        "gateways": ["kubeflow/kubeflow-gateway"],
        "http": [{"route": [{"destination": {"host": "phpmyadmin.team-a.svc.cluster.local", "port": {"number": 80}}}]}],
    }


def test_inference_environments():
    objects = {obj["kind"]: obj for obj in service_objects(inference(environment="test"), context())}
    assert objects["Deployment"]["metadata"]["name"] == "test-custom-resnet-202401011"
    assert objects["VirtualService"]["spec"]["hosts"] == ["test.custom-resnet-202401011.svc.example.com"]
    assert "HorizontalPodAutoscaler" not in objects  # prod only
    debug = deployment_for(inference(), context(environment="debug"))
    container = debug["spec"]["template"]["spec"]["containers"][0]
    assert debug["spec"]["replicas"] == 1 and "readinessProbe" not in container and "livenessProbe" not in container
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["KUBEFLOW_ENV"] == "debug"


def test_split_and_mirror_are_prod_only():
    vs = virtual_service_for(internal(), context(environment="test"))
    assert vs["spec"]["http"] == [{"route": [{"destination": {"host": "test-phpmyadmin.team-a.svc.cluster.local", "port": {"number": 80}}}]}]


def test_inference_env_and_downward_api():
    container = deployment_for(inference(), context())["spec"]["template"]["spec"]["containers"][0]
    plain = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    assert plain == {
        "KUBEFLOW_ENV": "prod",
        "KUBEFLOW_MODEL_PATH": "/mnt/alice/models/resnet.onnx",
        "KUBEFLOW_MODEL_VERSION": "v2024.01.01.1",
        "KUBEFLOW_MODEL_IMAGES": "registry.example.com/team-a/resnet-server:1.0",
        "KUBEFLOW_MODEL_NAME": "resnet",
        "KUBEFLOW_AREA": "gpu-cluster",
    }
    downward = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"] if "valueFrom" in e}
    assert downward == {
        "K8S_NODE_NAME": "spec.nodeName",
        "K8S_POD_NAMESPACE": "metadata.namespace",
        "K8S_POD_IP": "status.podIP",
        "K8S_HOST_IP": "status.hostIP",
        "K8S_POD_NAME": "metadata.name",
    }
    internal_env = deployment_for(internal(), context())["spec"]["template"]["spec"]["containers"][0]["env"]
    assert [e["name"] for e in internal_env] == ["PMA_HOST", "PMA_PORT", "NVIDIA_VISIBLE_DEVICES"]


def test_placement_mounts_and_security():
    pod = deployment_for(inference(), context())["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"disk": "ssd", "service": "true", "gpu": "true", "org": "team-a", "gpu-type": "A100"}
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["containers"][0]["volumeMounts"] == [{"name": "pvc-kubeflow-user-workspace", "mountPath": "/mnt/alice", "subPath": "alice"}]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] >= 1_000_000
    # a CPU-only service hides the node's cards
    cpu_only = deployment_for(internal(), context())["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "NVIDIA_VISIBLE_DEVICES", "value": "none"} in cpu_only["env"]


def test_external_service_on_the_projects_addresses():
    external = external_service_for(internal(), context(external_ports={80: 20010}))
    assert external["metadata"]["name"] == "phpmyadmin-external"
    assert external["spec"]["externalIPs"] == ["10.0.0.5"]
    assert external["spec"]["selector"] == {"app": "phpmyadmin"}
    assert [(p["port"], p["targetPort"]) for p in external["spec"]["ports"]] == [(20010, 80), (8080, 8080)]
    assert external_service_for(internal(), context(project=settings_from_properties({}))) is None
    assert external_service_for(internal(), context(environment="test")) is None
    long = service_from_dict(
        {"kind": "inference", "project": "team-a", "owner": "alice", "serving_type": "custom", "model_name": "m" * 40,
         "model_version": "v12345678901", "image": "x/y:1"},
        DOMAIN,
    )  # fmt: skip
    name = external_service_for(long, context())["metadata"]["name"]
    assert len(name) <= 63 and object_errors(external_service_for(long, context())) == []


def test_an_image_is_needed_on_kubernetes():
    service = inference(serving_type="sklearn", image="", command="", model_path="models/iris.joblib")
    with pytest.raises(FieldError) as err:
        deployment_for(service, context())
    assert err.value.field == "image" and "runs an image" in str(err.value)
    image = deployment_for(service, context(serving_images={"sklearn": "kserve/sklearnserver:v0.15.0"}))
    assert image["spec"]["template"]["spec"]["containers"][0]["image"] == "kserve/sklearnserver:v0.15.0"


def test_builders_are_pure():
    service, ctx = internal(), context()
    first = service_objects(service, ctx)
    snapshot = copy.deepcopy(first)
    first[0]["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "X", "value": "y"})
    first[0]["metadata"]["labels"]["x"] = "y"
    assert service_objects(service, ctx) == snapshot
