"""Notebook servers: their expiry, renewal and reset (owners and admins may act
on a server; nobody else may see it). The work is
:class:`cubelab_hub.controlplane.services.servers.ServerManager`'s."""

from __future__ import annotations

from ...domain.paging import decode_cursor, encode_cursor, page_in_memory
from ..services.servers import ServerManager
from .base import APIError, APIHandler, op, route
from .listing import ListArguments, list_params

TAGS = ["servers"]
USER_PARAM = {"name": "user", "in": "path", "required": True, "schema": {"type": "string"}}
SERVER_PARAM = {"name": "server", "in": "path", "required": True, "schema": {"type": "string"}, "description": "a named server"}


class ServerBase(APIHandler):
    @property
    def manager(self) -> ServerManager:
        return self.app.server_manager

    def require_owner(self, user: str) -> None:
        # A server is its owner's; admins may act on any (as on the hub).
        self.require("server:manage", owner=user)


class ServerListHandler(ListArguments, ServerBase):
    openapi = {
        "get": op(
            "Running servers with their expiry, by user and server name: the caller's, or (admins) another user's with ?user= "
            "or everyone's with ?all=1; paged",
            tags=TAGS, returns="ServerList",
            params=[*list_params(), {"name": "user", "in": "query", "required": False, "schema": {"type": "string"}},
                    {"name": "all", "in": "query", "required": False, "schema": {"type": "boolean"}}],
            errors=(400, 401, 403, 404),
        )
    }

    async def get(self):
        everyone = self.get_argument("all", "") in ("1", "true")
        if everyone:
            if not self.actor.admin:
                raise APIError(403, "forbidden", "only admins may list everyone's servers")
        else:
            user = self.get_argument("user", self.actor.name)
            self.require_owner(user)
        limit, cursor, _filters = self.page_arguments()
        if everyone:
            start = decode_cursor("servers:all", cursor, (int, str))
            servers, last = await self.manager.servers_page(start, limit)
            next_cursor = encode_cursor("servers:all", last) if last else None
        else:
            kind = f"servers:{user}"
            page = page_in_memory(await self.manager.user_servers(user), limit, decode_cursor(kind, cursor, (str,)), kind,
                                  lambda s: (s["name"],))
            servers, next_cursor = page.items, page.next_cursor
        self.send({"servers": servers, "next_cursor": next_cursor,
                   "policy": {"default": self.manager.expiry.default, "per_kind": self.manager.expiry.per_kind, "gpu": self.manager.expiry.gpu or None}})


class ServerHandler(ServerBase):
    openapi = {"get": op("One running server with its expiry", tags=TAGS, returns="Server", params=[USER_PARAM], errors=(401, 403, 404))}

    async def get(self, user, server=""):
        self.require_owner(user)
        model = await self.manager.server(user, server)
        renewal = await self.manager.renewal(user, server)
        self.send(self.manager.view(user, model, renewal))


class NamedServerHandler(ServerHandler):
    openapi = {"get": op("One running named server with its expiry", tags=TAGS, returns="Server", params=[USER_PARAM, SERVER_PARAM], errors=(401, 403, 404))}


class RenewHandler(ServerBase):
    openapi = {"post": op("Renew a server: it expires one period from now", tags=TAGS, returns="Server", params=[USER_PARAM], errors=(401, 403, 404))}

    async def post(self, user, server=""):
        self.require_owner(user)
        view = await self.manager.renew(user, server, self.actor.name)
        await self.app.audit(self.actor.name, view.get("project"), "server:renew", {"user": user, "server": server})
        self.send(view)


class NamedRenewHandler(RenewHandler):
    openapi = {"post": op("Renew a named server", tags=TAGS, returns="Server", params=[USER_PARAM, SERVER_PARAM], errors=(401, 403, 404))}


class ResetHandler(ServerBase):
    openapi = {
        "post": op("Reset a server: answer at once, then stop it and start it fresh with the same choices; "
                   "GET on the same path (the Location header) follows the reset", tags=TAGS, returns="ServerReset",
                   status=202, params=[USER_PARAM], errors=(401, 403, 404, 409)),
        "get": op("The state of the server's latest reset: stopping, starting, started or failed (with a message)",
                  tags=TAGS, returns="ServerReset", params=[USER_PARAM], errors=(401, 403, 404)),
    }

    async def post(self, user, server=""):
        self.require_owner(user)
        result = await self.manager.start_reset(user, server)
        await self.app.audit(self.actor.name, result["options"].get("project"), "server:reset", {"user": user, "server": server})
        self.set_header("Location", self.request.path)  # where GET follows this reset
        self.send(result, status=202)

    async def get(self, user, server=""):
        self.require_owner(user)
        self.send(self.manager.reset_state(user, server))


class NamedResetHandler(ResetHandler):
    openapi = {
        "post": op("Reset a named server (as the default server's reset)", tags=TAGS, returns="ServerReset", status=202,
                   params=[USER_PARAM, SERVER_PARAM], errors=(401, 403, 404, 409)),
        "get": op("The state of a named server's latest reset", tags=TAGS, returns="ServerReset",
                  params=[USER_PARAM, SERVER_PARAM], errors=(401, 403, 404)),
    }


SCHEMAS = {
    "Server": {
        "type": "object",
        "properties": {
            "user": {"type": "string"},
            "name": {"type": "string", "description": "'' for the default server"},
            "project": {"type": ["string", "null"]},
            "kind": {"type": ["string", "null"]},
            "options": {"type": "object"},
            "url": {"type": ["string", "null"]},
            "ready": {"type": "boolean"},
            "pending": {"type": ["string", "null"]},
            "started": {"type": ["string", "null"], "format": "date-time"},
            "renewed_at": {"type": ["string", "null"], "format": "date-time"},
            "renewed_by": {"type": ["string", "null"]},
            "expires_at": {"type": ["string", "null"], "format": "date-time", "description": "null: never expires"},
        },
    },
    "ServerList": {
        "type": "object",
        "properties": {
            "servers": {"type": "array", "items": {"$ref": "#/components/schemas/Server"}},
            "next_cursor": {"type": ["string", "null"], "description": "pass as ?cursor= for the next page; null on the last page"},
            "policy": {"type": "object"},
        },
    },
    "ServerReset": {
        "type": "object",
        "properties": {
            "user": {"type": "string"},
            "name": {"type": "string"},
            "options": {"type": "object"},
            "status": {"type": "string", "enum": ["stopping", "starting", "started", "failed"]},
            "message": {"type": "string"},
            "requested_at": {"type": "string", "format": "date-time"},
        },
    },
}

ROUTES = [
    route("/servers", ServerListHandler),
    route("/users/{user}/server", ServerHandler),
    route("/users/{user}/servers/{server}", NamedServerHandler),
    route("/users/{user}/server/renew", RenewHandler),
    route("/users/{user}/servers/{server}/renew", NamedRenewHandler),
    route("/users/{user}/server/reset", ResetHandler),
    route("/users/{user}/servers/{server}/reset", NamedResetHandler),
]
