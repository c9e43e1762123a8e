"""Real Kubeflow v1 components (fixtures/kubeflow/v1, see its README) import, and the
command line CubeLab runs equals the one Kubeflow's own SDK resolves."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from cubelab_hub.domain.errors import FieldErrors
from cubelab_hub.domain.pipelines import Task
from cubelab_hub.engines.launch import Where, render_argv_template
from cubelab_hub.importers.kubeflow import import_kfp_component, kfp_ignored_fields

HERE = Path(__file__).parent
V1 = sorted((HERE / "fixtures" / "kubeflow" / "v1").glob("*.yaml"))
OUTPUT_DIR = "/cubelab/outputs"
WHERE = Where(python="python3", output_dir=OUTPUT_DIR, namespace="ns")


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


# Real files that cannot run anywhere, refused with the field and the reason.
REFUSED = {
    "azure.azureml.aml-register-model": ("implementation.container.image", "names no image"),
    "azure.azuresynapse.runsparkjob": ("implementation.container.image", "names no image"),
    # an artifact URI is a Kubeflow runtime value (v2 placeholders in a v1 file)
    "google-cloud.google_cloud_pipeline_components.experimental.evaluation": ("implementation.container.args[46]", "'outputUri' has no CubeLab equivalent"),
}
CONTAINER = [p for p in V1 if "container" in (_load(p).get("implementation") or {}) and p.stem not in REFUSED]
GRAPH = [p for p in V1 if "graph" in (_load(p).get("implementation") or {})]


def test_collection_counts():
    # the collection's shape: a few dozen container components and some graph components
    assert len(CONTAINER) >= 50 and len(GRAPH) == 2 and len(REFUSED) == 3


def _kfp_pin() -> str:
    extras = tomllib.loads((HERE.parents[1] / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    return next(req for req in extras["kubeflow-compat"] if req.startswith("kfp=="))


@pytest.fixture(scope="module")
def kfp_site() -> str:
    """A directory holding the kfp 1.8 SDK and its own dependencies, used only by the
    resolver subprocess (kfp 1.8 pins protobuf<4, pydantic<2 and urllib3<2)."""
    pin = _kfp_pin()
    site = os.environ.get("CUBELAB_KFP_SITE") or f"/tmp/cubelab-{pin.replace('==', '-')}"
    probe = [sys.executable, "-c", "import kfp.components"]
    env = {**os.environ, "PYTHONPATH": site}
    if subprocess.run(probe, env=env, capture_output=True).returncode != 0:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target", site, pin], check=True)
    return site


def kubeflow_argv(site: str, cases: list[dict]) -> list:
    out = subprocess.run(
        [sys.executable, str(HERE / "kfp_v1_resolve.py")],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        env={"PYTHONPATH": site, "PATH": os.environ.get("PATH", ""), "PYTHONWARNINGS": "ignore"},
        check=True,
    )
    return json.loads(out.stdout)


_SAMPLES = {
    "integer": "3",
    "float": "0.5",
    "boolean": "True",
    "bool": "True",
    "jsonobject": '{"a": 1}',
    "dict": '{"a": 1}',
    "jsonarray": "[1, 2]",
    "list": "[1, 2]",
    "json": '{"a": [1]}',
}


def _sample(item: dict, path: bool) -> str:
    if path:
        return "/cubelab/inputs/" + re.sub(r"\W+", "_", item["name"])
    return _SAMPLES.get(str(item.get("type", "")).lower(), "v " + item["name"])  # a space: argv items stay whole


def _cases(data: dict) -> list[dict]:
    """Two argument sets per component: only what Kubeflow requires, and every input."""
    text = json.dumps(data)
    paths = set(re.findall(r'"inputPath": "([^"]+)"', text))
    inputs = data.get("inputs") or []
    required = {i["name"]: _sample(i, i["name"] in paths) for i in inputs if i.get("default") is None and not i.get("optional")}
    every = {i["name"]: _sample(i, i["name"] in paths) for i in inputs}
    return [required, every]


@pytest.mark.parametrize("path", CONTAINER, ids=lambda p: p.stem)
def test_container_component_imports(path):
    data = _load(path)
    tpl = import_kfp_component(path.read_text())
    assert tpl.argv and tpl.image == data["implementation"]["container"]["image"]
    assert len(tpl.args) == len(data.get("inputs") or []) and len(tpl.outputs) == len(data.get("outputs") or [])
    assert {a.label for a in tpl.args} == {i["name"] for i in data.get("inputs") or []}


def test_every_container_component_runs_kubeflows_command_line(kfp_site):
    cases, ours = [], []
    for path in CONTAINER:
        data = _load(path)
        tpl = import_kfp_component(path.read_text())
        flag = {a.label: a.name for a in tpl.args}
        for arguments in _cases(data):
            cases.append({"text": path.read_text(), "arguments": arguments, "output_dir": OUTPUT_DIR, "name": path.stem})
            task = Task(name="t", template=tpl.name, args={flag[k]: v for k, v in arguments.items()})
            ours.append(render_argv_template(task, tpl, WHERE)[0])
    theirs = kubeflow_argv(kfp_site, cases)
    mismatches = [(c["name"], c["arguments"], t, o) for c, t, o in zip(cases, theirs, ours, strict=True) if t != o]
    assert not mismatches, json.dumps(mismatches[:3], indent=1)
    assert len(cases) == 2 * len(CONTAINER) >= 100


def test_patterns_in_the_collection():
    """The shapes the issue names are in the collection and keep their argv shape."""
    by_stem = {p.stem: import_kfp_component(p.read_text()) for p in CONTAINER}
    calc = by_stem["basics.Calculate_hash"]  # placeholders in command: positional sh -exc '... "$0" "$1"'
    assert calc.argv[:2] == ["sh", "-exc"] and calc.argv[3:] == [{"path": "--data"}, {"value": "--hash_algorithm"}, {"output": "hash"}]
    load = by_stem["datasets.HuggingFace.Load_dataset"]  # SDK-generated ----output-paths
    assert load.argv[-5:] == [{"value": "--dataset-name"}, "--dataset-dict", {"output": "dataset_dict"}, "----output-paths", {"output": "splits"}]
    train = by_stem["aws.sagemaker.train"]  # inputs with default ''
    empty = [a.name for a in train.args if a.name in train.always_present and a.default == ""]
    assert "--endpoint_url" in empty
    task = Task(name="t", template=train.name, args={a.name: {"list": "[1]", "dict": "{}", "int": "3"}.get(a.type, "x") for a in train.args if a.require})
    argv = render_argv_template(task, train, WHERE)[0]
    assert argv[argv.index("--endpoint_url") + 1] == ""


def test_file_outputs_are_reported():
    data = _load(HERE / "fixtures" / "kubeflow" / "v1" / "aws.athena.query.yaml")
    assert data["implementation"]["container"]["fileOutputs"]
    ignored = kfp_ignored_fields(data)
    assert ignored and all(i.startswith("implementation.container.fileOutputs.") for i in ignored)


@pytest.mark.parametrize("stem", sorted(REFUSED))
def test_real_refusals_name_field_and_reason(stem):
    with pytest.raises(FieldErrors) as info:
        import_kfp_component((HERE / "fixtures" / "kubeflow" / "v1" / f"{stem}.yaml").read_text())
    field, needle = REFUSED[stem]
    assert [e.field for e in info.value.errors] == [field] and needle in str(info.value)


@pytest.mark.parametrize("path", GRAPH, ids=lambda p: p.stem)
def test_graph_component_refusal_names_field_and_reason(path):
    with pytest.raises(FieldErrors) as info:
        import_kfp_component(path.read_text())
    (error,) = info.value.errors
    assert error.field == "implementation.graph" and "graph component" in str(error) and "tasks" in str(error)


@pytest.mark.parametrize(
    "text,field,needle",
    [
        ("name: '--'\nimplementation: {container: {image: i}}", "name", "gives no template name"),
        ("name: x\nimplementation: {}", "implementation.container", "no container implementation"),
        (
            "name: x\ninputs: [{name: a}]\nimplementation: {container: {image: i, args: [--b, {inputValue: zz}]}}",
            "implementation.container.args[1]",
            "unknown input 'zz'",
        ),
        (
            "name: x\ninputs: [{name: a}]\nimplementation: {container: {image: i, command: [{inputUri: a}]}}",
            "implementation.container.command[0]",
            "'inputUri' has no CubeLab equivalent",
        ),
        (
            "name: x\ninputs: [{name: a}]\nimplementation: {container: {image: i, args: [{if: {cond: {inputValue: a}, then: [y]}}]}}",
            "implementation.container.args[0].if.cond",
            "not isPresent",
        ),
        ("name: [unclosed", "component", "not valid YAML"),
        ("name: x\nimplementation: {container: {image: i, command: [true]}}", "implementation.container.command[0]", "True is a YAML bool, not text"),
    ],
)
def test_refusals_name_the_field_and_reason(text, field, needle):
    with pytest.raises(FieldErrors) as info:
        import_kfp_component(text)
    assert any(e.field == field and needle in str(e) for e in info.value.errors), info.value.errors
