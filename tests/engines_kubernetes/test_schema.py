"""The validators catch what they claim to: each broken copy of a valid
workflow must be reported (so a passing golden check means something)."""

from __future__ import annotations

import copy

import pytest
from support.kube_schema import argo_json_schema_errors, argo_schema_errors, pod_schema_errors, workflow_errors

from cubelab_hub.engines.kubernetes.compile import compile_workflow
from cubelab_hub.engines.kubernetes.lint import argo_lint_errors

from .specs import DIAMOND_CONFIG, DIAMOND_PROJECT, diamond_spec


@pytest.fixture(scope="module")
def valid():
    workflow = compile_workflow(diamond_spec(), DIAMOND_PROJECT, DIAMOND_CONFIG)
    assert workflow_errors(workflow) == []
    return workflow


def _template(workflow, name):
    return next(t for t in workflow["spec"]["templates"] if t["name"] == name)


def _broken(valid, change):
    workflow = copy.deepcopy(valid)
    change(workflow)
    return workflow


def test_argo_schema_reports_unknown_fields(valid):
    wf = _broken(valid, lambda w: _template(w, "task-prep").update({"retryStrategy": {"limit": 1, "retryPolcy": "Always"}}))
    assert argo_schema_errors(wf) == ["spec.templates[2].retryStrategy.retryPolcy: not a field of Argo's schema"]
    wf = _broken(valid, lambda w: w["spec"].update({"podGc": {"strategy": "OnPodSuccess"}}))
    assert any("podGc" in p for p in argo_schema_errors(wf))


def test_argo_schema_reports_wrong_types(valid):
    wf = _broken(valid, lambda w: w["spec"].update({"parallelism": "three"}))
    assert any("parallelism" in p for p in argo_schema_errors(wf))
    wf = _broken(valid, lambda w: _template(w, "pipeline")["dag"]["tasks"][0].update({"depends": ["prep"]}))
    assert argo_schema_errors(wf)


def test_argo_json_schema_types_fields_as_argo_does(valid):
    """Argo's own schema (not hera's looser models) types IntOrString fields as strings."""
    assert argo_json_schema_errors(valid) == []
    wf = _broken(valid, lambda w: _template(w, "task-prep").update({"retryStrategy": {"limit": 1}, "activeDeadlineSeconds": 60}))
    problems = argo_json_schema_errors(wf)
    assert any("retryStrategy.limit: 1 is not of type 'string'" in p for p in problems)
    assert any("activeDeadlineSeconds: 60 is not of type 'string'" in p for p in problems)
    assert argo_schema_errors(wf) == []  # hera's model accepts both: the official schema is the stricter check
    wf = _broken(valid, lambda w: _template(w, "pipeline")["dag"]["tasks"][0].update({"dependencies": "prep"}))
    assert any("dependencies" in p for p in argo_json_schema_errors(wf))


def test_argo_lint_reports_broken_references(valid):
    wf = _broken(valid, lambda w: _template(w, "pipeline")["dag"]["tasks"][1].update({"depends": "prep && nope"}))
    assert any("unknown 'nope'" in p for p in argo_lint_errors(wf))
    wf = _broken(valid, lambda w: _template(w, "pipeline")["dag"]["tasks"][0].update({"depends": "publish"}))
    assert any("cycle" in p for p in argo_lint_errors(wf))
    wf = _broken(valid, lambda w: _template(w, "task-train-a")["container"]["args"].append("{{inputs.parameters.ghost}}"))
    assert any("ghost" in p for p in argo_lint_errors(wf))
    wf = _broken(valid, lambda w: _template(w, "task-prep")["container"]["args"].append("{{workflow.name}}"))
    assert any("would be substituted" in p for p in argo_lint_errors(wf))
    wf = _broken(valid, lambda w: _template(w, "task-prep").pop("outputs"))
    problems = argo_lint_errors(wf)
    assert any("is not an output of prep" in p for p in problems)
    wf = _broken(valid, lambda w: w["spec"].update({"entrypoint": "main"}))
    assert argo_lint_errors(wf) == ["spec.entrypoint 'main' is not a template"]


def test_pod_schema_reports_kubernetes_errors(valid):
    wf = _broken(valid, lambda w: _template(w, "task-prep")["container"].update({"imagePolicy": "Always"}))
    assert any("imagePolicy" in p for p in pod_schema_errors(wf))
    wf = _broken(valid, lambda w: _template(w, "task-prep")["container"]["env"].append({"name": "N", "value": 3}))
    assert any("not of type" in p for p in pod_schema_errors(wf))
    wf = _broken(valid, lambda w: _template(w, "task-prep")["container"]["resources"]["limits"].update({"cpu": "2 cores"}))
    assert any("not a quantity" in p for p in pod_schema_errors(wf))
    wf = _broken(valid, lambda w: _template(w, "task-prep")["container"]["volumeMounts"].append({"name": "nowhere", "mountPath": "/x"}))
    assert any("has no volume" in p for p in pod_schema_errors(wf))
    wf = _broken(valid, lambda w: _template(w, "task-prep")["volumes"].append({"name": "Bad_Name", "emptyDir": {}}))
    assert any("DNS label" in p for p in pod_schema_errors(wf))
