"""The base of every REST handler: authentication, the actor, JSON in and out.

Authentication is JupyterHub's: ``HubOAuth`` accepts both API tokens
(``Authorization: token ...``, what the user's Jupyter server forwards) and the
browser's OAuth cookie. Authorization is :mod:`cubelab_hub.domain.access`,
asked through :meth:`APIHandler.require`.

Errors become HTTP answers in one place, :meth:`APIHandler._handle_request_exception`:
``FieldError``/``FieldErrors`` 400, ``PermissionDenied`` 403, ``NotFound`` 404,
``Conflict`` 409 (with its code and details), JupyterHub's refusals.

Each handler class documents its methods in ``openapi`` (one OpenAPI operation
per HTTP method); :mod:`cubelab_hub.controlplane.openapi` assembles the document
and a test checks that every route and method is documented.
"""

from __future__ import annotations

import json
import re
from http import HTTPStatus
from typing import Any

from jupyterhub.services.auth import HubOAuthenticated
from tornado import web

from ...domain.access import Actor, PermissionDenied, allowed, require
from ...domain.errors import Conflict, FieldError, FieldErrors, NotFound
from ..hubclient import HubAPIError


class APIError(Exception):
    """An error with a status code and a JSON body ``{"error", "message", "field"}``."""

    def __init__(self, status: int, error: str, message: str, field: str | None = None, **extra):
        self.status = status
        self.error = error
        self.message = message
        self.field = field
        self.extra = extra
        super().__init__(message)


def route(path: str, handler: type) -> tuple[str, type, dict]:
    """``/projects/{project}`` -> a tornado pattern with named groups; the
    OpenAPI path is kept in the handler kwargs for the document."""
    pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)
    return (pattern, handler, {"openapi_path": path})


def op(summary: str, *, tags: list[str], body: str | None = None, returns: str | None = None,
       status: int = 200, params: list[dict] | None = None, errors: tuple[int, ...] = (400, 401, 403, 404)) -> dict:
    """A compact OpenAPI operation object."""
    operation: dict[str, Any] = {"summary": summary, "tags": tags, "responses": {}}
    ok: dict[str, Any] = {"description": HTTPStatus(status).phrase}
    if returns:
        ok["content"] = {"application/json": {"schema": {"$ref": f"#/components/schemas/{returns}"}}}
    operation["responses"][str(status)] = ok
    for code in errors:
        operation["responses"][str(code)] = {
            "description": HTTPStatus(code).phrase,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    if body:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}},
        }
    if params:
        operation["parameters"] = params
    return operation


class APIHandler(HubOAuthenticated, web.RequestHandler):
    openapi: dict[str, dict] = {}
    # handlers that anyone may call (the OpenAPI document)
    anonymous = False

    def initialize(self, openapi_path: str = ""):
        self.openapi_path = openapi_path

    # ------------------------------------------------------------ plumbing

    @property
    def app(self):
        return self.settings["cubelab"]

    @property
    def hub(self):
        return self.app.hub_client

    @property
    def db(self):
        return self.app.database

    @property
    def hub_auth(self):
        return self.settings["hub_auth"]

    def set_default_headers(self):
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")

    def check_xsrf_cookie(self):
        # XSRF rides on the browser's login cookie; token calls and anonymous
        # calls (refused with 401 in prepare) carry none, so there is nothing to forge
        if self.request.headers.get("Authorization") or self.hub_auth.cookie_name not in self.request.cookies:
            return
        return super().check_xsrf_cookie()

    async def prepare(self):
        self.actor: Actor | None = None
        if self.anonymous:
            return
        model = await self.hub_auth.get_user(self, sync=False)
        if model:
            try:
                model = self.check_hub_user(model)
            except Exception:
                model = None
        if not model:
            raise APIError(401, "unauthorized", "authentication required: log in to JupyterHub or send 'Authorization: token <JupyterHub API token>'")
        if model.get("kind", "user") != "user":
            raise APIError(403, "forbidden", "only users may call this API")
        self.current_user_model = model
        self.actor = await self.load_actor(model["name"])
        if any("\x00" in value for value in self.path_kwargs.values()):
            # no name or id holds a NUL character (and databases such as PostgreSQL refuse one in a query)
            raise NotFound("nothing here is named with a NUL character")

    async def load_actor(self, name: str) -> Actor:
        user = await self.hub.get_user(name)
        if user is None:
            raise APIError(401, "unauthorized", f"user '{name}' no longer exists")
        projects = await self.app.projects_of(user)
        return Actor(name=name, admin=bool(user.get("admin")), projects=projects)

    def require(self, action: str, project: str | None = None, owner: str | None = None) -> None:
        require(self.actor, action, project, owner)

    def allowed(self, action: str, project: str | None = None, owner: str | None = None) -> bool:
        return allowed(self.actor, action, project, owner)

    # ------------------------------------------------------------ JSON

    def json_body(self, required: bool = True) -> dict:
        if not self.request.body:
            if required:
                raise APIError(400, "invalid", "a JSON object body is required", None)
            return {}
        try:
            body = json.loads(self.request.body)
        except ValueError as exc:
            raise APIError(400, "invalid", f"request body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise APIError(400, "invalid", "request body must be a JSON object")
        return body

    def send(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        if status == 204:
            self.finish()
            return
        self.finish(json.dumps(data, default=str))

    # ------------------------------------------------------------ errors

    def _handle_request_exception(self, e: BaseException) -> None:
        # the one place where errors of the domain and the services become HTTP answers
        if isinstance(e, FieldErrors):
            first = e.errors[0]
            self._send_error(400, "invalid", str(first), first.field, errors=[err.to_dict() for err in e.errors])
        elif isinstance(e, FieldError):
            self._send_error(400, "invalid", str(e), e.field, accepted=e.accepted)
        elif isinstance(e, PermissionDenied):
            self._send_error(403, "forbidden", e.message, None)
        elif isinstance(e, NotFound):
            self._send_error(404, "not_found", e.message, e.field)
        elif isinstance(e, Conflict):
            self._send_error(409, e.code, e.message, e.field, **e.extra)
        elif isinstance(e, APIError):
            self._send_error(e.status, e.error, e.message, e.field, **e.extra)
        elif isinstance(e, HubAPIError):
            status = e.status if e.status in (400, 404, 409) else 502
            self._send_error(status, "hub_error", f"JupyterHub refused the change: {e.message}", None)
        else:
            super()._handle_request_exception(e)

    def _send_error(self, status: int, error: str, message: str, field: str | None, **extra) -> None:
        if self._finished:
            return
        self.clear()
        self.set_default_headers()
        self.set_status(status)
        body = {"error": error, "message": message, "field": field}
        body.update({k: v for k, v in extra.items() if v is not None})
        self.finish(json.dumps(body))

    def write_error(self, status_code: int, **kwargs) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = getattr(exc, "log_message", None) or HTTPStatus(status_code).phrase
        if status_code >= 500:
            message = "internal error; see the control plane's log"
        error = "forbidden" if status_code == 403 else HTTPStatus(status_code).phrase.lower().replace(" ", "_")
        self.finish(json.dumps({"error": error, "message": message, "field": None}))
