"""The images REST resource on the real platform: the local registry's images
of a project, 404 for outsiders before anything is read, deleting, and the
"save as image" Dockerfile."""

from __future__ import annotations

import os

import pytest
from support.platform import register

from cubelab_hub.registry.config import find_registry

from .oci_client import Client, wait_for

pytestmark = [pytest.mark.hub,
              pytest.mark.skipif(find_registry() is None, reason="docker-registry is not installed (apt-get install docker-registry)")]


@pytest.fixture(scope="module")
def team(platform):
    wait_for(f"http://127.0.0.1:{platform.registry_port}")
    member, outsider = register(platform, f"imgm{os.getpid() % 1000}"), register(platform, f"imgo{os.getpid() % 1000}")
    project = f"imgs-{member.name}"
    assert member.api("POST", "/projects", json={"name": project}).status_code == 201
    return member, outsider, project


def test_members_list_and_delete_images_outsiders_get_404(platform, team):
    member, outsider, project = team
    registry = f"127.0.0.1:{platform.registry_port}"
    pushed = Client(f"http://{registry}", (member.name, member.token)).push_image(f"{project}/app", "v1", b"rest layer")
    assert pushed.status_code == 201, pushed.text

    page = member.api("GET", f"/images?project={project}")
    assert page.status_code == 200, page.text
    (image,) = page.json()["images"]
    (tag,) = image["tags"]
    assert (image["image"], tag["tag"], tag["reference"]) == ("app", "v1", f"{registry}/{project}/app:v1")
    assert tag["digest"].startswith("sha256:") and tag["size"] > 0 and page.json()["next_cursor"] is None

    # the picker's search as you type: by image name, any case; a cursor only continues its own search
    assert [i["image"] for i in member.api("GET", f"/images?project={project}&q=AP").json()["images"]] == ["app"]
    assert member.api("GET", f"/images?project={project}&q=zzz").json() == {"images": [], "next_cursor": None}

    for method, path in (("GET", f"/images?project={project}&cursor=bad"), ("DELETE", f"/images/{project}/app/v1?force=maybe")):
        answer = outsider.api(method, path)
        assert answer.status_code == 404 and answer.json()["field"] == "project", answer.text
    missing = member.api("GET", "/images")
    assert missing.status_code == 400 and missing.json()["field"] == "project"
    assert member.api("DELETE", f"/images/{project}/app/nope").status_code == 404

    deleted = member.api("DELETE", f"/images/{project}/app/v1")
    assert deleted.status_code == 200 and deleted.json()["deleted_tags"] == ["v1"], deleted.text
    assert member.api("GET", f"/images?project={project}").json()["images"] == [{"project": project, "image": "app",
                                                                                  "repository": f"{project}/app", "tags": []}]


def test_dockerfile_from_environment(platform, team):
    member, _, _ = team
    answer = member.api("POST", "/images/dockerfile-from-environment",
                        json={"base": "python:3.11-slim", "pip_before": "six==1.16.0\n", "pip_after": "six==1.16.0\nrich==13.7.1\n"})
    assert answer.status_code == 200, answer.text
    assert "FROM python:3.11-slim\n" in answer.json()["dockerfile"]
    assert "RUN pip install --no-cache-dir rich==13.7.1\n" in answer.json()["dockerfile"]
    assert answer.json()["changes"]["pip"]["added"] == ["rich==13.7.1"]
    bad = member.api("POST", "/images/dockerfile-from-environment", json={"base": "python:3.11", "pip_before": "", "pip_after": "not a line!"})
    assert bad.status_code == 400 and bad.json()["field"] == "pip_after" and "pip freeze" in bad.json()["message"]
