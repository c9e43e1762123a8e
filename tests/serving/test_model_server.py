"""The model server as a real process: a model trained here, served by MLServer on a
loopback port from serving_command, answering Open Inference Protocol requests.

The server lives in the serving virtualenv (scripts/install-serving.sh, part of the
test set-up); the models are trained with that virtualenv's interpreter, so they
load with the same library versions the server has.
"""

from __future__ import annotations

import os
import struct
import subprocess
import time
from pathlib import Path

import psutil
import pytest
import requests

from cubelab_hub.serving import find_serving_venv, health_check, serving_command, serving_missing_message, write_settings

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def serving_venv() -> Path:
    venv = find_serving_venv()
    if venv is None:
        pytest.skip(serving_missing_message())
    return venv


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train(venv: Path, script: str, workspace: Path) -> None:
    """Run ``script`` with the serving interpreter in ``workspace``."""
    subprocess.run([str(venv / "bin" / "python"), "-c", script], cwd=workspace, check=True, timeout=120)


class Replica:
    def __init__(self, proc: subprocess.Popen, port: int, log: Path, model_name: str):
        self.proc, self.port, self.log = proc, port, log
        self.url = f"http://127.0.0.1:{port}"
        # the health check the service gets: '<port>:<path>'
        self.health_path = health_check(model_name, port).split(":", 1)[1]

    def healthy(self) -> bool:
        try:
            return requests.get(f"{self.url}{self.health_path}", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    def wait_ready(self, timeout: float = 120) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise AssertionError(f"the model server exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            if self.healthy():
                return time.monotonic() - started
            time.sleep(0.2)
        raise AssertionError(f"the model server was not ready in {timeout} s:\n{self.log.read_text()[-3000:]}")


@pytest.fixture
def start_replica(serving_venv, tmp_path, artifacts_dir):
    started: list[Replica] = []

    def start(serving_type: str, model_name: str, model_path: str, version: str, workspace: Path) -> Replica:
        port = _free_port()
        settings_dir = tmp_path / f"replica-{len(started)}"
        argv, env, files = serving_command(
            serving_type, model_name, model_path, version, port, settings_dir=str(settings_dir), workspace=str(workspace), serving_venv=str(serving_venv)
        )
        write_settings(settings_dir, files)
        log = artifacts_dir / f"serving-{tmp_path.name}-{len(started)}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                argv, env={"PATH": os.environ.get("PATH", ""), "HOME": str(workspace), **env}, cwd=workspace, stdout=out, stderr=subprocess.STDOUT
            )
        replica = Replica(proc, port, log, model_name)
        started.append(replica)
        return replica

    yield start
    for replica in started:
        replica.proc.terminate()
        try:
            replica.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            replica.proc.kill()
            replica.proc.wait()


def _infer(replica: Replica, model: str, rows: list[list[float]], datatype: str = "FP32") -> dict:
    body = {"inputs": [{"name": "input-0", "shape": [len(rows), len(rows[0])], "datatype": datatype, "data": [v for row in rows for v in row]}]}
    r = requests.post(f"{replica.url}/v2/models/{model}/infer", json=body, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def _listening_addresses(pid: int) -> set[str]:
    return {conn.laddr.ip for conn in psutil.Process(pid).net_connections(kind="inet") if conn.status == psutil.CONN_LISTEN}


def test_a_scikit_learn_model_from_the_workspace_answers_inference_requests(start_replica, serving_venv, tmp_path):
    workspace = tmp_path / "alice"
    (workspace / "models").mkdir(parents=True)
    # a classifier whose answer is known: class 1 exactly when the first feature is large
    _train(
        serving_venv,
        "import joblib\n"
        "from sklearn.tree import DecisionTreeClassifier\n"
        "X = [[0.0, 5.0], [1.0, 3.0], [9.0, 4.0], [10.0, 2.0]]\n"
        "joblib.dump(DecisionTreeClassifier(random_state=0).fit(X, [0, 0, 1, 1]), 'models/iris.joblib')\n",
        workspace,
    )
    replica = start_replica("sklearn", "iris", "models/iris.joblib", "v2024.01.01", workspace)
    replica.wait_ready()

    answer = _infer(replica, "iris", [[0.5, 1.0], [9.5, 1.0], [8.0, 7.0]])
    assert answer["model_name"] == "iris" and answer["model_version"] == "v2024.01.01"
    (output,) = answer["outputs"]
    assert output["name"] == "predict" and output["shape"] == [3, 1] and output["data"] == [0, 1, 1]

    # the server's readiness, the model's metadata, and a model it does not serve
    assert requests.get(f"{replica.url}/v2/health/ready", timeout=5).status_code == 200
    assert requests.get(f"{replica.url}/v2/models/iris", timeout=5).json()["versions"] == ["v2024.01.01"]
    assert requests.post(f"{replica.url}/v2/models/other/infer", json={"inputs": []}, timeout=5).status_code == 404

    # every port it listens on (HTTP, and gRPC on a free port) is on loopback
    addresses = _listening_addresses(replica.proc.pid)
    assert addresses and all(ip in ("127.0.0.1", "::ffff:127.0.0.1") for ip in addresses), addresses


def test_a_missing_model_file_stops_the_server_naming_the_file(start_replica, tmp_path):
    workspace = tmp_path / "bob"
    workspace.mkdir()
    replica = start_replica("sklearn", "gone", "models/gone.joblib", "1", workspace)
    healthy = False
    deadline = time.monotonic() + 120
    # the replica runner sees an exit (and restarts with back-off), never a healthy replica
    while time.monotonic() < deadline and replica.proc.poll() is None:
        healthy = healthy or replica.healthy()
        time.sleep(0.1)
    assert replica.proc.poll() is not None, "the server kept running without its model"
    assert not healthy
    assert f"{workspace}/models/gone.joblib" in replica.log.read_text()


def test_an_xgboost_model_is_served_from_its_json_file(start_replica, serving_venv, tmp_path):
    workspace = tmp_path / "carol"
    workspace.mkdir()
    _train(
        serving_venv,
        "import xgboost\n"
        "X = [[0.0], [1.0], [2.0], [3.0]] * 4\n"
        "xgboost.XGBClassifier(n_estimators=4, max_depth=2).fit(X, [0, 0, 1, 1] * 4).save_model('churn.json')\n",
        workspace,
    )
    replica = start_replica("xgboost", "churn", "churn.json", "3", workspace)
    replica.wait_ready()
    (output,) = _infer(replica, "churn", [[0.0], [3.0]])["outputs"]
    assert output["name"] == "predict" and output["data"] == [0, 1]


# ONNX's protobuf wire format, written by hand so the test needs no 'onnx' package:
# just enough of ModelProto for y = x @ W + b.
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, value: int | bytes | str) -> bytes:
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _linear_onnx_model(weights: list[float], bias: float) -> bytes:
    def tensor_type(dims: list) -> bytes:  # TypeProto { tensor_type { elem_type: FLOAT, shape } }
        shape = b"".join(_field(1, _field(2, d) if isinstance(d, str) else _field(1, d)) for d in dims)
        return _field(1, _field(1, 1) + _field(2, shape))

    def value_info(name: str, dims: list) -> bytes:
        return _field(1, name) + _field(2, tensor_type(dims))

    def initializer(name: str, dims: list[int], values: list[float]) -> bytes:
        return b"".join(_field(1, d) for d in dims) + _field(2, 1) + _field(8, name) + _field(9, struct.pack(f"<{len(values)}f", *values))

    def node(inputs: list[str], output: str, op: str) -> bytes:
        return b"".join(_field(1, i) for i in inputs) + _field(2, output) + _field(4, op)

    graph = (
        _field(1, node(["x", "W"], "xw", "MatMul"))
        + _field(1, node(["xw", "b"], "y", "Add"))
        + _field(2, "linear")
        + _field(5, initializer("W", [len(weights), 1], weights))
        + _field(5, initializer("b", [1], [bias]))
        + _field(11, value_info("x", ["N", len(weights)]))
        + _field(12, value_info("y", ["N", 1]))
    )
    return _field(1, 8) + _field(2, "cubelab-tests") + _field(7, graph) + _field(8, _field(1, "") + _field(2, 13))


def test_an_onnx_model_is_served_by_the_onnxruntime_runtime(start_replica, tmp_path):
    workspace = tmp_path / "dave"
    (workspace / "linear").mkdir(parents=True)
    (workspace / "linear" / "model.onnx").write_bytes(_linear_onnx_model([1.0, 2.0], 0.5))
    # a folder holding model.onnx, as for the other runtimes
    replica = start_replica("onnx", "linear", "linear", "1", workspace)
    replica.wait_ready()
    (output,) = _infer(replica, "linear", [[1.0, 1.0], [2.0, -1.0], [0.0, 0.25]])["outputs"]
    assert output["name"] == "y" and output["shape"] == [3, 1] and output["datatype"] == "FP32"
    assert output["data"] == pytest.approx([3.5, 0.5, 1.0])
    # integers in the request are cast to the float the model declares
    (output,) = _infer(replica, "linear", [[1, 2]], datatype="INT64")["outputs"]
    assert output["data"] == pytest.approx([5.5])
