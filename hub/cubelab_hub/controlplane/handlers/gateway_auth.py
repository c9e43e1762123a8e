"""The gateway's question for each request to a project-only service: may this
caller reach project P? Asked by nginx's ``auth_request`` (see
:mod:`cubelab_hub.gateway.config`), answered with a status and no body:

- 204: yes, with ``X-CubeLab-User`` naming the user (the gateway passes it on);
- 401: no platform login (no hub OAuth cookie, no ``Authorization: token ...``
  or ``Bearer ...`` that the hub accepts);
- 403: logged in, but not allowed (not a user, or ``may_access`` says no, or
  the project is not a project name).

Not a REST resource of the API (nothing to document in OpenAPI: only the
gateway calls it); served at ``<service prefix>gateway/auth`` by
:func:`routes`. Membership is asked through one coroutine,
``may_access(user, project) -> bool``, so whatever decides it (members,
admins, a service's own rule) stays in the service layer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from jupyterhub.services.auth import HubOAuthenticated
from tornado import web

from ...domain.errors import FieldError
from ...gateway.routes import check_project

MayAccess = Callable[[str, str], Awaitable[bool]]
PATH = "gateway/auth"


class GatewayAuthHandler(HubOAuthenticated, web.RequestHandler):
    def initialize(self, may_access: MayAccess):
        self.may_access = may_access

    def set_default_headers(self):
        self.set_header("Cache-Control", "no-store")

    def check_xsrf_cookie(self):
        # GET only, and it changes nothing
        return

    def _answer(self, status: int) -> None:
        self.set_status(status)
        self.finish()

    async def get(self):
        model = await self.settings["hub_auth"].get_user(self, sync=False)
        if model:
            try:
                model = self.check_hub_user(model)
            except web.HTTPError:
                model = None
        if not model:
            return self._answer(401)
        if model.get("kind", "user") != "user":
            return self._answer(403)
        try:
            project = check_project(self.get_query_argument("project", "", strip=False), "project")
        except FieldError:
            return self._answer(403)
        if not await self.may_access(model["name"], project):
            return self._answer(403)
        self.set_header("X-CubeLab-User", model["name"])
        return self._answer(204)


def routes(service_prefix: str, may_access: MayAccess) -> list[tuple]:
    """The endpoint's route for a tornado application whose settings hold ``hub_auth``."""
    return [(service_prefix.rstrip("/") + "/" + PATH, GatewayAuthHandler, {"may_access": may_access})]
