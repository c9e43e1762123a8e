"""Accounts, for admins: list, deactivate / reactivate, delete; open registration.

The account state itself lives in the hub (CubeLab's authenticator); this
resource gives the admin page one API for it.
"""

from __future__ import annotations

from urllib.parse import quote

from ...domain.errors import Conflict, FieldError, NotFound
from ...domain.paging import decode_cursor, encode_cursor
from .base import APIHandler, op, route
from .listing import ListArguments, list_params, list_schema

TAGS = ["users"]
USER_PARAM = {"name": "user", "in": "path", "required": True, "schema": {"type": "string"}}


class UserListHandler(ListArguments, APIHandler):
    openapi = {"get": op("List accounts with admin flag, active state and projects, by name (admins); paged", tags=TAGS,
                         returns="UserList", params=list_params("q"), errors=(400, 401, 403))}

    async def get(self):
        self.require("admin")
        limit, cursor, filters = self.page_arguments(("q",))
        start = decode_cursor("users", cursor, (int,), filters)
        # the hub pages and sorts its users by name itself (and searches them: name_filter)
        path = "/users?sort=name&include_stopped_servers=1" + (f"&name_filter={quote(filters.q, safe='')}" if filters.q else "")
        users, resume = await self.hub.scan(path, start[0] if start else 0, limit)
        accounts = {a["name"]: a for a in await self.hub.list_accounts()}
        self.send({"users": [
            {
                "name": u["name"],
                "admin": bool(u.get("admin")),
                "active": accounts.get(u["name"], {}).get("active", True),
                "projects": sorted(u.get("groups") or []),
                "last_activity": u.get("last_activity"),
            }
            for u in users
        ], "next_cursor": encode_cursor("users", [resume], filters) if resume is not None else None})


class UserHandler(APIHandler):
    openapi = {
        "get": op("Read one account (admins, or the user themself)", tags=TAGS, returns="User", params=[USER_PARAM], errors=(401, 403, 404)),
        "patch": op("Deactivate or reactivate an account, or give or take its admin role (admins). Deactivation refuses "
                    "the user's logins, revokes their tokens and stops their servers; admins cannot deactivate or demote themselves", tags=TAGS, body="UserUpdate", returns="User",
                    params=[USER_PARAM], errors=(400, 401, 403, 404, 409)),
        "delete": op("Delete an account and its memberships (admins)", tags=TAGS, status=204, params=[USER_PARAM], errors=(401, 403, 404, 409)),
    }

    async def _model(self, user: str) -> dict:
        model = await self.hub.get_user(user, fresh=True)
        if model is None:
            raise NotFound.of("user", user)
        account = await self.hub.get_account(user) or {}
        return {
            "name": model["name"],
            "admin": bool(model.get("admin")),
            "active": account.get("active", True),
            "projects": sorted(model.get("groups") or []),
            "last_activity": model.get("last_activity"),
        }

    async def get(self, user):
        if user != self.actor.name:
            self.require("admin")
        self.send(await self._model(user))

    async def patch(self, user):
        self.require("admin")
        before = await self._model(user)  # 404 before the body is read
        body = self.json_body()
        unknown = sorted(set(body) - {"active", "admin"})
        if unknown:
            raise FieldError(unknown[0], "cannot be changed here", "active and/or admin, each true or false")
        if not body:
            raise FieldError("active", "give 'active' and/or 'admin'", "{\"active\": true|false} and/or {\"admin\": true|false}")
        for key in ("active", "admin"):
            if key in body and not isinstance(body[key], bool):
                raise FieldError(key, f"must be true or false, got {body[key]!r}", "true or false")
        if user == self.actor.name and (body.get("active") is False or body.get("admin") is False):
            field = "active" if body.get("active") is False else "admin"
            raise Conflict("admins cannot deactivate their own account or remove their own admin role", field)
        await self.hub.update_account(user, body)
        self.app.forget_caches(user)
        for key in ("active", "admin"):
            if key in body and body[key] != before[key]:
                await self.app.audit(self.actor.name, None, f"user.{key}", {"user": user, key: body[key],
                                                                          "old": before[key], "new": body[key]})
        self.send(await self._model(user))

    async def delete(self, user):
        self.require("admin")
        before = await self._model(user)
        if user == self.actor.name:
            raise Conflict("admins cannot delete their own account")
        await self.app.remove_user_everywhere(user)
        await self.app.audit(self.actor.name, None, "user.delete", {"user": user, "old": {k: before[k] for k in ("admin", "active", "projects")}})
        self.send(None, 204)


class RegistrationHandler(APIHandler):
    openapi = {
        "get": op("Whether logging in with a new name creates an account", tags=TAGS, returns="Registration", errors=(401,)),
        "put": op("Open or close registration (admins)", tags=TAGS, body="Registration", returns="Registration", errors=(400, 401, 403)),
    }

    async def get(self):
        self.send(await self.hub.get_registration())

    async def put(self):
        self.require("admin")
        body = self.json_body()
        if set(body) != {"open"} or not isinstance(body["open"], bool):
            raise FieldError("open", "must be the only field, true or false", "{\"open\": true} or {\"open\": false}")
        before = await self.hub.get_registration()
        result = await self.hub.set_registration(body["open"])
        await self.app.audit(self.actor.name, None, "registration", {"open": body["open"], "old": bool(before.get("open")), "new": body["open"]})
        self.send(result)


SCHEMAS = {
    "User": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "admin": {"type": "boolean"},
            "active": {"type": "boolean"},
            "projects": {"type": "array", "items": {"type": "string"}},
            "last_activity": {"type": ["string", "null"]},
        },
    },
    "UserList": list_schema("users", {"$ref": "#/components/schemas/User"}),
    "UserUpdate": {"type": "object", "minProperties": 1, "additionalProperties": False,
                   "properties": {"active": {"type": "boolean"}, "admin": {"type": "boolean"}}},
    "Registration": {"type": "object", "required": ["open"], "properties": {"open": {"type": "boolean"}}},
}

ROUTES = [
    route("/users", UserListHandler),
    route("/users/{user}", UserHandler),
    route("/settings/registration", RegistrationHandler),
]
