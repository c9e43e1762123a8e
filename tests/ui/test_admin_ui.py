"""The admin page in the browser, on a real platform: a non-admin finds no admin
entry anywhere (the Lab's panel and command palette, a Lab URL asking for it, the
hub's Services menu, the hub's admin page itself answers 403); an admin goes from
the hub's Services menu to the Lab's Admin tab, reorders template categories and
releases an Alpha template; each admin tab shows the platform's real data
(users with counts, a project's quota and use, settings saved and audited, a
usage chart, this machine); an admin finds another user's running task and stops it."""

from __future__ import annotations

import os
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


@pytest.fixture(scope="module")
def admin_lab(browser, platform, artifacts_dir):
    """One Lab page of the admin with the Admin tab open, shared by the tests
    below (logging in and loading the Lab is most of a browser test's time)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    log_in(page, platform.url, platform.admin, platform.admin_password)
    use_checkout_labextension(page, platform.data_dir / "workspaces" / platform.admin)
    page.goto(f"{platform.url}/user/{platform.admin}/lab?cubelab-admin")
    page.wait_for_selector(LAB_READY, timeout=120_000)
    expect(page.locator('[data-testid="cubelab-admin-page"]')).to_be_visible(timeout=30_000)
    yield page
    page.screenshot(path=str(artifacts_dir / "admin-lab-last.png"))
    context.close()


def open_tab(page, tab: str):
    admin_tab = page.locator('[data-testid="cubelab-admin-page"]')
    admin_tab.locator(f'[data-testid="cubelab-admin-tab-{tab}"]').click()
    return admin_tab


@pytest.fixture(scope="module")
def sleeper(platform):
    """Another user's project with a CPU quota and a pipeline run whose task sleeps."""
    owner = register(platform, fresh("runui"))
    project = fresh("runp")
    assert owner.api("POST", "/projects", json={"name": project}).status_code == 201
    r = owner.api("PATCH", f"/projects/{project}", json={"settings": {"quota": {"cpu": "8"}}})
    assert r.status_code == 200, r.text
    body = {"name": "sleeper", "project": project,
            "tasks": [{"name": "wait", "template": "shell", "args": {"--command": "sleep 600"}}]}
    pipeline = owner.api("POST", "/pipelines", json=body)
    assert pipeline.status_code == 201, pipeline.text
    run = owner.api("POST", f"/pipelines/{pipeline.json()['id']}/runs")
    assert run.status_code == 201, run.text
    run_id = run.json()["id"]
    deadline = time.monotonic() + 60
    while owner.api("GET", f"/runs/{run_id}").json()["status"] != "running":
        assert time.monotonic() < deadline, "the sleeper run did not start"
        time.sleep(0.5)
    yield owner, project, run_id
    owner.api("POST", f"/runs/{run_id}/cancel")


