"""Images in JupyterLab, driven as a person would, on a real platform as root
with the real buildah: a Dockerfile in the workspace, "Build image" from the
file browser's context menu opens the form prefilled with its path and folder,
the build starts, its log lines arrive in the build's tab and it succeeds with
a digest and a size; the Images section lists it.  A registry added in the
panel keeps its password write-only: the field stays empty and says "set".
"Save environment as image…" shows the generated Dockerfile for review and
editing, then starts the build with the edited text."""

from __future__ import annotations

import re
import shutil
import subprocess
import time

import pytest
from playwright.sync_api import expect
from support.environments import make_wheel, pip_install_from, wait_for_before, workspace_venv_kernel
from support.platform import IS_ROOT, User
from ui.lab import log_in, open_cubelab_panel, use_checkout_labextension

pytestmark = pytest.mark.browser


@pytest.mark.skipif(not IS_ROOT, reason="buildah builds (vfs storage, chroot isolation) run as root")
@pytest.mark.skipif(shutil.which("buildah") is None, reason="needs buildah (Debian package 'buildah')")
def test_build_image_from_a_dockerfile_with_a_live_log(platform, page):
    name = "imgui"
    log_in(page, platform.url, name, "imgui-password")
    workspace = platform.data_dir / "workspaces" / name
    folder = workspace / "hello"
    folder.mkdir(exist_ok=True)
    (folder / "hello.txt").write_text("hello from the Lab\n")
    (folder / "Dockerfile").write_text("FROM scratch\nCOPY hello.txt /\n")
    use_checkout_labextension(page, workspace)
    open_cubelab_panel(page)
    expect(page.locator('[data-testid="cubelab-section-images"]')).to_be_visible(timeout=30_000)

    page.click('.jp-SideBar [data-id="filebrowser"]')
    page.locator('.jp-DirListing-item[title*="hello"]').first.dblclick()
    item = page.locator('.jp-DirListing-item[data-isdir="false"][title*="Dockerfile"]')
    expect(item).to_be_visible(timeout=30_000)
    item.click(button="right")
    page.locator('.lm-Menu-item:has-text("Build image")').click()

    form = page.locator('[data-testid="cubelab-build-form"]')
    expect(form).to_be_visible(timeout=30_000)
    expect(form.locator('[data-testid="cubelab-build-dockerfile_path"]')).to_have_value("hello/Dockerfile")
    expect(form.locator('[data-testid="cubelab-build-context"]')).to_have_value("hello")
    expect(form.locator('[data-testid="cubelab-build-image"]')).to_have_value("hello")
    page.select_option('[data-testid="cubelab-build-project"]', "public")
    # a wrong field is named by the server, with the accepted forms; nothing starts
    page.fill('[data-testid="cubelab-build-tags"]', "-bad")
    form.locator('[data-testid="cubelab-build-start"]').click()
    expect(form.locator('[data-testid="cubelab-field-error-tags"]')).to_contain_text("accepted", timeout=15_000)
    page.fill('[data-testid="cubelab-build-tags"]', "v1 latest")
    form.locator('[data-testid="cubelab-build-start"]').click()

    view = page.locator('[data-testid="cubelab-build-view"]')
    expect(view).to_be_visible(timeout=30_000)
    log = view.locator('[data-testid="cubelab-build-log"] pre')
    # buildah's own lines, streamed while it builds
    expect(log).to_contain_text("COPY hello.txt /", timeout=120_000)
    expect(view).to_have_attribute("data-status", "succeeded", timeout=120_000)
    expect(view.locator('[data-testid="cubelab-build-log"]')).to_have_attribute("data-following", "false", timeout=30_000)
    expect(view.locator('[data-testid="cubelab-build-digest"]')).to_contain_text("sha256:")
    expect(view.locator('[data-testid="cubelab-build-size"]')).to_contain_text("B")
    expect(view.locator('[data-testid="cubelab-build-references"]')).to_contain_text("/public/hello:v1")
    expect(view.locator('[data-testid="cubelab-build-cancel"]')).to_have_count(0)

    # the section lists it with its status
    open_cubelab_panel(page)
    row = page.locator('[data-testid="cubelab-build-list"] li[data-image="hello"]').first
    expect(row).to_have_attribute("data-status", "succeeded", timeout=30_000)


