"""Continuous builds and builds under quota, end to end on a real CubeLab with the
real buildah, as root:

- a clean stop of the control plane in the middle of a ``RUN`` step: the next
  control plane starts the build again and the steps it had finished come from
  the layer cache, which the build's message, ``restarts`` and log say;
- a crash of the control plane: buildah keeps running and is re-attached, and
  the build is pushed as usual;
- a restart of the whole platform: a build in flight goes on from the layer
  cache, which lives in the data directory, so a rebuild reuses every step and
  says so;
- a build the project's quota cannot hold is refused naming the field; a
  running build's limits are published with what the project holds; a build
  queued behind the running one is accepted (they run one at a time).
"""

from __future__ import annotations

import json
import os
import signal
import time

import psutil
import requests
from pipelines.cp import World, controlplane_pid
from pipelines.test_rest import restarted_controlplane, wait_exited
from registries.oci_client import Client, wait_for
from support.builds import BUILDAH_MARKS, ROOTFS, copy_files, start_build, wait_build
from support.platform import User

pytestmark = BUILDAH_MARKS

REATTACHED = "re-attached after the control plane restarted (buildah kept running)"


def make_context(cp) -> str:
    folder = cp.platform.data_dir / "workspaces" / cp.name("creator") / "imgs" / "base"
    copy_files(folder, ROOTFS)
    (folder / "hello.txt").write_text("hello\n")
    return "imgs/base"


def wait(cp, build_id, timeout=180) -> dict:
    return wait_build(cp, build_id, timeout=timeout, restarting=True)


def log_of(cp, build_id) -> str:
    r = cp.call("creator", "GET", f"/builds/{build_id}/logs")
    assert r.status_code == 200, r.text
    return r.text


