"""Every diagnostic of pipeline validation, one test each, plus export/import."""

import itertools

import pytest

from cubelab_hub.domain.errors import FieldErrors
from cubelab_hub.domain.pipelines import (
    Pipeline,
    Task,
    export_pipeline,
    find_cycles,
    has_errors,
    import_pipeline,
    pipeline_from_dict,
    topological_order,
    validate,
)
from cubelab_hub.domain.schedules import ScheduleSettings
from cubelab_hub.domain.templates import TemplateCatalog, builtin_templates, template_from_dict

TRAIN = template_from_dict({
    "name": "train", "image": "python:3.11", "command": ["python", "train.py"],
    "args": {"g": {
        "--epochs": {"type": "int", "require": 1, "default": "", "range": "1,100"},
        "--mode": {"type": "enum", "choice": ["a", "b"], "default": "a"},
        "--locked": {"type": "str", "default": "fixed", "editable": 0},
        "--flag": {"type": "bool", "default": False},
        "--input": {"type": "str", "default": ""},
    }},
    "outputs": [{"name": "model"}],
    "env": "TASK_RESOURCE_GPU=1",
})
ALPHA = template_from_dict({"name": "beta-tool", "version": "Alpha", "image": "x", "command": ["true"]})


@pytest.fixture
def cat():
    return TemplateCatalog(builtin_templates() + [TRAIN, ALPHA])


def shell(name, **kw):
    return {"name": name, "template": "shell", "args": {"--command": "true"}, **kw}


def train(name, **args):
    return {"name": name, "template": "train", "args": {"--epochs": 3, **args}}


def diags(cat, body, admin=False):
    body.setdefault("name", "p")
    return validate(pipeline_from_dict(body), cat, admin)


def find(ds, needle, **attrs):
    hits = [d for d in ds if needle in d.message and all(getattr(d, k) == v for k, v in attrs.items())]
    assert hits, f"no diagnostic with {needle!r} {attrs} in {[d.to_dict() for d in ds]}"
    return hits[0]


def test_valid_pipeline_has_no_diagnostics(cat):
    ds = diags(cat, {"tasks": [shell("a"), train("b", **{"--input": "{{tasks.a.outputs.path}}"})], "edges": [["a", "b"]]})
    assert ds == []


def test_bad_pipeline_name(cat):
    find(diags(cat, {"name": "Not Valid", "tasks": [shell("a")]}), "is not a valid name", field="name", severity="error")


def test_empty_pipeline_is_a_warning(cat):
    d = find(diags(cat, {"tasks": []}), "no tasks", severity="warning")
    assert not has_errors([d])


def test_parallelism_below_one(cat):
    find(diags(cat, {"tasks": [shell("a")], "parallelism": 0}), "parallelism: 0 is less than 1", field="parallelism")


def test_colliding_task_names(cat):
    find(diags(cat, {"tasks": [shell("a"), shell("a")]}), "'a' is used by 2 tasks", task="a", field="name")


def test_bad_task_name(cat):
    find(diags(cat, {"tasks": [shell("Prep_1")]}), "is not a valid name", task="Prep_1", field="name")


def test_edge_to_missing_tasks(cat):
    ds = diags(cat, {"tasks": [shell("a")], "edges": [["a", "zz"], ["yy", "a"]]})
    find(ds, "downstream task 'zz' does not exist", edge=("a", "zz"))
    find(ds, "upstream task 'yy' does not exist", edge=("yy", "a"))


def test_self_edge(cat):
    find(diags(cat, {"tasks": [shell("a")], "edges": [["a", "a"]]}), "connects a task to itself", edge=("a", "a"))


def test_duplicate_edge_warns(cat):
    find(diags(cat, {"tasks": [shell("a"), shell("b")], "edges": [["a", "b"], ["a", "b"]]}), "given twice", severity="warning")


def test_cycle_marks_edges_and_tasks(cat):
    ds = diags(cat, {"tasks": [shell("a"), shell("b"), shell("c"), shell("d")], "edges": [["a", "b"], ["b", "c"], ["c", "a"], ["c", "d"]]})
    cyc = [d for d in ds if d.message.startswith("cycle:")]
    assert {d.edge for d in cyc} == {("a", "b"), ("b", "c"), ("c", "a")}
    assert {d.task for d in ds if "part of a cycle" in d.message} == {"a", "b", "c"}
    assert "a -> b -> c -> a" in cyc[0].message


