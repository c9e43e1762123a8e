"""Imported images in the browser, on a real platform as root with the real
buildah and the local registry: an admin imports an archive made here through
the Lab ("Import as image…" on the file browser's tar file; a wrong path is
named next to its field) and finds it in the Images section; a member picks an
imported image for a container template's task in the pipeline editor, saves,
and the pipeline's task has it; the experiment form's trial section offers it
likewise."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect
from support.platform import IS_ROOT, User, register
from ui.lab import log_in, open_cubelab_panel, use_checkout_labextension

from cubelab_hub.registry.config import find_registry

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not IS_ROOT, reason="buildah (vfs storage, chroot isolation) runs as root"),
              pytest.mark.skipif(shutil.which("buildah") is None, reason="needs buildah (Debian package 'buildah')"),
              pytest.mark.skipif(find_registry() is None, reason="needs docker-registry (Debian package)")]

ARCHIVE = "lab-import.oci.tar"


def fresh(prefix: str) -> str:
    return f"{prefix}{int(time.time() * 1000) % 10_000_000}"


def give_to_owner(path: Path, workspace: Path) -> None:
    owner = workspace.stat()
    os.chown(path, owner.st_uid, owner.st_gid)


@pytest.fixture(scope="module")
def world(platform, admin, tmp_path_factory):
    """A project the admin made with one member, and an OCI archive of a small
    image (``FROM scratch`` + ``COPY``) at the top of the admin's workspace."""
    project = fresh("impui")
    member = register(platform, fresh("impmember"))
    assert admin.api("POST", "/projects", json={"name": project}).status_code == 201
    added = admin.api("POST", f"/projects/{project}/members", json={"name": member.name, "role": "dev"})
    assert added.status_code == 201, added.text

    tmp = tmp_path_factory.mktemp("lab-archive")
    store = ["buildah", "--root", str(tmp / "root"), "--runroot", str(tmp / "run"), "--storage-driver", "vfs"]
    (tmp / "ctx").mkdir()
    (tmp / "ctx" / "imported.txt").write_text("imported through the Lab\n")
    (tmp / "Dockerfile").write_text("FROM scratch\nCOPY imported.txt /imported.txt\n")
    subprocess.run([*store, "bud", "--isolation", "chroot", "-t", "localhost/labarchive:1", "-f", str(tmp / "Dockerfile"),
                    str(tmp / "ctx")], check=True, capture_output=True, timeout=300)
    workspace = platform.data_dir / "workspaces" / platform.admin
    workspace.mkdir(parents=True, exist_ok=True)
    archive = workspace / ARCHIVE
    archive.unlink(missing_ok=True)
    subprocess.run([*store, "push", "localhost/labarchive:1", f"oci-archive:{archive}"], check=True, capture_output=True, timeout=300)
    give_to_owner(archive, workspace)
    shutil.rmtree(tmp, ignore_errors=True)
    return {"project": project, "member": member, "registry": f"127.0.0.1:{platform.registry_port}"}


def test_admin_imports_an_archive_through_the_lab_and_sees_it_in_the_images_list(platform, admin, world, page):
    project, registry = world["project"], world["registry"]
    reference = f"{registry}/{project}/lab-import:v1"
    workspace = platform.data_dir / "workspaces" / platform.admin
    log_in(page, platform.url, platform.admin, platform.admin_password)
    use_checkout_labextension(page, workspace)

    # the file browser's tar file: "Import as image…" opens the form with its path and a name from it
    page.click('.jp-SideBar [data-id="filebrowser"]')
    item = page.locator(f'.jp-DirListing-item[data-isdir="false"][title^="Name: {ARCHIVE}"]')
    expect(item).to_be_visible(timeout=30_000)
    item.click()
    item.click(button="right")
    page.locator('.lm-Menu-item:has-text("Import as image…")').click()
    form = page.locator('[data-testid="cubelab-import-form"]')
    expect(form).to_be_visible(timeout=30_000)
    expect(page.locator('[data-testid="cubelab-import-path"]')).to_have_value(ARCHIVE)
    expect(page.locator('[data-testid="cubelab-import-image"]')).to_have_value("lab-import")

    # a path that is no file of the workspace: the API's message next to the path, nothing imported
    page.fill('[data-testid="cubelab-import-path"]', "no-such.tar")
    page.fill('[data-testid="cubelab-import-project"]', project)
    page.fill('[data-testid="cubelab-import-tag"]', "v1")
    page.click('[data-testid="cubelab-import-submit"]')
    expect(form.locator('[data-testid="cubelab-field-error-path"]')).to_contain_text("no-such.tar", timeout=30_000)
    expect(form.locator('[data-testid="cubelab-field-error-path"]')).to_contain_text("accepted")
    assert not [i for i in admin.api("GET", "/images/imports?limit=50").json()["imports"] if i["project"] == project]

    # the file browser's selection again, then the import: progress while it waits, then the result
    page.click('[data-testid="cubelab-import-use-selected"]')
    expect(page.locator('[data-testid="cubelab-import-path"]')).to_have_value(ARCHIVE)
    page.click('[data-testid="cubelab-import-submit"]')
    expect(form.locator('[data-testid="cubelab-import-busy"]')).to_contain_text(f"Importing {ARCHIVE}")
    result = form.locator('[data-testid="cubelab-import-result"]')
    expect(result).to_have_attribute("data-reference", reference, timeout=180_000)
    expect(result).to_contain_text("sha256:")
    expect(form.locator('[data-testid="cubelab-field-error-path"]')).to_have_count(0)

    # the Images section: in the project's images with its tag, and in the list of imports
    open_cubelab_panel(page)
    images = page.locator('[data-testid="cubelab-images-list"]')
    images.scroll_into_view_if_needed()
    page.select_option('[data-testid="cubelab-images-project"]', project)
    expect(images.locator(f'li[data-repository="{project}/lab-import"] [data-tag="v1"]')).to_be_visible(timeout=30_000)
    imports = page.locator('[data-testid="cubelab-import-list"]')
    expect(imports.locator(f'li[data-reference="{reference}"]')).to_contain_text(f"{ARCHIVE} (oci-archive)", timeout=30_000)
    assert not [e for e in page.console_errors if "cubelab" in e.lower()], page.console_errors


