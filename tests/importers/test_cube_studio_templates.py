"""Cube Studio's job templates as its repository ships them (2022-2026) import
entry by entry, and the patterns real files use behave as in Cube Studio."""

from __future__ import annotations

import pytest

from cubelab_hub.domain.argspec import coerce_arg_value, parse_args_schema
from cubelab_hub.domain.errors import FieldError
from cubelab_hub.domain.pipelines import Pipeline, Task
from cubelab_hub.domain.templates import template_from_dict
from cubelab_hub.engines.base import RunSpec
from cubelab_hub.engines.launch import Where, describe
from cubelab_hub.importers.cube_studio import import_cube_studio_file, import_cube_studio_template
from cubelab_hub.importers.naming import template_name

from .cube_fixtures import BUILTIN_NAMES, YEARS, catalog, templates_file

# entries per file, as the repository ships them
COUNTS = {"2022": 20, "2023": 71, "2024": 77, "2026": 98}
WHERE = Where(python="py", output_dir="/out", namespace="ns", workspace="/mnt/alice")


def _launch(template, args, **task_fields):
    task = Task("t", template.name, args=args, **task_fields)
    pipeline = Pipeline(name="p", project="team", id=3, tasks=[task])
    spec = RunSpec(run_id="run-1", pipeline=pipeline, templates={"t": template}, creator="alice", runner="bob", project="team")
    return describe(spec, task, template, WHERE)


@pytest.mark.parametrize("year", YEARS)
def test_every_template_of_every_file_imports(year):
    data = templates_file(year)
    templates, reports = import_cube_studio_file(data, BUILTIN_NAMES)
    assert len(data) == COUNTS[year]
    assert len(templates) == len(reports) == COUNTS[year]
    assert [r.status for r in reports if r.status == "refused"] == []
    names = [t.name for t in templates]
    assert len(set(names)) == len(names) and not (set(names) & BUILTIN_NAMES)
    # the display names are all kept, and every template round-trips through its stored form
    assert [t.display_name or t.name for t in templates] == [d["job_template_name"] for d in data.values()]
    assert all(template_from_dict(t.to_dict(), warnings=[]) == t for t in templates)


@pytest.mark.parametrize("year", ("2023", "2024", "2026"))
def test_a_file_template_named_like_a_builtin_never_replaces_it(year):
    templates, reports = import_cube_studio_file(templates_file(year), BUILTIN_NAMES)
    by_entry = {r.entry: r for r in reports}
    for name in ("python", "logical"):
        report = by_entry[name]
        assert report.status == "renamed" and report.name == f"{name}-cube-studio"
        assert any("built-in" in w for w in report.warnings)
    cat = catalog(year)
    assert cat.get("python").builtin and cat.get("logical").builtin
    # Cube Studio pipelines name it 'python': they mean the imported image
    assert cat.resolve("python").name == "python-cube-studio"


def test_custom_image_template_keeps_its_display_name_and_runs_its_command_with_bash():
    data = templates_file("2026")["自定义镜像"]
    tpl = import_cube_studio_template(data, [])
    assert (tpl.name, tpl.display_name) == ("customize", "自定义镜像")
    assert [a.name for a in tpl.args] == ["images", "workdir", "command"] and all(a.is_override for a in tpl.args)
    launch = _launch(tpl, {"images": "python:3.11", "workdir": "/mnt/{{creator}}/w", "command": "echo hi && ls"})
    assert launch.command == ["bash", "-c", "echo hi && ls"] and launch.args is None
    assert launch.image == "python:3.11" and launch.workdir == "/mnt/alice/w"
    # the template's defaults apply when the task leaves them out
    launch = _launch(tpl, {})
    assert launch.command == ["bash", "-c", "echo 'test'"] and launch.image.startswith("ccr.ccs.tencentyun.com/cube-studio/ubuntu-gpu")


def test_images_override_on_a_template_with_flags_replaces_the_image_only():
    tpl = import_cube_studio_template(templates_file("2026")["ray"], [])
    launch = _launch(tpl, {"images": "my/ray:2", "--num_worker": "3"})
    assert launch.image == "my/ray:2"
    assert "images" not in (launch.args or []) and "my/ray:2" not in (launch.args or [])
    assert launch.args[launch.args.index("--num_worker") + 1] == "3"


def test_malformed_ranges_are_kept_as_text_with_a_warning():
    warnings: list[str] = []
    tpl = import_cube_studio_template(templates_file("2024")["ray"], warnings)
    spec = tpl.arg("--num_worker")
    assert spec.range == "$min,$max"
    assert any("--num_worker.range" in w and "kept as text" in w for w in warnings)
    assert coerce_arg_value(spec, "3", "f") == "3"  # not enforced
    warnings = []
    import_cube_studio_template(templates_file("2024")["ray-sklearn"], warnings)
    assert any("'3' is not a range" in w for w in warnings)
    # outside an import (a template written for CubeLab) a range that is no range is still refused
    with pytest.raises(FieldError) as err:
        parse_args_schema({"g": {"--n": {"type": "int", "range": "$min,$max"}}})
    assert err.value.field == "args.g.--n.range"


