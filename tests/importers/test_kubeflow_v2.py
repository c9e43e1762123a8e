"""Real KFP v2 IR pipelines (fixtures/kubeflow/v2, see its README): pipelines of
container tasks import as CubeLab pipelines that validate and launch; everything
else is refused naming the entry, the field and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from cubelab_hub.domain.errors import FieldErrors
from cubelab_hub.domain.pipelines import pipeline_from_dict, validate
from cubelab_hub.domain.templates import TemplateCatalog
from cubelab_hub.engines.launch import Where, render_argv_template
from cubelab_hub.importers.kubeflow_v2 import import_kfp_v2

V2 = HERE = Path(__file__).parent / "fixtures" / "kubeflow" / "v2"
WHERE = Where(python="python3", output_dir="/out", namespace="ns")

# file -> tasks of the imported pipeline (every task a container task)
IMPORTED = {
    "two_step_pipeline_containerized": ["component1", "component2"],
    "producer_consumer_param_pipeline": ["consumer", "producer"],
    "pipeline_with_after": ["print-text", "print-text-2", "print-text-3"],
    "container_io": ["container-io"],
    "container_no_input": ["container-no-input"],
    "container_component_with_no_inputs": ["hello-world-container"],
}
MISSING = {"container_io": [("container-io", "args.--text")]}
# file -> (field, words of the reason) of one refusal it must carry
REFUSED = {
    "add_numbers": ("deploymentSpec.executors.exec-add-numbers.container.args[1]", "{{$}} is the executor input"),
    "concat_message": ("deploymentSpec.executors.exec-concat-message.container.args[1]", "{{$}} is the executor input"),
    "flip_coin": ("root.dag.tasks.condition-1.triggerPolicy.condition", "no run-time conditions"),
    "pipeline_with_importer_workspace": ("components.comp-importer.executorLabel", "is an importer node"),
    "container_with_artifact_output": ("deploymentSpec.executors.exec-container-with-artifact-output.container.args[3]", "'.uri' has no CubeLab equivalent"),
    "container_with_concat_placeholder": ("deploymentSpec.executors.exec-container-with-concat-placeholder.container.command[1].Concat[2]", "'.uri'"),
    "container_with_if_placeholder": ("deploymentSpec.executors.exec-container-with-if-placeholder.container.command[3].IfPresent.Then[0]", "'.uri'"),
    "container_with_placeholder_in_fstring": ("deploymentSpec.executors.exec-container-with-placeholder-in-fstring.container.command[2]", "'.uri'"),
    "pipeline_with_env": ("deploymentSpec.executors.exec-print-env-op.container.args[1]", "{{$}} is the executor input"),
}


def test_every_fixture_is_accounted_for():
    assert {p.stem for p in V2.glob("*.yaml")} == set(IMPORTED) | set(REFUSED)


@pytest.mark.parametrize("stem", sorted(IMPORTED))
def test_container_pipelines_import_validate_and_launch(stem):
    result = import_kfp_v2((V2 / f"{stem}.yaml").read_text())
    assert result.refused == [] and result.pipeline is not None
    pipeline = pipeline_from_dict(dict(result.pipeline, project="public"))
    assert sorted(t.name for t in pipeline.tasks) == IMPORTED[stem]
    catalog = TemplateCatalog(list(result.templates.values()))
    errors = [(d.task, d.field) for d in validate(pipeline, catalog) if d.severity == "error"]
    # a pipeline parameter without a default leaves a draft naming the argument to fill in
    assert errors == MISSING.get(stem, [])
    for task in pipeline.tasks:
        if task.name in dict(errors):
            task.args.update({field.removeprefix("args."): "filled" for t, field in errors if t == task.name})
        argv, _ = render_argv_template(task, catalog.get(task.template), WHERE)
        assert argv and all(isinstance(a, str) for a in argv)


def test_two_step_pipeline_maps_parameters_artifacts_and_dependencies():
    result = import_kfp_v2((V2 / "two_step_pipeline_containerized.yaml").read_text())
    pipeline = pipeline_from_dict(dict(result.pipeline, project="public"))
    assert pipeline.edges == [("component1", "component2")]
    first, second = pipeline.task("component1"), pipeline.task("component2")
    assert first.args == {"--text": "Hello KFP Containerized!"}  # the pipeline parameter's default
    assert second.args == {"--input_gcs": "{{tasks.component1.outputs.output_gcs}}"}
    catalog = TemplateCatalog(list(result.templates.values()))
    tpl = catalog.get(first.template)
    assert render_argv_template(first, tpl, WHERE)[0] == [
        "sh",
        "-c",
        'mkdir --parents $(dirname "$1") && echo "$0" > "$1"',
        "Hello KFP Containerized!",
        "/out/output_gcs",
    ]
    assert tpl.output("output_gcs").type == "path"  # an artifact: downstream gets its path
    assert any("pipeline parameter 'text'" in note for note in result.notes)


def test_producer_consumer_output_parameter_file():
    result = import_kfp_v2((V2 / "producer_consumer_param_pipeline.yaml").read_text())
    producer = next(t for t in result.templates.values() if t.name.endswith("producer"))
    assert producer.argv[-2:] == [{"value": "--input_text"}, {"output": "output_value"}]


@pytest.mark.parametrize("stem", sorted(REFUSED))
def test_refusals_name_the_entry_field_and_reason(stem):
    result = import_kfp_v2((V2 / f"{stem}.yaml").read_text())
    field, words = REFUSED[stem]
    assert any(e.field == field and words in e.message for e in result.refused), [str(e) for e in result.refused]
    # no message without its reason
    assert all(len(e.message) > 20 and e.accepted for e in result.refused)


def test_not_v2_is_refused_by_field():
    with pytest.raises(FieldErrors) as info:
        import_kfp_v2("name: x\nimplementation: {container: {image: i}}")
    assert info.value.errors[0].field == "content" and "not KFP v2 IR" in str(info.value)


def test_counts():
    assert len(IMPORTED) == 6 and len(REFUSED) == 9