def import_by_api(admin: User, project: str, tag: str) -> str:
    r = admin.api("POST", "/images/import", json={"path": ARCHIVE, "project": project, "image": "picked", "tag": tag})
    assert r.status_code == 201, r.text
    return r.json()["reference"]


def container_template(admin: User) -> str:
    name = fresh("imgtask")
    body = {"name": name, "kind": "container", "category": "imported-images", "image": "busybox:1.36",
            "command": ["sh", "-c", "cat /imported.txt"], "description": "runs an image of the project"}
    r = admin.api("POST", "/templates", json=body)
    assert r.status_code == 201, r.text
    return name


def pick(page, field, text: str, reference: str) -> None:
    """Type part of the name, then choose the offered reference."""
    field.fill(text)
    option = page.locator(f'[data-testid="cubelab-arg-images-option"][data-reference="{reference}"]')
    expect(option).to_be_visible(timeout=30_000)
    option.click()  # the row, as a person would (the picker's stylesheet makes its button fill it)
    expect(field).to_have_value(reference)


def test_member_picks_an_imported_image_in_the_pipeline_editor_and_the_experiment_form(platform, admin, world, page):
    project, member = world["project"], world["member"]
    reference = import_by_api(admin, project, "pick1")
    template = container_template(admin)
    log_in(page, platform.url, member.name, member.password)
    use_checkout_labextension(page, platform.data_dir / "workspaces" / member.name)
    open_cubelab_panel(page)

    # a pipeline of the project with the admin's container template as its task
    page.click('[data-testid="cubelab-new-pipeline"]')
    page.fill('[data-testid="cubelab-create-pipeline-name"]', "picked-flow")
    page.select_option('[data-testid="cubelab-create-pipeline-project"]', project)
    page.click('[data-testid="cubelab-create-pipeline-submit"]')
    canvas = page.locator('[data-testid="cubelab-canvas"]')
    expect(canvas).to_be_visible(timeout=30_000)
    page.fill('[data-testid="cubelab-palette-search"]', template)
    tile = page.locator(f'[data-testid="cubelab-palette"] [data-template="{template}"]').first
    expect(tile).to_be_visible(timeout=30_000)
    box = canvas.bounding_box()
    tile.drag_to(canvas, target_position={"x": box["width"] * 0.4, "y": box["height"] * 0.4})
    node = page.locator('[data-testid="cubelab-task-node"]')
    expect(node).to_have_count(1)
    task = node.get_attribute("data-task")
    node.locator(".cl-TaskNode-title").click()
    props = page.locator(f'[data-testid="cubelab-task-properties"][data-task="{task}"]')
    expect(props).to_be_visible()

    # its Image field offers the project's imported image; choosing it fills the reference
    pick(page, props.locator('[data-testid="cubelab-arg-images"]'), "pick", reference)
    canvas.click(position={"x": 10, "y": 10})
    page.keyboard.press("Control+s")
    expect(page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.jp-mod-dirty")).to_have_count(0, timeout=15_000)

    def saved_images():
        pipelines = member.api("GET", f"/pipelines?project={project}").json()["pipelines"]
        found = next((p for p in pipelines if p["name"] == "picked-flow"), None)
        if found is None:
            return None
        tasks = member.api("GET", f"/pipelines/{found['id']}").json()["tasks"]
        return [(t["template"], t.get("args", {}).get("images")) for t in tasks]

    deadline = time.monotonic() + 30
    while saved_images() != [(template, reference)] and time.monotonic() < deadline:
        time.sleep(0.3)
    assert saved_images() == [(template, reference)]

    # the experiment form's trial section: the same template offers the same images
    open_cubelab_panel(page)
    section = page.locator('[data-testid="cubelab-section-experiments"]')
    section.scroll_into_view_if_needed()
    page.click('[data-testid="cubelab-new-experiment"]')
    form = page.locator('[data-testid="cubelab-experiment-form"]')
    expect(form).to_be_visible(timeout=30_000)
    page.select_option('[data-testid="cubelab-experiment-project"]', project)
    form.locator('[data-testid="cubelab-experiment-source-template"]').check()
    page.select_option('[data-testid="cubelab-experiment-template"]', f"{template}@Release")
    pick(page, form.locator('[data-testid="cubelab-arg-images"]'), "picked", reference)
