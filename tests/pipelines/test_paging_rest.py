"""Paged, filtered lists through the REST API of a real CubeLab, with each
user's own token: walking every page returns each visible row once and in
order while rows are added between pages; filters; bad ``limit`` and
``cursor`` are 400s naming the field; a non-member never sees another
project's rows in any page, and gets 404 (not 400) for a pipeline's lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from support.paging import all_pages

from .cp import World, fresh

pytestmark = pytest.mark.hub


@pytest.fixture(scope="module")
def cp(platform, admin):
    return World(platform, admin)


def sh(name, cmd="true"):
    return {"name": name, "template": "shell", "args": {"--command": cmd}}


def make(cp, role, project, name):
    r = cp.call(role, "POST", "/pipelines", {"name": name, "project": project, "tasks": [sh("a")]})
    assert r.status_code == 201, r.text
    return r.json()


def walk(cp, role, path, key, **params):
    """Every page of a list, with the rows seen on each page."""
    pages, cursor = [], None
    while True:
        r = cp.call(role, "GET", path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) >= {key, "next_cursor"}
        pages.append(body[key])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def test_walking_pipelines_returns_each_visible_row_once_in_order_while_rows_are_added(cp):
    names = [f"walk-{i:02d}" for i in range(0, 26, 2)]
    for name in names:
        make(cp, "creator", cp.project, name)
    # the outsider's own project: never in the members' pages
    other = fresh("po-")
    assert cp.users["outsider"].api("POST", "/projects", json={"name": other}).status_code == 201
    make(cp, "outsider", other, "walk-hidden")

    seen, cursor, added = [], None, 0
    while True:
        r = cp.call("dev", "GET", "/pipelines", params={"project": cp.project, "q": "walk-", "limit": 4, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["pipelines"]) <= 4
        seen.extend(p["name"] for p in page["pipelines"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        # one row the walk has passed, one still ahead of it
        make(cp, "creator", cp.project, f"walk-{added * 2:02d}b")
        make(cp, "creator", cp.project, f"walk-{24 - added:02d}c")
        added += 1
    assert len(seen) == len(set(seen)), seen
    assert seen == sorted(seen)
    assert set(names) <= set(seen)
    assert all(f"walk-{24 - i:02d}c" in seen for i in range(added - 1))
    assert "walk-hidden" not in seen

    # without a project filter a member's pages hold their projects' rows only, and every one of them
    dev_rows = [p for page in walk(cp, "dev", "/pipelines", "pipelines", q="walk", limit=3) for p in page]
    assert {p["project"] for p in dev_rows} <= {cp.project, "public"}
    assert "walk-hidden" not in {p["name"] for p in dev_rows}
    outsider_rows = [p for page in walk(cp, "outsider", "/pipelines", "pipelines", q="walk", limit=2) for p in page]
    assert {p["name"] for p in outsider_rows} == {"walk-hidden"}
    # asking for a project one may not see gives nothing, not its rows
    assert cp.call("outsider", "GET", "/pipelines", params={"project": cp.project}).json() == {"pipelines": [], "next_cursor": None}
    # admins see both
    admin_names = {p["name"] for page in walk(cp, "admin", "/pipelines", "pipelines", q="walk-", limit=500) for p in page}
    assert "walk-hidden" in admin_names and set(names) <= admin_names


def test_without_a_limit_a_list_answers_its_first_50(cp):
    for i in range(52 - len(all_pages(cp.users["creator"], "/pipelines", "pipelines", project=cp.project, q="many-"))):
        make(cp, "creator", cp.project, f"many-{i:02d}")
    page = cp.call("dev", "GET", "/pipelines", params={"project": cp.project, "q": "many-"}).json()
    assert len(page["pipelines"]) == 50 and page["next_cursor"]
    rest = cp.call("dev", "GET", "/pipelines", params={"project": cp.project, "q": "many-", "cursor": page["next_cursor"]}).json()
    assert [p["name"] for p in rest["pipelines"]] == ["many-50", "many-51"] and rest["next_cursor"] is None


def test_pipeline_filters(cp):
    mine = make(cp, "dev", cp.project, "Filter-Dev-Made")
    make(cp, "creator", cp.project, "filter-creator-made")
    by_dev = cp.call("creator", "GET", "/pipelines", params={"project": cp.project, "creator": cp.name("dev"), "q": "FILTER"}).json()
    assert [p["name"] for p in by_dev["pipelines"]] == ["Filter-Dev-Made"]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert cp.call("creator", "GET", "/pipelines", params={"q": "filter-", "since": future}).json()["pipelines"] == []
    until = cp.call("creator", "GET", "/pipelines", params={"q": "filter-", "until": future, "project": cp.project}).json()
    assert {p["id"] for p in until["pipelines"]} >= {mine["id"]}
    # LIKE's wildcards are plain text in a search
    assert cp.call("creator", "GET", "/pipelines", params={"q": "filter%made"}).json()["pipelines"] == []


def test_runs_page_newest_first_with_status_filter(cp):
    p = make(cp, "creator", cp.project, "runs-paged")
    ids = []
    for _ in range(5):
        r = cp.call("creator", "POST", f"/pipelines/{p['id']}/runs")
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    for run_id in ids:
        cp.wait_run("creator", run_id)
    pages = walk(cp, "ops", f"/pipelines/{p['id']}/runs", "runs", limit=2)
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [r["id"] for page in pages for r in page] == ids[::-1]
    succeeded = [r["id"] for page in walk(cp, "ops", f"/pipelines/{p['id']}/runs", "runs", limit=2, status="succeeded") for r in page]
    assert succeeded == ids[::-1]
    assert cp.call("ops", "GET", f"/pipelines/{p['id']}/runs", params={"status": "failed"}).json()["runs"] == []
    across = [r["id"] for page in walk(cp, "dev", "/runs", "runs", project=cp.project, limit=3) for r in page]
    assert across[:5] == ids[::-1] or set(ids) <= set(across)
    assert all(r["project"] != cp.project for page in walk(cp, "outsider", "/runs", "runs", limit=500) for r in page)


@pytest.mark.parametrize("path", ["/pipelines", "/runs", "/templates", "/schedules", "/projects", "/servers",
                                  "/pipelines/{pid}/runs", "/pipelines/{pid}/schedule/records", "/projects/{project}/members"])
def test_bad_limit_and_cursor_are_400s_naming_the_field(cp, path):
    pid = make(cp, "creator", cp.project, fresh("bad-"))["id"] if "{pid}" in path else None
    path = path.format(pid=pid, project=cp.project)
    for limit in ("0", "501", "x", "-3", "1.5"):
        r = cp.call("creator", "GET", path, params={"limit": limit})
        assert r.status_code == 400, (path, limit, r.text)
        assert r.json()["field"] == "limit" and "1 to 500" in r.json()["message"]
    for cursor in ("garbage", "eyJrIjoicGlwZWxpbmVzIn0", "A" * 3000):
        r = cp.call("creator", "GET", path, params={"cursor": cursor})
        assert r.status_code == 400, (path, cursor, r.text)
        assert r.json()["field"] == "cursor"


def test_a_cursor_of_another_list_or_other_filters_is_refused(cp):
    for i in range(3):
        make(cp, "creator", cp.project, f"foreign-{i}")
    cursor = cp.call("creator", "GET", "/pipelines", params={"q": "foreign-", "limit": 1}).json()["next_cursor"]
    assert cursor
    for path, params in (("/runs", {}), ("/schedules", {}), ("/pipelines", {"q": "other"})):
        r = cp.call("creator", "GET", path, params={**params, "cursor": cursor})
        assert r.status_code == 400 and r.json()["field"] == "cursor", (path, r.text)
    bad = cp.call("creator", "GET", "/runs", params={"status": "done"})
    assert bad.status_code == 400 and bad.json()["field"] == "status"
    bad = cp.call("creator", "GET", "/pipelines", params={"since": "yesterday"})
    assert bad.status_code == 400 and bad.json()["field"] == "since"


def test_a_non_member_gets_404_before_validation_on_a_pipelines_lists(cp):
    pid = make(cp, "creator", cp.project, fresh("hidden-"))["id"]
    for path in (f"/pipelines/{pid}/runs", f"/pipelines/{pid}/schedule/records"):
        for params in ({}, {"limit": "0"}, {"cursor": "garbage"}):
            assert cp.call("outsider", "GET", path, params=params).status_code == 404, (path, params)
    r = cp.call("outsider", "GET", f"/projects/{cp.project}/members", params={"limit": "0"})
    assert r.status_code in (403, 404)  # as the project itself answers, before the query string


def test_hub_backed_lists_page_with_the_same_contract(cp):
    members = [m["name"] for page in walk(cp, "creator", f"/projects/{cp.project}/members", "members", limit=1) for m in page]
    assert members == sorted([cp.name("creator"), cp.name("dev"), cp.name("ops")])
    only = cp.call("creator", "GET", f"/projects/{cp.project}/members", params={"q": cp.name("ops").upper()}).json()
    assert only == {"members": [{"name": cp.name("ops"), "role": "ops"}], "next_cursor": None}

    # admins: every project through the hub's own paging, each once
    names = [p["name"] for page in walk(cp, "admin", "/projects", "projects", limit=2) for p in page]
    assert len(names) == len(set(names)) and {cp.project, "public"} <= set(names)
    assert [p["name"] for p in cp.call("admin", "GET", "/projects", params={"q": cp.project}).json()["projects"]] == [cp.project]
    # members: their own projects by name
    dev_projects = [p["name"] for page in walk(cp, "dev", "/projects", "projects", limit=1) for p in page]
    assert dev_projects == sorted(dev_projects) and set(dev_projects) == {cp.project, "public"}

    users = [u["name"] for page in walk(cp, "admin", "/users", "users", limit=3) for u in page]
    assert len(users) == len(set(users)) and users == sorted(users)
    assert {cp.name(r) for r in ("creator", "dev", "ops", "outsider")} <= set(users)
    assert [u["name"] for u in cp.call("admin", "GET", "/users", params={"q": cp.name("dev")}).json()["users"]] == [cp.name("dev")]
    assert cp.call("dev", "GET", "/users", params={"limit": "2"}).status_code == 403
