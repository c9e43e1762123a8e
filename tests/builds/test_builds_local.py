"""Image builds end to end on one machine, through the REST API of a real CubeLab
(``cubelab up``: JupyterHub, proxy, control plane) with the real buildah, as
root: a ``FROM scratch`` + ``COPY`` build (``.dockerignore`` honoured); a build
with ``RUN`` steps ``FROM`` the image the first one made; the log arriving
while buildah runs; cancel; a rebuild that reuses the layer cache and says so;
an unreachable base image; who may do what.

The images are made from this machine's own files: dash, sleep and cat with
the C library, copied into a context folder of the user's workspace."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest
import requests
from pipelines.cp import World
from registries.oci_client import Client, wait_for
from support.builds import BUILDAH_MARKS, ROOTFS, copy_files, start_build, wait_build

pytestmark = BUILDAH_MARKS

@pytest.fixture(scope="module")
def cp(platform, admin):
    return World(platform, admin)


@pytest.fixture(scope="module")
def registry(platform) -> str:
    """The platform's local registry, where succeeded builds are pushed."""
    base = f"http://127.0.0.1:{platform.registry_port}"
    wait_for(base)
    return base


def workspace(cp, role: str) -> Path:
    return cp.platform.data_dir / "workspaces" / cp.name(role)


@pytest.fixture(scope="module")
def context(cp) -> str:
    """A context folder in the creator's workspace: a tiny root file system, a
    file and one that .dockerignore leaves out."""
    folder = workspace(cp, "creator") / "imgs" / "base"
    copy_files(folder, ROOTFS)
    (folder / "hello.txt").write_text("hello from the context\n")
    (folder / "secret.txt").write_text("left out\n")
    (folder / ".dockerignore").write_text("secret.txt\n")
    return "imgs/base"


def log_of(cp, build_id) -> str:
    r = cp.call("creator", "GET", f"/builds/{build_id}/logs")
    assert r.status_code == 200, r.text
    return r.text


def storage(cp) -> list[str]:
    root = cp.platform.data_dir / "builds" / "storage" / cp.project
    return ["buildah", "--root", str(root / "root"), "--runroot", str(root / "run"), "--storage-driver", "vfs"]


@pytest.fixture(scope="module")
def base(cp, context, registry) -> dict:
    build = start_build(cp, image="base", tags=["1", "latest"], dockerfile="FROM scratch\nCOPY . /\n", context=context, memory="1G", cpu="1")
    assert build["status"] in ("queued", "running") and build["references"][0].endswith(f"/{cp.project}/base:1")
    done = wait_build(cp, build["id"])
    assert done["status"] == "succeeded", (done, log_of(cp, build["id"]))
    return done


def test_a_scratch_build_with_copy_is_pushed_to_the_local_registry(cp, base, registry):
    assert base["digest"].startswith("sha256:") and base["size"] > 100_000 and base["duration"] > 0
    host = f"127.0.0.1:{cp.platform.registry_port}"
    assert base["references"] == [f"{host}/{cp.project}/base:1", f"{host}/{cp.project}/base:latest"]
    assert base["message"] == f"built and pushed {host}/{cp.project}/base:1, {host}/{cp.project}/base:latest"
    # members pull what the build pushed, with the digest the build recorded; others are refused
    pulled = Client(registry, (cp.name("dev"), cp.token("dev"))).pull_manifest(f"{cp.project}/base", "1")
    assert pulled.status_code == 200 and pulled.headers["Docker-Content-Digest"] == base["digest"], pulled.text
    assert Client(registry, (cp.name("outsider"), cp.token("outsider"))).pull_manifest(f"{cp.project}/base", "1").status_code == 401
    text = log_of(cp, base["id"])
    assert "STEP 2/2: COPY . /" in text and "no step was reused" in text and f"[cubelab] pushing {host}/{cp.project}/base:1" in text
    listed = cp.call("dev", "GET", f"/builds?project={cp.project}&status=succeeded").json()
    assert base["id"] in [b["id"] for b in listed["builds"]]
    images = subprocess.run([*storage(cp), "images", "--format", "{{.Name}}:{{.Tag}}"], capture_output=True, text=True, check=True).stdout
    assert f"{host}/{cp.project}/base:1" in images