def test_admin_tabs_show_the_platforms_real_data(platform, admin, admin_lab, sleeper):
    page = admin_lab
    owner, project, _run_id = sleeper

    # Users: the owner, their project and what they run (one active run)
    open_tab(page, "users")
    page.fill('[data-testid="cubelab-admin-users-search"]', owner.name)
    row = page.locator(f'[data-testid="cubelab-admin-users"] tr[data-user="{owner.name}"]')
    expect(row).to_be_visible(timeout=30_000)
    expect(row.locator("td").nth(2)).to_contain_text(project)
    expect(row.locator("td").nth(4)).to_have_text("1", timeout=30_000)  # runs
    expect(page.locator(f'[data-testid="cubelab-admin-users"] tr[data-user="{platform.admin}"]')).to_have_count(0)
    # the role: made admin (confirmed), which the hub then says, and taken back
    role = row.locator('[data-testid="cubelab-admin-role"]')
    expect(role).to_contain_text("user")
    row.locator('[data-testid="cubelab-admin-role-toggle"]').click()
    page.locator(".jp-Dialog .jp-mod-accept").click()
    expect(role.locator(".cl-AdminBadge")).to_have_text("admin", timeout=30_000)
    assert admin_call(admin, "GET", f"/users/{owner.name}").json()["admin"] is True
    row.locator('[data-testid="cubelab-admin-role-toggle"]').click()
    page.locator(".jp-Dialog .jp-mod-accept").click()
    expect(role.locator(".cl-AdminBadge")).to_have_count(0, timeout=30_000)
    assert admin_call(admin, "GET", f"/users/{owner.name}").json()["admin"] is False

    # Projects: the quota (8 cores) against what the running task holds
    open_tab(page, "projects")
    # the Projects section in the sidebar has a search box with the same label: fill the admin tab's,
    # once it is there
    page.locator('[data-testid="cubelab-admin-projects"] [aria-label="Search projects by name"]').fill(project)
    row = page.locator(f'[data-testid="cubelab-admin-projects"] tr[data-project="{project}"]')
    expect(row).to_be_visible(timeout=30_000)
    listed = admin_call(admin, "GET", f"/admin/projects?q={project}").json()["projects"]
    use = next(p for p in listed if p["name"] == project)["use"]
    cpu = row.locator('[data-resource="cpu"]')
    expect(cpu).to_contain_text(f"cpu: {round(use['cpu'] * 100) / 100:g} of 8")
    expect(row.locator('[data-resource="gpu"]')).to_contain_text("no quota")
    if use["cpu"] > 0:
        expect(cpu.locator(".cl-mod-tasks")).to_have_count(1)

    # Settings: they load; a change saves and is in the audit log
    before = admin_call(admin, "GET", "/admin/settings").json()["server_expiry"]["default"]
    changed = "2d" if before != "2d" else "4d"
    open_tab(page, "settings")
    field = page.locator('[data-setting="server_expiry.default"]')
    expect(field).to_have_value(before, timeout=30_000)
    try:
        field.fill(changed)
        page.locator('[data-testid="cubelab-admin-settings-save"]').click()
        expect(page.locator('[data-testid="cubelab-admin-settings-save"]')).to_be_disabled(timeout=30_000)
        # the button is disabled while the save is in flight too: the audit row says it is done
        audited = page.locator('[data-testid="cubelab-admin-audit"] tr[data-action="settings.change"]').first
        expect(audited).to_contain_text(f'"default":"{changed}"', timeout=30_000)
        assert admin_call(admin, "GET", "/admin/settings").json()["server_expiry"]["default"] == changed
        expect(audited).to_contain_text(platform.admin)
    finally:
        # the session's platform is shared: the configured default again
        admin_call(admin, "PATCH", "/admin/settings", {"server_expiry": {"default": before}})

    # Usage: a Vega-Lite chart of CPU hours
    open_tab(page, "usage")
    chart = page.locator('[data-testid="cubelab-admin-usage-cpu"]')
    expect(chart.locator(".vega-embed canvas, .vega-embed svg").first).to_be_visible(timeout=30_000)
    expect(page.locator('[data-testid="cubelab-admin-usage"] [role="alert"]')).to_have_count(0)

    # Clusters & machines: this machine's cores and memory
    machine = admin_call(admin, "GET", "/admin/machines").json()
    assert machine["kind"] == "local"
    assert machine["cpu"]["count"] in (os.cpu_count(), len(os.sched_getaffinity(0)))
    open_tab(page, "clusters")
    shown = page.locator('[data-testid="cubelab-admin-machine-use"]')
    expect(shown).to_contain_text(f"of {machine['cpu']['count']} cores held", timeout=30_000)
    expect(shown).to_contain_text(f"of {format_bytes(machine['memory']['total'])} held")


def format_bytes(n: int) -> str:
    """As the Lab writes an amount of memory (logic.ts formatBytes)."""
    value, units = float(n), ["B", "KiB", "MiB", "GiB", "TiB"]
    i = 0
    while abs(value) >= 1024 and i < len(units) - 1:
        value /= 1024
        i += 1
    return f"{round(value * 10) / 10:g} {units[i]}"


def test_admin_finds_and_stops_another_users_running_task(platform, admin, admin_lab, sleeper):
    page = admin_lab
    owner, project, run_id = sleeper
    open_tab(page, "running")
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
