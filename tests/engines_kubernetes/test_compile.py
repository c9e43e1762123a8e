"""The pure compiler: golden Workflows, each validated against Argo's schema
(hera's models), Argo's DAG rules and the Kubernetes 1.33 pod schema; then the
behaviours one at a time.

Regenerate the golden files after an intended change with
``CUBELAB_UPDATE_GOLDEN=1 pytest tests/engines_kubernetes/test_compile.py`` and
read the diff.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
from support.kube_schema import workflow_errors
from support.service_schema import object_errors

from cubelab_hub.domain.errors import FieldError
from cubelab_hub.domain.pipelines import Pipeline, Task
from cubelab_hub.domain.projects import settings_from_properties
from cubelab_hub.domain.retries import retry_backoff_from_dict
from cubelab_hub.domain.templates import JobTemplate
from cubelab_hub.engines.base import RunSpec
from cubelab_hub.engines.kubernetes.compile import ClusterConfig, compile_workflow, label_value, run_env_secret, workflow_name

from .specs import (
    BUILTIN,
    BUILTINS_PROJECT,
    DIAMOND_CONFIG,
    DIAMOND_PROJECT,
    PREP,
    TRIAL_ARGV,
    builtins_spec,
    diamond_spec,
    rerun_spec,
    trial_env,
    trial_spec,
)

GOLDEN = Path(__file__).parent / "golden"
CASES = {
    "diamond": lambda: compile_workflow(diamond_spec(), DIAMOND_PROJECT, DIAMOND_CONFIG),
    "builtins": lambda: compile_workflow(builtins_spec(), BUILTINS_PROJECT),
    "rerun": lambda: compile_workflow(rerun_spec()),
    "trial": lambda: compile_workflow(trial_spec(), BUILTINS_PROJECT),
    # a trial as the engine submits it once the project's registry pull Secrets are written
    "trial-pull-secrets": lambda: compile_workflow(
        trial_spec(), BUILTINS_PROJECT, ClusterConfig(image_pull_secrets=("cubelab-registry-harbor", "cubelab-registry-team-reg"))),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case):
    workflow = CASES[case]()
    path = GOLDEN / f"{case}.json"
    if os.environ.get("CUBELAB_UPDATE_GOLDEN"):
        path.write_text(json.dumps(workflow, indent=2, ensure_ascii=False) + "\n")
    assert workflow == json.loads(path.read_text())


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_is_valid(case):
    assert workflow_errors(CASES[case]()) == []


def test_compile_is_pure_and_repeatable():
    spec = diamond_spec()
    before = copy.deepcopy(spec)
    first = compile_workflow(spec, DIAMOND_PROJECT, DIAMOND_CONFIG)
    second = compile_workflow(spec, DIAMOND_PROJECT, DIAMOND_CONFIG)
    assert first == second
    assert spec == before  # the input is not touched
    _templates(first)["task-prep"]["container"]["env"].append({"name": "X", "value": "y"})
    assert compile_workflow(spec, DIAMOND_PROJECT, DIAMOND_CONFIG) == second  # nothing shared


def _checked(*args, **kw) -> dict:
    """Compile and validate: every workflow these tests compile is schema-checked."""
    workflow = compile_workflow(*args, **kw)
    assert workflow_errors(workflow) == []
    return workflow


def _templates(workflow) -> dict:
    return {t["name"]: t for t in workflow["spec"]["templates"]}


def _dag(workflow) -> dict:
    return {t["name"]: t for t in _templates(workflow)["pipeline"]["dag"]["tasks"]}


def _env(template) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in template["container"]["env"]}


def _simple(tasks, edges=(), templates=None, **spec_kw) -> RunSpec:
    pipeline = Pipeline(name="p", tasks=list(tasks), edges=list(edges), env=spec_kw.pop("env", {}))
    templates = templates or {t.name: BUILTIN["shell"] for t in tasks}
    return RunSpec(run_id="r1", pipeline=pipeline, templates=templates, creator="u", runner="u", **spec_kw)


def _shell(name, command="true", **kw) -> Task:
    return Task(name, "shell", args={"--command": command}, **kw)


# ---------------------------------------------------------------- DAG


def test_edges_become_depends_and_failures_do_not_stop_other_branches():
    wf = _checked(_simple([_shell("a"), _shell("b"), _shell("c")], [("a", "c"), ("b", "c")]))
    dag = _dag(wf)
    assert "depends" not in dag["a"] and "depends" not in dag["b"]
    assert dag["c"]["depends"] == "a && b"
    assert _templates(wf)["pipeline"]["dag"]["failFast"] is False
    assert wf["spec"]["entrypoint"] == "pipeline"


def test_cycle_is_refused():
    with pytest.raises(FieldError) as info:
        _checked(_simple([_shell("a"), _shell("b")], [("a", "b"), ("b", "a")]))
    assert info.value.field == "edges"


def test_skip_is_when_false_on_a_noop_and_logical_is_a_podless_suspend():
    spec = _simple([_shell("a", skip=True), Task("j", "logical")], [("a", "j")], templates={"a": BUILTIN["shell"], "j": BUILTIN["logical"]})
    wf = _checked(spec)
    dag = _dag(wf)
    assert dag["a"] == {"name": "a", "template": "cubelab-noop", "when": "false"}
    assert dag["j"]["template"] == "cubelab-noop" and "when" not in dag["j"]
    assert _templates(wf)["cubelab-noop"] == {"name": "cubelab-noop", "suspend": {"duration": "0"}}
    assert not any("container" in t for t in wf["spec"]["templates"])


def test_retries_timeout_parallelism_gc_ttl():
    spec = _simple([_shell("a", retries=3, timeout=90)])
    spec.pipeline.parallelism = 4
    wf = _checked(spec, config=ClusterConfig(pod_gc_delay="5m", ttl_seconds_after_completion=3600))
    a = _templates(wf)["task-a"]
    # the default back-off: 5 s, doubling, at most 5 minutes between attempts
    assert a["retryStrategy"] == {"limit": "3", "retryPolicy": "Always", "backoff": {"duration": "5s", "factor": "2", "cap": "5m"}}
    assert a["activeDeadlineSeconds"] == "90"
    assert wf["spec"]["parallelism"] == 4
    assert wf["spec"]["podGC"] == {"strategy": "OnPodCompletion", "deleteDelayDuration": "5m"}
    assert wf["spec"]["ttlStrategy"] == {"secondsAfterCompletion": 3600}
    plain = _templates(_checked(_simple([_shell("a")])))["task-a"]
    assert "retryStrategy" not in plain and "activeDeadlineSeconds" not in plain
    assert "parallelism" not in _checked(_simple([_shell("a")]))["spec"]
    assert _checked(_simple([_shell("a")]), config=ClusterConfig(default_parallelism=2))["spec"]["parallelism"] == 2


def test_retry_backoff_becomes_argos_backoff():
    task = _shell("a", retries=2)
    task.retry_backoff = retry_backoff_from_dict({"delay": 90, "factor": 3, "max_delay": "1h"}, "retry_backoff")
    a = _templates(_checked(_simple([task])))["task-a"]
    assert a["retryStrategy"]["backoff"] == {"duration": "90s", "factor": "3", "cap": "1h"}


# ---------------------------------------------------------------- arguments


def test_arguments_are_argv_items_never_a_shell_line():
    wf = _checked(diamond_spec(), DIAMOND_PROJECT, DIAMOND_CONFIG)
    prep = _templates(wf)["task-prep"]["container"]
    assert prep["command"] == ["python", "/app/prep.py"]
    assert prep["args"][:2] == ["--input", "/data/raw; rm -rf / #"]
    # true bool: bare flag; false bool: left out; list/dict: compact JSON; default filled in
    assert "--shuffle" in prep["args"] and "--verbose" not in prep["args"]
    assert prep["args"][prep["args"].index("--columns") + 1] == '["a","b"]'
    assert prep["args"][prep["args"].index("--rows") + 1] == "100"
    # a Kubeflow outputPath flag points into the output directory
    assert prep["args"][-2:] == ["--dataset-path", "/cubelab/out/dataset"]


def test_template_without_command_keeps_the_image_entrypoint():
    wf = _checked(diamond_spec(), DIAMOND_PROJECT, DIAMOND_CONFIG)
    train = _templates(wf)["task-train-b"]["container"]
    assert "command" not in train
    assert train["args"][0] == "train"


def test_a_trials_parameters_follow_its_own_args_and_its_channel_comes_from_a_secret():
    spec = trial_spec()
    wf = _checked(spec, BUILTINS_PROJECT)
    trial = _templates(wf)["task-trial"]["container"]
    assert trial["command"] == ["python", "/mnt/dave/mnist/train.py", "--epochs", "3", *TRIAL_ARGV]
    env = _env(_templates(wf)["task-trial"])
    assert env["NNI_TRIAL_JOB_ID"] == "trial-0123456789ab" and env["NNI_PLATFORM"] == "cubelab"
    assert env["NNI_OUTPUT_DIR"] == env["NNI_SYS_DIR"] == "/cubelab/out"  # the pod's output directory
    assert wf["metadata"]["labels"]["cubelab.io/trigger"] == "trial"
    # the channel's URL (its token) is nowhere in the workflow: the pod reads it from the run's Secret
    token_url = spec.secret_env["NNI_TRIAL_COMMAND_CHANNEL"]
    assert token_url not in json.dumps(wf) and token_url.split("@")[0].split(":")[-1] not in json.dumps(wf)
    [ref] = [e for e in trial["env"] if e["name"] == "NNI_TRIAL_COMMAND_CHANNEL"]
    secret = run_env_secret(spec, BUILTINS_PROJECT)
    assert ref == {"name": "NNI_TRIAL_COMMAND_CHANNEL", "valueFrom": {"secretKeyRef": {"name": secret["metadata"]["name"], "key": "NNI_TRIAL_COMMAND_CHANNEL"}}}
    assert secret["metadata"]["namespace"] == wf["metadata"]["namespace"]
    assert secret["stringData"] == {"NNI_TRIAL_COMMAND_CHANNEL": token_url}


def test_the_trials_secret_matches_its_golden_file_and_the_kubernetes_schema():
    owner = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": workflow_name(trial_spec()),
             "uid": "00000000-0000-0000-0000-000000000007"}
    secret = run_env_secret(trial_spec(), BUILTINS_PROJECT, owner)
    path = GOLDEN / "trial-secret.json"
    if os.environ.get("CUBELAB_UPDATE_GOLDEN"):
        path.write_text(json.dumps(secret, indent=2, ensure_ascii=False) + "\n")
    assert secret == json.loads(path.read_text())
    assert object_errors(secret) == []
    assert object_errors({**secret, "stringData": {"NNI_TRIAL_COMMAND_CHANNEL": 7}}) != []  # the schema check is not vacuous
    assert run_env_secret(builtins_spec(), BUILTINS_PROJECT) is None  # runs without secret variables have none


def test_a_trials_custom_command_gets_its_parameters_as_bash_positional_parameters():
    custom = JobTemplate(name="custom", image="registry.example/base:1")
    task = Task("trial", "custom", args={"command": "cd /app && python fit.py"}, env=trial_env(), extra_args=list(TRIAL_ARGV))
    wf = _checked(_simple([task], templates={"trial": custom}))
    assert _templates(wf)["task-trial"]["container"]["command"] == ["bash", "-c", 'cd /app && python fit.py "$@"', "trial", *TRIAL_ARGV]
    with pytest.raises(FieldError) as info:
        _checked(_simple([Task("trial", "custom", args={"command": "true"}, extra_args=["--x={{workflow.name}}"])], templates={"trial": custom}))
    assert info.value.field == "tasks.trial.extra_args[0]"


def test_missing_required_argument_names_the_field():
    spec = _simple([Task("p", "prep-data")], templates={"p": PREP})
    with pytest.raises(FieldError) as info:
        _checked(spec)
    assert info.value.field == "tasks.p.args.--input"


def test_bad_typed_value_names_the_field():
    spec = _simple([Task("p", "prep-data", args={"--input": "x", "--rows": "many"})], templates={"p": PREP})
    with pytest.raises(FieldError) as info:
        _checked(spec)
    assert info.value.field == "tasks.p.args.--rows"


@pytest.mark.parametrize(
    "where",
    [
        {"args": {"--command": "echo {{workflow.name}}"}},
        {"args": {"--command": "echo {{inputs.parameters.x}}"}},
        {"env": {"A": "{{=sprig.env('X')}}"}},
    ],
)
def test_argo_tags_in_user_text_are_refused(where):
    task = Task("a", "shell", args=where.get("args", {"--command": "true"}), env=where.get("env", {}))
    with pytest.raises(FieldError) as info:
        _checked(_simple([task]))
    assert "substituted by Argo" in str(info.value)
    assert info.value.field.startswith("tasks.a.")


def test_braces_that_are_not_argo_tags_pass():
    wf = _checked(_simple([_shell("a", "python -c 'print({1: 2})' && echo '{{' ")]))
    assert _templates(wf)["task-a"]["container"]["command"][2] == "python -c 'print({1: 2})' && echo '{{' "


# ---------------------------------------------------------------- outputs downstream


def test_named_output_is_an_argo_parameter_passed_as_an_input():
    wf = _checked(diamond_spec(), DIAMOND_PROJECT, DIAMOND_CONFIG)
    t = _templates(wf)
    assert t["task-prep"]["outputs"]["parameters"] == [{"name": "rows_out", "valueFrom": {"path": "/cubelab/out/rows_out"}}]
    dag = _dag(wf)
    assert dag["train-a"]["arguments"]["parameters"] == [{"name": "prep__rows_out", "value": "{{tasks.prep.outputs.parameters.rows_out}}"}]
    assert t["task-train-a"]["inputs"]["parameters"] == [{"name": "prep__rows_out"}]
    args = t["task-train-a"]["container"]["args"]
    assert args[args.index("--rows") + 1] == "{{inputs.parameters.prep__rows_out}}"


def test_directory_and_path_outputs_travel_as_an_artifact():
    wf = _checked(diamond_spec(), DIAMOND_PROJECT, DIAMOND_CONFIG)
    t, dag = _templates(wf), _dag(wf)
    assert t["task-prep"]["outputs"]["artifacts"] == [{"name": "out", "path": "/cubelab/out"}]
    assert dag["train-b"]["arguments"]["artifacts"] == [{"name": "prep", "from": "{{tasks.prep.outputs.artifacts.out}}"}]
    assert t["task-train-b"]["inputs"]["artifacts"] == [{"name": "prep", "path": "/cubelab/upstream/prep"}]
    b_args = t["task-train-b"]["container"]["args"]
    assert b_args[b_args.index("--data") + 1] == "/cubelab/upstream/prep/part-b"
    a_args = t["task-train-a"]["container"]["args"]
    assert a_args[a_args.index("--data") + 1] == "/cubelab/upstream/prep/dataset"  # a 'path'-type output
    assert _env(t["task-train-b"])["KFJ_UPSTREAM_PREP_OUTPUT_DIR"] == "/cubelab/upstream/prep"


def test_no_artifact_unless_a_directory_is_referenced():
    # artifacts need a repository; a pipeline passing only values must not need one
    spec = _simple([_shell("a"), _shell("b", "echo {{tasks.a.outputs.n}}")], [("a", "b")])
    wf = _checked(spec)
    assert "artifact" not in json.dumps(wf)
    assert "KFJ_UPSTREAM_A_OUTPUT_DIR" not in _env(_templates(wf)["task-b"])
    every = _checked(spec, config=ClusterConfig(pass_all_output_dirs=True))
    assert _env(_templates(every)["task-b"])["KFJ_UPSTREAM_A_OUTPUT_DIR"] == "/cubelab/upstream/a"
    assert _dag(every)["b"]["arguments"]["artifacts"] == [{"name": "a", "from": "{{tasks.a.outputs.artifacts.out}}"}]


def test_skipped_upstream_directory_is_an_empty_dir_and_its_values_are_an_error():
    wf = _checked(diamond_spec(), DIAMOND_PROJECT, DIAMOND_CONFIG)
    publish = _templates(wf)["task-publish"]
    assert {"name": "cubelab-skipped-report", "emptyDir": {}} in publish["volumes"]
    spec = _simple([_shell("a", skip=True), _shell("b", "echo {{tasks.a.outputs.n}}")], [("a", "b")])
    with pytest.raises(FieldError) as info:
        _checked(spec)
    assert "skipped" in str(info.value) and info.value.field == "tasks.b.args.--command"


def test_reference_to_a_task_that_is_not_upstream_is_refused():
    spec = _simple([_shell("a"), _shell("b", "echo {{tasks.a.outputs.n}}")])
    with pytest.raises(FieldError) as info:
        _checked(spec)
    assert "not upstream" in str(info.value)


def test_rerun_reuses_earlier_outputs_as_literals():
    wf = _checked(rerun_spec())
    dag, t = _dag(wf), _templates(wf)
    assert dag["prep"]["when"] == "false" and dag["side"]["when"] == "false"
    args = t["task-train"]["container"]["args"]
    assert args[args.index("--rows") + 1] == "rows=42"
    assert "inputs" not in t["task-train"]
    assert set(t) == {"pipeline", "cubelab-noop", "task-train"}


def test_rerun_cannot_pass_an_earlier_directory():
    spec = rerun_spec()
    spec.pipeline.task("train").args["--data"] = "{{tasks.prep.outputs.path}}"
    with pytest.raises(FieldError) as info:
        _checked(spec)
    assert "re-run the whole pipeline" in str(info.value)


# ---------------------------------------------------------------- placement, resources, env


def test_node_selector_role_labels_and_project_settings():
    wf = _checked(diamond_spec(), DIAMOND_PROJECT, DIAMOND_CONFIG)
    t = _templates(wf)
    assert t["task-prep"]["nodeSelector"] == {"zone": "z1", "train": "true", "cpu": "true"}
    assert t["task-train-a"]["nodeSelector"] == {"zone": "z1", "train": "true", "gpu": "true", "gpu-type": "V100"}
    terms = t["task-prep"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": "org", "operator": "In", "values": ["team-a", "team-b"]}]}]
    single = _templates(_checked(_simple([_shell("a")])))["task-a"]
    assert single["nodeSelector"] == {"train": "true", "cpu": "true", "org": "public"}
    assert "affinity" not in single


def test_task_selector_contradicting_a_role_label_is_refused():
    with pytest.raises(FieldError) as info:
        _checked(_simple([_shell("a", node_selector="train=false")]))
    assert info.value.field == "tasks.a.node_selector"


def test_resources_gpu_and_visible_devices():
    wf = _checked(diamond_spec(), DIAMOND_PROJECT, DIAMOND_CONFIG)
    t = _templates(wf)
    assert t["task-train-a"]["container"]["resources"] == {
        "requests": {"cpu": "4", "memory": "16Gi"},
        "limits": {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "2"},
    }
    assert "NVIDIA_VISIBLE_DEVICES" not in _env(t["task-train-a"])
    assert _env(t["task-prep"])["NVIDIA_VISIBLE_DEVICES"] == "none"
    amd = _checked(_simple([_shell("a", gpu="1(amd,MI300)")]))
    assert _templates(amd)["task-a"]["container"]["resources"]["limits"]["amd.com/gpu"] == "1"
    mapped = _checked(_simple([_shell("a", gpu="1(acme,X1)")]), config=ClusterConfig(gpu_resource_map={"acme": "acme.com/npu"}))
    assert _templates(mapped)["task-a"]["container"]["resources"]["limits"]["acme.com/npu"] == "1"
    with pytest.raises(FieldError) as info:
        _checked(_simple([_shell("a", gpu="1(acme,X1)")]))
    assert info.value.field == "tasks.a.gpu"


def test_template_resource_env_overrides_the_task():
    wf = _checked(diamond_spec(), DIAMOND_PROJECT, DIAMOND_CONFIG)
    publish = _templates(wf)["task-publish"]
    assert publish["container"]["resources"]["limits"]["memory"] == "12Gi"  # EVALUATE's TASK_RESOURCE_MEMORY
    assert _env(publish)["KFJ_TASK_RESOURCE_MEMORY"] == "8G~12G"


def test_bad_resource_names_the_task_field():
    with pytest.raises(FieldError) as info:
        _checked(_simple([_shell("a", cpu="lots")]))
    assert info.value.field == "tasks.a.cpu"


def test_mounts_merge_project_template_task_with_per_user_workspace():
    wf = _checked(diamond_spec(), DIAMOND_PROJECT, DIAMOND_CONFIG)
    mounts = {m["mountPath"]: m for m in _templates(wf)["task-train-b"]["container"]["volumeMounts"]}
    assert mounts["/mnt/bob"] == {"name": "pvc-kubeflow-user-workspace", "mountPath": "/mnt/bob", "subPath": "bob"}
    assert "/scratch" in mounts and "/data" in mounts and "/cubelab/out" in mounts
    prep = {m["mountPath"] for m in _templates(wf)["task-prep"]["container"]["volumeMounts"]}
    assert "/dev/shm" in prep and "/scratch" not in prep


def test_env_layers_and_platform_names_win():
    wf = _checked(diamond_spec(), DIAMOND_PROJECT, DIAMOND_CONFIG)
    env = _env(_templates(wf)["task-prep"])
    assert env["KFJ_RUN_ID"] == "run-0042"  # the pipeline's 'spoofed' loses
    assert env["GLOBAL"] == "1" and env["LOG_LEVEL"] == "info" and env["TASK_ONLY"] == "yes" and env["PROJECT_ENV"] == "x"
    assert env["KFJ_TASK_ID"] == "run-0042-prep" and env["KFJ_TASK_NAME"] == "prep"
    assert env["KFJ_CREATOR"] == "alice" and env["KFJ_RUNNER"] == "bob" and env["USERNAME"] == "bob"
    assert env["KFJ_NAMESPACE"] == "team-a" and env["KFJ_TASK_PROJECT_NAME"] == "team-a"
    assert env["KFJ_PIPELINE_ID"] == "7" and env["KFJ_PIPELINE_NAME"] == "diamond"
    assert env["KFJ_TASK_IMAGES"] == "registry.example/prep:1.0"
    assert env["KFJ_TASK_RESOURCE_CPU"] == "2" and env["KFJ_TASK_OUTPUT_DIR"] == "/cubelab/out"
    sched = _env(_templates(_checked(builtins_spec(), BUILTINS_PROJECT))["task-code"])
    assert sched["KFJ_SCHEDULE_TIME"] == "2026-01-01T03:00:00+00:00"


def test_builtin_python_script_must_stay_in_the_workspace():
    spec = builtins_spec()
    spec.pipeline.task("script").args["--script"] = "../dave/steal.py"
    with pytest.raises(FieldError) as info:
        _checked(spec, BUILTINS_PROJECT)
    assert info.value.field == "tasks.script.args.--script"
    with pytest.raises(FieldError) as info:
        _checked(builtins_spec())  # no workspace mount: a relative script has no home
    assert "workspace" in str(info.value)


# ---------------------------------------------------------------- names and labels


@pytest.mark.parametrize("run_id", ["r1", "RUN_42", "2026-01-01T03:00:00Z", "x" * 80, "a/b c"])
def test_workflow_name_is_stable_and_valid(run_id):
    spec = _simple([_shell("a")])
    spec.run_id = run_id
    name = workflow_name(spec)
    assert name == workflow_name(spec)
    assert len(name) <= 63 and name.replace("-", "").isalnum() and name == name.lower()
    _checked(spec)
    label = label_value(run_id)
    assert len(label) <= 63


def test_distinct_run_ids_get_distinct_names():
    spec = _simple([_shell("a")])
    names = set()
    for run_id in ("RUN_42", "run-42", "run_42", "x" * 80, "x" * 81):
        spec.run_id = run_id
        names.add(workflow_name(spec))
    assert len(names) == 5


def test_pods_carry_run_and_task_labels():
    wf = _checked(diamond_spec(), DIAMOND_PROJECT, DIAMOND_CONFIG)
    assert wf["spec"]["podMetadata"]["labels"] == {"cubelab.io/run-id": "run-0042"}
    assert _templates(wf)["task-train-a"]["metadata"]["labels"] == {"cubelab.io/task": "train-a"}
    assert wf["metadata"]["annotations"]["cubelab.io/run-id"] == "run-0042"
    assert wf["spec"]["imagePullSecrets"] == [{"name": "regcred"}]


def test_the_projects_namespace_wins():
    spec = _simple([_shell("a")], namespace="pipeline")
    wf = _checked(spec, settings_from_properties({"namespace": "team-x"}))
    assert wf["metadata"]["namespace"] == "team-x"
    assert _env(_templates(wf)["task-a"])["KFJ_NAMESPACE"] == "team-x"
    assert _checked(spec)["metadata"]["namespace"] == "pipeline"


def test_unbalanced_python_args_name_the_field():
    spec = builtins_spec()
    spec.pipeline.task("code").args["--args"] = "--name 'unclosed"
    with pytest.raises(FieldError) as info:
        compile_workflow(spec, BUILTINS_PROJECT)
    assert info.value.field == "tasks.code.args.--args"


@pytest.mark.parametrize("module", ["compile", "status"])
def test_pure_modules_import_no_kubernetes_client(module):
    import ast

    import cubelab_hub.engines.kubernetes as package

    source = (Path(package.__file__).parent / f"{module}.py").read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.add(node.module)
    assert not {name for name in imported if name.split(".")[0] in ("kubernetes", "kubernetes_asyncio", "aiohttp", "hera")}
    assert all(node.level > 0 or node.module in ("__future__", "hashlib", "json", "posixpath", "re", "shlex", "dataclasses", "typing", "datetime", "decimal") for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom))
