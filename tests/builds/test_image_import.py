"""Importing an image from an OCI or docker archive (admins only), through the
REST API of a real CubeLab with the real buildah, as root: the archive is made
here by buildah (``FROM scratch`` + ``COPY``), imported into a project's
repository of the local registry, used by a build's ``FROM``, and offered
when a ``FROM`` cannot be reached."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from pipelines.cp import World
from registries.oci_client import Client, wait_for
from support.builds import BUILDAH_MARKS, start_build, wait_build

pytestmark = BUILDAH_MARKS


@pytest.fixture(scope="module")
def cp(platform, admin):
    return World(platform, admin)


@pytest.fixture(scope="module")
def registry(platform) -> str:
    base = f"http://127.0.0.1:{platform.registry_port}"
    wait_for(base)
    return base


def admin_workspace(cp) -> Path:
    return cp.platform.data_dir / "workspaces" / cp.name("admin")


@pytest.fixture(scope="module")
def archives(cp, tmp_path_factory) -> dict[str, str]:
    """An OCI archive and a docker archive of one small image, in the admin's workspace."""
    tmp = tmp_path_factory.mktemp("archive")
    store = ["buildah", "--root", str(tmp / "root"), "--runroot", str(tmp / "run"), "--storage-driver", "vfs"]
    (tmp / "ctx").mkdir()
    (tmp / "ctx" / "imported.txt").write_text("made by the archive test\n")
    (tmp / "Dockerfile").write_text("FROM scratch\nCOPY imported.txt /imported.txt\n")
    subprocess.run([*store, "bud", "--isolation", "chroot", "-t", "localhost/archived:1", "-f", str(tmp / "Dockerfile"), str(tmp / "ctx")],
                   check=True, capture_output=True, timeout=300)
    folder = admin_workspace(cp) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([*store, "push", "localhost/archived:1", f"oci-archive:{folder / 'base.oci.tar'}"], check=True, capture_output=True,
                   timeout=300)
    subprocess.run([*store, "push", "localhost/archived:1", f"docker-archive:{folder / 'base.docker.tar'}:archived:1"], check=True,
                   capture_output=True, timeout=300)
    (folder / "notes.txt").write_text("not an archive\n")
    shutil.rmtree(tmp, ignore_errors=True)
    return {"oci": "imports/base.oci.tar", "docker": "imports/base.docker.tar", "text": "imports/notes.txt"}


def log_of(cp, build_id) -> str:
    return cp.call("creator", "GET", f"/builds/{build_id}/logs").text


def import_(cp, role="admin", **fields):
    return cp.call(role, "POST", "/images/import", {"project": cp.project, "image": "imported", **fields})


def test_an_admin_imports_an_oci_archive_into_the_local_registry(cp, archives, registry):
    r = import_(cp, path=archives["oci"], tag="v1")
    assert r.status_code == 201, r.text
    done = r.json()
    host = f"127.0.0.1:{cp.platform.registry_port}"
    assert done["reference"] == f"{host}/{cp.project}/imported:v1" and done["format"] == "oci-archive"
    assert done["digest"].startswith("sha256:") and done["size"] > 0 and done["creator"] == cp.name("admin")
    # members pull it with their own token, as they pull built images
    pulled = Client(registry, (cp.name("dev"), cp.token("dev"))).pull_manifest(f"{cp.project}/imported", "v1")
    assert pulled.status_code == 200 and pulled.headers["Docker-Content-Digest"] == done["digest"], pulled.text
    listed = cp.call("admin", "GET", "/images/imports?limit=1")
    assert listed.status_code == 200 and listed.json()["imports"][0]["id"] == done["id"]


def test_a_docker_archive_is_found_from_its_contents(cp, archives):
    r = import_(cp, path=archives["docker"], tag="from-docker")
    assert r.status_code == 201, r.text
    assert r.json()["format"] == "docker-archive"


def test_builds_use_an_imported_image_and_an_unreachable_from_offers_it(cp, archives):
    imported = import_(cp, path=archives["oci"], tag="base").json()["reference"]
    used = wait_build(cp, start_build(cp, image="on-imported", dockerfile=f"FROM {imported}\nCOPY --from={imported} /imported.txt /again.txt\n"
                                                             "LABEL from=imported\n")["id"])
    assert used["status"] == "succeeded", (used, log_of(cp, used["id"]))
    failed = wait_build(cp, start_build(cp, image="remote", dockerfile="FROM debian:12\nLABEL x=1\n")["id"])
    assert failed["status"] == "failed"
    assert "an image an admin imported from an OCI archive: " in failed["message"] and imported in failed["message"], failed["message"]


def test_only_admins_import_and_list_imports(cp, archives):
    for role in ("creator", "dev", "outsider"):
        assert import_(cp, role, path=archives["oci"]).status_code == 403
        assert cp.call(role, "GET", "/images/imports").status_code == 403
    assert import_(cp, None, path=archives["oci"]).status_code in (401, 403)


@pytest.mark.parametrize(("fields", "field", "words"), [
    ({"path": "../other/x.tar"}, "path", "relative path inside your workspace"),
    ({"path": "imports/missing.tar"}, "path", "is not a file"),
    ({"path": "imports/notes.txt"}, "path", "is not a tar archive"),
    ({"path": "imports/base.oci.tar", "format": "docker-archive"}, "format", "is a oci-archive"),
    ({"path": "imports/base.oci.tar", "image": "Bad Name"}, "image", "is not a repository name"),
    ({"path": "imports/base.oci.tar", "tag": "-x"}, "tag", "is not a tag"),
])
def test_bad_imports_name_the_field(cp, archives, fields, field, words):
    r = import_(cp, **fields)
    assert r.status_code == 400, r.text
    errors = r.json().get("errors") or [r.json()]
    assert any(e["field"] == field and words in e["message"] for e in errors), r.text


def test_a_link_out_of_the_workspace_is_refused(cp, archives):
    link = admin_workspace(cp) / "imports" / "outside.tar"
    if not link.is_symlink():
        link.symlink_to("/etc/hostname")
    r = import_(cp, path="imports/outside.tar")
    assert r.status_code == 400 and r.json()["field"] == "path" and "out of your workspace" in r.json()["message"], r.text


def test_an_import_into_a_missing_project_is_404(cp, archives):
    r = cp.call("admin", "POST", "/images/import", {"project": "no-such-project", "image": "x", "path": archives["oci"]})
    assert r.status_code == 404, r.text
