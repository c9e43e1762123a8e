"""Notebook servers: expiry, renewal, reset, and stopping on revoked membership.

The hub knows which servers run, when they started and with which choices
(``user_options``); this module adds when each expires
(``cubelab_spawner.expiry``), a one-click renewal, a reset that restarts a
server with the same choices, and a reaper that stops expired servers through
the hub's API. Owners and admins may act on a server; nobody else may see it.

Settings (control plane config): ``c.ServerExpiry.default = "3d"``,
``c.ServerExpiry.per_kind = {"vscode": "1d"}``, ``c.ServerExpiry.gpu = "1d"``,
``c.ServerExpiry.reaper_interval = 60``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from urllib.parse import quote

from sqlalchemy import select
from traitlets import Dict, Float, Unicode, validate
from traitlets.config import Configurable

from ...domain.expiry import ExpiryPolicy, parse_duration
from ..hubclient import HubAPIError
from ..models.pipelines import aware
from ..models.servers import ServerRenewalRow
from .base import APIError, APIHandler, op, route

TAGS = ["servers"]
USER_PARAM = {"name": "user", "in": "path", "required": True, "schema": {"type": "string"}}
SERVER_PARAM = {"name": "server", "in": "path", "required": True, "schema": {"type": "string"}, "description": "a named server"}
log = logging.getLogger("cubelab.servers")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class ServerExpiry(Configurable):
    default = Unicode("3d", config=True, help="How long a notebook server lives after it starts or is renewed ('3d', '12h', 'never').")
    per_kind = Dict(
        {}, config=True, help="Periods per kind of server, over the default: {'jupyterlab': '3d', 'vscode': '1d', 'rstudio': '1d'}."
    )
    gpu = Unicode("", config=True, help="Period for servers with at least one GPU, over kind and default ('' = as the others).")
    reaper_interval = Float(60.0, config=True, help="Seconds between passes that stop expired servers.")
    stop_timeout = Float(120.0, config=True, help="Seconds a reset waits for the old server to stop before giving up.")

    @validate("default", "gpu")
    def _check_duration(self, proposal):
        if proposal.value:
            parse_duration(proposal.value, f"ServerExpiry.{proposal.trait.name}")
        return proposal.value

    def policy(self) -> ExpiryPolicy:
        return ExpiryPolicy.from_config(self.default, self.per_kind, self.gpu or None)


def _hub_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return aware(datetime.fromisoformat(text.replace("Z", "+00:00")))


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if value else None


def _server_path(user: str, server: str) -> str:
    base = f"/users/{quote(user, safe='')}"
    return f"{base}/servers/{quote(server, safe='')}" if server else f"{base}/server"


def _active(model: dict) -> bool:
    return bool(model.get("ready") or model.get("pending")) and not model.get("stopped")


class ServerManager:
    def __init__(self, app, expiry: ServerExpiry):
        self.app = app
        self.expiry = expiry

    @property
    def hub(self):
        return self.app.hub_client

    def renewals(self, user: str | None = None) -> dict[tuple[str, str], ServerRenewalRow]:
        with self.app.database.session() as session:
            query = select(ServerRenewalRow)
            if user is not None:
                query = query.where(ServerRenewalRow.user == user)
            return {(r.user, r.server): r for r in session.scalars(query).all()}

    def view(self, user: str, model: dict, renewal: ServerRenewalRow | None) -> dict:
        options = model.get("user_options") or {}
        started = _hub_time(model.get("started"))
        renewed_at = aware(renewal.renewed_at) if renewal else None
        if started and renewed_at and renewed_at < started:
            renewed_at = None  # a renewal of an earlier run of this server
        expires = self.expiry.policy().expires_at(started, renewed_at, options) if started else None
        return {
            "user": user,
            "name": model.get("name", ""),
            "project": options.get("project"),
            "kind": options.get("kind"),
            "options": options,
            "url": model.get("url"),
            "ready": bool(model.get("ready")),
            "pending": model.get("pending"),
            "started": _iso(started),
            "renewed_at": _iso(renewed_at),
            "renewed_by": renewal.renewed_by if renewed_at and renewal else None,
            "expires_at": _iso(expires),
        }

    async def user_servers(self, user: str) -> list[dict]:
        model = await self.hub.get_user(user, fresh=True)
        if model is None:
            raise APIError(404, "not_found", f"user '{user}' does not exist")
        renewals = self.renewals(user)
        servers = model.get("servers") or {}
        return [self.view(user, s, renewals.get((user, name))) for name, s in sorted(servers.items()) if _active(s)]

    async def server(self, user: str, server: str) -> dict:
        model = await self.hub.get_user(user, fresh=True)
        if model is None:
            raise APIError(404, "not_found", f"user '{user}' does not exist")
        found = (model.get("servers") or {}).get(server)
        if found is None or not _active(found):
            label = f"server '{server}'" if server else "default server"
            raise APIError(404, "not_found", f"{user} has no running {label}")
        return found

    async def renew(self, user: str, server: str, actor: str) -> dict:
        model = await self.server(user, server)
        now = utcnow()
        with self.app.database.session() as session:
            row = session.scalars(select(ServerRenewalRow).where(ServerRenewalRow.user == user, ServerRenewalRow.server == server)).first()
            if row is None:
                row = ServerRenewalRow(user=user, server=server, renewed_at=now, renewed_by=actor)
                session.add(row)
            else:
                row.renewed_at, row.renewed_by = now, actor
        return self.view(user, model, row)

    async def stop(self, user: str, server: str, wait: bool) -> None:
        await self.hub.request("DELETE", _server_path(user, server), ok_missing=True)
        if not wait:
            return
        deadline = time.monotonic() + self.expiry.stop_timeout
        while time.monotonic() < deadline:
            model = await self.hub.get_user(user, fresh=True)
            current = ((model or {}).get("servers") or {}).get(server)
            if current is None or not _active(current):
                return
            await asyncio.sleep(0.5)
        raise APIError(504, "timeout", f"the server did not stop within {self.expiry.stop_timeout:.0f}s")

    async def reset(self, user: str, server: str) -> dict:
        model = await self.server(user, server)
        if model.get("pending"):
            raise APIError(409, "conflict", f"the server is {model['pending']}; try again when it is done")
        options = dict(model.get("user_options") or {})
        await self.stop(user, server, wait=True)
        try:
            await self.hub.request("POST", _server_path(user, server), options)
        except HubAPIError as exc:
            # e.g. the same choices are now over the project's quota: say so
            raise APIError(exc.status if exc.status in (400, 409) else 502, "start_failed", f"stopped, but starting again failed: {exc.message}") from None
        with self.app.database.session() as session:
            for row in session.scalars(select(ServerRenewalRow).where(ServerRenewalRow.user == user, ServerRenewalRow.server == server)):
                session.delete(row)  # a fresh start: the renewal belonged to the old one
        return {"user": user, "name": server, "options": options, "status": "starting"}

    async def reap(self, now: datetime) -> list[tuple[str, str]]:
        """Stop every expired server; returns what was stopped."""
        policy = self.expiry.policy()
        renewals = self.renewals()
        stopped = []
        for user in await self.hub.list_users():
            for name, model in (user.get("servers") or {}).items():
                if not model.get("ready") or model.get("pending"):
                    continue
                started = _hub_time(model.get("started"))
                if started is None:
                    continue
                renewal = renewals.get((user["name"], name))
                renewed_at = aware(renewal.renewed_at) if renewal else None
                if policy.is_expired(now, started, renewed_at, model.get("user_options")):
                    log.info("server %s/%s expired (started %s, renewed %s); stopping", user["name"], name, _iso(started), _iso(renewed_at))
                    try:
                        await self.stop(user["name"], name, wait=False)
                    except Exception:
                        log.exception("stopping expired server %s/%s failed", user["name"], name)
                        continue
                    await self.app.audit("cubelab", (model.get("user_options") or {}).get("project"), "server:expired", {"user": user["name"], "server": name})
                    stopped.append((user["name"], name))
        return stopped

    async def loop(self) -> None:
        while True:
            try:
                await self.reap(utcnow())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("server expiry pass failed")
            await asyncio.sleep(self.expiry.reaper_interval)

    async def on_membership_revoked(self, project: str, user: str) -> None:
        """Stop the user's servers that run for the project they just left."""
        model = await self.hub.get_user(user, fresh=True)
        for name, server in ((model or {}).get("servers") or {}).items():
            if _active(server) and (server.get("user_options") or {}).get("project") == project:
                log.info("%s left project %s: stopping server '%s'", user, project, name)
                await self.stop(user, name, wait=False)