def test_cycle_finder_handles_long_chains():
    names = [f"t{i}" for i in range(3000)]
    edges = list(itertools.pairwise(names))
    assert find_cycles(names, edges) == []
    assert find_cycles(names, edges + [("t2999", "t0")])[0][0] == "t0"
    with pytest.raises(ValueError):
        topological_order(Pipeline("p", tasks=[Task("a", "shell"), Task("b", "shell")], edges=[("a", "b"), ("b", "a")]))


def test_global_env_kfj_warns(cat):
    find(diags(cat, {"tasks": [shell("a")], "env": "KFJ_RUN_ID=x"}), "overridden by the platform", severity="warning", field="env.KFJ_RUN_ID")


def test_unknown_template(cat):
    find(diags(cat, {"tasks": [{"name": "a", "template": "nope"}]}), "template 'nope' does not exist", task="a", field="template")
    find(diags(cat, {"tasks": [{"name": "a", "template": "shell", "template_version": "Alpha"}]}), "version Alpha does not exist")


def test_unreleased_template(cat):
    body = {"tasks": [{"name": "a", "template": "beta-tool"}]}
    find(diags(cat, body), "is Alpha (unreleased); only admins", task="a", severity="error")
    d = find(diags(cat, dict(body), admin=True), "not released", task="a")
    assert d.severity == "warning"


@pytest.mark.parametrize("field,value,needle", [
    ("cpu", "lots", "'lots' is not a number of cores"),
    ("cpu", "4~2", "request 4 is more than limit 2"),
    ("memory", "4X", "'4X' is not a size"),
    ("gpu", "0.5", "fraction of a card"),
])
def test_bad_resources(cat, field, value, needle):
    find(diags(cat, {"tasks": [shell("a", **{field: value})]}), needle, task="a", field=field)


def test_template_resource_override_warns(cat):
    find(diags(cat, {"tasks": [train("a") | {"gpu": "2"}]}), "overridden by the template's TASK_RESOURCE_GPU=1", severity="warning", field="gpu")


def test_mounts(cat):
    find(diags(cat, {"tasks": [shell("a", volume_mount="nonsense")]}), "not of the form", field="volume_mount")
    host = {"tasks": [shell("a", volume_mount="/data(hostpath):/data")]}
    find(diags(cat, host), "only an admin may set", field="volume_mount")
    assert diags(cat, host, admin=True) == []


def test_node_selector(cat):
    find(diags(cat, {"tasks": [shell("a", node_selector="gpu")]}), "has no '='", field="node_selector")


def test_timeout_and_retries(cat):
    ds = diags(cat, {"tasks": [shell("a", timeout=-1, retries=99)]})
    find(ds, "timeout: -1 is negative", field="timeout")
    find(ds, "retries: 99 is outside 0..20", field="retries")


def test_unknown_argument(cat):
    # as in Cube Studio, a container template's undeclared flag is passed as written: a warning says so
    d = find(diags(cat, {"tasks": [train("a", **{"--nope": 1})]}), "'--nope' is not declared by template 'train'", field="args.--nope")
    assert d.severity == "warning"
    # a name that is no flag cannot be passed, and a built-in runner takes its own arguments only
    d = find(diags(cat, {"tasks": [train("a", **{"nope": 1})]}), "'nope' is not an argument of template 'train'", field="args.nope")
    assert d.severity == "error"
    d = find(diags(cat, {"tasks": [{"name": "a", "template": "shell", "args": {"--command": "true", "--nope": 1}}]}),
             "'--nope' is not an argument of template 'shell'", field="args.--nope")
    assert d.severity == "error"


def test_wrong_type(cat):
    find(diags(cat, {"tasks": [train("a", **{"--epochs": "many"})]}), "'many' is not a whole number", field="args.--epochs")
    find(diags(cat, {"tasks": [train("a", **{"--mode": "c"})]}), "not one of the choices", field="args.--mode")
    find(diags(cat, {"tasks": [train("a", **{"--epochs": 500})]}), "outside the range 1,100", field="args.--epochs")


def test_missing_required_argument(cat):
    find(diags(cat, {"tasks": [{"name": "a", "template": "train"}]}), "required argument '--epochs'", task="a", field="args.--epochs")
    find(diags(cat, {"tasks": [{"name": "a", "template": "shell"}]}), "required argument '--command'", task="a")