def test_a_registry_password_is_write_only(platform, page):
    name, password = "regui", "regui-password"
    log_in(page, platform.url, name, password)
    user = User(platform, name, password)
    assert user.login().status_code == 302
    user.create_token()
    assert user.api("POST", "/projects", json={"name": "regui-proj"}).status_code == 201
    use_checkout_labextension(page, platform.data_dir / "workspaces" / name)
    open_cubelab_panel(page)
    section = page.locator('[data-testid="cubelab-section-images"]')
    expect(section).to_be_visible(timeout=30_000)
    section.locator('[data-testid="cubelab-new-registry"]').click()
    form = page.locator('[data-testid="cubelab-registry-form"]')
    expect(form).to_be_visible(timeout=30_000)
    page.select_option('[data-testid="cubelab-registry-project"]', "regui-proj")
    page.fill('[data-testid="cubelab-registry-name"]', "harbor")
    page.fill('[data-testid="cubelab-registry-host"]', "harbor.example.com")
    page.fill('[data-testid="cubelab-registry-username"]', "robot")
    expect(form.locator('[data-testid="cubelab-registry-password-state"]')).to_have_text("(not set)")
    page.fill('[data-testid="cubelab-registry-password"]', "s3cret-token")
    form.locator('[data-testid="cubelab-registry-save"]').click()

    row = page.locator('[data-testid="cubelab-registry-list"] li[data-registry="harbor"]')
    expect(row).to_be_visible(timeout=30_000)
    row.locator('[data-testid="cubelab-registry-open"]').click()
    form = page.locator('[data-testid="cubelab-registry-form"]')
    expect(form.locator('[data-testid="cubelab-registry-password"]')).to_have_value("")
    expect(form.locator('[data-testid="cubelab-registry-password-state"]')).to_have_text("(set)")
    assert "s3cret-token" not in page.content()


@pytest.mark.skipif(not IS_ROOT, reason="buildah builds (vfs storage, chroot isolation) run as root")
@pytest.mark.skipif(shutil.which("buildah") is None, reason="needs buildah (Debian package 'buildah')")
def test_save_environment_as_image_review_then_build(platform, page, tmp_path):
    """A package installed after the server started shows in the generated
    Dockerfile; the user names the base, edits the Dockerfile, and the build
    starts with the edited text, its log in the build's tab."""
    name = "saveui"
    workspace = platform.data_dir / "workspaces" / name
    python = workspace_venv_kernel(workspace)  # the user's default kernel: a virtualenv of their workspace
    log_in(page, platform.url, name, "saveui-password")
    wait_for_before(workspace)
    make_wheel(tmp_path / "wheels", "tinypkg", "1.2")
    pip_install_from(python, tmp_path / "wheels", "tinypkg==1.2")
    use_checkout_labextension(page, workspace)
    open_cubelab_panel(page)
    section = page.locator('[data-testid="cubelab-section-images"]')
    expect(section).to_be_visible(timeout=30_000)
    section.locator('[data-testid="cubelab-save-environment"]').click()

    form = page.locator('[data-testid="cubelab-save-image-form"]')
    expect(form).to_be_visible(timeout=30_000)
    # on this machine the server started from no image: the user names the base
    base = form.locator('[data-testid="cubelab-save-image-base"]')
    expect(base).to_have_value("", timeout=60_000)
    base.fill("scratch")
    form.locator('[data-testid="cubelab-save-image-generate"]').click()
    dockerfile = form.locator('[data-testid="cubelab-save-image-dockerfile"]')
    expect(dockerfile).to_have_value(re.compile(r"FROM scratch[\s\S]*RUN pip install --no-cache-dir tinypkg==1\.2"), timeout=60_000)
    expect(form.locator('[data-testid="cubelab-save-image-summary"]')).to_contain_text("pip: 1 added")
    # reviewed and edited: a line of the user's own goes in with the generated ones
    dockerfile.fill(dockerfile.input_value() + "LABEL reviewed-by=saveui\n")
    page.select_option('[data-testid="cubelab-save-image-project"]', "public")
    form.locator('[data-testid="cubelab-save-image-image"]').fill("saved-env")
    form.locator('[data-testid="cubelab-save-image-tag"]').fill("v1")
    form.locator('[data-testid="cubelab-save-image-build"]').click()

    view = page.locator('[data-testid="cubelab-build-view"]')
    expect(view).to_be_visible(timeout=30_000)
    expect(view.locator('[data-testid="cubelab-build-references"]')).to_contain_text("/public/saved-env:v1")
    # buildah's own lines stream in: the generated step is run (scratch has no pip, so it stops there)
    expect(view.locator('[data-testid="cubelab-build-log"] pre')).to_contain_text("RUN pip install --no-cache-dir tinypkg==1.2",
                                                                                   timeout=120_000)
    user = User(platform, name, "saveui-password")
    assert user.login().status_code == 302
    user.create_token()
    builds = user.api("GET", "/builds?project=public&q=saved-env").json()["builds"]
    assert builds and "LABEL reviewed-by=saveui" in builds[0]["dockerfile"], builds


