"""The spawn form in Debian Chromium (Playwright), on a real ``cubelab up``:
it offers only the user's projects, shows the validation error for an
over-limit request with what was typed, and starts JupyterLab."""

from __future__ import annotations

import os
import shutil

import pytest

pytestmark = [pytest.mark.hub, pytest.mark.browser]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser():
    api = pytest.importorskip("playwright.sync_api")
    path = os.environ.get("CUBELAB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        pytest.fail(f"Debian chromium not found at {path}")
    with api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_spawn_form_in_browser(platform, new_user, browser, artifacts_dir):
    owner, user, outsider = new_user("form"), new_user("form"), new_user("form")
    mine, other = f"vis{user.name}"[:30], f"sec{outsider.name}"[:30]
    assert owner.api("POST", "/projects", json={"name": mine}).status_code == 201
    assert owner.api("POST", f"/projects/{mine}/members", json={"name": user.name, "role": "dev"}).status_code == 201
    assert outsider.api("POST", "/projects", json={"name": other}).status_code == 201

    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{platform.url}/hub/login")
        page.fill("input[name=username]", user.name)
        page.fill("input[name=password]", user.password)
        page.click("#login_submit, input[type=submit], button[type=submit]")
        page.goto(f"{platform.url}/hub/spawn")
        page.wait_for_selector(".cubelab-spawn-form")
        offered = page.eval_on_selector_all("#cubelab-project option", "els => els.map(e => e.value)")
        assert sorted(offered) == sorted(["public", mine])
        assert other not in page.content()
        page.screenshot(path=str(artifacts_dir / "spawn-form.png"), full_page=True)

        page.select_option("#cubelab-project", mine)
        page.fill("#cubelab-cpu", "64")
        page.fill("#cubelab-memory", "1G")
        page.click("form input[type=submit], form button[type=submit]")
        page.wait_for_selector(".cubelab-field-error[data-field=cpu]")
        assert "your role allows" in page.inner_text(".cubelab-field-error[data-field=cpu]")
        assert page.input_value("#cubelab-cpu") == "64"
        assert page.eval_on_selector("#cubelab-project", "e => e.value") == mine
        page.screenshot(path=str(artifacts_dir / "spawn-form-error.png"), full_page=True)

        page.fill("#cubelab-cpu", "1")
        page.click("form input[type=submit], form button[type=submit]")
        page.wait_for_url(f"**/user/{user.name}/lab**", timeout=180_000)
        page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
        page.screenshot(path=str(artifacts_dir / "spawn-form-lab.png"))
        model = user.hub_api("GET", f"/users/{user.name}").json()
        assert model["servers"][""]["user_options"]["project"] == mine
    finally:
        context.close()
        user.hub_api("DELETE", f"/users/{user.name}/server")
