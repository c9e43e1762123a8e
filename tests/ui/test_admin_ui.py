"""The admin page in the browser, on a real platform: a non-admin finds no admin
entry anywhere (the Lab's panel and command palette, a Lab URL asking for it, the
hub's Services menu, the hub's admin page itself answers 403); an admin goes from
the hub's Services menu to the Lab's Admin tab, reorders template categories and
releases an Alpha template; an admin finds another user's running task and stops it."""

from __future__ import annotations

import time

import pytest
import requests
from playwright.sync_api import expect
from support.platform import User, register
from ui.lab import LAB_READY, log_in, open_cubelab_panel, use_checkout_labextension

pytestmark = pytest.mark.browser

API = "/services/cubelab/api/v1"


def fresh(prefix: str) -> str:
    return f"{prefix}{int(time.time() * 1000) % 10_000_000}"


def test_non_admin_sees_no_admin_entry_anywhere(platform, page):
    name = fresh("nadmui")
    log_in(page, platform.url, name, f"{name}-password")
    use_checkout_labextension(page, platform.data_dir / "workspaces" / name)
    open_cubelab_panel(page)
    expect(page.locator('[data-testid="cubelab-section-projects"]')).to_be_visible(timeout=30_000)
    expect(page.locator('[data-testid="cubelab-section-admin"]')).to_have_count(0)
    expect(page.locator('[data-testid="cubelab-open-admin"]')).to_have_count(0)
    expect(page.locator('[data-testid="cubelab-section-accounts"]')).to_have_count(0)

    # the command palette has no admin command
    page.keyboard.press("Control+Shift+C")
    palette = page.locator(".lm-CommandPalette input")
    expect(palette).to_be_visible()
    palette.fill("CubeLab Admin")
    expect(page.locator('.lm-CommandPalette-item:has-text("CubeLab Admin")')).to_have_count(0)
    page.keyboard.press("Escape")

    # a Lab URL asking for the admin tab opens nothing
    page.goto(f"{platform.url}/user/{name}/lab?cubelab-admin")
    page.wait_for_selector(LAB_READY, timeout=120_000)
    open_cubelab_panel(page)
    page.wait_for_timeout(2000)
    expect(page.locator('[data-testid="cubelab-admin-page"]')).to_have_count(0)

    # the hub: no admin page in the Services menu, and the page itself refuses
    page.goto(f"{platform.url}/hub/home")
    expect(page.locator('a[href*="cubelab-admin"]')).to_have_count(0)
    response = page.goto(f"{platform.url}/services/cubelab/admin/")
    assert response.status == 403
    expect(page.locator("body")).to_contain_text("Only admins")


def admin_call(admin: User, method: str, path: str, body=None) -> requests.Response:
    return admin.api(method, path, json=body)


def template_body(admin: User, name: str, **fields) -> dict:
    shell = admin_call(admin, "GET", "/templates/shell/Release").json()
    body = {k: v for k, v in shell.items() if k not in ("id", "created_by", "updated_at", "retired", "builtin")}
    body.update(name=name, display_name="", **fields)
    return body


def category_order(page) -> list[str]:
    return page.locator('[data-testid="cubelab-admin-categories"] [data-category]').evaluate_all(
        "items => items.map(i => i.dataset.category)")


