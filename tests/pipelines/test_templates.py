"""Job templates: argument schema, typing, rendering, env lines, importers."""

import json

import pytest

from cubelab_hub.domain.argspec import args_to_schema, coerce_arg_value, parse_args_schema, render_arg
from cubelab_hub.domain.errors import FieldError, FieldErrors
from cubelab_hub.domain.templates import parse_env_lines, template_from_dict
from cubelab_hub.importers.cube_studio import import_cube_studio_template
from cubelab_hub.importers.kubeflow import import_kfp_component

from .conftest import FIXTURES

CUBE_SCHEMA = {
    "训练参数": {
        "--epochs": {"type": "int", "item_type": "", "label": "轮数", "require": 1, "choice": [], "range": "1,100",
                     "default": 10, "placeholder": "", "describe": "epochs", "editable": 1},
        "--lr": {"type": "float", "label": "lr", "require": 0, "default": "0.01", "editable": 1},
        "--verbose": {"type": "bool", "label": "verbose", "require": 0, "default": False, "editable": 1},
        "--mode": {"type": "enum", "choice": ["train", "eval"], "default": "train", "require": 1, "editable": 1},
        "--metrics": {"type": "multiple", "choice": ["acc", "auc", "f1"], "default": "acc", "require": 0, "editable": 1},
        "--layers": {"type": "list", "item_type": "int", "default": "[64, 32]", "require": 0, "editable": 1},
        "--opts": {"type": "dict", "default": {}, "require": 0, "editable": 1},
        "--extra": {"type": "json", "default": "", "require": 0, "editable": 1},
        "--notes": {"type": "text", "default": "", "require": 0, "editable": 0},
        "--data": {"type": "file", "default": "", "require": 0, "editable": 1},
        "--name": {"type": "str", "default": "", "require": 0, "editable": 1},
    }
}


def specs():
    return {s.name: s for s in parse_args_schema(CUBE_SCHEMA)}


def test_schema_round_trips_cube_studio_shape():
    parsed = parse_args_schema(json.dumps(CUBE_SCHEMA, ensure_ascii=False))
    assert [s.name for s in parsed] == list(CUBE_SCHEMA["训练参数"])
    again = args_to_schema(parsed)
    assert again["训练参数"]["--epochs"]["require"] == 1
    assert again["训练参数"]["--epochs"]["range"] == "1,100"
    assert again["训练参数"]["--notes"]["editable"] == 0


@pytest.mark.parametrize("flag,value,expected", [
    ("--epochs", "12", 12), ("--epochs", 7, 7), ("--epochs", 3.0, 3),
    ("--lr", "0.5", 0.5), ("--lr", 2, 2),
    ("--verbose", "true", True), ("--verbose", 0, False),
    ("--mode", "eval", "eval"),
    ("--metrics", "acc,f1", ["acc", "f1"]), ("--metrics", ["auc"], ["auc"]),
    ("--layers", "[1, 2]", [1, 2]), ("--layers", ["3"], [3]),
    ("--opts", '{"a": 1}', {"a": 1}),
    ("--extra", "[1, {\"x\": null}]", [1, {"x": None}]),
    ("--name", 5, "5"),
])
def test_values_are_typed(flag, value, expected):
    assert coerce_arg_value(specs()[flag], value, flag) == expected


@pytest.mark.parametrize("flag,value,needle", [
    ("--epochs", "1.5", "not a whole number"), ("--epochs", 2.5, "not a whole number"), ("--epochs", True, "boolean"),
    ("--epochs", 0, "outside the range 1,100"), ("--epochs", 101, "outside the range"),
    ("--lr", "fast", "not a number"), ("--lr", float("nan"), "finite"),
    ("--verbose", "maybe", "not a boolean"),
    ("--mode", "predict", "not one of the choices"),
    ("--metrics", "acc,rmse", "'rmse' not among the choices"),
    ("--layers", "[1, ", "not valid JSON"), ("--layers", '{"a": 1}', "must be a list"), ("--layers", '["x"]', "not a whole number"),
    ("--opts", "[1]", "must be a dict"),
    ("--name", {"a": 1}, "must be text"),
])
def test_wrong_values_name_the_problem(flag, value, needle):
    with pytest.raises(FieldError) as info:
        coerce_arg_value(specs()[flag], value, f"args.{flag}")
    assert needle in str(info.value)
    assert info.value.field.startswith(f"args.{flag}")
    assert info.value.accepted


