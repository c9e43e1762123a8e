"""Argv templates (the template shape Kubeflow components import into): the domain
checks them, and the launch both engines translate resolves them."""

from __future__ import annotations

import pytest

from cubelab_hub.domain.errors import FieldError, FieldErrors
from cubelab_hub.domain.pipelines import Pipeline, Task
from cubelab_hub.domain.templates import template_from_dict
from cubelab_hub.engines.base import RunSpec
from cubelab_hub.engines.launch import Where, describe

BODY = {
    "name": "tool",
    "image": "alpine",
    "argv": [
        "sh",
        "-ec",
        'echo "$0" "$1"',
        {"path": "--data"},
        {"output": "result"},
        {"if_present": "--sep", "then": ["--sep", {"value": "--sep"}], "else": ["--no-sep"]},
        {"concat": ["--n=", {"value": "--n"}]},
        {"value": "--empty"},
    ],
    "always_present": ["--empty"],
    "args": {"inputs": {"--data": {"type": "str", "require": 1}, "--sep": {"type": "str"}, "--n": {"type": "int", "default": "2"}, "--empty": {"type": "int"}}},
    "outputs": [{"name": "result"}],
}
WHERE = Where(python="py", output_dir="/out", namespace="ns")


def _launch(args, resolve=None, check=None):
    tpl = template_from_dict(BODY)
    task = Task("t", "tool", args=args)
    spec = RunSpec(run_id="r1", pipeline=Pipeline(name="p", tasks=[task]), templates={"t": tpl}, creator="a", runner="a", project="public")
    kw = {k: v for k, v in (("resolve", resolve), ("check", check)) if v}
    return describe(spec, task, tpl, WHERE, **kw)


def test_the_whole_command_line_comes_from_the_argv_template():
    launch = _launch({"--data": "/in/d"})
    assert launch.command == ["sh", "-ec", 'echo "$0" "$1"', "/in/d", "/out/result", "--no-sep", "--n=2", ""]
    assert launch.args is None and launch.values["--n"] == 2
    assert _launch({"--data": "/in/d", "--sep": ","}).command[5:7] == ["--sep", ","]


def test_values_known_at_run_time_and_checks_of_user_text():
    launch = _launch({"--data": "{{tasks.up.outputs.x}}"}, resolve=lambda arg, raw, f: ("/upstream/up/x", True))
    assert launch.command[3] == "/upstream/up/x"

    def refuse_braces(value, field):
        if "{{" in str(value):
            raise FieldError(field, "has '{{'", "text without it")
        return str(value)

    with pytest.raises(FieldError) as info:
        _launch({"--data": "/in/{{x}}"}, check=refuse_braces)
    assert info.value.field == "tasks.t.args.--data"
    with pytest.raises(FieldError) as info:
        _launch({"--data": "/in/d", "--n": "two"})
    assert info.value.field == "tasks.t.args.--n" and "whole number" in str(info.value)
    with pytest.raises(FieldError) as info:
        _launch({})
    assert info.value.field == "tasks.t.args.--data" and "required" in str(info.value)


@pytest.mark.parametrize(
    "argv,field,needle",
    [
        ("sh", "argv", "must be a list"),
        ([{"value": "--nope"}], "argv[0]", "'--nope', which is not an argument"),
        ([{"output": "nope"}], "argv[0]", "'nope', which is not an output"),
        ([{"concat": ["a", {"shell": "x"}]}], "argv[0].concat[1]", "is not an argv item"),
        ([{"if_present": "--nope", "then": []}], "argv[0].if_present", "'--nope' is not an argument"),
    ],
)
def test_bad_argv_templates_name_the_item(argv, field, needle):
    with pytest.raises(FieldErrors) as info:
        template_from_dict(dict(BODY, argv=argv))
    assert any(e.field == field and needle in str(e) for e in info.value.errors), info.value.errors


def test_round_trip_and_always_present_must_name_arguments():
    tpl = template_from_dict(BODY)
    assert template_from_dict(tpl.to_dict()).argv == BODY["argv"]
    with pytest.raises(FieldErrors) as info:
        template_from_dict(dict(BODY, always_present=["--ghost"]))
    assert info.value.errors[0].field == "always_present"