def test_admin_goes_from_the_hub_menu_to_templates_and_reorders_and_releases(platform, admin, page):
    tag = fresh("uicat")
    first, second = f"{tag}-a", f"{tag}-b"
    # categories at the end of the palette, next to each other
    for name, category, index in ((f"{tag}-x", first, 900_000), (f"{tag}-y", second, 900_001)):
        r = admin_call(admin, "POST", "/templates", template_body(admin, name, category=category, category_index=index))
        assert r.status_code == 201, r.text
    alpha = f"{tag}-alpha"
    r = admin_call(admin, "POST", "/templates", template_body(admin, alpha, version="Alpha", category=first, category_index=900_000))
    assert r.status_code == 201, r.text

    log_in(page, platform.url, platform.admin, platform.admin_password)
    use_checkout_labextension(page, platform.data_dir / "workspaces" / platform.admin)
    # from the hub's Services menu to the Lab's Admin tab
    page.goto(f"{platform.url}/hub/home")
    page.locator('a.nav-link.dropdown-toggle:has-text("Services")').click()
    page.locator('a.dropdown-item[href$="/services/cubelab-admin/"]').click()
    page.wait_for_selector(LAB_READY, timeout=120_000)
    admin_tab = page.locator('[data-testid="cubelab-admin-page"]')
    expect(admin_tab).to_be_visible(timeout=30_000)

    admin_tab.locator('[data-testid="cubelab-admin-tab-templates"]').click()
    categories = page.locator('[data-testid="cubelab-admin-categories"]')
    expect(categories.locator(f'[data-category="{second}"]')).to_be_visible(timeout=30_000)
    order = category_order(page)
    assert order.index(first) + 1 == order.index(second)

    categories.locator(f'[data-category="{second}"] [data-testid="cubelab-admin-category-up"]').click()
    expect(categories.locator("li").nth(order.index(first))).to_have_attribute("data-category", second, timeout=30_000)
    # the palette everyone sees follows
    listed = [t["category"] for t in admin_call(admin, "GET", f"/templates?q={tag}").json()["templates"]]
    assert listed.index(second) < listed.index(first)

    page.fill('[data-testid="cubelab-admin-templates-search"]', alpha)
    row = page.locator(f'[data-testid="cubelab-admin-template-list"] tr[data-template="{alpha}"][data-version="Alpha"]')
    expect(row).to_be_visible(timeout=30_000)
    row.locator('[data-testid="cubelab-admin-release"]').click()
    page.locator(".jp-Dialog .jp-mod-accept").click()
    released = page.locator(f'[data-testid="cubelab-admin-template-list"] tr[data-template="{alpha}"][data-version="Release"]')
    expect(released).to_be_visible(timeout=30_000)
    assert admin_call(admin, "GET", f"/templates/{alpha}/Release").status_code == 200


def test_admin_finds_and_stops_another_users_running_task(platform, admin, page):
    if admin_call(admin, "GET", "/admin/running?limit=1").status_code == 404:
        pytest.skip("the admin running routes (/admin/running) are not on this branch yet")
    owner = register(platform, fresh("runui"))
    project = fresh("runp")
    assert owner.api("POST", "/projects", json={"name": project}).status_code == 201
    body = {"name": "sleeper", "project": project,
            "tasks": [{"name": "wait", "template": "shell", "args": {"--command": "sleep 600"}}]}
    pipeline = owner.api("POST", "/pipelines", json=body)
    assert pipeline.status_code == 201, pipeline.text
    run = owner.api("POST", f"/pipelines/{pipeline.json()['id']}/runs")
    assert run.status_code == 201, run.text
    run_id = run.json()["id"]

    log_in(page, platform.url, platform.admin, platform.admin_password)
    use_checkout_labextension(page, platform.data_dir / "workspaces" / platform.admin)
    page.goto(f"{platform.url}/user/{platform.admin}/lab?cubelab-admin")
    page.wait_for_selector(LAB_READY, timeout=120_000)
    admin_tab = page.locator('[data-testid="cubelab-admin-page"]')
    expect(admin_tab).to_be_visible(timeout=30_000)
    admin_tab.locator('[data-testid="cubelab-admin-tab-running"]').click()
    page.fill('[data-testid="cubelab-admin-running-project"]', project)
    task = page.locator('[data-testid="cubelab-admin-running-list"] tr[data-kind="task"]')
    expect(task.first).to_be_visible(timeout=60_000)
    expect(task.first).to_contain_text(owner.name)
    expect(page.locator('[data-testid="cubelab-admin-totals-project"]')).to_contain_text(project)
    task.first.locator('[data-testid="cubelab-admin-stop"]').click()
    page.locator(".jp-Dialog .jp-mod-warn").click()
    expect(task).to_have_count(0, timeout=60_000)

    deadline = time.monotonic() + 60
    status = None
    while time.monotonic() < deadline:
        status = owner.api("GET", f"/runs/{run_id}").json()["status"]
        if status == "cancelled":
            break
        time.sleep(0.5)
    assert status == "cancelled"