def test_run_steps_from_the_previous_image_with_build_args(cp, base, context):
    dockerfile = (f"FROM {base['references'][0]}\nARG GREETING\n"
                  "RUN test -e /hello.txt && test ! -e /secret.txt && echo \"greeting=$GREETING\" > /greet\n"
                  "RUN cat /greet /hello.txt\n")
    build = start_build(cp, image="app", tags=["1"], dockerfile=dockerfile, context=context, build_args={"GREETING": "hi there; $(id)"})
    done = wait_build(cp, build["id"])
    text = log_of(cp, build["id"])
    assert done["status"] == "succeeded", (done, text)
    # the build argument arrived as one literal value, .dockerignore kept secret.txt out, the base came from this machine
    assert "greeting=hi there; $(id)" in text and "hello from the context" in text
    assert "Trying to pull" not in text


def test_a_rebuild_reuses_the_layer_cache_and_says_so(cp, base, context):
    dockerfile = f"FROM {base['references'][0]}\nRUN echo one > /one\nCOPY hello.txt /copy.txt\nRUN cat /one /copy.txt\n"
    first = wait_build(cp, start_build(cp, image="cached", dockerfile=dockerfile, context=context)["id"])
    assert first["status"] == "succeeded" and "no step was reused" in first["cache"], first
    (Path(workspace(cp, "creator")) / context / "hello.txt").write_text("changed\n")
    try:
        second = wait_build(cp, start_build(cp, image="cached", dockerfile=dockerfile, context=context)["id"])
    finally:
        (Path(workspace(cp, "creator")) / context / "hello.txt").write_text("hello from the context\n")
    assert second["status"] == "succeeded", second
    # the RUN before the changed file is reused; the COPY of the changed file and what follows are built again
    assert second["cache"] == "reused 1 of 4 steps from the layer cache: STEP 2/4: RUN echo one > /one", second
    text = log_of(cp, second["id"])
    assert "Using cache" in text and "[cubelab] reused 1 of 4 steps" in text


def buildah_gone_after(project: str, image: str, since: float, found: list) -> None:
    """Watch (in a thread) for the moment no buildah of the image is left; append the seconds since ``since``."""
    deadline = since + 30
    while time.monotonic() < deadline:
        if not [p for p in psutil.process_iter(["cmdline"]) if f"/{project}/{image}:" in " ".join(p.info["cmdline"] or [])]:
            found.append(time.monotonic() - since)
            return
        time.sleep(0.02)


def test_the_log_arrives_while_building_and_cancel_stops_it_leaving_nothing(cp, base, context, registry):
    dockerfile = f"FROM {base['references'][0]}\nRUN echo marker-started && sleep 60\n"
    build = start_build(cp, image="slow", dockerfile=dockerfile, context=context)
    seen = b""
    with requests.get(f"{cp.url}/builds/{build['id']}/logs?follow=1", headers=cp.headers("creator"), stream=True, timeout=60) as r:
        assert r.status_code == 200
        for chunk in r.iter_content(chunk_size=None):
            seen += chunk
            if b"marker-started" in seen:
                break
    assert cp.call("creator", "GET", f"/builds/{build['id']}").json()["status"] == "running"
    started = time.monotonic()
    gone: list[float] = []
    watcher = threading.Thread(target=buildah_gone_after, args=(cp.project, "slow", started, gone))
    watcher.start()
    r = cp.call("creator", "POST", f"/builds/{build['id']}/cancel")
    assert r.status_code == 200, r.text
    assert time.monotonic() - started < 3  # with the removal of its working container
    watcher.join()
    assert gone and gone[0] < 1.5, f"buildah still ran {gone} s after the cancel"
    assert r.json()["status"] == "cancelled" and "nothing was published" in r.json()["message"]
    # no buildah of this build, no working container, no image of it
    assert not [p for p in psutil.process_iter(["cmdline"]) if f"/{cp.project}/slow:" in " ".join(p.info["cmdline"] or [])]
    assert subprocess.run([*storage(cp), "containers", "--quiet"], capture_output=True, text=True, check=True).stdout.strip() == ""
    images = subprocess.run([*storage(cp), "images", "--format", "{{.Name}}"], capture_output=True, text=True, check=True).stdout
    assert f"/{cp.project}/slow" not in images
    # nothing reached the registry: no manifest of the image under any tag
    client = Client(registry, (cp.name("dev"), cp.token("dev")))
    assert client.pull_manifest(f"{cp.project}/slow", "latest").status_code == 404
    assert client.request("GET", f"/v2/{cp.project}/slow/tags/list").status_code == 404
    r = cp.call("creator", "POST", f"/builds/{build['id']}/cancel")
    assert r.status_code == 409 and r.json()["error"] == "build_finished"


