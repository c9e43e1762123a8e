"""Image builds in tests: the marks that skip them where buildah cannot run, a
tiny root file system to build ``FROM scratch``, and starting and waiting for a
build through the REST API."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from .platform import IS_ROOT

BUILDAH_MARKS = [
    pytest.mark.hub,
    pytest.mark.skipif(not IS_ROOT, reason="buildah builds (vfs storage, chroot isolation) run as root"),
    pytest.mark.skipif(shutil.which("buildah") is None, reason="needs buildah (Debian package 'buildah', scripts/setup.sh)"),
]

# a shell, sleep and cat with the libraries they load: enough for RUN steps
ROOTFS = {"bin/sh": "/bin/dash", "bin/sleep": "/usr/bin/sleep", "bin/cat": "/usr/bin/cat",
          "lib/x86_64-linux-gnu/libc.so.6": "/lib/x86_64-linux-gnu/libc.so.6", "lib64/ld-linux-x86-64.so.2": "/lib64/ld-linux-x86-64.so.2"}

FINAL = ("succeeded", "failed", "cancelled")


def copy_files(folder: Path, files: dict[str, str]) -> None:
    """Copy each source to its target path below ``folder``."""
    for target, source in files.items():
        (folder / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, folder / target)


def with_libraries(programs: dict[str, str]) -> dict[str, str]:
    """``programs`` and the shared libraries they load (from ``ldd``), each at its own path."""
    files = dict(programs)
    for source in programs.values():
        out = subprocess.run(["ldd", source], capture_output=True, text=True, check=True).stdout
        files.update({part.lstrip("/"): part for line in out.splitlines() for part in line.split() if part.startswith("/")})
    return files


def start_build(cp, role: str = "creator", **fields) -> dict:
    r = cp.call(role, "POST", "/builds", {"project": cp.project, **fields})
    assert r.status_code == 201, r.text
    return r.json()


def wait_build(cp, build_id, until=FINAL, timeout: float = 120, restarting: bool = False) -> dict:
    """The build once its status is one of ``until``; with ``restarting``, a
    control plane that does not answer (it is being restarted) is asked again."""
    deadline = time.monotonic() + timeout
    build: dict = {}
    while time.monotonic() < deadline:
        try:
            build = cp.call("creator", "GET", f"/builds/{build_id}").json()
        except (requests.RequestException, ValueError):
            if not restarting:
                raise
            build = {}
        if build.get("status") in until:
            return build
        time.sleep(0.1)
    raise TimeoutError(f"build {build_id} still {build.get('status')}")


def build_from_scratch(cp, context: str, image: str, files: dict[str, str]) -> str:
    """Build ``files`` (target: source) into ``image:1`` of the creator's
    project, ``FROM scratch``; the pushed reference."""
    copy_files(cp.platform.data_dir / "workspaces" / cp.name("creator") / context, files)
    build = start_build(cp, image=image, tags=["1"], context=context, dockerfile="FROM scratch\nCOPY . /\n")
    build = wait_build(cp, build["id"], timeout=180)
    assert build["status"] == "succeeded", build
    return build["references"][0]


def storage_containers(cp) -> str:
    """The buildah containers (IDs, one per line) left in the project's build storage."""
    root = cp.platform.data_dir / "builds" / "storage" / cp.project
    return subprocess.run(["buildah", "--root", str(root / "root"), "--runroot", str(root / "run"), "--storage-driver", "vfs",
                           "containers", "--quiet"], capture_output=True, text=True, check=True).stdout.strip()
