"""The launch description both engines translate: pure, so tested without either."""

from __future__ import annotations

import json

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


# ---------------------------------------------------------------- extra_args (experiment trials)

TRIAL_ARGS = ["--lr=0.1", "--opt=it's; rm -rf / #", '--net={"_name": "cnn", "k": 3}']


def test_extra_args_follow_a_templates_own_args():
    launch = _launch(Task("t", "tool", args={"--n": 3}, extra_args=TRIAL_ARGS), TOOL)
    assert launch.command == ["tool", "run"]
    assert launch.args == ["--fixed", "--n", "3", "--opt", "d", "--model-out", "/out/model", *TRIAL_ARGS]
    entrypoint = JobTemplate(name="img", image="registry.example/img:1", args=[ArgSpec("--n", type="int")])
    launch = _launch(Task("t", "img", extra_args=["--lr=0.1"]), entrypoint)
    assert launch.command is None and launch.args == ["--lr=0.1"]  # the image's entrypoint gets them


def test_extra_args_follow_python_scripts_code_and_their_own_args():
    script = _launch(Task("s", "python", args={"--script": "train.py", "--args": "--epochs 3"}, extra_args=TRIAL_ARGS), BUILTIN["python"])
    assert script.command == ["py", "/ws/bob/train.py", "--epochs", "3", *TRIAL_ARGS]
    code = _launch(Task("c", "python", args={"--code": "import sys"}, extra_args=TRIAL_ARGS), BUILTIN["python"])
    assert code.command == ["py", "-c", "import sys", *TRIAL_ARGS]
    in_file = _launch(Task("c", "python", args={"--code": "import sys"}, extra_args=TRIAL_ARGS), BUILTIN["python"],
                      Where("py", "/out", "ns", "/ws/bob", code_file="/run/c.py"))
    assert in_file.command == ["py", "/run/c.py", *TRIAL_ARGS]


def test_extra_args_of_a_bash_command_are_positional_parameters_never_shell_text():
    shell = _launch(Task("trial", "shell", args={"--command": "python train.py  "}, extra_args=TRIAL_ARGS), BUILTIN["shell"])
    assert shell.command == ["bash", "-c", 'python train.py "$@"', "trial", *TRIAL_ARGS]
    custom = JobTemplate(name="custom", image="registry.example/base:1", args=[])
    launch = _launch(Task("trial", "custom", args={"command": "cd /app && python fit.py"}, extra_args=TRIAL_ARGS), custom)
    assert launch.command == ["bash", "-c", 'cd /app && python fit.py "$@"', "trial", *TRIAL_ARGS]
    # without extra items the command line is what it always was
    assert _launch(Task("s", "shell", args={"--command": "echo hi"}), BUILTIN["shell"]).command == ["bash", "-c", "echo hi"]


def test_bash_hands_the_extra_args_over_verbatim():
    """The real bash: each item arrives as one argument, quotes and semicolons untouched."""
    import subprocess
    import sys

    shell = _launch(Task("trial", "shell", args={"--command": f"{sys.executable} -c 'import json, sys; print(json.dumps(sys.argv[1:]))'"},
                         extra_args=TRIAL_ARGS), BUILTIN["shell"])
    out = subprocess.run(shell.command, capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == TRIAL_ARGS


def test_extra_args_follow_an_argv_template():
    tpl = JobTemplate(name="kfp", image="alpine", argv=["python", "fit.py", {"value": "--n"}], args=[ArgSpec("--n", type="int", default="2")])
    assert _launch(Task("t", "kfp", extra_args=["--lr=0.1"]), tpl).command == ["python", "fit.py", "2", "--lr=0.1"]


def test_a_notebook_and_a_logical_task_refuse_extra_args():
    with pytest.raises(FieldError) as err:
        _launch(Task("n", "notebook", args={"--notebook": "a.ipynb"}, extra_args=["--lr=0.1"]), BUILTIN["notebook"])
    assert err.value.field == "tasks.n.extra_args" and "--parameters" in err.value.accepted
    with pytest.raises(FieldError) as err:
        _launch(Task("l", "logical", extra_args=["--lr=0.1"]), BUILTIN["logical"])
    assert err.value.field == "tasks.l.extra_args"


def test_extra_args_pass_the_engines_check_item_by_item():
    def check(value, field_name):
        if "{{" in str(value):
            raise FieldError(field_name, "is substituted by Argo", "text without {{")
        return str(value)

    task = Task("t", "python", args={"--script": "x.py"}, extra_args=["--a=1", "--b={{workflow.name}}"])
    with pytest.raises(FieldError) as err:
        describe(_spec(task, BUILTIN["python"]), task, BUILTIN["python"], WHERE, check=check)
    assert err.value.field == "tasks.t.extra_args[1]"


def test_a_trial_gets_the_tasks_output_directory_for_nni_unless_it_names_one():
    env = _launch(Task("t", "python", args={"--script": "x.py"}, env={"NNI_TRIAL_JOB_ID": "trial-1"}), BUILTIN["python"]).env
    assert env["NNI_OUTPUT_DIR"] == env["NNI_SYS_DIR"] == "/out"
    env = _launch(Task("t", "python", args={"--script": "x.py"}, env={"NNI_TRIAL_JOB_ID": "trial-1", "NNI_OUTPUT_DIR": "/o"}), BUILTIN["python"]).env
    assert env["NNI_OUTPUT_DIR"] == "/o" and env["NNI_SYS_DIR"] == "/out"
    assert "NNI_OUTPUT_DIR" not in _launch(Task("t", "python", args={"--script": "x.py"}), BUILTIN["python"]).env


def test_the_local_engine_gives_a_task_the_runs_secret_variables_in_its_environment(tmp_path):
    from cubelab_hub.engines.local.commands import TaskPaths, build_launch

    task = Task("t", "python", args={"--script": "train.py"}, env={"PLAIN": "1"})
    spec = _spec(task, BUILTIN["python"], secret_env={"NNI_TRIAL_COMMAND_CHANNEL": "http://t:token@cp/ch"})
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "train.py").write_text("")
    argv, env = build_launch(spec, task, BUILTIN["python"], TaskPaths.for_task(tmp_path / "run", "t"), {}, tmp_path / "ws")
    assert env["NNI_TRIAL_COMMAND_CHANNEL"] == "http://t:token@cp/ch" and env["PLAIN"] == "1"
    assert "token" not in " ".join(argv)  # never on the command line
