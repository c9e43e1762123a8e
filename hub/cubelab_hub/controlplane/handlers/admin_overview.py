"""The admin overview (admins only): users and projects with what their work
holds now, one view of everything running, and stopping any of it.

Every route asks for the ``admin`` action first: everyone else gets 403, and
an anonymous caller the 401 of every route. The work is
:class:`~cubelab_hub.controlplane.services.admin_overview.AdminOverview`.
"""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from ...domain.admin_views import KINDS, UserActivity, matching, parse_running_filters, project_use, quota_json, totals
from ...domain.paging import decode_cursor, encode_cursor, page_in_memory, parse_limit
from ...domain.projects import settings_from_properties
from .base import APIHandler, op, route
from .listing import CURSOR_PARAM, LIMIT_PARAM, ListArguments, list_params, list_schema

TAGS = ["admin"]
USAGE = {"type": "object", "required": ["cpu", "memory", "gpu"], "properties": {
    "cpu": {"type": "number", "description": "cores (limits)"},
    "memory": {"type": "integer", "description": "bytes (limits)"},
    "gpu": {"type": "number", "description": "cards"},
}}
RUNNING_PARAMS = [
    LIMIT_PARAM, CURSOR_PARAM,
    {"name": "kind", "in": "query", "required": False, "description": "only this kind of work", "schema": {"type": "string", "enum": list(KINDS)}},
    {"name": "project", "in": "query", "required": False, "description": "only this project's work", "schema": {"type": "string"}},
    {"name": "user", "in": "query", "required": False, "description": "only this user's work", "schema": {"type": "string"}},
]


class AdminUsersHandler(ListArguments, APIHandler):
    openapi = {"get": op("Accounts with their projects and what they run now: servers, active runs and experiments, services "
                         "and the resources their work holds (admins); paged by name", tags=TAGS, returns="AdminUserList",
                         params=list_params("q"), errors=(400, 401, 403))}

    async def get(self):
        self.require("admin")
        limit, cursor, filters = self.page_arguments(("q",))
        start = decode_cursor("admin-users", cursor, (int,), filters)
        # the hub pages, sorts and searches its users itself
        path = "/users?sort=name" + (f"&name_filter={quote(filters.q, safe='')}" if filters.q else "")
        users, resume = await self.hub.scan(path, start[0] if start else 0, limit)
        accounts = await asyncio.gather(*(self.hub.get_account(u["name"]) for u in users))
        _items, activity = await self.app.admin_overview.activity_by_user()
        empty = UserActivity().to_dict()
        self.send({"users": [
            {"name": u["name"], "admin": bool(u.get("admin")), "active": (account or {}).get("active", True),
             "last_activity": u.get("last_activity"), "projects": sorted(u.get("groups") or []),
             **(activity[u["name"]].to_dict() if u["name"] in activity else empty)}
            for u, account in zip(users, accounts, strict=True)
        ], "next_cursor": encode_cursor("admin-users", [resume], filters) if resume is not None else None})


class AdminProjectsHandler(ListArguments, APIHandler):
    openapi = {"get": op("Projects with their members, quota and what their work holds now, in total and per kind "
                         "(servers, tasks, trials, services, builds) (admins); paged", tags=TAGS, returns="AdminProjectList",
                         params=list_params("q"), errors=(400, 401, 403))}

    async def get(self):
        self.require("admin")
        limit, cursor, filters = self.page_arguments(("q",))

        def wanted(group: dict) -> bool:
            return self.app.is_project(group) and (filters.q is None or filters.q in group["name"].lower())

        start = decode_cursor("admin-projects", cursor, (int,), filters)
        groups, resume = await self.hub.scan("/groups", start[0] if start else 0, limit, wanted)
        items, _runners, _experiments = await self.app.admin_overview.snapshot()
        self.send({"projects": [
            {"name": g["name"], "members": len(g.get("users") or []),
             "quota": quota_json(settings_from_properties(g.get("properties")).quota), **project_use(items, g["name"])}
            for g in groups
        ], "next_cursor": encode_cursor("admin-projects", [resume], filters) if resume is not None else None})


class AdminRunningHandler(APIHandler):
    openapi = {"get": op("Everything running now across projects: notebook servers, pipeline tasks, experiment trials, services "
                         "and image builds, with what each holds, filtered; totals per project and per user cover every "
                         "item the filters match, not only the page (admins); paged", tags=TAGS, returns="AdminRunning",
                         params=RUNNING_PARAMS, errors=(400, 401, 403))}

    async def get(self):
        self.require("admin")
        limit = parse_limit(self.get_argument("limit", None))
        wanted = parse_running_filters(self.get_argument("kind", None), self.get_argument("project", None),
                                       self.get_argument("user", None))
        after = decode_cursor(wanted.list_name(), self.get_argument("cursor", None) or None, (str, str, str), wanted.list_filters())
        items, _runners, _experiments = await self.app.admin_overview.snapshot()
        found = matching(items, wanted.kind, wanted.project, wanted.user)
        page = page_in_memory(found, limit, after, wanted.list_name(), lambda item: item.sort_key(), wanted.list_filters())
        self.send({"items": [item.to_dict() for item in page.items], "next_cursor": page.next_cursor, "totals": totals(found)})