class ServerBase(APIHandler):
    @property
    def manager(self) -> ServerManager:
        return self.app.server_manager

    def require_owner(self, user: str) -> None:
        # A server is its owner's; admins may act on any (as on the hub).
        self.require("server:manage", owner=user)


class ServerListHandler(ServerBase):
    openapi = {
        "get": op(
            "Running servers with their expiry: the caller's, or (admins) another user's with ?user= or everyone's with ?all=1",
            tags=TAGS, returns="ServerList",
            params=[{"name": "user", "in": "query", "required": False, "schema": {"type": "string"}},
                    {"name": "all", "in": "query", "required": False, "schema": {"type": "boolean"}}],
            errors=(401, 403, 404),
        )
    }

    async def get(self):
        if self.get_argument("all", "") in ("1", "true"):
            if not self.actor.admin:
                raise APIError(403, "forbidden", "only admins may list everyone's servers")
            servers = []
            for user in await self.hub.list_users():
                servers.extend(await self.manager.user_servers(user["name"]) if user.get("servers") else [])
        else:
            user = self.get_argument("user", self.actor.name)
            self.require_owner(user)
            servers = await self.manager.user_servers(user)
        self.send({"servers": servers, "policy": {"default": self.manager.expiry.default, "per_kind": self.manager.expiry.per_kind, "gpu": self.manager.expiry.gpu or None}})


