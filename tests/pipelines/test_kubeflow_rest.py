"""Kubeflow files through the REST API on a real CubeLab: a v1 component with a
positional command line and a KFP v2 IR pipeline of container tasks import (the
templates by an admin, the pipeline by a project member) and run on the local
engine with Kubeflow's command lines; refusals name the entry, field and reason."""

from pathlib import Path

import pytest

from .cp import World, fresh

pytestmark = pytest.mark.hub

KUBEFLOW = Path(__file__).resolve().parents[1] / "importers" / "fixtures" / "kubeflow"


@pytest.fixture(scope="module")
def cp(platform, admin):
    return World(platform, admin)


def test_v1_component_with_positional_argv_imports_and_runs(cp):
    text = (KUBEFLOW / "v1" / "tables.Remove_header.yaml").read_text()
    r = cp.call("admin", "POST", "/templates/import", {"format": "kfp", "content": text, "replace": True})
    assert r.status_code == 201, r.text
    (tpl,) = r.json()["templates"]
    assert tpl["argv"][:2] == ["sh", "-exc"] and tpl["argv"][3:] == [{"path": "--table"}, {"output": "table"}]
    # a positional 'sh -exc ... "$0" "$1"' command line runs as Kubeflow builds it
    name = fresh("kfp-header-")
    tasks = [
        {"name": "make", "template": "shell", "args": {"--command": "printf 'h\\n1\\n2\\n' > \"$KFJ_TASK_OUTPUT_DIR/t.csv\""}},
        {"name": "strip", "template": tpl["name"], "args": {"--table": "{{tasks.make.outputs.path}}/t.csv"}},
        # the output reference is passed as one word: the table without its header line
        {"name": "show", "template": "shell", "args": {"--command": "printf '%s|' {{tasks.strip.outputs.table}}"}},
    ]
    r = cp.call("creator", "POST", "/pipelines", {"name": name, "project": cp.project, "tasks": tasks, "edges": [["make", "strip"], ["strip", "show"]]})
    assert r.status_code == 201, r.text
    r = cp.call("creator", "POST", f"/pipelines/{r.json()['id']}/runs")
    assert r.status_code == 201, r.text
    run = cp.wait_run("creator", r.json()["id"], timeout=90)
    assert run["status"] == "succeeded", run
    assert cp.call("creator", "GET", f"/runs/{run['id']}/tasks/show/logs").text == "1\n2|"
    # fileOutputs (the program writes to a fixed path) are reported, not dropped silently
    athena = (KUBEFLOW / "v1" / "aws.athena.query.yaml").read_text()
    r = cp.call("admin", "POST", "/templates/import", {"format": "kfp", "content": athena, "replace": True})
    assert r.status_code == 201, r.text
    (ignored,) = r.json()["ignored"].values()
    assert ignored and all(i.startswith("implementation.container.fileOutputs.") for i in ignored)
    graph = (KUBEFLOW / "v1" / "XGBoost.Cross_validation_for_regression.from_CSV.yaml").read_text()
    r = cp.call("admin", "POST", "/templates/import", {"format": "kfp", "content": graph})
    assert r.status_code == 400 and r.json()["field"] == "implementation.graph" and "graph component" in r.json()["message"]


def test_v2_pipeline_imports_and_runs_with_kubeflows_command_lines(cp):
    text = (KUBEFLOW / "v2" / "two_step_pipeline_containerized.yaml").read_text()
    # a member cannot use templates that are not installed yet: the draft says which
    name = fresh("kfp-two-step-")
    r = cp.call("creator", "POST", "/pipelines/import", {"document": text, "project": cp.project, "name": name + "-early"})
    assert r.status_code == 201, r.text
    assert any("containerized-two-step-pipeline-component1" in d["message"] and "not installed" in d["message"] for d in r.json()["diagnostics"])
    r = cp.call("admin", "POST", "/templates/import", {"format": "kfp", "content": text, "replace": True})
    assert r.status_code == 201, r.text
    assert sorted(t["name"] for t in r.json()["templates"]) == ["containerized-two-step-pipeline-component1", "containerized-two-step-pipeline-component2"]
    r = cp.call("creator", "POST", "/pipelines/import", {"document": text, "project": cp.project, "name": name})
    assert r.status_code == 201, r.text
    pipeline = r.json()
    assert pipeline["edges"] == [["component1", "component2"]]
    assert [d for d in pipeline["diagnostics"] if d["severity"] == "error"] == []
    assert any(d["severity"] == "warning" and "pipeline parameter 'text'" in d["message"] for d in pipeline["diagnostics"])
    r = cp.call("creator", "POST", f"/pipelines/{pipeline['id']}/runs")
    assert r.status_code == 201, r.text
    run = cp.wait_run("creator", r.json()["id"], timeout=90)
    assert run["status"] == "succeeded", run
    # component2 runs 'cat <the path of component1's output artifact>', as in Kubeflow
    assert cp.call("creator", "GET", f"/runs/{run['id']}/tasks/component2/logs").text == "Hello KFP Containerized!\n"


def test_v2_refusals_name_entry_field_and_reason(cp):
    text = (KUBEFLOW / "v2" / "flip_coin.yaml").read_text()
    r = cp.call("admin", "POST", "/templates/import", {"format": "kfp", "content": text})
    assert r.status_code == 400
    fields = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert "{{$}} is the executor input" in fields["deploymentSpec.executors.exec-flip-coin.container.args[1]"]
    r = cp.call("creator", "POST", "/pipelines/import", {"document": text, "project": cp.project, "name": fresh("kfp-flip-")})
    assert r.status_code == 400
    fields = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert "no run-time conditions" in fields["root.dag.tasks.condition-1.triggerPolicy.condition"]
