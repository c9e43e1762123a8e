"""Steps a person takes in the browser, shared by the UI tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

LAB_READY = "#jp-main-dock-panel"


def log_in(page, base_url: str, name: str, password: str, timeout_ms: int = 120_000) -> None:
    """Log in (a new name registers), start the default server, wait for JupyterLab."""
    page.goto(f"{base_url}/hub/login")
    page.fill("#username_input", name)
    page.fill("#password_input", password)
    page.click("#login_submit")
    page.wait_for_load_state()
    # the spawn form (project, kind, resources) appears when the spawner has one
    if page.locator("form#spawn_form").count():
        page.click("form#spawn_form [type=submit]")
    page.wait_for_selector(LAB_READY, timeout=timeout_ms)


def open_cubelab_panel(page) -> None:
    """Show the CubeLab panel (a first visit may already show it; clicking its
    tab again would hide it)."""
    panel = page.locator('[data-testid="cubelab-panel"]')
    panel.wait_for(state="attached")
    # the layout restorer may show the panel just after the check, and the click then
    # hides it again: look again after each click
    for _ in range(5):
        if panel.is_visible():
            return
        page.click('.jp-SideBar [data-id="cubelab-panel"]')
        try:
            panel.wait_for(state="visible", timeout=5_000)
            return
        except PlaywrightTimeoutError:
            continue
    panel.wait_for(state="visible")


# the Lab plugin as this checkout builds it (``jlpm build``)
CHECKOUT_LABEXTENSION = Path(__file__).resolve().parents[2] / "server_ext" / "cubelab_server" / "labextension"


def use_checkout_labextension(page, workspace: Path) -> bool:
    """Serve this checkout's build of the Lab plugin to the user whose
    ``workspace`` (their HOME) is given, then reload JupyterLab.

    The shared virtualenv's copy is the one a checkout installed last; a user's
    own ``~/.local/share/jupyter/labextensions`` comes before it in Jupyter's
    search path and is read on every page load, so a copy there wins without
    restarting anything.  Returns False when the checkout has no build."""
    if not (CHECKOUT_LABEXTENSION / "package.json").exists():
        return False
    target = workspace / ".local" / "share" / "jupyter" / "labextensions" / "cubelab"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(CHECKOUT_LABEXTENSION, target)
    owner = workspace.stat()
    for folder, _dirs, files in os.walk(workspace / ".local"):
        os.chown(folder, owner.st_uid, owner.st_gid)
        for name in files:
            os.chown(os.path.join(folder, name), owner.st_uid, owner.st_gid)
    page.reload()
    page.wait_for_selector(LAB_READY, timeout=120_000)
    return True
