"""The token endpoint of the platform's registry (Docker registry v2 token
authentication): the realm the registry sends clients to.

``GET /registry/token?service=cubelab-registry&scope=repository:<project>/<image>:pull,push``
with HTTP Basic credentials: the user's name and one of their JupyterHub API
tokens (what ``docker login``, buildah and podman send), or a build's service
credential (:mod:`cubelab_hub.registry.tokens`). The answer is a signed token
granting, per repository asked, what the caller may do there
(:mod:`cubelab_hub.domain.registry_scopes`): members of a project pull from and
push to ``<project>/*``, nothing else. A client without credentials gets a
token that grants nothing (as the protocol expects: the registry then refuses
it); wrong credentials get 401.

This is a client's endpoint, not a user's API: authentication happens here and
only here, from the Authorization header (never logged: the access log writes
the method and path, and the query holds no secret). There is no cookie, so no
XSRF to check.
"""

from __future__ import annotations

import json

from tornado import web

from ...domain.errors import FieldError
from ...domain.registry_scopes import access_claims, parse_scope
from ...registry.tokens import SERVICE
from .base import op, route
from .trial_channel import basic_credentials

TAGS = ["registry"]
MAX_SCOPES = 20


class RegistryTokenHandler(web.RequestHandler):
    openapi = {"get": op(
        "A token for the platform's registry (Docker registry v2 token authentication); HTTP Basic auth with your user "
        "name and a JupyterHub API token. Grants pull and push on the repositories of your projects ('<project>/<image>')",
        tags=TAGS, returns="RegistryToken",
        params=[{"name": "service", "in": "query", "required": False, "schema": {"type": "string", "enum": [SERVICE]}},
                {"name": "scope", "in": "query", "required": False, "schema": {"type": "string"},
                 "description": "repository:<project>/<image>:<actions>; repeat for several"},
                {"name": "account", "in": "query", "required": False, "schema": {"type": "string"}}],
        errors=(400, 401))}

    def initialize(self, openapi_path: str = ""):
        self.openapi_path = openapi_path

    @property
    def app(self):
        return self.settings["cubelab"]

    def set_default_headers(self):
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")

    def check_xsrf_cookie(self):
        pass  # Basic auth only: no cookie is read, so there is nothing to forge

    def _fail(self, status: int, error: str, message: str, field: str | None = None, accepted: str | None = None) -> None:
        self.set_status(status)
        if status == 401:
            self.set_header("WWW-Authenticate", 'Basic realm="CubeLab registry"')
        self.finish(json.dumps({"error": error, "message": message, "field": field, "accepted": accepted}))

    async def get(self):
        service = self.get_argument("service", SERVICE)
        if service != SERVICE:
            return self._fail(400, "invalid", f"service: '{service[:100]}' is not this platform's registry", "service", f"'{SERVICE}'")
        scopes_text = self.get_arguments("scope")
        if len(scopes_text) > MAX_SCOPES:
            return self._fail(400, "invalid", f"scope: at most {MAX_SCOPES} scopes in one request", "scope")
        try:
            # a client may put several scopes in one parameter, separated by spaces
            scopes = [parse_scope(text) for joined in scopes_text for text in joined.split()]
        except FieldError as exc:
            return self._fail(400, "invalid", str(exc), exc.field, exc.accepted)
        credentials = basic_credentials(self.request.headers.get("Authorization"))
        if credentials is None:
            if self.request.headers.get("Authorization"):
                return self._fail(401, "unauthorized", "use HTTP Basic auth: your user name and a JupyterHub API token")
            return self.finish(json.dumps(self.app.registry_tokens.token("", access_claims(scopes, ()))))
        subject, projects = await self._authenticate(*credentials)
        if subject is None:
            return self._fail(401, "unauthorized", "user name or token not accepted: use your user name and a JupyterHub API token")
        self.finish(json.dumps(self.app.registry_tokens.token(subject, access_claims(scopes, projects))))

    async def _authenticate(self, user: str, password: str) -> tuple[str | None, set[str]]:
        """(subject, projects whose repositories it may use); (None, ...) for credentials not accepted."""
        tokens = self.app.registry_tokens
        project = tokens.check_service_credential(user, password)
        if project is not None:
            return user, {project}
        if not password:
            return None, set()
        hub_auth = self.settings["hub_auth"]
        model = await hub_auth.user_for_token(password, sync=False)
        # the token must be this user's, a user's (not a service's) and allowed to use this service
        if not model or model.get("kind", "user") != "user" or model.get("name") != user:
            return None, set()
        if hub_auth.access_scopes and not hub_auth.check_scopes(hub_auth.access_scopes, model):
            return None, set()
        hub_user = await self.app.hub_client.get_user(user)
        if hub_user is None:
            return None, set()
        return user, set(await self.app.projects_of(hub_user))


SCHEMAS = {
    "RegistryToken": {"type": "object", "properties": {
        "token": {"type": "string"}, "access_token": {"type": "string"}, "expires_in": {"type": "integer"},
        "issued_at": {"type": "string", "format": "date-time"}}},
}

ROUTES = [route("/registry/token", RegistryTokenHandler)]