class ServerHandler(ServerBase):
    openapi = {"get": op("One running server with its expiry", tags=TAGS, returns="Server", params=[USER_PARAM], errors=(401, 403, 404))}

    async def get(self, user, server=""):
        self.require_owner(user)
        model = await self.manager.server(user, server)
        renewal = self.manager.renewals(user).get((user, server))
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
        "post": op("Reset a server: stop it and start it fresh with the same choices", tags=TAGS, returns="ServerReset",
                   status=202, params=[USER_PARAM], errors=(400, 401, 403, 404, 409, 504))
    }

    async def post(self, user, server=""):
        self.require_owner(user)
        result = await self.manager.reset(user, server)
        await self.app.audit(self.actor.name, result["options"].get("project"), "server:reset", {"user": user, "server": server})
        self.send(result, status=202)


class NamedResetHandler(ResetHandler):
    openapi = {
        "post": op("Reset a named server", tags=TAGS, returns="ServerReset", status=202,
                   params=[USER_PARAM, SERVER_PARAM], errors=(400, 401, 403, 404, 409, 504))
    }


def setup(app) -> None:
    app.server_manager = ServerManager(app, ServerExpiry(parent=app))
    app.membership_revoked_hooks.append(app.server_manager.on_membership_revoked)
    app.background_tasks.append(app.server_manager.loop)


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
            "policy": {"type": "object"},
        },
    },
    "ServerReset": {
        "type": "object",
        "properties": {"user": {"type": "string"}, "name": {"type": "string"}, "options": {"type": "object"}, "status": {"type": "string"}},
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
