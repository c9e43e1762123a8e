"""serving_command: the command line, environment and settings files of a replica (pure)."""

from __future__ import annotations

import json

import pytest

from cubelab_hub.domain.errors import FieldError
from cubelab_hub.domain.services import BUILTIN_SERVING_TYPES, SERVING_TYPES, service_from_dict
from cubelab_hub.serving import ONNX_RUNTIME_MODULE, SERVING_RUNTIMES, health_check, replica_command, serving_command


def test_every_domain_serving_type_has_a_runtime_and_builtin_ones_an_implementation():
    assert set(SERVING_RUNTIMES) == set(SERVING_TYPES)
    assert {name for name, runtime in SERVING_RUNTIMES.items() if runtime.builtin} == set(BUILTIN_SERVING_TYPES)


def test_sklearn_runs_mlserver_on_the_loopback_port_with_the_model_file():
    argv, env, files = serving_command(
        "sklearn", "iris", "models/iris.joblib", "v1", 18123, settings_dir="/srv/r0", workspace="/home/alice", serving_venv="/opt/serving"
    )
    assert argv == ["/opt/serving/bin/mlserver", "start", "/srv/r0"]
    assert env == {"PORT": "18123", "PYTHONNOUSERSITE": "1"}
    assert set(files) == {"settings.json", "model-settings.json"}
    settings = json.loads(files["settings.json"])
    assert settings["host"] == "127.0.0.1" and settings["http_port"] == 18123
    # gRPC on a free port of the same host; no metrics server, no worker pool
    assert settings["grpc_port"] == 0 and settings["metrics_endpoint"] is None and settings["parallel_workers"] == 0
    assert settings["metrics_dir"].startswith("/srv/r0/") and settings["environments_dir"].startswith("/srv/r0/")
    assert json.loads(files["model-settings.json"]) == {
        "name": "iris",
        "implementation": "mlserver_sklearn.SKLearnModel",
        "versions": ["v1"],
        "parameters": {"uri": "/home/alice/models/iris.joblib", "version": "v1"},
    }


@pytest.mark.parametrize(
    "serving_type, implementation",
    [("xgboost", "mlserver_xgboost.XGBoostModel"), ("lightgbm", "mlserver_lightgbm.LightGBMModel"), ("onnx", f"{ONNX_RUNTIME_MODULE}.OnnxModel")],
)
def test_each_builtin_type_names_its_runtime(serving_type, implementation):
    _, _, files = serving_command(serving_type, "m", "/data/model", "1", 9000, host="127.0.0.1")
    assert json.loads(files["model-settings.json"])["implementation"] == implementation


def test_onnx_ships_its_runtime_module_into_the_settings_folder():
    _, _, files = serving_command("onnx", "m", "/data/model.onnx", "1", 9000)
    source = files[f"{ONNX_RUNTIME_MODULE}.py"]
    assert "class OnnxModel(MLModel)" in source
    # it runs in the serving virtualenv, which has no platform code
    assert "cubelab_hub" not in "".join(line for line in source.splitlines() if line.startswith(("import", "from")))


def test_custom_runs_the_services_own_command_with_port_set():
    argv, env, files = serving_command("custom", "m", "", "1", 9100, command=["python", "serve.py", "--port=9100"])
    assert argv == ["python", "serve.py", "--port=9100"] and env == {"PORT": "9100"} and files == {}


def test_custom_without_a_command_names_the_command_field():
    with pytest.raises(FieldError) as info:
        serving_command("custom", "m", "", "1", 9100)
    assert info.value.field == "command"


def test_an_unknown_type_names_the_serving_type_field_and_lists_the_types():
    with pytest.raises(FieldError) as info:
        serving_command("pytorch", "m", "/m.pt", "1", 9000)
    assert info.value.field == "serving_type" and "'pytorch'" in info.value.message
    assert all(name in info.value.accepted for name in SERVING_TYPES)


@pytest.mark.parametrize("path", ["", "   ", None])
def test_a_missing_model_path_names_the_model_path_field(path):
    with pytest.raises(FieldError) as info:
        serving_command("sklearn", "m", path, "1", 9000, workspace="/home/alice")
    assert info.value.field == "model_path" and "missing" in info.value.message


@pytest.mark.parametrize("path", ["s3://bucket/model.joblib", "https://example.com/m.joblib", "models/../../bob/m.joblib"])
def test_urls_and_dot_dot_are_refused_with_the_accepted_form(path):
    with pytest.raises(FieldError) as info:
        serving_command("sklearn", "m", path, "1", 9000, workspace="/home/alice")
    assert info.value.field == "model_path" and info.value.accepted


def test_a_relative_path_without_a_workspace_is_the_callers_mistake():
    with pytest.raises(ValueError, match="workspace"):
        serving_command("sklearn", "m", "models/m.joblib", "1", 9000)


@pytest.mark.parametrize("port", [0, 65536, "8080", True])
def test_bad_ports_are_refused(port):
    with pytest.raises(ValueError):
        serving_command("sklearn", "m", "/m.joblib", "1", port)


def test_the_health_check_is_the_models_own_readiness():
    # not /v2/health/ready: that answers 200 while no model is loaded
    assert health_check("iris", 18123) == "18123:/v2/models/iris/ready"


def test_replica_command_reads_an_inference_service_of_the_domain():
    service = service_from_dict(
        {
            "project": "public",
            "owner": "alice",
            "kind": "inference",
            "serving_type": "sklearn",
            "model_name": "iris",
            "model_version": "v1.2",
            "model_path": "m/iris.joblib",
        },
        "localhost",
    )
    argv, env, files = replica_command(service, 9001, settings_dir="/srv/r1", workspace="/home/alice", serving_venv="/opt/serving")
    assert argv == ["/opt/serving/bin/mlserver", "start", "/srv/r1"] and env["PORT"] == "9001"
    model = json.loads(files["model-settings.json"])
    assert (model["name"], model["parameters"]) == ("iris", {"uri": "/home/alice/m/iris.joblib", "version": "v1.2"})


def test_replica_command_runs_a_custom_services_command_and_args():
    service = service_from_dict(
        {
            "project": "public",
            "owner": "alice",
            "kind": "inference",
            "serving_type": "custom",
            "model_name": "iris",
            "model_version": "1",
            "command": ["python", "serve.py"],
            "args": "--workers 2",
        },
        "localhost",
    )
    argv, env, files = replica_command(service, 9002, settings_dir="/srv/r2", workspace="/home/alice")
    assert argv == ["python", "serve.py", "--workers", "2"] and env == {"PORT": "9002"} and files == {}
