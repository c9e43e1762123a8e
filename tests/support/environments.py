"""A user's own Python environment for "save as image" tests: a virtualenv in
their workspace made their default kernel (a kernel spec and their Jupyter
configuration), and small wheels pip installs from a local folder (no network)."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from cubelab_server.environment import STATE_FILE


def make_wheel(folder: Path, name: str, version: str) -> Path:
    """A minimal pure-Python wheel (PEP 427): a module, METADATA, WHEEL and RECORD."""
    files = {f"{name}/__init__.py": b"VALUE = 1\n",
             f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
             f"{name}-{version}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: cubelab-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = [f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
              for path, data in files.items()]
    files[f"{name}-{version}.dist-info/RECORD"] = ("\n".join([*record, f"{name}-{version}.dist-info/RECORD,,"]) + "\n").encode()
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return wheel


def workspace_venv_kernel(workspace: Path) -> Path:
    """A virtualenv at ``<workspace>/venv``, the default kernel of the user's
    servers (their own kernel spec and configuration); its interpreter."""
    venv = workspace / "venv"
    base_python = getattr(sys, "_base_executable", None) or sys.executable
    subprocess.run([base_python, "-m", "venv", str(venv)], check=True, timeout=120)
    spec = workspace / ".local/share/jupyter/kernels/wsvenv/kernel.json"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(json.dumps({"argv": [str(venv / "bin/python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                                "display_name": "workspace venv", "language": "python"}))
    (workspace / ".jupyter").mkdir(exist_ok=True)
    (workspace / ".jupyter/jupyter_server_config.json").write_text(
        json.dumps({"MappingKernelManager": {"default_kernel_name": "wsvenv"}}))
    return venv / "bin/python"


def pip_install_from(python: Path, wheels: Path, requirement: str) -> None:
    """Install from a folder of wheels as from a package index: pip records it as 'name==version'."""
    subprocess.run([str(python), "-m", "pip", "install", "--no-index", "--find-links", str(wheels), "--no-deps",
                    "--disable-pip-version-check", "-q", requirement], check=True, timeout=120)


def wait_for_before(workspace: Path, timeout: float = 60) -> Path:
    """The server's recorded "before" snapshot, once it is written."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(workspace.glob(f".local/share/jupyter/runtime/{STATE_FILE}"))
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"the server recorded no {STATE_FILE} within {timeout} s")
