"""The admin page as the hub reaches it: ``<service prefix>admin/`` sends an
admin (logged in through the hub's OAuth, like the API) to JupyterLab with the
Admin widget open (``/user/<name>/lab?cubelab-admin``, which the Lab plugin
understands); everyone else gets 403.

JupyterHub lists a service in its "Services" menu only to users who may access it;
every user may access ``cubelab`` (the API), so the menu entry is a second service,
``cubelab-admin`` (see :mod:`cubelab_hub.platform.hubconfig`), that only admins may
access. Its proxy route points at this process, which sends it on here.

Not a REST resource (HTML and redirects, no OpenAPI); served by :func:`routes`.
"""

from __future__ import annotations

import html
import os
from urllib.parse import quote

from jupyterhub.services.auth import HubOAuthenticated
from jupyterhub.utils import url_path_join
from tornado import web

PATH = "admin/"
MENU_SERVICE = "cubelab-admin"
# the query the Lab plugin opens the Admin widget for
LAB_QUERY = "cubelab-admin"


class AdminPageHandler(HubOAuthenticated, web.RequestHandler):
    @property
    def hub_auth(self):
        # the application's HubOAuth: it holds the login's PKCE state the callback needs
        return self.settings["hub_auth"]

    def set_default_headers(self):
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")

    async def get(self):
        model = await self.hub_auth.get_user(self, sync=False)
        if model:
            try:
                model = self.check_hub_user(model)
            except web.HTTPError:
                model = None
        if not model:
            # a browser without the service's login cookie: the hub's OAuth login, then back here
            return self.redirect(self.get_login_url())
        name = model["name"]
        # the admin flag from the hub itself (as the API's actor), not from what the token's scopes reveal
        user = await self.settings["cubelab"].hub_client.get_user(name) if model.get("kind", "user") == "user" else None
        if not user or not user.get("admin"):
            self.set_status(403)
            self.set_header("Content-Type", "text/html; charset=utf-8")
            return self.finish("<!doctype html><title>403 Forbidden</title><h1>403 Forbidden</h1>"
                               f"<p>Only admins may open CubeLab's admin page ({html.escape(name)} is not an admin).</p>")
        self.redirect(url_path_join(os.environ.get("JUPYTERHUB_BASE_URL", "/"), "user", quote(name, safe=""), "lab") + "?" + LAB_QUERY)


class MenuEntryHandler(web.RequestHandler):
    """The hub's "Services" menu links to ``/services/cubelab-admin/``: on to the page."""

    def initialize(self, page: str):
        self.page = page

    def get(self):
        self.redirect(self.page)


def routes(service_prefix: str) -> list[tuple]:
    """The page, and the menu service's path (its proxy route leads here too)."""
    page = service_prefix.rstrip("/") + "/" + PATH
    menu = url_path_join(os.environ.get("JUPYTERHUB_BASE_URL", "/"), "services", MENU_SERVICE)
    return [(page.rstrip("/") + "/?", AdminPageHandler), (menu + "(?:/.*)?", MenuEntryHandler, {"page": page})]
