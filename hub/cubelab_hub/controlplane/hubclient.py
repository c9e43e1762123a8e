"""A small async client for JupyterHub's REST API, used with the service's token.

JupyterHub is the only user store: users, admin flags, groups (= projects) and
group properties (= project settings) are read and written here, never copied.
"""

from __future__ import annotations

import json
import time
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

# the Accept type that makes JupyterHub answer lists with their paging information
PAGINATION = "application/jupyterhub-pagination+json"


class HubAPIError(Exception):
    def __init__(self, status: int, message: str):
        self.status = status
        self.message = message
        super().__init__(f"JupyterHub API {status}: {message}")


class HubClient:
    def __init__(self, api_url: str, token: str, user_cache_seconds: float = 5.0):
        self.api_url = api_url.rstrip("/")
        self._token = token
        self._client = AsyncHTTPClient()
        self.user_cache_seconds = user_cache_seconds
        self._user_cache: dict[str, tuple[float, dict | None]] = {}

    async def request(self, method: str, path: str, body=None, ok_missing: bool = False, accept: str | None = None):
        headers = {"Authorization": f"token {self._token}"}
        if accept:
            headers["Accept"] = accept
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        req = HTTPRequest(
            self.api_url + path,
            method=method,
            headers=headers,
            body=data,
            allow_nonstandard_methods=True,
            request_timeout=30,
        )
        try:
            resp = await self._client.fetch(req)
        except HTTPClientError as exc:
            if exc.code == 404 and ok_missing:
                return None
            message = exc.message
            if exc.response is not None and exc.response.body:
                try:
                    message = json.loads(exc.response.body).get("message", message)
                except ValueError:
                    pass
            raise HubAPIError(exc.code, message) from None
        if resp.body:
            return json.loads(resp.body)
        return None

    # ------------------------------------------------------------ users

    def forget_user(self, name: str | None = None) -> None:
        if name is None:
            self._user_cache.clear()
        else:
            self._user_cache.pop(name, None)

    async def get_user(self, name: str, fresh: bool = False) -> dict | None:
        now = time.monotonic()
        cached = self._user_cache.get(name)
        if cached and not fresh and now - cached[0] < self.user_cache_seconds:
            return cached[1]
        model = await self.request("GET", f"/users/{quote(name, safe='')}", ok_missing=True)
        self._user_cache[name] = (now, model)
        return model

    async def _all_pages(self, path: str) -> list[dict]:
        """Every item of a JupyterHub list endpoint, 200 at a time."""
        items: list[dict] = []
        sep = "&" if "?" in path else "?"
        while True:
            page = await self.request("GET", f"{path}{sep}offset={len(items)}&limit=200")
            batch = page["items"] if isinstance(page, dict) and "items" in page else page
            items.extend(batch)
            if len(batch) < 200:
                return items

    async def page(self, path: str, offset: int, limit: int) -> tuple[list[dict], int | None]:
        """One page of a JupyterHub list endpoint from ``offset``: its items and the
        offset of the next page (None after the last). The hub caps ``limit`` at
        its own ``api_page_max_limit``, so a page may be shorter than asked."""
        sep = "&" if "?" in path else "?"
        page = await self.request("GET", f"{path}{sep}offset={offset}&limit={limit}", accept=PAGINATION)
        following = (page.get("_pagination") or {}).get("next")
        return page["items"], (following["offset"] if following else None)

    async def scan(self, path: str, start: int, limit: int, keep=lambda item: True) -> tuple[list[dict], int | None]:
        """Up to ``limit`` items that ``keep`` accepts, read page by page from the
        hub's ``offset`` ``start``; and the offset to resume from when more follow."""
        found: list[tuple[int, dict]] = []
        offset: int | None = start
        while offset is not None and len(found) <= limit:
            items, following = await self.page(path, offset, min(limit + 1, 200))
            found.extend((index, item) for index, item in enumerate(items, start=offset) if keep(item))
            offset = following
        if len(found) > limit:
            return [item for _i, item in found[:limit]], found[limit - 1][0] + 1
        return [item for _i, item in found], None

    async def list_users(self) -> list[dict]:
        return await self._all_pages("/users?include_stopped_servers=1")

    async def list_active_users(self) -> list[dict]:
        """Users with at least one running or pending server (the hub filters:
        ``state=active``), with their servers; idle accounts cost nothing."""
        return await self._all_pages("/users?state=active")

    async def delete_user(self, name: str) -> None:
        await self.request("DELETE", f"/users/{quote(name, safe='')}")
        self.forget_user(name)

    async def stop_servers(self, name: str) -> None:
        model = await self.get_user(name, fresh=True)
        for server_name in (model or {}).get("servers", {}) or {}:
            path = f"/users/{quote(name, safe='')}/servers/{quote(server_name, safe='')}" if server_name else f"/users/{quote(name, safe='')}/server"
            await self.request("DELETE", path, ok_missing=True)

    async def stop_server(self, name: str, server_name: str = "") -> None:
        """Ask the hub to stop one server of ``name`` ('' is the default server);
        the hub answers before the server has stopped."""
        user = quote(name, safe="")
        path = f"/users/{user}/servers/{quote(server_name, safe='')}" if server_name else f"/users/{user}/server"
        await self.request("DELETE", path, ok_missing=True)
        self.forget_user(name)

    # ------------------------------------------------------------ groups

    async def list_groups(self) -> list[dict]:
        return await self._all_pages("/groups")

    async def get_group(self, name: str) -> dict | None:
        return await self.request("GET", f"/groups/{quote(name, safe='')}", ok_missing=True)

    async def create_group(self, name: str, members: list[str], properties: dict) -> dict:
        await self.request("POST", f"/groups/{quote(name, safe='')}", {"users": members})
        return await self.set_group_properties(name, properties)

    async def delete_group(self, name: str) -> None:
        await self.request("DELETE", f"/groups/{quote(name, safe='')}")
        self.forget_user()

    async def set_group_properties(self, name: str, properties: dict) -> dict:
        return await self.request("PUT", f"/groups/{quote(name, safe='')}/properties", properties)

    async def add_group_members(self, name: str, users: list[str]) -> dict:
        result = await self.request("POST", f"/groups/{quote(name, safe='')}/users", {"users": users})
        for user in users:
            self.forget_user(user)
        return result

    async def remove_group_members(self, name: str, users: list[str]) -> dict:
        result = await self.request("DELETE", f"/groups/{quote(name, safe='')}/users", {"users": users})
        for user in users:
            self.forget_user(user)
        return result

    # ------------------------------------------------------------ CubeLab's hub-side account API

    async def get_account(self, name: str) -> dict | None:
        return await self.request("GET", f"/cubelab/accounts/{quote(name, safe='')}", ok_missing=True)

    async def list_accounts(self) -> list[dict]:
        return (await self.request("GET", "/cubelab/accounts"))["accounts"]

    async def update_account(self, name: str, changes: dict) -> dict:
        """Set ``active`` and/or ``admin`` of an account in one call to the hub."""
        result = await self.request("PATCH", f"/cubelab/accounts/{quote(name, safe='')}", changes)
        self.forget_user(name)
        return result

    async def get_registration(self) -> dict:
        return await self.request("GET", "/cubelab/registration")

    async def set_registration(self, open_: bool) -> dict:
        return await self.request("PUT", "/cubelab/registration", {"open": open_})