def test_regex_from_real_templates_is_enforced():
    tpl = import_cube_studio_template(templates_file("2026")["deploy-service"], [])
    spec = tpl.arg("--resource_memory")
    assert coerce_arg_value(spec, "4G", "f") == "4G"
    with pytest.raises(FieldError) as err:
        coerce_arg_value(spec, "4Gi", "args.--resource_memory")
    assert err.value.field == "args.--resource_memory" and "^[0-9]*G$" in err.value.accepted


def test_sub_args_check_the_keys_of_a_dict_and_condition_is_kept():
    schema = {"g": {"--params": {"type": "dict", "condition": "--mode==train",
                                  "sub_args": {"lr": {"type": "float", "require": 1}, "layers": {"type": "int", "range": "1,8"}}}}}
    spec = parse_args_schema(schema)[0]
    assert spec.condition == "--mode==train" and [s.name for s in spec.sub_args] == ["lr", "layers"]
    assert coerce_arg_value(spec, '{"lr": "0.1", "layers": 2, "other": 1}', "f") == {"lr": 0.1, "layers": 2, "other": 1}
    with pytest.raises(FieldError) as err:
        coerce_arg_value(spec, {"lr": 0.1, "layers": 9}, "args.--params")
    assert err.value.field == "args.--params.layers"
    with pytest.raises(FieldError) as err:
        coerce_arg_value(spec, {"layers": 2}, "args.--params")
    assert err.value.field == "args.--params.lr" and "required" in err.value.message
    assert spec.to_schema()["sub_args"] == schema["g"]["--params"]["sub_args"]  # kept as given


def test_expand_keys_are_kept_host_network_acted_on_the_rest_reported():
    templates, reports = import_cube_studio_file(templates_file("2026"), BUILTIN_NAMES)
    by_name = {t.name: t for t in templates}
    report = {r.name: r for r in reports}
    nni = by_name["hyperparam-search-nni"]
    assert nni.host_network and nni.expand["rec_job_template"] == "自定义镜像"
    assert "expand.rec_job_template" in report["hyperparam-search-nni"].ignored
    assert "expand.HostNetwork" not in report["hyperparam-search-nni"].ignored
    assert "expand.enterprise" in report["llama-factory-sft"].ignored
    assert "gitpath" not in by_name["customize"].expand or by_name["customize"].expand["gitpath"]
    launch = _launch(nni, {})
    port1, port2 = int(launch.env["PORT1"]), int(launch.env["PORT2"])
    assert launch.host_ports == (port1, port2) and port2 == port1 + 1 and 20000 <= port1 < 40000
    assert "PORT1" not in _launch(by_name["customize"], {}).env


def test_old_names_are_aliases_pipelines_can_reference():
    cat = catalog("2026")
    assert cat.resolve("llama-factory").name == "llama-factory-sft"
    assert cat.resolve("自定义镜像").name == "customize" and cat.resolve("customize").name == "customize"
    assert cat.resolve("no-such-template") is None


def test_env_export_lines_are_read_as_assignments_with_a_warning():
    warnings: list[str] = []
    tpl = import_cube_studio_template(templates_file("2024")["model-download"], warnings)
    assert tpl.env["HF_HUB_ENABLE_HF_TRANSFER"] == "1"
    assert any("export HF_HUB_ENABLE_HF_TRANSFER=1" in w for w in warnings)


def test_one_naming_rule_for_display_names():
    assert template_name("自定义镜像") == "customize"
    assert template_name("llama_factory") == "llama-factory"
    assert template_name("模型训练") == "t-9f4b3788" and template_name("模型训练") != template_name("模型评估")
    assert template_name("YOLO 训练") .startswith("yolo-")


def test_a_refused_entry_names_the_entry_the_field_and_the_reason():
    content = {"ok": {"job_template_name": "ok", "image_name": "busybox"},
               "bad": {"job_template_name": "bad", "image_name": "busybox", "job_template_args": {"g": {"my arg": {"type": "str"}}}},
               "twice": {"job_template_name": "ok", "image_name": "busybox"}}
    templates, reports = import_cube_studio_file(content, BUILTIN_NAMES)
    assert [t.name for t in templates] == ["ok"]
    bad, twice = reports[1], reports[2]
    assert bad.status == "refused" and bad.errors[0].field == "content.bad.args.g.my arg"
    assert "not a flag" in bad.errors[0].message and "--my_arg" in bad.errors[0].accepted
    assert twice.status == "refused" and twice.errors[0].field == "content.twice.name" and "earlier entry" in twice.errors[0].message
