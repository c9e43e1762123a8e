"""Imported Kubeflow files compile to Argo Workflows that pass Argo's official JSON
schema, hera's models, the engine's lint and the Pod schema, and the container
runs Kubeflow's command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.kube_schema import workflow_errors

from cubelab_hub.domain.pipelines import Task, pipeline_from_dict
from cubelab_hub.engines.base import RunSpec
from cubelab_hub.engines.kubernetes.compile import compile_workflow
from cubelab_hub.importers.kubeflow import import_kfp_component
from cubelab_hub.importers.kubeflow_v2 import import_kfp_v2

KUBEFLOW = Path(__file__).parent / "fixtures" / "kubeflow"


def _spec(pipeline, templates) -> RunSpec:
    return RunSpec(run_id="run-7", pipeline=pipeline, templates=templates, creator="alice", runner="alice", project="public", namespace="pipeline")


def _container(workflow, task):
    return next(t for t in workflow["spec"]["templates"] if t["name"] == f"task-{task}")["container"]


@pytest.mark.parametrize("stem", ["two_step_pipeline_containerized", "producer_consumer_param_pipeline", "pipeline_with_after"])
def test_v2_pipelines_compile_to_valid_workflows(stem):
    result = import_kfp_v2((KUBEFLOW / "v2" / f"{stem}.yaml").read_text())
    pipeline = pipeline_from_dict(dict(result.pipeline, project="public"))
    by_name = {t.name: t for t in result.templates.values()}
    workflow = compile_workflow(_spec(pipeline, {t.name: by_name[t.template] for t in pipeline.tasks}))
    assert workflow_errors(workflow) == []
    if stem == "two_step_pipeline_containerized":
        first = _container(workflow, "component1")
        assert first["command"] == ["sh", "-c", 'mkdir --parents $(dirname "$1") && echo "$0" > "$1"', "Hello KFP Containerized!", "/cubelab/out/output_gcs"]
        assert "args" not in first
        second = _container(workflow, "component2")
        assert second["command"][0] == "cat" and second["command"][1].startswith("/cubelab/upstream/component1/")


@pytest.mark.parametrize("stem", ["basics.Calculate_hash", "datasets.HuggingFace.Load_dataset", "aws.sagemaker.train", "tables.Remove_header"])
def test_v1_components_compile_to_valid_workflows(stem):
    tpl = import_kfp_component((KUBEFLOW / "v1" / f"{stem}.yaml").read_text())
    samples = {"list": "[1]", "dict": "{}", "int": "3", "float": "0.5", "enum": "True"}
    task = Task("t", tpl.name, args={a.name: samples.get(a.type, "/data/x") for a in tpl.args if a.require})
    pipeline = pipeline_from_dict({"name": "kfp", "project": "public", "tasks": [task.to_dict()]})
    workflow = compile_workflow(_spec(pipeline, {"t": tpl}))
    assert workflow_errors(workflow) == []
    assert _container(workflow, "t")["command"][:2] == tpl.argv[:2]
