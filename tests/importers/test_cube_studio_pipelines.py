"""Cube Studio's example pipelines as its repository ships them (2022-2026)
import, validate, render their run variables and compile for both engines."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from support.kube_schema import workflow_errors

from cubelab_hub.domain.errors import FieldErrors
from cubelab_hub.domain.pipelines import validate
from cubelab_hub.domain.projects import settings_from_properties
from cubelab_hub.engines.base import RunSpec
from cubelab_hub.engines.kubernetes.compile import ClusterConfig, compile_workflow
from cubelab_hub.engines.local.commands import TaskPaths, TaskSetupError, build_launch
from cubelab_hub.importers.cube_studio_pipeline import import_cube_studio_pipeline, import_cube_studio_pipelines

from .cube_fixtures import YEARS, catalog, pipelines_file

COUNTS = {"2022": 1, "2023": 1, "2024": 4, "2026": 4}
PROJECT = settings_from_properties({"volume_mount": "kubeflow-user-workspace(pvc):/mnt"})
WHEN = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


def _spec(pipeline, cat, run_id="run-cube"):
    templates = {t.name: cat.get(t.template, t.template_version) for t in pipeline.tasks}
    return RunSpec(run_id=run_id, pipeline=pipeline, templates=templates, creator="alice", runner="bob",
                   project="public", started_at=WHEN, cluster_name="kubernetes")


@pytest.mark.parametrize("year", YEARS)
def test_every_pipeline_imports_validates_and_compiles_on_both_engines(year, tmp_path):
    cat = catalog(year)
    pipelines, reports = import_cube_studio_pipelines(pipelines_file(year), cat, project="public")
    assert len(pipelines) == len(reports) == COUNTS[year]
    assert all(r.status == "imported" and not r.errors for r in reports)
    for pipeline in pipelines:
        # hostpath mounts (one real pipeline has one) are an admin's to set, as in Cube Studio
        errors = [d for d in validate(pipeline, cat, is_admin=True) if d.severity == "error"]
        assert errors == [], (pipeline.name, errors)
        spec = _spec(pipeline, cat)
        workflow = compile_workflow(spec, PROJECT, ClusterConfig(image_pull_secrets=("hubsecret",)))
        assert workflow_errors(workflow) == [], pipeline.name
        text = json.dumps(workflow)
        assert "{{creator}}" not in text and "datetime.datetime" not in text  # rendered before Argo sees them
        for task in pipeline.tasks:
            paths = TaskPaths.for_task(tmp_path / pipeline.name, task.name)
            try:
                argv, env = build_launch(spec, task, spec.templates[task.name], paths, {}, tmp_path / "ws")
            except TaskSetupError as exc:
                # an image's own entrypoint needs a container runtime, which one machine has not
                assert "runs commands, not images" in str(exc) and task.template != "customize"
                continue
            assert argv and "{{creator}}" not in " ".join(argv) + json.dumps(env)
            if task.template == "customize":
                assert argv[:2] == ["bash", "-c"]


def test_fields_are_mapped_as_cube_studio_means_them():
    cat = catalog("2026")
    pipeline, report = import_cube_studio_pipeline(pipelines_file("2026")["ml"], cat, entry_name="ml")
    assert report.status == "imported" and report.demo and pipeline.demo
    assert pipeline.parameter == {"demo": "true", "img": "/static/assets/images/pipeline/tree.jpg"}
    assert pipeline.description == "机器学习：决策树训练部署"
    assert ("data-import", "data-process") in pipeline.edges and ("model-val", "model-offline-inference") in pipeline.edges
    assert len(pipeline.edges) == 6
    train = pipeline.task("model-train")
    assert (train.template, train.label, train.cpu, train.memory, train.gpu) == ("decision-tree", "模型训练", "2", "2G", "0")
    assert train.volume_mount == "kubeflow-user-workspace(pvc):/mnt" and train.position == {"x": 384, "y": 232}
    assert train.args["--model_params"] == {"max_depth": 5, "min_samples_leaf": 10}
    assert pipeline.task("data-process").template == "customize"  # job_templete '自定义镜像'
    assert any("'自定义镜像' is template 'customize'" in w for w in report.warnings)


def test_task_arguments_are_passed_as_cube_studio_passes_them():
    cat = catalog("2026")
    pipeline, _ = import_cube_studio_pipeline(pipelines_file("2026")["ml"], cat)
    spec = _spec(pipeline, cat)
    workflow = compile_workflow(spec, PROJECT)
    templates = {t["name"]: t for t in workflow["spec"]["templates"]}
    train = next(t for n, t in templates.items() if n.endswith("model-train"))
    args = train["container"]["args"]
    # the task's order; a dict as JSON; empty values leave their flags out; {{creator}} rendered
    assert args[:2] == ["--train_dataset", "/mnt/alice/pipeline/example/ml/train.csv"]
    # --model_params is not declared by the template: passed all the same, JSON as Cube Studio writes it
    assert args[args.index("--model_params") + 1] == '{"max_depth": 5, "min_samples_leaf": 10}'
    assert "--inference_dataset" not in args and "--val_dataset" not in args
    env = {e["name"]: e for e in train["container"]["env"]}
    assert env["K8S_NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert env["KFJ_ENVIRONMENT"]["value"] == "kubernetes" and env["HUBSECRET"]["value"] == ""
    data_process = next(t for n, t in templates.items() if n.endswith("data-process"))
    assert data_process["container"]["command"][:2] == ["bash", "-c"]
    assert data_process["container"]["workingDir"] == "/mnt/alice/pipeline/example/ml/"


def test_global_env_with_a_datetime_is_rendered_once_for_every_task():
    cat = catalog("2026")
    pipeline, _ = import_cube_studio_pipeline(pipelines_file("2026")["electric-bicycle"], cat)
    assert pipeline.env["YYYYMMDD"] == "{{datetime.datetime.now().strftime('%Y-%m-%d')}}"  # kept until a run
    workflow = compile_workflow(_spec(pipeline, cat), PROJECT)
    for template in workflow["spec"]["templates"]:
        if "container" in template:
            env = {e["name"]: e.get("value") for e in template["container"]["env"]}
            assert env["YYYYMMDD"] == WHEN.astimezone().strftime("%Y-%m-%d")


def test_long_run_ids_keep_labels_under_63_characters():
    cat = catalog("2026")
    pipeline, _ = import_cube_studio_pipeline(pipelines_file("2026")["yolov8"], cat)
    workflow = compile_workflow(_spec(pipeline, cat, run_id="run-" + "x" * 120), PROJECT)
    labels = dict(workflow["metadata"]["labels"])
    labels.update(workflow["spec"]["podMetadata"]["labels"])
    for template in workflow["spec"]["templates"]:
        labels.update((template.get("metadata") or {}).get("labels") or {})
    assert labels and all(len(v) <= 63 for v in labels.values())
    # launcher images put KFJ_TASK_ID into their pods' labels
    for template in workflow["spec"]["templates"]:
        if "container" in template:
            env = {e["name"]: e.get("value") for e in template["container"]["env"]}
            assert len(env["KFJ_TASK_ID"]) <= 63 and re.match(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$", env["KFJ_TASK_ID"])


def test_refusals_name_the_entry_the_field_and_the_reason():
    cat = catalog("2026")
    good = pipelines_file("2026")["yolov8"]
    missing = json.loads(json.dumps(good))
    missing["tasks"][0]["job_templete"] = "no-such-template"
    dangling = json.loads(json.dumps(good))
    dangling["pipeline"]["dag_json"]["ghost"] = {"upstream": []}
    pipelines, reports = import_cube_studio_pipelines({"good": good, "missing": missing, "dangling": dangling}, cat)
    assert [p.name for p in pipelines] == ["yolov8"]
    by_entry = {r.entry: r for r in reports}
    err = by_entry["missing"].errors[0]
    assert err.field == f"missing.tasks.{good['tasks'][0]['name']}.job_templete" and "'no-such-template' is not installed" in err.message
    err = by_entry["dangling"].errors[0]
    assert err.field == "dangling.pipeline.dag_json.ghost" and "not among the tasks" in err.message
    with pytest.raises(FieldErrors) as info:
        import_cube_studio_pipelines({"missing": missing}, cat)
    assert info.value.errors[0].field.startswith("missing.tasks.")


def test_schedule_and_unmapped_fields_are_reported():
    cat = catalog("2026")
    entry = json.loads(json.dumps(pipelines_file("2026")["yolov8"]))
    entry["pipeline"].update({"schedule_type": "crontab", "cron_time": "0 2 * * *", "cronjob_start_time": "2026-01-01 00:00:00",
                              "depends_on_past": True, "max_active_runs": 2, "expired_limit": 3, "alert_user": "alice",
                              "namespace": "pipeline", "id": 7})
    pipeline, report = import_cube_studio_pipeline(entry, cat)
    assert not [d for d in report.diagnostics if d.severity == "error"]
    s = pipeline.schedule
    assert (s.enabled, s.cron, s.depends_on_past, s.max_active_runs, s.expired_limit) == (False, "0 2 * * *", True, 2, 3)
    assert any("imported disabled" in w for w in report.warnings)
    assert report.ignored == ["pipeline.alert_user: CubeLab sends no alerts"]  # defaults and bookkeeping say nothing


def test_a_host_network_template_and_a_kept_range_compile_and_run_from_the_stored_form():
    from cubelab_hub.domain.pipelines import Pipeline, Task
    from cubelab_hub.domain.templates import template_from_dict

    cat = catalog("2026")
    tasks = [Task("nni", "hyperparam-search-nni"), Task("ray", "ray", args={"--num_worker": "3"})]
    pipeline = Pipeline(name="hn", tasks=tasks)
    spec = _spec(pipeline, cat)
    # a run's templates travel as their stored form: the kept range must load again
    spec.templates = {name: template_from_dict(t.to_dict(), warnings=[]) for name, t in spec.templates.items()}
    workflow = compile_workflow(spec, PROJECT)
    assert workflow_errors(workflow) == []
    nni = next(t for t in workflow["spec"]["templates"] if t["name"].endswith("nni"))
    ports = [p["hostPort"] for p in nni["container"]["ports"]]
    env = {e["name"]: e.get("value") for e in nni["container"]["env"]}
    assert [int(env["PORT1"]), int(env["PORT2"])] == ports


def test_a_task_working_dir_and_command_are_the_platform_overrides():
    cat = catalog("2026")
    entry = json.loads(json.dumps(pipelines_file("2026")["ml"]))
    train = next(t for t in entry["tasks"] if t["name"] == "model-train")
    train["working_dir"] = "/mnt/{{creator}}/ml"
    train["command"] = "pip install -r req.txt\npython train.py"
    pipeline, report = import_cube_studio_pipeline(entry, cat)
    task = pipeline.task("model-train")
    assert task.args["workdir"] == "/mnt/{{creator}}/ml" and task.args["command"] == "pip install -r req.txt && python train.py"
    assert not [d for d in report.diagnostics if d.task == "model-train" and "workdir" in (d.field or "") + (d.message or "")]
    workflow = compile_workflow(_spec(pipeline, cat), PROJECT)
    container = next(t for t in workflow["spec"]["templates"] if t["name"].endswith("model-train"))["container"]
    assert container["command"] == ["bash", "-c", "pip install -r req.txt && python train.py"]
    assert container["workingDir"] == "/mnt/alice/ml" and "args" not in container
