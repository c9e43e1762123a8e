"""``%cubelab build``: the build body and the closing line (pure), then the magic
in a real IPython kernel against a real platform as root with the real buildah:
a ``FROM scratch`` Dockerfile of the workspace built with ``--wait``, its log in
the cell's output, ending with status, digest and size; wrong input named."""

from __future__ import annotations

import os
import re
import shutil
import sys

import pytest
from magics.test_magics import Kernel
from support.platform import IS_ROOT, register, start_server

from cubelab_server.magics.builds import build_body, build_summary, size_text, workspace_path

# ---------------------------------------------------------------- pure


def test_build_body_takes_the_dockerfiles_folder_as_context_and_names_the_image_after_it():
    assert build_body("imgs/trainer/Dockerfile", "p") == {
        "project": "p", "image": "trainer", "dockerfile_path": "imgs/trainer/Dockerfile", "context": "imgs/trainer"}
    assert build_body("Dockerfile", "p")["context"] == "."
    assert build_body("Dockerfile", "p")["image"] == "image"
    assert build_body("x/GPU Base.Dockerfile", "p")["image"] == "gpu-base"
    body = build_body("a/Dockerfile", "p", image="web", tags=["v1", "latest"], context=".")
    assert body == {"project": "p", "image": "web", "dockerfile_path": "a/Dockerfile", "context": ".", "tags": ["v1", "latest"]}


def test_workspace_paths_are_relative_to_the_workspace_and_stay_inside_it(tmp_path):
    ws = tmp_path / "ws"
    (ws / "nb").mkdir(parents=True)
    assert workspace_path("Dockerfile", str(ws), str(ws / "nb")) == "nb/Dockerfile"
    assert workspace_path("../Dockerfile", str(ws), str(ws / "nb")) == "Dockerfile"
    assert workspace_path(str(ws / "imgs" / "Dockerfile"), str(ws), "/") == "imgs/Dockerfile"
    # a kernel started outside the workspace: the path is taken as given
    assert workspace_path("imgs/Dockerfile", str(ws), str(tmp_path)) == "imgs/Dockerfile"
    assert workspace_path("imgs/./Dockerfile", None, "/") == "imgs/Dockerfile"
    with pytest.raises(ValueError, match="outside your workspace"):
        workspace_path("/etc/passwd", str(ws), str(ws))
    with pytest.raises(ValueError, match="outside your workspace"):
        workspace_path("../../x", str(ws), str(ws / "nb"))
    with pytest.raises(ValueError, match="absolute"):
        workspace_path("/etc/passwd", None, "/")


def test_summary_says_status_duration_digest_and_size_or_why_it_failed():
    ok = {"id": 7, "status": "succeeded", "duration": 3.24, "digest": "sha256:abc", "size": 1534,
          "references": ["r/p/x:1"], "cache": "1 of 2 steps reused"}
    assert build_summary(ok) == ("build 7 succeeded in 3.2s: digest sha256:abc, 1.5 kB\npushed as r/p/x:1\n"
                                 "cache: 1 of 2 steps reused")
    failed = {"id": 8, "status": "failed", "duration": None, "message": "step 2: exit status 1"}
    assert build_summary(failed) == "build 8 failed: step 2: exit status 1"
    assert size_text(512) == "512 B" and size_text(None) == "unknown size" and size_text(2_500_000) == "2.5 MB"


# ---------------------------------------------------------------- in a kernel

NEEDS_BUILDAH = [
    pytest.mark.hub,
    pytest.mark.skipif(not IS_ROOT, reason="buildah builds (vfs storage, chroot isolation) run as root"),
    pytest.mark.skipif(shutil.which("buildah") is None, reason="needs buildah (Debian package 'buildah')"),
]


@pytest.fixture(scope="module")
def kernel(platform, request):
    user = register(platform, "imagesmith")
    start_server(user)
    workspace = platform.data_dir / "workspaces" / user.name
    k = Kernel({
        "JUPYTERHUB_SERVICE_URL": f"{platform.url}/user/{user.name}/",
        "JUPYTERHUB_API_TOKEN": user.token,
        "CUBELAB_WORKSPACE": str(workspace),
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
    })
    request.addfinalizer(k.stop)
    assert k.run("%load_ext cubelab")["error"] is None
    k.user, k.workspace = user, workspace
    return k


def needs_buildah(test):
    for mark in reversed(NEEDS_BUILDAH):
        test = mark(test)
    return test


@needs_buildah
def test_build_wait_streams_the_log_and_ends_with_status_digest_and_size(kernel):
    folder = kernel.workspace / "imgs" / "hello"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hello.txt").write_text("hello from a magic\n")
    (folder / "Dockerfile").write_text("FROM scratch\nCOPY hello.txt /\n")
    out = kernel.run(f"%cubelab build {folder / 'Dockerfile'} --project public --tag v1 --tag latest --wait")
    assert out["error"] is None, out
    text = out["stdout"]
    assert "of public/hello:v1 " in text and "Dockerfile imgs/hello/Dockerfile, context imgs/hello" in text
    assert "COPY hello.txt /" in text  # buildah's own log lines, streamed into the cell
    last = text.strip().splitlines()
    summary = next(line for line in last if line.startswith("build ") and " succeeded in " in line)
    assert re.search(r": digest sha256:[0-9a-f]{64}, [0-9.]+ (B|kB|MB)$", summary), summary
    assert any(line.startswith("pushed as ") and line.endswith("/public/hello:latest") for line in last)
    builds = kernel.user.api("GET", "/builds", params={"project": "public", "q": "hello"}).json()["builds"]
    assert builds[0]["status"] == "succeeded" and builds[0]["digest"] in summary


@pytest.mark.hub
def test_build_errors_name_what_is_wrong(kernel):
    bad = kernel.run("%cubelab build Dockerfile --project public --image Bad_Name")
    assert bad["error"] and "image" in bad["error"] and "lowercase" in bad["error"]
    outside = kernel.run("%cubelab build /etc/Dockerfile --project public")
    assert outside["error"] and "outside your workspace" in outside["error"]
    elsewhere = kernel.run("%cubelab build Dockerfile --project not-mine")
    assert elsewhere["error"] and "not-mine" in elsewhere["error"]
    missing = kernel.run("%cubelab build")
    assert missing["error"] and "%cubelab build PATH" in missing["error"]