def test_rendering_follows_design():
    s = specs()
    assert render_arg(s["--epochs"], 10) == ["--epochs", "10"]
    assert render_arg(s["--verbose"], True) == ["--verbose"]
    assert render_arg(s["--verbose"], False) == []
    assert render_arg(s["--layers"], [1, 2]) == ["--layers", "[1,2]"]
    assert render_arg(s["--opts"], {"k": "中"}) == ["--opts", '{"k":"中"}']
    assert render_arg(s["--metrics"], ["acc", "f1"]) == ["--metrics", "acc,f1"]
    assert render_arg(s["--lr"], 0.1) == ["--lr", "0.1"]
    assert render_arg(s["--name"], "a b; rm -rf /") == ["--name", "a b; rm -rf /"]  # one argv item, never shell text


@pytest.mark.parametrize("schema,needle", [
    ({"g": {"--x": {"type": "integer"}}}, "'integer' is not an argument type"),
    ({"g": {"x y": {"type": "str"}}}, "is not a flag"),
    ({"g": {"--x": {"type": "enum", "choice": []}}}, "needs a non-empty 'choice'"),
    ({"g": {"--x": {"type": "int", "range": "a,b"}}}, "is not a number"),
    ({"g": {"--x": {"type": "int", "default": "ten"}}}, "not a whole number"),
    ({"g": {"--x": {}}, "h": {"--x": {}}}, "more than one group"),
    ("{not json", "not valid JSON"),
])
def test_bad_schemas(schema, needle):
    with pytest.raises(FieldError) as info:
        parse_args_schema(schema)
    assert needle in str(info.value)


def test_env_lines():
    env = parse_env_lines("A=1\n# comment\n\nTASK_RESOURCE_CPU=2\nNO_RESOURCE_CHECK=true\nURL=http://x?a=b")
    assert env == {"A": "1", "TASK_RESOURCE_CPU": "2", "NO_RESOURCE_CHECK": "true", "URL": "http://x?a=b"}
    for bad, needle in (("A", "has no '='"), ("1A=2", "not an environment variable name"), ("A=1\nA=2", "set twice")):
        with pytest.raises(FieldError) as info:
            parse_env_lines(bad)
        assert needle in str(info.value)


def test_template_from_dict_collects_every_error():
    with pytest.raises(FieldErrors) as info:
        template_from_dict({"name": "Bad_Name", "version": "Beta", "env": "TASK_RESOURCE_CPU=lots", "volume_mount": "x:/y",
                            "args": {"g": {"--a": {"type": "nope"}}}, "colour": "red"})
    fields = {e.field for e in info.value.errors}
    assert {"name", "version", "env.TASK_RESOURCE_CPU", "volume_mount", "args.g.--a.type", "colour"} <= fields


def test_command_text_is_split_like_a_shell_would_not_run():
    tpl = template_from_dict({"name": "t", "image": "i", "command": "python launcher.py --title 'a b' $HOME"})
    assert tpl.command == ["python", "launcher.py", "--title", "a b", "$HOME"]
    with pytest.raises(FieldErrors) as info:
        template_from_dict({"name": "t", "image": "i", "command": "python 'unclosed"})
    assert info.value.errors[0].field == "command"


def test_template_flags():
    tpl = template_from_dict({"name": "t", "image": "python:3.11", "command": ["python", "x.py"], "env": "NO_RESOURCE_CHECK=true"})
    assert tpl.no_resource_check and tpl.released
    alpha = template_from_dict({"name": "t", "version": "Alpha", "image": "i"})
    assert not alpha.released