def test_not_editable_argument(cat):
    find(diags(cat, {"tasks": [train("a", **{"--locked": "other"})]}), "'--locked' is not editable", field="args.--locked")
    assert diags(cat, {"tasks": [train("a", **{"--locked": "fixed"})]}) == []


def test_python_needs_code_or_script(cat):
    find(diags(cat, {"tasks": [{"name": "a", "template": "python"}]}), "needs '--code' or '--script'", task="a")


def test_reference_problems(cat):
    base = [shell("a"), shell("b"), train("c")]
    edges = [["a", "c"]]
    cases = {
        "{{tasks.zz.outputs.path}}": "task 'zz', which does not exist",
        "{{tasks.c.outputs.path}}": "refers to the task itself",
        "{{tasks.b.outputs.path}}": "which is not upstream of 'c'",
        "{{ tasks.a.output.path }}": "is not a valid reference",
    }
    for ref, needle in cases.items():
        tasks = base[:2] + [train("c", **{"--input": ref})]
        find(diags(cat, {"tasks": tasks, "edges": edges}), needle, task="c", field="args.--input")
    # a template that declares outputs only offers those (and 'path')
    tasks = [train("t"), train("u", **{"--input": "{{tasks.t.outputs.weights}}"})]
    find(diags(cat, {"tasks": tasks, "edges": [["t", "u"]]}), "has no output 'weights' (accepted: path, model)")
    tasks = [train("t"), train("u", **{"--input": "{{tasks.t.outputs.model}}"})]
    assert diags(cat, {"tasks": tasks, "edges": [["t", "u"]]}) == []


def test_reference_in_bool_argument_warns(cat):
    tasks = [shell("a"), train("b", **{"--flag": "{{tasks.a.outputs.on}}"})]
    find(diags(cat, {"tasks": tasks, "edges": [["a", "b"]]}), "checked when the run starts", severity="warning")


def test_enabled_schedule_without_cron(cat):
    p = Pipeline("p", tasks=[Task("a", "shell", args={"--command": "true"})], schedule=ScheduleSettings(enabled=True, cron=""))
    find(validate(p, cat), "schedule is enabled but has no cron", field="schedule.cron")


@pytest.mark.parametrize("body,field", [
    ({"name": "p", "tasks": {}}, "tasks"),
    ({"name": "p", "tasks": [{"name": "a"}]}, "tasks[0].template"),
    ({"name": "p", "tasks": [shell("a", timeout="soon")]}, "tasks[0].timeout"),
    ({"name": "p", "tasks": [shell("a", skip="yes")]}, "tasks[0].skip"),
    ({"name": "p", "edges": ["a->b"]}, "edges[0]"),
    ({"name": "p", "parallelism": "4"}, "parallelism"),
    ({"name": "p", "schedule": {"enabled": True, "cron": "61 * * * *"}}, "schedule.cron"),
    ({"name": "p", "colour": "red"}, "colour"),
    ({"name": "p", "tasks": [shell("a", position=[1, 2])]}, "tasks[0].position"),
])
def test_shape_errors_name_the_field(body, field):
    with pytest.raises(FieldErrors) as info:
        pipeline_from_dict(body)
    assert field in {e.field for e in info.value.errors}


def test_export_import_round_trip(cat):
    p = pipeline_from_dict({"name": "p", "project": "proj", "tasks": [shell("a"), train("b")], "edges": [["a", "b"]],
                            "env": "X=1", "parallelism": 2, "schedule": {"enabled": True, "cron": "*/5 9-17 * * 1-5", "timezone": "Asia/Shanghai"}})
    doc = export_pipeline(p, cat)
    assert doc["format"] == "cubelab.pipeline/v1"
    assert {"name": "train", "version": "Release"} in doc["templates"]
    assert all(t["template_version"] == "Release" for t in doc["pipeline"]["tasks"])
    q, ds = import_pipeline(doc, cat, project="other", name="copy")
    assert ds == [] and q.project == "other" and q.name == "copy"
    assert q.edges == p.edges and q.env == {"X": "1"} and q.schedule.cron == "*/5 9-17 * * 1-5"
    _, ds = import_pipeline(doc, TemplateCatalog(builtin_templates()))
    find(ds, "template 'train' version Release is not installed here")
    with pytest.raises(FieldErrors):
        import_pipeline({"format": "other"}, cat)
