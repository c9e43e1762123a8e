"""Reading every page of a paged control-plane list, as a client does."""

from __future__ import annotations


def all_pages(user, path: str, key: str, limit: int = 500, **params) -> list[dict]:
    """Every item of the list at ``path`` (items under ``key``), following ``next_cursor``."""
    items: list[dict] = []
    params = {**params, "limit": limit}
    for _ in range(10_000):
        resp = user.api("GET", path, params=params)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        items.extend(page[key])
        if page["next_cursor"] is None:
            return items
        params["cursor"] = page["next_cursor"]
    raise AssertionError(f"{path} did not end")
