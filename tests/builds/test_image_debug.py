"""Debugging an image built here: one command run inside it as the requesting
user's account, its output streamed, through the REST API of a real CubeLab
with the real buildah, as root. The image is made from this machine's own
dash, cat and sleep with the C library (``FROM scratch`` + ``COPY``)."""

from __future__ import annotations

import time

import psutil
import pytest
import requests
from pipelines.cp import World
from support.builds import BUILDAH_MARKS, ROOTFS, build_from_scratch, storage_containers

pytestmark = BUILDAH_MARKS

@pytest.fixture(scope="module")
def cp(platform, admin):
    return World(platform, admin)


@pytest.fixture(scope="module")
def image(cp) -> str:
    return build_from_scratch(cp, "dbg", "dbg", ROOTFS)


def debug(cp, role, **fields) -> requests.Response:
    return cp.call(role, "POST", "/images/debug-runs", {"project": cp.project, **fields})


def test_a_command_runs_in_the_image_as_the_users_account(cp, image):
    r = debug(cp, "dev", image=image, command=["/bin/sh", "-c", "cat /proc/self/status; echo out-$((1+2)); echo x > /made-here; echo rc=$?"])
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain"), r.text
    text = r.text
    account = cp.platform.unix_account(cp.name("dev"))
    assert f"Uid:\t{account.pw_uid}\t" in text and f"Gid:\t{account.pw_gid}\t" in text, text
    # not the image's root: the user may not write into its root folder
    assert "out-3" in text and "rc=2" in text and "Permission denied" in text
    assert text.rstrip().endswith("[cubelab] exited with code 0")
    assert storage_containers(cp) == "", "the working container is removed"


def test_output_streams_while_it_runs_and_the_timeout_stops_it(cp, image):
    started = time.monotonic()
    seen, first_at = b"", None
    with requests.post(f"{cp.url}/images/debug-runs", headers=cp.headers("creator"), stream=True, timeout=60,
                       json={"project": cp.project, "image": image, "command": ["sh", "-c", "echo first-line; sleep 30"],
                             "timeout": "4s"}) as r:
        assert r.status_code == 200
        for chunk in r.iter_content(chunk_size=None):
            seen += chunk
            if first_at is None and b"first-line" in seen:
                first_at = time.monotonic() - started
    elapsed = time.monotonic() - started
    assert first_at is not None and first_at < elapsed - 2, (first_at, elapsed)
    assert seen.decode().rstrip().endswith("[cubelab] stopped after the timeout of 4s") and elapsed < 20
    assert storage_containers(cp) == ""


def test_the_exit_code_of_a_failing_command_is_said(cp, image):
    r = debug(cp, "dev", image=image, command=["sh", "-c", "exit 3"])
    assert r.status_code == 200 and r.text.rstrip().endswith("[cubelab] exited with code 3"), r.text


def test_bad_requests_name_the_field_and_who_may(cp, image):
    r = debug(cp, "dev", image="docker.io/library/debian:12", command=["sh"])
    assert r.status_code == 400 and r.json()["field"] == "image", r.text
    r = debug(cp, "dev", image=image.replace("dbg:1", "missing:1"), command=["sh"])
    assert r.status_code == 400 and r.json()["field"] == "image" and "build storage" in r.json()["message"], r.text
    r = debug(cp, "dev", image=image, command="sh -c id")
    assert r.status_code == 400 and r.json()["field"] == "command", r.text
    r = debug(cp, "dev", image=image, command=["sh"], timeout="2h")
    assert r.status_code == 400 and r.json()["field"] == "timeout", r.text
    assert debug(cp, "ops", image=image, command=["sh"]).status_code == 403
    assert debug(cp, "outsider", image=image, command=["sh"]).status_code == 404
    assert debug(cp, None, image=image, command=["sh"]).status_code in (401, 403)


def test_a_client_that_goes_away_stops_a_silent_command(cp, image):
    with requests.post(f"{cp.url}/images/debug-runs", headers=cp.headers("creator"), stream=True, timeout=60,
                       json={"project": cp.project, "image": image, "command": ["sh", "-c", "echo going-quiet; sleep 45"],
                             "timeout": "60s"}) as r:
        seen = b""
        for chunk in r.iter_content(chunk_size=None):
            seen += chunk
            if b"going-quiet" in seen:
                break
    # the connection is closed while the command says nothing: it is stopped and its container removed at once
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        left = [p for p in psutil.process_iter(["cmdline"]) if "sleep 45" in " ".join(p.info["cmdline"] or [])]
        if not left and storage_containers(cp) == "":
            break
        time.sleep(0.3)
    assert not left and storage_containers(cp) == "", left
