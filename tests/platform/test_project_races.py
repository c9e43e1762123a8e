"""Changing a project while an admin deletes it, through the real API: every
answer is the change (200/204) or 404 for the project that is gone, never a
5xx. (A group read back as None after a concurrent delete used to be an
AttributeError.)"""

from __future__ import annotations

import threading
from functools import partial

import pytest
from support.platform import register

pytestmark = pytest.mark.hub

ROUNDS = 6


def race(calls) -> list:
    """Start every call at once (one thread each); their responses in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i, call):
        barrier.wait()
        try:
            results[i] = call()
        except Exception as exc:  # a dropped connection is a finding too
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_changes_racing_a_project_delete_answer_404_not_500(platform, admin, helpers):
    creator = register(platform, helpers.fresh_name("racer"))
    members = [register(platform, helpers.fresh_name("racee")) for _ in range(2)]
    seen: list[int] = []
    for n in range(ROUNDS):
        project = helpers.fresh_name("race-")
        assert creator.api("POST", "/projects", json={"name": project}).status_code == 201
        for member in members:
            r = creator.api("POST", f"/projects/{project}/members", json={"name": member.name, "role": "dev"})
            assert r.status_code == 201, r.text
        calls = [
            partial(admin.api, "DELETE", f"/projects/{project}"),
            partial(creator.api, "PATCH", f"/projects/{project}", json={"description": f"round {n}"}),
            partial(creator.api, "DELETE", f"/projects/{project}/members/{members[0].name}"),
            partial(creator.api, "PATCH", f"/projects/{project}/members/{members[1].name}", json={"role": "ops"}),
            partial(members[1].api, "DELETE", f"/projects/{project}/members/{members[1].name}"),
            partial(creator.api, "GET", f"/projects/{project}/members"),
        ]
        deleted, *others = race(calls)
        assert not isinstance(deleted, Exception) and deleted.status_code == 204, deleted
        for resp in others:
            assert not isinstance(resp, Exception), resp
            assert resp.status_code in (200, 204, 404), f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text[:300]}"
            assert resp.status_code == 204 or resp.headers["Content-Type"].startswith("application/json")
            if resp.status_code == 404:
                assert resp.json()["error"] in ("not_found", "hub_error")
            seen.append(resp.status_code)
        assert creator.api("GET", f"/projects/{project}").status_code == 404
    # the races happened: some changes came after the delete
    assert 404 in seen
