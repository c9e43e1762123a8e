"""Runs used by the compiler's golden tests and the engine tests."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

from cubelab_hub.controlplane.services.trial_channel import TrialChannel
from cubelab_hub.domain.argspec import ArgSpec
from cubelab_hub.domain.pipelines import Pipeline, Task
from cubelab_hub.domain.projects import settings_from_properties
from cubelab_hub.domain.templates import JobTemplate, TemplateOutput, builtin_templates
from cubelab_hub.engines.base import SUCCEEDED, RunSpec, TaskState
from cubelab_hub.engines.kubernetes.compile import ClusterConfig

PREP = JobTemplate(
    name="prep-data",
    image="registry.example/prep:1.0",
    command=["python", "/app/prep.py"],
    args=[
        ArgSpec("--input", type="str", require=True),
        ArgSpec("--rows", type="int", default=100),
        ArgSpec("--ratio", type="float"),
        ArgSpec("--shuffle", type="bool"),
        ArgSpec("--verbose", type="bool"),
        ArgSpec("--columns", type="list"),
        ArgSpec("--options", type="dict"),
    ],
    env={"LOG_LEVEL": "info"},
    volume_mount="4G(memory):/dev/shm",
    outputs=[TemplateOutput("rows_out"), TemplateOutput("dataset", type="path", flag="--dataset-path")],
)
TRAIN = JobTemplate(
    name="train",
    image="registry.example/train:2.1",
    fixed_args=["train"],  # no command: the image's entrypoint runs
    args=[
        ArgSpec("--data", type="str"),
        ArgSpec("--rows", type="str"),
        ArgSpec("--lr", type="float", default=0.1),
        ArgSpec("--epochs", type="int"),
        ArgSpec("--mode", type="enum", choice=["fast", "full"], default="full"),
    ],
    service_account="trainer",
    outputs=[TemplateOutput("model")],
)
EVALUATE = JobTemplate(
    name="evaluate",
    image="registry.example/eval:1",
    command=["evaluate"],
    args=[ArgSpec("--model", type="str"), ArgSpec("--report-dir", type="str")],
    env={"TASK_RESOURCE_MEMORY": "8G~12G"},
)
BUILTIN = {t.name: t for t in builtin_templates()}

DIAMOND_PROJECT = settings_from_properties(
    {
        "org": "team-a,team-b",
        "node_selector": "zone=z1",
        "volume_mount": "kubeflow-user-workspace(pvc):/mnt,datasets(pvc-share):/data,10.0.0.8/exports/models(nfs):/models",
        "namespace": "team-a",
    }
)
DIAMOND_CONFIG = ClusterConfig(image_pull_secrets=("regcred",), pod_gc_delay="30m")


def diamond_spec(run_id: str = "run-0042") -> RunSpec:
    """Fan-out, fan-in, references of every kind, retries, timeout, GPUs, skip."""
    tasks = [
        Task(
            "prep",
            "prep-data",
            args={
                "--input": "/data/raw; rm -rf / #",  # one argv item, never a shell
                "--ratio": 0.25,
                "--shuffle": True,
                "--verbose": False,
                "--columns": ["a", "b"],
                "--options": {"sep": ","},
            },
            cpu="2",
            memory="4G",
            env={"TASK_ONLY": "yes"},
        ),
        Task(
            "train-a",
            "train",
            args={"--data": "{{tasks.prep.outputs.dataset}}", "--rows": "{{tasks.prep.outputs.rows_out}}", "--lr": "0.01", "--mode": "fast"},
            cpu="4~8",
            memory="16G~32G",
            gpu="2(V100)",
            retries=2,
            timeout=3600,
        ),
        Task(
            "train-b",
            "train",
            args={"--data": "{{tasks.prep.outputs.path}}/part-b", "--epochs": 3},
            gpu="1(nvidia,A100)",
            node_selector="disk=ssd",
            volume_mount="scratch(pvc-share):/scratch",
        ),
        Task("join", "logical"),
        Task("report", "evaluate", skip=True),
        Task(
            "publish",
            "evaluate",
            args={"--model": "{{tasks.train-a.outputs.model}}", "--report-dir": "{{tasks.report.outputs.path}}"},
            cpu="0.5",
        ),
    ]
    pipeline = Pipeline(
        name="diamond",
        project="team-a",
        id=7,
        tasks=tasks,
        edges=[("prep", "train-a"), ("prep", "train-b"), ("train-a", "join"), ("train-b", "join"), ("join", "report"), ("report", "publish")],
        env={"GLOBAL": "1", "KFJ_RUN_ID": "spoofed"},
        parallelism=3,
    )
    templates = {"prep": PREP, "train-a": TRAIN, "train-b": TRAIN, "join": BUILTIN["logical"], "report": EVALUATE, "publish": EVALUATE}
    return RunSpec(
        run_id=run_id,
        pipeline=pipeline,
        templates=templates,
        creator="alice",
        runner="bob",
        project="team-a",
        namespace="team-a",
        extra_env={"PROJECT_ENV": "x"},
    )


def builtins_spec() -> RunSpec:
    """The built-in templates, a scheduled run, the default project."""
    tasks = [
        Task("code", "python", args={"--code": "import sys\nprint(sys.argv)", "--args": "--alpha 1 'two words'"}),
        Task("script", "python", args={"--script": "jobs/train.py"}, gpu="0"),
        Task("sh", "shell", args={"--command": "echo $KFJ_RUN_ID && ls /mnt"}),
        Task("nb", "notebook", args={"--notebook": "notebooks/report.ipynb", "--parameters": {"alpha": 0.5}, "--kernel": "python3"}),
    ]
    pipeline = Pipeline(name="nightly", project="public", id=3, tasks=tasks, edges=[("code", "sh"), ("script", "sh"), ("sh", "nb")])
    return RunSpec(
        run_id="20260101-0300",
        pipeline=pipeline,
        templates={name: BUILTIN[kind] for name, kind in (("code", "python"), ("script", "python"), ("sh", "shell"), ("nb", "notebook"))},
        creator="carol",
        runner="carol",
        project="public",
        namespace="pipeline",
        trigger="schedule",
        schedule_time=datetime(2026, 1, 1, 3, 0, tzinfo=UTC),
    )


BUILTINS_PROJECT = settings_from_properties({"volume_mount": "kubeflow-user-workspace(pvc):/mnt"})


def rerun_spec() -> RunSpec:
    """Re-run from a failed task: prep is reused (its outputs become literals),
    side is neither re-run nor reusable (skipped)."""
    tasks = [
        Task("prep", "prep-data", args={"--input": "/data"}),
        Task("side", "evaluate"),
        Task("train", "train", args={"--rows": "rows={{tasks.prep.outputs.rows_out}}"}),
    ]
    pipeline = Pipeline(name="rerun", project="public", id=9, tasks=tasks, edges=[("prep", "train"), ("prep", "side")])
    previous = TaskState(name="prep", status=SUCCEEDED, attempts=1, exit_code=0, outputs={"rows_out": "42"})
    return RunSpec(
        run_id="run-0043",
        pipeline=pipeline,
        templates={"prep": PREP, "side": EVALUATE, "train": TRAIN},
        creator="alice",
        runner="alice",
        project="public",
        namespace="pipeline",
        trigger="rerun-failed",
        only_tasks={"train"},
        reuse={"prep": previous},
    )


TRIAL_CHANNEL_BASE = "http://cubelab-controlplane.jhub.svc:10101/services/cubelab/api/v1"
TRIAL_ARGV = ["--lr=0.01", "--opt=sgd", '--net={"_name": "cnn", "kernel": 3}']


def trial_env(trial_id: str = "trial-0123456789ab") -> dict[str, str]:
    """A trial's NNI environment, its token made with a fixed key (the golden file holds it)."""
    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "trial-channel.key"
        key.write_bytes(bytes(range(32)))
        return TrialChannel(key).trial_env(TRIAL_CHANNEL_BASE, 7, trial_id, 3)


def trial_spec() -> RunSpec:
    """An experiment trial: one python-script task, its parameters as argv items
    after the task's own, NNI's variables in its env and the trial channel's URL
    (its credentials) in the run's secret_env, as the experiment service hands it
    over (pipeline_id NULL)."""
    env = trial_env()
    secret_env = {"NNI_TRIAL_COMMAND_CHANNEL": env.pop("NNI_TRIAL_COMMAND_CHANNEL")}
    task = Task("trial", "python", args={"--script": "mnist/train.py", "--args": "--epochs 3"}, cpu="2", memory="4G",
                env=env, extra_args=list(TRIAL_ARGV))
    pipeline = Pipeline(name="mnist-hpo", project="public", id=None, tasks=[task], creator="dave")
    return RunSpec(run_id="run-trial-0007", pipeline=pipeline, templates={"trial": BUILTIN["python"]}, creator="dave",
                   runner="dave", project="public", namespace="pipeline", trigger="trial", secret_env=secret_env)
