"""Cube Studio's run variables, rendered in a sandbox the same way for both engines."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cubelab_hub.domain.errors import FieldError
from cubelab_hub.domain.pipelines import Pipeline, Task
from cubelab_hub.domain.templates import ArgSpec, JobTemplate
from cubelab_hub.engines.base import RunSpec
from cubelab_hub.engines.launch import Where, describe
from cubelab_hub.engines.variables import RunVariables, render_text

WHEN = datetime(2026, 3, 1, 0, 30, tzinfo=UTC)
VARS = RunVariables(creator="alice", runner="bob", pipeline_id="7", pipeline_name="ml", cluster_name="local", run_id="run-1", now=WHEN)
LOCAL = WHEN.astimezone().replace(tzinfo=None)  # Cube Studio renders with the server's local time


@pytest.mark.parametrize("text,expected", [
    ("/mnt/{{creator}}/pipeline/example/ml/", "/mnt/alice/pipeline/example/ml/"),
    ("{{runner}} {{pipeline_id}} {{pipeline_name}} {{cluster_name}}", "bob 7 ml local"),
    ("{{ creator | upper }}-{{ pipeline_id | int + 1 }}", "ALICE-8"),
    ("{{ datetime.datetime.now().strftime('v%Y.%m.%d.1') }}", LOCAL.strftime("v%Y.%m.%d.1")),
    ("{{datetime.datetime.now().strftime('%Y-%m-%d')}}", LOCAL.strftime("%Y-%m-%d")),
    ("{{ (datetime.datetime.now() - datetime.timedelta(days=1)).strftime('%Y%m%d') }}", None),
    ("{{ (datetime.datetime.now() + datetime.timedelta(hours=2)).strftime('%H') }}", None),
    ("{{execution_date}}", LOCAL.strftime("%Y-%m-%d %H:%M:%S")),
    ("{{tasks.a.outputs.model}} and {{creator}}", "{{tasks.a.outputs.model}} and alice"),
    ("echo '{{' && echo {{workflow.name}}", "echo '{{' && echo {{workflow.name}}"),
])
def test_cube_studio_forms_render_as_python_would(text, expected):
    import datetime as dt
    if expected is None:  # the offsets: what Cube Studio's own datetime module gives for the same time
        expected = {
            "days=1": (LOCAL - dt.timedelta(days=1)).strftime("%Y%m%d"),
            "hours=2": (LOCAL + dt.timedelta(hours=2)).strftime("%H"),
        }["days=1" if "days=1" in text else "hours=2"]
    assert render_text(text, VARS, "f") == expected


def test_uuid_forms():
    assert len(render_text("{{uuid.uuid4().hex}}", VARS, "f")) == 32
    assert render_text("{{uuid}}", VARS, "f") == render_text("{{uuid}}", VARS, "f")  # one per run
    other = RunVariables(**{**VARS.__dict__, "run_id": "run-2"})
    assert render_text("{{uuid}}", other, "f") != render_text("{{uuid}}", VARS, "f")


@pytest.mark.parametrize("text", [
    "{{ datetime.datetime.now().__class__ }}",
    "{{ creator.__class__.__mro__ }}",
    "{{ datetime.datetime.now().value }}",
    "{{ uuid._run }}",
    "{{ creator.upper() }}",
    "{{ datetime.datetime.now().strftime() }}",
    "{{ creator * 1000000000 }}",
    "{{ creator | center(1000000000) }}",
    "{{ creator ~ '%0999999999d' % 1 }}",
    "{{ creator ~ lipsum(1000000) }}",
    "{{ (pipeline_id | int) ** 100000 }}",
])
def test_nothing_but_the_listed_attributes_is_reachable(text):
    with pytest.raises(FieldError) as err:
        render_text(text, VARS, "tasks.a.args.--x")
    assert err.value.field == "tasks.a.args.--x" and "creator" in err.value.accepted


def test_both_engines_get_the_same_rendered_launch():
    tpl = JobTemplate(name="tool", image="busybox", command=["tool"], args=[ArgSpec("--out", type="str")], env={"WHO": "{{runner}}"})
    task = Task("a", "tool", args={"--out": "/mnt/{{creator}}/{{DAY}}", "--extra": {"k": "{{pipeline_name}}"}}, env={"T": "{{creator}}"})
    pipeline = Pipeline(name="ml", id=7, tasks=[task], env={"DAY": "{{datetime.datetime.now().strftime('%Y%m%d')}}"})
    spec = RunSpec(run_id="run-1", pipeline=pipeline, templates={"a": tpl}, creator="alice", runner="bob", started_at=WHEN)
    local = describe(spec, task, tpl, Where(python="py", output_dir="/o", namespace="n"))
    kube = describe(spec, task, tpl, Where(python="python", output_dir="/tmp/outputs", namespace="n", environment="kubernetes"))
    day = LOCAL.strftime("%Y%m%d")
    assert local.args == kube.args == ["--out", f"/mnt/alice/{day}", "--extra", '{"k": "ml"}']
    assert local.env["DAY"] == kube.env["DAY"] == day  # global env rendered first, usable as a variable
    assert local.env["WHO"] == "bob" and local.env["T"] == "alice"
    assert (local.env["KFJ_ENVIRONMENT"], kube.env["KFJ_ENVIRONMENT"]) == ("local", "kubernetes")
