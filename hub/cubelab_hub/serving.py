"""Built-in model serving: how an inference service is served on one machine.

The model server is Seldon's MLServer (pinned in the ``serving`` extra of
pyproject.toml) with its scikit-learn, XGBoost and LightGBM runtimes, and
onnxruntime behind a small MLServer runtime of ours (:mod:`cubelab_hub.mlserver_onnx`)
for ONNX. MLServer speaks the Open Inference Protocol (KServe's V2 protocol:
``POST /v2/models/<name>/infer``, ``GET /v2/health/ready``), serves the model
files the services name directly (``model.joblib``, ``model.json``/``.ubj``,
``model.txt``/``.bst``, ``model.onnx``), binds the host it is given, and is
configured by a folder of JSON files, so a replica is one command line with no
shell. KServe's own Python server was the other candidate; its 0.21 release
cannot be installed next to the project's pins (it requires ``psutil<6``), and
its scikit-learn and XGBoost servers are not published on PyPI.

MLServer installs cleanly next to the project's pins (``pip check`` is clean),
but it brings about 1.3 GB and eighty packages the platform never uses (FastAPI,
uvicorn, gevent, tritonclient, OpenTelemetry, NVIDIA's NCCL through XGBoost) and
would hold protobuf below 7. The model server runs as the service owner's
account and needs nothing of the platform, so ``scripts/setup.sh`` installs the
extra's pins into a virtualenv of its own, ``<venv>/share/cubelab/serving``
(readable by every account, as the virtualenv is), and :func:`find_serving_venv`
finds it there. scikit-learn is pinned to the version the platform's virtualenv
has, so a model pickled in a notebook loads in the server.

:func:`serving_command` is pure: it returns the command line, the environment
and the settings files of one replica; the caller writes the files into the
replica's settings folder and starts the command as the owner.
"""

from __future__ import annotations

import json
import os
import posixpath
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .domain.errors import FieldError
from .domain.services import MODEL_PATH_ACCEPTED, SERVING_TYPE_ACCEPTED, Service

# the runtime module's name inside a replica's settings folder (MLServer puts
# that folder on sys.path while it loads the model's implementation)
ONNX_RUNTIME_MODULE = "cubelab_mlserver_onnx"
ONNX_RUNTIME_SOURCE = Path(__file__).with_name("mlserver_onnx.py")


@dataclass(frozen=True)
class ServingRuntime:
    """How one serving type is served.

    ``implementation``: the MLServer runtime class (empty for ``custom``, which
    runs the service's own command); ``model_files``: what ``model_path`` names,
    in words, for messages and the documentation.
    """

    serving_type: str
    implementation: str
    model_files: str

    @property
    def builtin(self) -> bool:
        return bool(self.implementation)


SERVING_RUNTIMES: dict[str, ServingRuntime] = {
    "sklearn": ServingRuntime(
        "sklearn", "mlserver_sklearn.SKLearnModel", "a scikit-learn model saved with joblib (model.joblib), or a folder holding model.joblib"
    ),
    "xgboost": ServingRuntime(
        "xgboost", "mlserver_xgboost.XGBoostModel", "an XGBoost model saved with save_model (model.json or model.ubj), or a folder holding one"
    ),
    "lightgbm": ServingRuntime("lightgbm", "mlserver_lightgbm.LightGBMModel", "a LightGBM booster saved with save_model (model.txt or model.bst)"),
    "onnx": ServingRuntime("onnx", f"{ONNX_RUNTIME_MODULE}.OnnxModel", "an ONNX model (model.onnx), or a folder holding model.onnx"),
    "custom": ServingRuntime("custom", "", "whatever the service's own command reads"),
}

SERVING_VENV_ENV = "CUBELAB_SERVING_VENV"
# under the platform's virtualenv (sys.prefix), where scripts/setup.sh installs it
SERVING_VENV_INSTALL = Path("share") / "cubelab" / "serving"
SERVING_MISSING = (
    "the model server (MLServer) is not installed: run `CUBELAB_SERVING_INSTALL=1 bash scripts/setup.sh`, "
    "or point ${env} at a virtualenv holding the 'serving' extra's packages"
)

COMMAND_ACCEPTED = "the command that starts your model server, listening on the port in $PORT"


def find_serving_venv() -> Path | None:
    """The virtualenv holding MLServer: ``$CUBELAB_SERVING_VENV`` when set (and
    only it), else ``<sys.prefix>/share/cubelab/serving``, else the platform's
    own virtualenv when the extra was installed into it."""
    configured = os.environ.get(SERVING_VENV_ENV)
    candidates = [Path(configured)] if configured else [Path(sys.prefix) / SERVING_VENV_INSTALL, Path(sys.prefix)]
    for venv in candidates:
        if os.access(venv / "bin" / "mlserver", os.X_OK):
            return venv
    return None


def serving_missing_message() -> str:
    return SERVING_MISSING.replace("{env}", SERVING_VENV_ENV)


def health_check(model_name: str, port: int) -> str:
    """The health check of a built-in replica, in the services' ``port:path``
    form: the model's own readiness. The server-wide ``/v2/health/ready``
    answers 200 while no model is registered, which is so for a moment before
    the model loads and after it fails to, so it cannot tell a serving replica."""
    return f"{port}:/v2/models/{model_name}/ready"


