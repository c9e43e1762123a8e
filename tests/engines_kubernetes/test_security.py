"""Task pods: restricted by default, as the run's user; the check is the
published "restricted" Pod Security Standard plus the Kubernetes schema.

Regenerate the golden file after an intended change with
``CUBELAB_UPDATE_GOLDEN=1 pytest tests/engines_kubernetes/test_security.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from support.kube_schema import workflow_errors
from support.pod_security import restricted_violations

from cubelab_hub.domain.errors import FieldError
from cubelab_hub.engines.kubernetes.compile import compile_workflow
from cubelab_hub.engines.kubernetes.engine import KubernetesEngine
from cubelab_hub.engines.kubernetes.lint import pod_for_template
from cubelab_hub.engines.kubernetes.security import secure_for_runner, secure_workflow
from cubelab_hub.kube.objects import user_id

from .specs import DIAMOND_CONFIG, DIAMOND_PROJECT, diamond_spec


def _task_pods(workflow):
    return [pod_for_template(workflow, t) for t in workflow["spec"]["templates"] if "container" in t]


def test_every_task_pod_of_a_secured_run_meets_the_restricted_standard():
    spec = diamond_spec()
    workflow = secure_for_runner(compile_workflow(spec, DIAMOND_PROJECT, DIAMOND_CONFIG), spec.runner)
    assert workflow_errors(workflow) == []
    pods = _task_pods(workflow)
    assert pods
    uid = user_id(spec.runner)
    for pod in pods:
        # the diamond project mounts an NFS export (an admin-only setting the
        # standard forbids); every other rule holds
        problems = [p for p in restricted_violations(pod) if not p.endswith("type nfs is not allowed")]
        assert problems == [], pod["metadata"]["name"]
        assert pod["spec"]["securityContext"]["runAsUser"] == uid
        assert pod["spec"]["containers"][0]["securityContext"]["runAsUser"] == uid


def test_without_securing_the_task_pods_fail_the_check():
    spec = diamond_spec()
    workflow = compile_workflow(spec, DIAMOND_PROJECT, DIAMOND_CONFIG)
    assert all(restricted_violations(pod) for pod in _task_pods(workflow))


def test_policies_and_the_original_left_alone():
    spec = diamond_spec()
    compiled = compile_workflow(spec, DIAMOND_PROJECT, DIAMOND_CONFIG)
    assert secure_for_runner(compiled, spec.runner, "none") == compiled
    assert "securityContext" not in compiled["spec"]  # a copy was secured, not the input
    explicit = secure_workflow(compiled, {"runAsUser": 1000}, None)
    assert explicit["spec"]["securityContext"] == {"runAsUser": 1000}
    assert all("securityContext" not in t.get("container", {}) for t in explicit["spec"]["templates"])


def test_the_engine_refuses_a_bad_policy_naming_it():
    with pytest.raises(FieldError) as info:
        KubernetesEngine({}, task_security="root")
    assert info.value.field == "task_security"
    with pytest.raises(FieldError) as info:
        KubernetesEngine({}, user_id_range=(0, 5))
    assert info.value.field == "user_id_range"


def test_golden_restricted_diamond():
    """The secured diamond run as the engine submits it."""
    spec = diamond_spec()
    workflow = secure_for_runner(compile_workflow(spec, DIAMOND_PROJECT, DIAMOND_CONFIG), spec.runner)
    path = Path(__file__).parent / "golden" / "diamond-restricted.json"
    if os.environ.get("CUBELAB_UPDATE_GOLDEN"):
        path.write_text(json.dumps(workflow, indent=2, sort_keys=True) + "\n")
    assert workflow == json.loads(path.read_text())