class AdminStopHandler(APIHandler):
    openapi = {"post": op("Stop one running item (admins): a server through the hub, a task by cancelling its run, a trial "
                          "(its experiment goes on), a service (scaled to zero), a build (cancelled); recorded in the audit log",
                          tags=TAGS, returns="AdminStopped", status=202, errors=(401, 403, 404, 409),
                          params=[{"name": "kind", "in": "path", "required": True, "schema": {"type": "string", "enum": list(KINDS)}},
                                  {"name": "item_id", "in": "path", "required": True, "schema": {"type": "string"}}])}

    async def post(self, kind, item_id):
        self.require("admin")
        self.send(await self.app.admin_overview.stop(kind, item_id, self.actor.name), 202)


SCHEMAS = {
    "AdminUsage": USAGE,
    "AdminUser": {"type": "object", "required": ["name", "admin", "active", "projects", "servers", "runs_active",
                                                 "experiments_active", "services", "use"], "properties": {
        "name": {"type": "string"},
        "admin": {"type": "boolean"},
        "active": {"type": "boolean"},
        "last_activity": {"type": ["string", "null"]},
        "projects": {"type": "array", "items": {"type": "string"}},
        "servers": {"type": "integer", "description": "running or starting notebook servers"},
        "runs_active": {"type": "integer", "description": "pipeline runs not ended (trials' runs count as experiments)"},
        "experiments_active": {"type": "integer"},
        "services": {"type": "integer", "description": "deployed services"},
        "use": {"$ref": "#/components/schemas/AdminUsage"},
    }},
    "AdminUserList": list_schema("users", {"$ref": "#/components/schemas/AdminUser"}),
    "AdminProject": {"type": "object", "required": ["name", "members", "quota", "use", "by_kind"], "properties": {
        "name": {"type": "string"},
        "members": {"type": "integer"},
        "quota": {"type": ["object", "null"], "description": "null: no limit; a null resource is not limited", "properties": {
            "cpu": {"type": ["number", "null"]}, "memory": {"type": ["integer", "null"]}, "gpu": {"type": ["integer", "null"]}}},
        "use": {"$ref": "#/components/schemas/AdminUsage"},
        "by_kind": {"type": "object", "required": ["servers", "tasks", "trials", "services", "builds"], "properties": {
            key: {"$ref": "#/components/schemas/AdminUsage"} for key in ("servers", "tasks", "trials", "services", "builds")}},
    }},
    "AdminProjectList": list_schema("projects", {"$ref": "#/components/schemas/AdminProject"}),
    "AdminRunningItem": {"type": "object", "required": ["kind", "id", "name", "project", "user", "status", "started", "use", "cluster"],
                         "properties": {
        "kind": {"type": "string", "enum": list(KINDS)},
        "id": {"type": "string", "description": "what POST /admin/running/{kind}/{id}/stop takes"},
        "name": {"type": "string"},
        "project": {"type": ["string", "null"], "description": "null: a server started for no project"},
        "user": {"type": "string"},
        "status": {"type": "string"},
        "started": {"type": ["string", "null"]},
        "use": {"$ref": "#/components/schemas/AdminUsage"},
        "cluster": {"type": "string"},
    }},
    "AdminTotal": {"type": "object", "required": ["count", "cpu", "memory", "gpu"], "properties": {
        "count": {"type": "integer"}, **USAGE["properties"]}},
    "AdminRunning": {"type": "object", "required": ["items", "next_cursor", "totals"], "properties": {
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/AdminRunningItem"}},
        "next_cursor": {"type": ["string", "null"], "description": "pass as ?cursor= for the next page; null on the last page"},
        "totals": {"type": "object", "required": ["by_project", "by_user"], "properties": {
            "by_project": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/AdminTotal"}},
            "by_user": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/AdminTotal"}},
        }},
    }},
    "AdminStopped": {"type": "object", "required": ["kind", "id", "status"], "properties": {
        "kind": {"type": "string", "enum": list(KINDS)}, "id": {"type": "string"}, "status": {"type": "string"}}},
}

ROUTES = [
    route("/admin/users", AdminUsersHandler),
    route("/admin/projects", AdminProjectsHandler),
    route("/admin/running", AdminRunningHandler),
    route("/admin/running/{kind}/{item_id}/stop", AdminStopHandler),
]
