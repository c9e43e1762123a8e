"""Archive imports and debug commands: what is accepted, and the buildah command lines (pure)."""

from __future__ import annotations

import pytest

from cubelab_hub.domain.access import Actor, allowed
from cubelab_hub.domain.builds import BuildahPaths
from cubelab_hub.domain.errors import FieldErrors
from cubelab_hub.domain.image_debug import buildah_from_argv, buildah_run_argv, debug_request_from_dict
from cubelab_hub.domain.image_imports import archive_format, buildah_pull_archive_argv, import_request_from_dict

PATHS = BuildahPaths(root="/s/root", runroot="/s/run", dockerfile="/w/Dockerfile", context="", iidfile="/w/iid")
STORAGE = ["buildah", "--root", "/s/root", "--runroot", "/s/run", "--storage-driver", "vfs"]
REGISTRY = "127.0.0.1:5000"


def fields(exc: FieldErrors) -> set[str]:
    return {e.field for e in exc.errors}


def test_an_import_request_is_checked_field_by_field():
    request = import_request_from_dict({"path": "images/base.oci.tar", "project": "ml", "image": "py", "tag": "3.11"})
    assert request.reference(REGISTRY) == "127.0.0.1:5000/ml/py:3.11" and request.format is None
    assert import_request_from_dict({"path": "a.tar", "project": "ml", "image": "py"}).tag == "latest"
    with pytest.raises(FieldErrors) as bad:
        import_request_from_dict({"path": "../x.tar", "project": "Bad Project", "image": "Py", "tag": "-x", "format": "zip", "extra": 1})
    assert fields(bad.value) == {"path", "project", "image", "tag", "format", "extra"}
    for path in ("/etc/x.tar", "a:b.tar", "", "a/../../b"):
        with pytest.raises(FieldErrors) as bad:
            import_request_from_dict({"path": path, "project": "ml", "image": "py"})
        assert fields(bad.value) == {"path"}, path


def test_the_archive_format_comes_from_its_members():
    assert archive_format(["oci-layout", "index.json", "blobs/sha256/ab"]) == "oci-archive"
    assert archive_format(["./oci-layout", "./index.json"]) == "oci-archive"
    assert archive_format(["manifest.json", "abc.tar", "repositories"]) == "docker-archive"
    assert archive_format(["hello.txt"]) is None


def test_the_pull_names_the_transport_and_the_file_as_one_item():
    assert buildah_pull_archive_argv("buildah", PATHS, "oci-archive", "/ws/a b.tar") == [
        *STORAGE, "pull", "--quiet", "oci-archive:/ws/a b.tar"]
    with pytest.raises(ValueError):
        buildah_pull_archive_argv("buildah", PATHS, "docker", "/ws/a.tar")


def test_a_debug_command_is_an_argv_list_in_an_image_of_the_project():
    request = debug_request_from_dict({"project": "ml", "image": "127.0.0.1:5000/ml/trainer", "command": ["sh", "-c", "echo $HOME; id"]},
                                      REGISTRY)
    assert request.image == "127.0.0.1:5000/ml/trainer:latest" and request.timeout == 60
    # localhost is the same loopback registry
    assert debug_request_from_dict({"project": "ml", "image": "localhost:5000/ml/t:1", "command": ["true"]}, REGISTRY).image
    assert buildah_from_argv("buildah", PATHS, request.image, "debug-1") == [
        *STORAGE, "from", "--pull=never", "--quiet", "--name", "debug-1", "127.0.0.1:5000/ml/trainer:latest"]
    # the user's text stays argv items after '--': no host shell reads it
    assert buildah_run_argv("buildah", PATHS, "debug-1", 1001, 1001, request.command) == [
        *STORAGE, "run", "--isolation", "chroot", "--user", "1001:1001", "debug-1", "--", "sh", "-c", "echo $HOME; id"]
    assert "--user" not in buildah_run_argv("buildah", PATHS, "debug-1", None, None, ("true",))


@pytest.mark.parametrize(("body", "field"), [
    ({"image": "docker.io/library/debian:12", "command": ["sh"]}, "image"),
    ({"image": "127.0.0.1:5000/other/t:1", "command": ["sh"]}, "image"),
    ({"image": "127.0.0.1:5000/ml/t@sha256:" + "a" * 64, "command": ["sh"]}, "image"),
    ({"image": "127.0.0.1:5000/ml/t:1", "command": "sh -c id"}, "command"),
    ({"image": "127.0.0.1:5000/ml/t:1", "command": []}, "command"),
    ({"image": "127.0.0.1:5000/ml/t:1", "command": ["sh", "a\x00b"]}, "command"),
    ({"image": "127.0.0.1:5000/ml/t:1", "command": ["sh"], "timeout": "2h"}, "timeout"),
    ({"image": "127.0.0.1:5000/ml/t:1", "command": ["sh"], "memory": "lots"}, "memory"),
])
def test_bad_debug_requests_name_the_field(body, field):
    with pytest.raises(FieldErrors) as bad:
        debug_request_from_dict({"project": "ml", **body}, REGISTRY)
    assert fields(bad.value) == {field}


def test_who_may_import_and_debug():
    dev, ops, admin = Actor("d", projects={"ml": "dev"}), Actor("o", projects={"ml": "ops"}), Actor("a", admin=True)
    assert allowed(dev, "image:debug", "ml") and not allowed(ops, "image:debug", "ml")
    assert not allowed(dev, "image:import") and allowed(admin, "image:import")
