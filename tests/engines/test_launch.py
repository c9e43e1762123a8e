"""The launch description both engines translate: pure, so tested without either."""

from __future__ import annotations

import pytest

from cubelab_hub.domain.errors import FieldError
from cubelab_hub.domain.pipelines import Pipeline, Task
from cubelab_hub.domain.templates import ArgSpec, JobTemplate, TemplateOutput, builtin_templates
from cubelab_hub.engines.base import RunSpec
from cubelab_hub.engines.launch import Where, describe, effective_resources, in_workspace, render_args

BUILTIN = {t.name: t for t in builtin_templates()}
WHERE = Where(python="py", output_dir="/out", namespace="ns", workspace="/ws/bob")
TOOL = JobTemplate(
    name="tool",
    image="registry.example/tool:1",
    command=["tool", "run"],
    fixed_args=["--fixed"],
    args=[ArgSpec("--n", type="int", require=True), ArgSpec("--flag", type="bool"), ArgSpec("--opt", type="str", default="d")],
    env={"LAYER": "template", "T_ONLY": "t", "TASK_RESOURCE_MEMORY": "8G"},
    outputs=[TemplateOutput("model", flag="--model-out"), TemplateOutput("metrics")],
)


def _spec(task: Task, template: JobTemplate, **kw) -> RunSpec:
    pipeline = Pipeline(name="p", project="team", id=4, tasks=[task], edges=[], env={"LAYER": "pipeline", "P_ONLY": "p", "KFJ_RUN_ID": "spoofed"})
    return RunSpec(run_id="r1", pipeline=pipeline, templates={task.name: template}, creator="alice", runner="bob", project="team", **kw)


def _launch(task: Task, template: JobTemplate, where: Where = WHERE, **kw):
    return describe(_spec(task, template, **kw), task, template, where)


def test_template_command_with_fixed_and_rendered_args_and_output_flags():
    launch = _launch(Task("t", "tool", args={"--n": 3, "--flag": True}), TOOL)
    assert launch.command == ["tool", "run"]
    assert launch.args == ["--fixed", "--n", "3", "--flag", "--opt", "d", "--model-out", "/out/model"]
    assert launch.values == {"--n": 3, "--flag": True, "--opt": "d"}
    assert not launch.runs_nothing


def test_environment_layers_in_order_and_platform_names_win():
    task = Task("t", "tool", args={"--n": 1}, env={"LAYER": "task", "KFJ_TASK_NAME": "spoofed"}, cpu="2")
    env = _launch(task, TOOL, extra_env={"LAYER": "extra"}).env
    assert env["LAYER"] == "extra" and env["T_ONLY"] == "t" and env["P_ONLY"] == "p"
    assert env["KFJ_RUN_ID"] == "r1" and env["KFJ_TASK_NAME"] == "t" and env["KFJ_NAMESPACE"] == "ns"
    assert env["KFJ_TASK_RESOURCE_CPU"] == "2" and env["KFJ_TASK_RESOURCE_MEMORY"] == "8G"  # the template pins memory
    without_extra = _launch(task, TOOL).env
    assert without_extra["LAYER"] == "task"


def test_template_resource_overrides():
    task = Task("t", "tool", cpu="1", memory="1G", gpu="1")
    assert effective_resources(task, TOOL) == ("1", "8G", "1")
    assert _launch(Task("t", "tool", args={"--n": 1}, memory="1G"), TOOL).resources[1] == "8G"


def test_builtin_kinds():
    shell = _launch(Task("s", "shell", args={"--command": "echo hi | wc"}), BUILTIN["shell"])
    assert shell.command == ["bash", "-c", "echo hi | wc"] and shell.args is None
    code = _launch(Task("c", "python", args={"--code": "print(1)", "--args": "a 'b c'"}), BUILTIN["python"])
    assert code.command == ["py", "-c", "print(1)", "a", "b c"] and code.files == {}
    in_file = _launch(Task("c", "python", args={"--code": "print(1)"}), BUILTIN["python"], Where("py", "/out", "ns", "/ws/bob", code_file="/run/c.py"))
    assert in_file.command == ["py", "/run/c.py"] and in_file.files == {"/run/c.py": "print(1)"}
    script = _launch(Task("s", "python", args={"--script": "jobs/x.py"}), BUILTIN["python"])
    assert script.command == ["py", "/ws/bob/jobs/x.py"]
    assert script.workspace_files == [("tasks.s.args.--script", "/ws/bob/jobs/x.py")]
    nb = _launch(Task("n", "notebook", args={"--notebook": "a/nb.ipynb", "--parameters": {"x": 1}, "--kernel": "k"}), BUILTIN["notebook"])
    assert nb.command == ["py", "-m", "papermill", "/ws/bob/a/nb.ipynb", "/out/nb.ipynb", "--cwd", "/ws/bob/a", "-y", '{"x": 1}', "-k", "k"]
    logical = _launch(Task("l", "logical"), BUILTIN["logical"])
    assert logical.runs_nothing and logical.argv == []


def test_paths_stay_in_the_workspace():
    with pytest.raises(FieldError) as err:
        _launch(Task("s", "python", args={"--script": "../../etc/passwd"}), BUILTIN["python"])
    assert err.value.field == "tasks.s.args.--script" and "outside the workspace" in str(err.value)
    assert in_workspace("/ws/bob/x/../y", "/ws/bob", "f") == "/ws/bob/y"
    with pytest.raises(FieldError, match="relative but the task mounts no workspace"):
        in_workspace("x.py", None, "f")


def test_argument_errors_name_the_field():
    with pytest.raises(FieldError) as err:
        render_args(Task("t", "tool", args={"nope": 1, "--n": 1}), TOOL)
    assert err.value.field == "tasks.t.args.nope"  # not a flag: nothing to pass it as
    with pytest.raises(FieldError) as err:
        render_args(Task("t", "python", args={"--nope": 1}), BUILTIN["python"])
    assert err.value.field == "tasks.t.args.--nope"  # a built-in runner builds its command from its own arguments
    with pytest.raises(FieldError) as err:
        render_args(Task("t", "tool"), TOOL)
    assert err.value.field == "tasks.t.args.--n" and "required" in str(err.value)
    with pytest.raises(FieldError) as err:
        _launch(Task("t", "python", args={"--code": "x", "--args": "'open"}), BUILTIN["python"])
    assert err.value.field == "tasks.t.args.--args"


def test_a_resolver_and_a_checker_shape_the_values():
    seen = []

    def resolve(arg, raw, field_name):
        seen.append(field_name)
        return raw.upper(), arg.name == "--opt"

    def check(value, field_name):
        if "bad" in str(value):
            raise FieldError(field_name, "is bad", "good text")
        return str(value)

    argv, values = render_args(Task("t", "tool", args={"--n": 2, "--opt": "late"}), TOOL, resolve, check)
    assert argv == ["--n", "2", "--opt", "LATE"] and values["--opt"] == "LATE" and seen == ["tasks.t.args.--opt"]
    with pytest.raises(FieldError) as err:
        describe(_spec(Task("t", "tool", args={"--n": 1}), TOOL, extra_env={"E": "bad"}), Task("t", "tool", args={"--n": 1}), TOOL, WHERE, check=check)
    assert err.value.field == "extra_env.E"