def test_cube_studio_registration_shape_imports():
    tpl = import_cube_studio_template({
        "group_name": "机器学习", "image_name": "ccr.ccs.tencentyun.com/cube-studio/xgb:20230801",
        "job_template_name": "xgb", "job_template_describe": "xgb 训练", "job_template_command": "python launcher.py",
        "job_template_volume": "kubeflow-user-workspace(pvc):/mnt", "job_template_account": "kubeflow-pipeline",
        "job_template_args": CUBE_SCHEMA, "job_template_env": "NO_RESOURCE_CHECK=true\nTASK_RESOURCE_GPU=0",
        "job_template_expand": {"index": 3, "help_url": "https://example.org/xgb"},
    })
    assert tpl.name == "xgb" and tpl.category == "机器学习" and tpl.category_index == 3
    assert tpl.command == ["python", "launcher.py"] and tpl.image.endswith("xgb:20230801")
    assert tpl.service_account == "kubeflow-pipeline" and tpl.help_url == "https://example.org/xgb"
    assert tpl.arg("--epochs").require and tpl.no_resource_check


def test_cube_studio_export_shape_imports():
    tpl = import_cube_studio_template({
        "project": {"name": "数据处理", "expand": json.dumps({"index": 2})}, "images": {"name": "busybox"},
        "name": "Data Merge", "version": "Alpha", "describe": "merge", "workdir": "/app", "entrypoint": "",
        "args": json.dumps(CUBE_SCHEMA), "env": "", "volume_mount": "", "accounts": "", "expand": "{}",
    })
    assert tpl.name == "data-merge" and tpl.version == "Alpha" and tpl.category_index == 2 and tpl.workdir == "/app"


@pytest.mark.parametrize("name", ["dataset", "training", "modelhub", "serving"])
def test_paddle_components_import(name):
    tpl = import_kfp_component((FIXTURES / "paddle" / f"{name}.yaml").read_text(), category="paddle")
    assert tpl.image.startswith("registry.example.com/paddleflow/")
    assert tpl.argv[0] == "python" and tpl.category == "paddle"
    flags = {a.name: a for a in tpl.args}
    assert flags["--name"].require and flags["--namespace"].default == "kubeflow" and not flags["--namespace"].require
    if name == "training":
        assert flags["--worker_replicas"].type == "int" and flags["--worker_replicas"].require
        assert not flags["--ps_replicas"].require  # inside if/isPresent
        assert flags["--use_visualdl"].type == "enum" and flags["--use_visualdl"].default == "False"
        assert [o.name for o in tpl.outputs] == ["model_path"]
        assert tpl.argv[tpl.argv.index({"output": "model_path"}) - 1] == "--model_path"
    if name == "serving":
        assert flags["--port"].type == "int" and flags["--port"].default == "8040"
        assert flags["--resources"].type == "dict"
        assert [o.name for o in tpl.outputs] == ["output_path"]
        assert tpl.argv[tpl.argv.index({"output": "output_path"}) - 1] == "--outputPath"
    if name == "modelhub":
        assert tpl.name == "model-hub" and not flags["--endpoint"].require and flags["--model_name"].require


@pytest.mark.parametrize("text,needle", [
    ("name: x\nimplementation: {}", "implementation.container"),
    ("name: '--'", "name"),
    ("name: x\ninputs: [{name: a}]\nimplementation: {container: {image: i, args: [--b, {inputValue: zz}]}}", "unknown input 'zz'"),
    ("name: x\ninputs: [{name: a}]\nimplementation: {container: {image: i, args: [{inputUri: a}]}}", "'inputUri' has no CubeLab equivalent"),
    ("name: [unclosed", "not valid YAML"),
    ("name: x\ninputs: [{name: Model Name}, {name: model_name}]\nimplementation: {container: {image: i}}", "both become argument '--model_name'"),
])
def test_bad_components(text, needle):
    with pytest.raises(FieldErrors) as info:
        import_kfp_component(text)
    assert needle in str(info.value)


def test_builtins_present(catalog):
    assert {t.name for t in catalog} == {"python", "shell", "notebook", "logical"}
    assert catalog.get("logical").no_resource_check