ROOTFS = {"bin/sh": "/bin/dash", "bin/cat": "/usr/bin/cat", "bin/sleep": "/usr/bin/sleep",
          "lib/x86_64-linux-gnu/libc.so.6": "/lib/x86_64-linux-gnu/libc.so.6", "lib64/ld-linux-x86-64.so.2": "/lib64/ld-linux-x86-64.so.2"}


@pytest.mark.skipif(not IS_ROOT, reason="buildah builds (vfs storage, chroot isolation) run as root")
@pytest.mark.skipif(shutil.which("buildah") is None, reason="needs buildah (Debian package 'buildah')")
def test_a_command_runs_in_a_built_image_from_its_build_tab(platform, page):
    """A succeeded build's tab runs a typed command inside its image, as the
    user's account, and shows the output and how it ended."""
    name, password = "dbgui", "dbgui-password"
    log_in(page, platform.url, name, password)
    workspace = platform.data_dir / "workspaces" / name
    for target, source in ROOTFS.items():
        (workspace / "dbg" / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, workspace / "dbg" / target)
    (workspace / "dbg" / "hello.txt").write_text("hello from inside the image\n")
    user = User(platform, name, password)
    assert user.login().status_code == 302
    user.create_token()
    started = user.api("POST", "/builds", json={"project": "public", "image": "dbgui", "tags": ["1"], "context": "dbg",
                                                "dockerfile": "FROM scratch\nCOPY . /\n"})
    assert started.status_code == 201, started.text
    use_checkout_labextension(page, workspace)
    open_cubelab_panel(page)
    row = page.locator('[data-testid="cubelab-build-list"] li[data-image="dbgui"]').first
    expect(row).to_have_attribute("data-status", "succeeded", timeout=120_000)
    row.locator('[data-testid="cubelab-build-open"]').click()

    view = page.locator('[data-testid="cubelab-build-view"]')
    expect(view).to_have_attribute("data-status", "succeeded", timeout=30_000)
    debug = view.locator('[data-testid="cubelab-debug-run"]')
    debug.locator("summary").click()
    debug.locator('[data-testid="cubelab-debug-command"]').fill("cat /hello.txt; grep_is_missing; cat /proc/self/status")
    debug.locator('[data-testid="cubelab-debug-start"]').click()
    output = debug.locator('[data-testid="cubelab-debug-output"]')
    expect(output).to_have_attribute("data-running", "false", timeout=60_000)
    expect(output).to_contain_text("hello from inside the image")
    expect(output).to_contain_text(re.compile(rf"Uid:\s+{platform.unix_account(name).pw_uid}\s"))
    expect(output).to_have_attribute("data-exit-code", "0")