def wait_log(cp, build_id, marker: str, timeout=120, count=1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if log_of(cp, build_id).count(marker) >= count:
                return
        except (requests.RequestException, AssertionError):
            pass  # the control plane is restarting
        time.sleep(0.1)
    raise TimeoutError(f"'{marker}' never appeared in the log of build {build_id}: {log_of(cp, build_id)}")


def buildah_of(project: str, image: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if f"/{project}/{image}:" in " ".join(p.info["cmdline"] or []) and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p)
        except psutil.Error:
            pass
    return found


def test_a_build_goes_on_across_restarts_of_the_control_plane_and_the_platform(fresh_platform):
    platform = fresh_platform()
    admin = User(platform, platform.admin, platform.admin_password)
    assert admin.login().status_code == 302
    admin.create_token()
    cp = World(platform, admin)
    registry = f"http://127.0.0.1:{platform.registry_port}"
    wait_for(registry)
    context = make_context(cp)
    base = wait(cp, start_build(cp, image="base", tags=["1"], dockerfile="FROM scratch\nCOPY . /\n", context=context, cpu="1", memory="1G")["id"])
    assert base["status"] == "succeeded", base
    ref = base["references"][0]

    # A RUN step that waits for a gate file the test puts into its working container's root file system
    gated = "RUN echo > /waiting-{0} && echo marker-{0}-$((40+2)) && while [ ! -e /gate ]; do sleep 0.1; done && echo {0} > /{0}\n"

    def open_gate(name: str) -> None:
        waiting = list((platform.data_dir / "builds" / "storage" / cp.project / "root").glob(f"vfs/dir/*/waiting-{name}"))
        assert len(waiting) == 1, waiting
        (waiting[0].parent / "gate").touch()

    # a clean stop in the middle of a RUN step: buildah is stopped with it, and the next control
    # plane starts the build again; the step finished before the stop comes from the layer cache
    dockerfile = f"FROM {ref}\nRUN echo one > /one\n{gated.format('two')}RUN cat /one /two\n"
    build = start_build(cp, image="resumed", tags=["1"], dockerfile=dockerfile, context=context, cpu="1", memory="1G")
    wait_log(cp, build["id"], "marker-two-42")  # the RUN step runs (its STEP line has no 42)
    queued = start_build(cp, image="after", tags=["1"], dockerfile=f"FROM {ref}\nRUN echo after\n", context=context, cpu="1", memory="1G")
    assert queued["status"] == "queued"
    old = controlplane_pid(platform)
    os.kill(old, signal.SIGTERM)
    wait_exited(old)
    assert not buildah_of(cp.project, "resumed"), "a clean stop stops the build's buildah"
    restarted_controlplane(platform, old)
    wait_log(cp, build["id"], "marker-two-42", count=2)
    assert cp.call("creator", "GET", f"/builds/{build['id']}").json()["status"] == "running"
    open_gate("two")
    done = wait(cp, build["id"])
    text = log_of(cp, build["id"])
    assert done["status"] == "succeeded", (done, text)
    note = "restarted after the control plane restarted; reused 1 cached layers"
    assert note in done["message"] and note in text, (done, text)
    assert [r["how"] for r in done["restarts"]] == ["restarted"] and "layer cache" in done["restarts"][0]["reason"]
    # the summary of the build that finished speaks of its own run only: STEP 2 came from the cache
    assert done["cache"] == "reused 1 of 4 steps from the layer cache: STEP 2/4: RUN echo one > /one", done
    assert "the control plane is stopping: buildah was stopped" in text and "one\ntwo" in text, text
    pulled = Client(registry, (cp.name("dev"), cp.token("dev"))).pull_manifest(f"{cp.project}/resumed", "1")
    assert pulled.status_code == 200 and pulled.headers["Docker-Content-Digest"] == done["digest"]
    # the build queued behind it waited through the restart and ran after it, once
    after = wait(cp, queued["id"])
    assert after["status"] == "succeeded" and after["restarts"] == [] and after["started_at"] >= done["finished_at"], (after, done)
    assert log_of(cp, queued["id"]).count("[cubelab] building ") == 1

    # a crash: buildah keeps running, the next control plane re-attaches to it and pushes the image
    crash = start_build(cp, image="crash", tags=["1"], dockerfile=f"FROM {ref}\n{gated.format('three')}", context=context, cpu="1", memory="1G")
    wait_log(cp, crash["id"], "marker-three-42")
    old = controlplane_pid(platform)
    os.kill(old, signal.SIGKILL)
    wait_exited(old)
    assert buildah_of(cp.project, "crash"), "a crash of the control plane must not take its builds with it"
    restarted_controlplane(platform, old)
    wait_log(cp, crash["id"], "re-attached to this build's buildah")
    assert cp.call("creator", "GET", f"/builds/{crash['id']}").json()["status"] == "running"  # followed again, not given up
    open_gate("three")
    done = wait(cp, crash["id"])
    text = log_of(cp, crash["id"])
    assert done["status"] == "succeeded" and done["digest"].startswith("sha256:"), (done, text)
    assert REATTACHED in done["message"] and [r["how"] for r in done["restarts"]] == ["re-attached"], done
    assert text.count("[cubelab] building ") == 1, text

    # the whole platform stops during a build and starts again: the build goes on from the layer
    # cache, which is in the data directory, and a rebuild of the first image reuses every step
    whole = start_build(cp, image="whole", tags=["1"], dockerfile=f"FROM {ref}\nRUN echo one > /one\n{gated.format('four')}", context=context,
                  cpu="1", memory="1G")
    wait_log(cp, whole["id"], "marker-four-42")
    platform.stop()
    assert not buildah_of(cp.project, "whole")
    platform.start()
    wait_log(cp, whole["id"], "marker-four-42", count=2)
    open_gate("four")
    done = wait(cp, whole["id"])
    assert done["status"] == "succeeded" and done["message"].endswith("(restarted after the control plane restarted; reused 1 cached layers)"), done
    again = wait(cp, start_build(cp, image="resumed", tags=["2"], dockerfile=dockerfile, context=context, cpu="1", memory="1G")["id"])
    assert again["status"] == "succeeded", again
    assert again["cache"].startswith("reused 3 of 4 steps from the layer cache: STEP 2/4: RUN echo one"), again
    text = log_of(cp, again["id"])
    assert text.count("Using cache") == 3 and "[cubelab] reused 3 of 4 steps" in text and again["restarts"] == []


def test_a_build_beyond_the_quota_is_refused_and_a_running_build_holds_its_limits(platform, admin):
    cp = World(platform, admin)
    context = make_context(cp)
    r = cp.call("creator", "PATCH", f"/projects/{cp.project}", {"settings": {"quota": {"cpu": "2", "memory": "1G"}}})
    assert r.status_code == 200, r.text
    body = {"project": cp.project, "image": "big", "dockerfile": "FROM scratch\nCOPY . /\n", "context": context}
    r = cp.call("creator", "POST", "/builds", {**body, "cpu": "3", "memory": "512M"})
    assert r.status_code == 409 and r.json()["error"] == "quota_exceeded" and r.json()["field"] == "cpu", r.text
    assert f"project '{cp.project}' has a CPU quota of 2 cores" in r.json()["message"] and "this build asks for up to 3" in r.json()["message"]
    r = cp.call("creator", "POST", "/builds", {**body, "cpu": "1", "memory": "2G"})
    assert r.status_code == 409 and r.json()["field"] == "memory" and "at most 1G now" in r.text, r.text
    assert cp.call("creator", "GET", f"/builds?project={cp.project}").json()["builds"] == [], "a refused build is not stored"

    base = wait(cp, start_build(cp, image="base", dockerfile="FROM scratch\nCOPY . /\n", context=context, cpu="1", memory="512M")["id"])
    assert base["status"] == "succeeded", base
    slow = start_build(cp, image="slow", dockerfile=f"FROM {base['references'][0]}\nRUN echo marker-slow-$((40+2)) && sleep 60\n", context=context,
                 cpu="1.5", memory="512M")
    wait_log(cp, slow["id"], "marker-slow-42")

    def published() -> dict:
        return json.loads((platform.data_dir / "task-usage.json").read_text())["projects"].get(cp.project)

    deadline = time.monotonic() + 10
    while published() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert published() == {"cpu": "1.5", "memory": 512 * 2**20, "gpu": 0}
    # builds of a project run one at a time: the next one takes the running one's place, so it is accepted (queued)
    queued = start_build(cp, image="next", dockerfile="FROM scratch\nCOPY . /\n", context=context, cpu="1.5", memory="512M")
    assert queued["status"] == "queued"
    for build in (queued, slow):  # the queued one first: cancelling it does not wait for the running one
        assert cp.call("creator", "POST", f"/builds/{build['id']}/cancel").status_code == 200
    deadline = time.monotonic() + 10
    while published() is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert published() is None, "a finished build holds nothing"