def resolve_model_path(model_path: str, workspace: str | None = None) -> str:
    """``model_path`` as an absolute path: relative paths are in ``workspace``.
    URLs are refused: the server on this machine reads a file."""
    if not isinstance(model_path, str) or not model_path.strip():
        raise FieldError("model_path", "is missing; a built-in serving type serves the model file found there", MODEL_PATH_ACCEPTED)
    text = model_path.strip()
    if "://" in text:
        raise FieldError(
            "model_path",
            f"'{text}' is a URL; on this machine the model server reads a file of the workspace",
            "an absolute path or a path relative to the workspace, e.g. 'models/iris.joblib'",
        )
    if "\0" in text or ".." in text.split("/"):
        raise FieldError("model_path", f"'{text}' contains '..' or a NUL character", MODEL_PATH_ACCEPTED)
    if posixpath.isabs(text):
        return posixpath.normpath(text)
    if not workspace:
        raise ValueError(f"the relative model path {text!r} needs the workspace it is relative to")
    return posixpath.normpath(posixpath.join(workspace, text))


def serving_command(
    serving_type: str,
    model_name: str,
    model_path: str,
    version: str,
    port: int,
    host: str = "127.0.0.1",
    *,
    settings_dir: str = ".",
    workspace: str | None = None,
    serving_venv: str = str(Path(sys.prefix) / SERVING_VENV_INSTALL),
    command: Sequence[str] = (),
) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """The command line, environment and settings files of one replica.

    Returns ``(argv, env, files)``: ``files`` maps names relative to
    ``settings_dir`` to their text; the caller writes them there before it
    runs ``argv`` (no shell) with ``env`` added to the replica's environment.
    Built-in types run ``<serving_venv>/bin/mlserver start <settings_dir>``,
    serving ``model_path`` (relative paths are in ``workspace``) as
    ``model_name`` version ``version`` over HTTP on ``host:port``; its gRPC
    endpoint takes a free port on the same host, and it runs no metrics server
    and no worker pool (one process per replica: the platform scales replicas).
    ``custom`` runs ``command`` with ``PORT`` set.

    Raises :class:`FieldError` naming ``serving_type``, ``model_path`` or
    ``command`` for what a user can fix.
    """
    runtime = SERVING_RUNTIMES.get(serving_type) if isinstance(serving_type, str) else None
    if runtime is None:
        raise FieldError("serving_type", f"'{serving_type}' is not a serving type", SERVING_TYPE_ACCEPTED)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise ValueError(f"port must be a number from 1 to 65535, not {port!r}")
    env = {"PORT": str(port)}
    if not runtime.builtin:
        argv = list(command)
        if not argv or not all(isinstance(part, str) and part for part in argv):
            raise FieldError("command", "is missing; a 'custom' inference service runs its own command", COMMAND_ACCEPTED)
        return argv, env, {}

    path = resolve_model_path(model_path, workspace)
    settings = {
        "host": host,
        "http_port": port,
        # gRPC cannot be switched off; port 0 lets it take a free port on the same (loopback) host
        "grpc_port": 0,
        "metrics_endpoint": None,
        "parallel_workers": 0,
        "debug": False,
        # MLServer defaults these to folders in its working directory (the owner's workspace)
        "metrics_dir": posixpath.join(settings_dir, ".metrics"),
        "environments_dir": posixpath.join(settings_dir, ".envs"),
    }
    model_settings = {
        "name": model_name,
        "implementation": runtime.implementation,
        # the metadata endpoint (GET /v2/models/<name>) lists these
        "versions": [version],
        "parameters": {"uri": path, "version": version},
    }
    files = {
        "settings.json": json.dumps(settings, indent=2) + "\n",
        "model-settings.json": json.dumps(model_settings, indent=2) + "\n",
    }
    if serving_type == "onnx":
        files[f"{ONNX_RUNTIME_MODULE}.py"] = ONNX_RUNTIME_SOURCE.read_text(encoding="utf-8")
    # user site-packages (~/.local) must not shadow the server's pinned packages
    env["PYTHONNOUSERSITE"] = "1"
    argv = [posixpath.join(serving_venv, "bin", "mlserver"), "start", settings_dir]
    return argv, env, files


def replica_command(
    service: Service, port: int, *, settings_dir: str, workspace: str, serving_venv: str | None = None, host: str = "127.0.0.1"
) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """:func:`serving_command` for an inference service as the domain holds it
    (a ``custom`` one runs its command followed by its args)."""
    if not service.is_inference:
        raise ValueError(f"{service.name!r} is not an inference service")
    return serving_command(
        service.serving_type,
        service.model_name,
        service.model_path,
        service.model_version,
        port,
        host,
        settings_dir=settings_dir,
        workspace=workspace,
        serving_venv=serving_venv or str(Path(sys.prefix) / SERVING_VENV_INSTALL),
        command=(*service.command, *service.args),
    )


def write_settings(settings_dir: str | os.PathLike, files: Mapping[str, str]) -> None:
    """Write ``files`` (from :func:`serving_command`) into ``settings_dir``, each
    whole or not at all (a temporary name, then a rename)."""
    folder = Path(settings_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        target = folder / name
        partial = target.with_name(f".{name}.partial")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, target)