@pytest.mark.skipif(not IS_ROOT, reason="buildah builds (vfs storage, chroot isolation) run as root")
@pytest.mark.skipif(shutil.which("buildah") is None, reason="needs buildah (Debian package 'buildah')")
def test_a_shell_opens_in_a_built_image_and_runs_typed_commands(platform, page):
    """"Open a shell in this image" on a succeeded build's tab, and "shell" on the
    image's tag in the Images list: a tab with a shell inside the image, as the
    user's account; typed commands answer, the tab says how it ended, and closing
    the tab ends it (its container is removed)."""
    name, password = "shellui", "shellui-password"
    log_in(page, platform.url, name, password)
    workspace = platform.data_dir / "workspaces" / name
    files = {**ROOTFS, "bin/id": "/usr/bin/id", "bin/stty": "/usr/bin/stty"}
    for library in ("libselinux.so.1", "libpcre2-8.so.0"):
        files[f"lib/x86_64-linux-gnu/{library}"] = f"/lib/x86_64-linux-gnu/{library}"
    for target, source in files.items():
        (workspace / "sh" / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, workspace / "sh" / target)
    user = User(platform, name, password)
    assert user.login().status_code == 302
    user.create_token()
    started = user.api("POST", "/builds", json={"project": "public", "image": "shellui", "tags": ["1"], "context": "sh",
                                                "dockerfile": "FROM scratch\nCOPY . /\n"})
    assert started.status_code == 201, started.text
    use_checkout_labextension(page, workspace)
    open_cubelab_panel(page)
    row = page.locator('[data-testid="cubelab-build-list"] li[data-image="shellui"]').first
    expect(row).to_have_attribute("data-status", "succeeded", timeout=120_000)
    row.locator('[data-testid="cubelab-build-open"]').click()
    view = page.locator('[data-testid="cubelab-build-view"]')
    expect(view).to_have_attribute("data-status", "succeeded", timeout=30_000)

    view.locator('[data-testid="cubelab-build-open-shell"]').click()
    shell = page.locator('[data-testid="cubelab-shell"]')
    expect(shell).to_have_attribute("data-state", "open", timeout=60_000)
    # xterm.js draws the screen as one element per row in .xterm-rows (innerText: a line each)
    output = shell.locator('[data-testid="cubelab-shell-output"] .xterm-rows')
    expect(output).to_contain_text("$", timeout=30_000, use_inner_text=True)
    shell.click()
    page.keyboard.type("id -u; echo hi-$((6*7)) on-$TERM")
    page.keyboard.press("Enter")
    expect(output).to_contain_text("hi-42 on-xterm-256color", timeout=30_000, use_inner_text=True)
    expect(output).to_contain_text(re.compile(rf"^{platform.unix_account(name).pw_uid}\s*$", re.M), use_inner_text=True)
    # colours are drawn, not shown as escape codes
    page.keyboard.type("printf 'is-\\033[3%dmred\\033[0m-done\\n' 1")  # the typed line has no "[31m"
    page.keyboard.press("Enter")
    expect(output).to_contain_text("is-red-done", timeout=30_000, use_inner_text=True)
    expect(output).not_to_contain_text("[31m", use_inner_text=True)
    red = output.locator("span", has_text="red").last
    expect(red).to_have_class(re.compile(r"xterm-fg-1\b"))
    # full-screen programs draw with cursor moves on a cleared screen: row 5, column 10
    page.keyboard.type("printf '\\033[2J\\033[%d;10Hat-5-10' 5")
    page.keyboard.press("Enter")
    fifth = output.locator(":scope > div").nth(4)
    expect(fifth).to_have_text(re.compile(r"^\s{9}at-5-10"), timeout=30_000, use_inner_text=True)
    # the terminal fills the tab and the shell is told its size, again when the tab shrinks
    rows = output.locator(":scope > div")
    page.keyboard.type("echo size-$(stty size)-")
    page.keyboard.press("Enter")
    expect(output).to_contain_text(re.compile(rf"size-{rows.count()} \d+-"), timeout=30_000, use_inner_text=True)
    before = rows.count()
    viewport = page.viewport_size
    page.set_viewport_size({"width": viewport["width"], "height": viewport["height"] - 200})
    expect(rows).not_to_have_count(before, timeout=10_000)
    page.keyboard.type("echo now-$(stty size)-")
    page.keyboard.press("Enter")
    expect(output).to_contain_text(re.compile(rf"now-{rows.count()} \d+-"), timeout=30_000, use_inner_text=True)
    page.set_viewport_size(viewport)
    # the terminal takes the Lab theme's colours, again when the user switches theme
    viewport_node = shell.locator(".xterm-viewport")
    light = viewport_node.evaluate("e => getComputedStyle(e).backgroundColor")
    page.locator(".lm-MenuBar-itemLabel", has_text="Settings").click()
    page.locator(".lm-Menu-itemLabel", has_text="Theme").first.hover()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^JupyterLab Dark$")).click()
    expect(page.locator("body")).to_have_attribute("data-jp-theme-name", "JupyterLab Dark", timeout=30_000)
    expect(viewport_node).not_to_have_css("background-color", light, timeout=10_000)
    shell.click()
    page.keyboard.type("exit 5")
    page.keyboard.press("Enter")
    expect(shell).to_have_attribute("data-state", "ended", timeout=30_000)
    expect(shell.locator('[data-testid="cubelab-shell-end"]')).to_contain_text("exited with code 5")

    # from the Images list: "shell" on the image's tag; closing the tab ends it and removes its container
    page.locator('[data-testid="cubelab-images-search"]').fill("shellui")
    tag = page.locator('[data-testid="cubelab-images-list"] li[data-repository*="shellui"] li[data-tag="1"]')
    tag.locator('[data-testid="cubelab-image-shell"]').click()
    second = page.locator('[data-testid="cubelab-shell"][data-state="open"]')
    expect(second).to_have_count(1, timeout=60_000)
    second_output = second.locator('[data-testid="cubelab-shell-output"] .xterm-rows')
    expect(second_output).to_contain_text("$", timeout=30_000, use_inner_text=True)
    second.click()
    page.keyboard.type("echo from-the-$((1+1))-list")
    page.keyboard.press("Enter")
    expect(second_output).to_contain_text("from-the-2-list", timeout=30_000, use_inner_text=True)
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabCloseIcon").click()
    storage = platform.data_dir / "builds" / "storage" / "public"
    deadline = time.monotonic() + 20
    while (left := subprocess.run(["buildah", "--root", str(storage / "root"), "--runroot", str(storage / "run"), "--storage-driver",
                                   "vfs", "containers", "--quiet"], capture_output=True, text=True).stdout.strip()) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert left == "", "closing the tab removes the shell's container"
