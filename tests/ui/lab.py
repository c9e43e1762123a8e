"""Steps a person takes in the browser, shared by the UI tests."""

from __future__ import annotations

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
    if not panel.is_visible():
        page.click('.jp-SideBar [data-id="cubelab-panel"]')
    panel.wait_for(state="visible")