def test_an_unreachable_base_image_says_so_and_what_to_use(cp, base, context):
    done = wait_build(cp, start_build(cp, image="remote", dockerfile="FROM debian:12\nRUN true\n", context=context)["id"])
    assert done["status"] == "failed"
    message = done["message"]
    assert message.startswith("the base image 'debian:12' needs the registry"), message
    assert "cannot reach" in message and base["references"][0] in message and "OCI archive" in message and "scratch" in message
    assert message in log_of(cp, done["id"])


def test_bad_requests_name_the_field(cp, context):
    r = cp.call("creator", "POST", "/builds", {"project": cp.project, "image": "Bad Name", "dockerfile": "FROM scratch"})
    assert r.status_code == 400 and r.json()["field"] == "image", r.text
    r = cp.call("creator", "POST", "/builds", {"project": cp.project, "image": "x", "dockerfile_path": "imgs/nope/Dockerfile"})
    assert r.status_code == 400 and r.json()["field"] == "dockerfile_path", r.text
    link = workspace(cp, "creator") / "out"
    if not link.is_symlink():
        link.symlink_to("/etc")
    r = cp.call("creator", "POST", "/builds", {"project": cp.project, "image": "x", "dockerfile": "FROM scratch", "context": "out"})
    assert r.status_code == 400 and r.json()["field"] == "context" and "out of your workspace" in r.json()["message"], r.text


def test_who_may_do_what(cp, base):
    bid = base["id"]
    for role in ("outsider", None):
        for method, path in (("GET", f"/builds/{bid}"), ("GET", f"/builds/{bid}/logs"), ("POST", f"/builds/{bid}/cancel")):
            r = cp.call(role, method, path)
            assert r.status_code == (404 if role else 401), (role, method, path, r.text)
    # a project the caller may not see: 404 whatever the body
    for body in ({"project": cp.project}, {"project": cp.project, "image": "x", "dockerfile": "FROM scratch"}):
        assert cp.call("outsider", "POST", "/builds", body).status_code == 404
    assert cp.call("outsider", "GET", "/builds/987654321").status_code == 404
    assert bid not in [b["id"] for b in cp.call("outsider", "GET", "/builds").json()["builds"]]
    r = cp.call("ops", "POST", "/builds", {"project": cp.project, "image": "x", "dockerfile": "FROM scratch"})
    assert r.status_code == 403, r.text
    assert cp.call("ops", "GET", f"/builds/{bid}").json()["permissions"] == {"cancel": False}
    r = cp.call("dev", "POST", f"/builds/{bid}/cancel")
    assert r.status_code == 403, r.text
    assert cp.call("admin", "GET", f"/builds/{bid}").status_code == 200


def test_an_admin_sees_a_running_build_in_the_overview_counted_in_its_project_and_cancels_it(cp, base, context):
    dockerfile = f"FROM {base['references'][0]}\nRUN echo admin-marker && sleep 60\n"
    build = start_build(cp, image="watched", dockerfile=dockerfile, context=context, cpu="1", memory="1G")
    wait_build(cp, build["id"], until=("running",))
    r = cp.call("admin", "GET", "/admin/running", params={"kind": "build", "project": cp.project})
    assert r.status_code == 200, r.text
    (item,) = [i for i in r.json()["items"] if i["id"] == str(build["id"])]
    assert (item["name"], item["user"], item["status"], item["cluster"]) == ("watched", cp.name("creator"), "running", "local")
    assert item["use"] == {"cpu": 1, "memory": 2**30, "gpu": 0}
    (project,) = [p for p in cp.call("admin", "GET", "/admin/projects", params={"q": cp.project}).json()["projects"]
                  if p["name"] == cp.project]
    assert project["by_kind"]["builds"] == item["use"]
    r = cp.call("admin", "POST", f"/admin/running/build/{build['id']}/stop")
    assert r.status_code == 202 and r.json() == {"kind": "build", "id": str(build["id"]), "status": "cancelled"}, r.text
    assert wait_build(cp, build["id"])["status"] == "cancelled"
    r = cp.call("admin", "GET", "/admin/running", params={"kind": "build", "project": cp.project})
    assert str(build["id"]) not in [i["id"] for i in r.json()["items"]]
