"""The naming rule both importers share (pure)."""

import pytest

from cubelab_hub.domain.errors import FieldErrors
from cubelab_hub.importers.cube_studio import import_cube_studio_template
from cubelab_hub.importers.kubeflow import import_kfp_component
from cubelab_hub.importers.naming import argument_flag, snake_name, template_name


@pytest.mark.parametrize("name,flag", [
    ("--epochs", "--epochs"), ("-n", "-n"), ("--Learning-Rate", "--Learning-Rate"),  # already flags: as written
    ("Model Name", "--model_name"), ("learning rate (lr)", "--learning_rate_lr"), ("outputPath", "--outputpath"),
])
def test_argument_flag(name, flag):
    assert argument_flag(name) == flag


def test_snake_and_template_names():
    assert snake_name("Output Path") == "output_path" and snake_name("--") == ""
    assert template_name("Model Hub") == "model-hub" and template_name("PaddleJob") == "paddle-job"


def test_one_input_gets_the_same_flag_from_either_importer():
    kfp = import_kfp_component("name: t\ninputs: [{name: Model Name}]\nimplementation: {container: {image: i, args: [{inputValue: Model Name}]}}")
    assert [a.name for a in kfp.args] == [argument_flag("Model Name")]
    cube = import_cube_studio_template({"name": "t", "images": "i", "args": {"g": {argument_flag("Model Name"): {"type": "str"}}}})
    assert [a.name for a in cube.args] == ["--model_name"]


def test_cube_studio_key_that_is_not_a_flag_is_refused_naming_the_flag():
    # Cube Studio passes its keys to the image as written, so the importer does not rename them
    with pytest.raises(FieldErrors) as info:
        import_cube_studio_template({"name": "t", "images": "i", "args": {"g": {"Model Name": {"type": "str"}, "x": {"type": "int"}}}})
    assert [(e.field, e.accepted) for e in info.value.errors] == [
        ("args.g.Model Name", "the flag as the image parses it, e.g. '--model_name'"),
        ("args.g.x", "the flag as the image parses it, e.g. '--x'"),
    ]
