"""Images everywhere, driven as a person would, on a real platform as root with
the real buildah and the local registry: an image built in a project is offered
in the service form as you type (repository:tag with its short digest), pinned
by digest or chosen by tag, and saved; deleting it in the Images section is
refused as in use, the dialog names the service, and "Delete anyway" deletes it."""

from __future__ import annotations

import shutil
import time

import pytest
from playwright.sync_api import expect
from support.platform import IS_ROOT, User
from ui.lab import log_in, open_cubelab_panel, use_checkout_labextension

from cubelab_hub.registry.config import find_registry

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not IS_ROOT, reason="buildah builds (vfs storage, chroot isolation) run as root"),
              pytest.mark.skipif(shutil.which("buildah") is None, reason="needs buildah (Debian package 'buildah')"),
              pytest.mark.skipif(find_registry() is None, reason="needs docker-registry (Debian package)")]


def build_image(user: User, project: str, workspace, image: str) -> dict:
    folder = workspace / "pick"
    folder.mkdir(exist_ok=True)
    (folder / "hello.txt").write_text("picked in the Lab\n")
    started = user.api("POST", "/builds", json={"project": project, "image": image, "tags": ["v1"], "context": "pick",
                                               "dockerfile": "FROM scratch\nCOPY hello.txt /\n"})
    assert started.status_code == 201, started.text
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        build = user.api("GET", f"/builds/{started.json()['id']}").json()
        if build["status"] in ("succeeded", "failed", "cancelled"):
            assert build["status"] == "succeeded", build
            return build
        time.sleep(0.5)
    raise TimeoutError("the build did not finish in 180 s")


def test_pick_a_built_image_in_the_service_form_then_delete_it_after_being_asked(platform, page):
    name, password, project = "pickui", "pickui-password", "pickui-proj"
    log_in(page, platform.url, name, password)
    user = User(platform, name, password)
    assert user.login().status_code == 302
    user.create_token()
    assert user.api("POST", "/projects", json={"name": project}).status_code == 201
    workspace = platform.data_dir / "workspaces" / name
    digest = build_image(user, project, workspace, "picked")["digest"]
    registry = f"127.0.0.1:{platform.registry_port}"
    reference = f"{registry}/{project}/picked:v1"

    use_checkout_labextension(page, workspace)
    open_cubelab_panel(page)
    section = page.locator('[data-testid="cubelab-section-services"]')
    expect(section).to_be_visible(timeout=30_000)
    section.scroll_into_view_if_needed()
    page.click('[data-testid="cubelab-new-service"]')
    form = page.locator('[data-testid="cubelab-service-form"]')
    expect(form).to_be_visible(timeout=30_000)
    page.select_option('[data-testid="cubelab-service-project"]', project)
    page.fill('[data-testid="cubelab-service-name"]', "picked-web")

    # typing part of the name offers the project's image with its tag and short digest
    field = page.locator('[data-testid="cubelab-service-image"]')
    field.fill("pick")
    option = page.locator(f'[data-testid="cubelab-service-image-option"][data-reference="{reference}"]')
    expect(option).to_contain_text(f"{project}/picked:v1", timeout=30_000)
    expect(option).to_contain_text(digest[:len("sha256:") + 12])
    # pinning fills the reference by digest
    option.locator('[data-testid="cubelab-service-image-pin"]').click()
    expect(field).to_have_value(f"{registry}/{project}/picked@{digest}")
    expect(page.locator('[data-testid="cubelab-service-image-pinned"]')).to_be_visible()
    # free text is kept as typed; choosing by the keyboard fills the tag's reference
    field.fill("picked:v")
    expect(option).to_be_visible(timeout=30_000)
    field.press("ArrowDown")
    field.press("Enter")
    expect(field).to_have_value(reference)
    expect(page.locator('[data-testid="cubelab-service-diagnostics-count"]')).to_have_text("no errors", timeout=15_000)
    page.click('[data-testid="cubelab-service-create"]')

    def saved_image():
        services = user.api("GET", f"/services?project={project}").json()["services"]
        return next((s["image"] for s in services if s["name"] == "picked-web"), None)

    deadline = time.monotonic() + 30
    while saved_image() is None and time.monotonic() < deadline:
        time.sleep(0.3)
    assert saved_image() == reference

    # deleting it: asked once, then refused as in use, naming the service; cancel keeps it
    open_cubelab_panel(page)
    images = page.locator('[data-testid="cubelab-images-list"]')
    images.scroll_into_view_if_needed()
    page.select_option('[data-testid="cubelab-images-project"]', project)
    tag = images.locator(f'li[data-repository="{project}/picked"] [data-tag="v1"]')
    expect(tag).to_contain_text(digest[:len("sha256:") + 12], timeout=30_000)
    dialog = page.locator(".jp-Dialog")

    def delete_until_asked_about_users():
        tag.locator('[data-testid="cubelab-image-delete"]').click()
        dialog.get_by_role("button", name="Delete", exact=True).click()
        users = page.locator('[data-testid="cubelab-image-users"]')
        expect(users).to_contain_text("service picked-web", timeout=30_000)
        return users

    delete_until_asked_about_users()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    in_registry = lambda: [t for i in user.api("GET", f"/images?project={project}").json()["images"]  # noqa: E731
                           for t in i["tags"] if t["tag"] == "v1"][0]["in_registry"]
    assert in_registry()

    delete_until_asked_about_users()
    dialog.get_by_role("button", name="Delete anyway").click()
    expect(page.locator('[data-testid="cubelab-images-message"]')).to_contain_text(f"Deleted {project}/picked: v1", timeout=30_000)
    assert not in_registry()  # the build's record stays; the registry no longer holds it
