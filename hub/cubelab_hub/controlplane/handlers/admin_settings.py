"""The admin page's settings, audit log and usage over time (admins only).

``GET/PATCH /admin/settings`` (what is safe to change at run time),
``GET /admin/audit`` (who changed what, newest first, paged) and
``GET /admin/usage`` (CPU and GPU hours per day per project or user).
"""

from __future__ import annotations

from ...domain.errors import FieldError
from ...domain.paging import ListFilters, decode_cursor, page_from
from ...domain.usage_days import DEFAULT_DAYS, DEFAULT_TOP, MAX_DAYS, MAX_TOP, parse_by, parse_days, parse_top
from ..services.admin_settings import audit_page
from .base import APIHandler, op, route
from .listing import ListArguments, list_params, list_schema

TAGS = ["admin"]
ADMIN_ERRORS = (400, 401, 403)
TEXT_FILTERS = {"actor": "a user name (or 'cubelab', the platform itself)", "action": "an action such as settings.change or member.role",
                "project": "the name of a project"}


class SettingsHandler(APIHandler):
    openapi = {
        "get": op("The platform settings an admin may change at run time (admins)", tags=TAGS, returns="AdminSettings", errors=(401, 403)),
        "patch": op("Change run-time settings (admins): only the ones named; all checked before any is applied; "
                    "each change audited with its old and new value", tags=TAGS, body="AdminSettingsUpdate", returns="AdminSettings",
                    errors=ADMIN_ERRORS),
    }

    async def get(self):
        self.require("admin")
        self.send(await self.app.admin_settings.view())

    async def patch(self):
        self.require("admin")
        self.send(await self.app.admin_settings.update(self.actor.name, self.json_body()))


class AuditHandler(ListArguments, APIHandler):
    openapi = {"get": op("The audit log, newest first (admins); paged, filtered by actor, action and project", tags=TAGS,
                         returns="AuditList", errors=ADMIN_ERRORS,
                         params=list_params() + [{"name": name, "in": "query", "required": False, "description": text,
                                                  "schema": {"type": "string", "maxLength": 255}} for name, text in TEXT_FILTERS.items()])}

    async def get(self):
        self.require("admin")
        limit, cursor, _ = self.page_arguments()
        values = {}
        for name in TEXT_FILTERS:
            value = self.get_argument(name, None) or None
            if value is not None and len(value) > 255:
                raise FieldError(name, f"is {len(value)} characters long", "at most 255 characters")
            values[name] = value
        # the cursor's fingerprint of the filters (any three fields of the shared ListFilters serve)
        filters = ListFilters(creator=values["actor"], status=values["action"], project=values["project"])
        start = decode_cursor("audit", cursor, (int,), filters)
        rows = await self.db.run(audit_page, limit, start[0] if start else None, values["actor"], values["action"], values["project"])
        page = page_from(rows, limit, "audit", lambda row: [row["id"]], filters)
        self.send({"events": page.items, "next_cursor": page.next_cursor})


class UsageHandler(APIHandler):
    openapi = {"get": op(f"CPU and GPU hours per UTC day over the last days (up to {MAX_DAYS}), per project or per user (admins): "
                         "pipeline tasks, trials, notebook servers and services' replicas", tags=TAGS, returns="UsageHistory",
                         errors=ADMIN_ERRORS, params=[
                             {"name": "days", "in": "query", "required": False, "description": "how many days, ending today",
                              "schema": {"type": "integer", "minimum": 1, "maximum": MAX_DAYS, "default": DEFAULT_DAYS}},
                             {"name": "by", "in": "query", "required": False, "description": "one series per project or per user",
                              "schema": {"type": "string", "enum": ["project", "user"], "default": "project"}},
                             {"name": "top", "in": "query", "required": False,
                              "description": "how many series, those with the most hours; the rest are summed in 'others'",
                              "schema": {"type": "integer", "minimum": 1, "maximum": MAX_TOP, "default": DEFAULT_TOP}},
                             {"name": "q", "in": "query", "required": False,
                              "description": "only the projects or users whose name contains this",
                              "schema": {"type": "string", "maxLength": 100}},
                         ])}

    async def get(self):
        self.require("admin")
        days = parse_days(self.get_argument("days", None))
        by = parse_by(self.get_argument("by", None))
        top = parse_top(self.get_argument("top", None))
        q = self.get_argument("q", "")
        if len(q) > 100:
            raise FieldError("q", f"is {len(q)} characters long", "at most 100 characters")
        self.send(await self.app.usage_history.usage(days, by, top=top, q=q))


_TEXT_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_QUOTA = {"type": "object", "properties": {k: {"type": ["string", "null"]} for k in ("cpu", "memory", "gpu")}}
_LIMITS = {"type": "object", "additionalProperties": {"type": "object", "required": [], "properties": {
    "cpu": {"type": ["string", "number", "null"]}, "memory": {"type": ["string", "null"]}, "gpu": {"type": ["string", "integer", "null"]}}}}
_EXPIRY = {"type": "object", "properties": {"default": {"type": "string"}, "per_kind": _TEXT_MAP, "gpu": {"type": "string"}}}

SCHEMAS = {
    "AdminSettings": {"type": "object", "required": ["registration_open", "server_expiry", "role_limits", "default_project_quota"],
                      "properties": {
                          "registration_open": {"type": "boolean"},
                          "server_expiry": {**_EXPIRY, "required": ["default", "per_kind", "gpu"]},
                          "role_limits": {"oneOf": [{"type": "null"}, _LIMITS],
                                          "description": "per-server limits by role set here; null: the spawner's configured role_limits"},
                          "default_project_quota": {**_QUOTA, "description": "the quota of projects that set none; null values: no limit"},
                      }},
    # a patch: only the settings (and expiry keys, quota fields) it names change, so none is required
    "AdminSettingsUpdate": {"type": "object", "minProperties": 1, "additionalProperties": False, "required": [], "properties": {
        "registration_open": {"type": "boolean"},
        "server_expiry": {**_EXPIRY, "required": [], "properties": {**_EXPIRY["properties"], "gpu": {"type": ["string", "null"]}}},
        "role_limits": {"oneOf": [{"type": "null"}, _LIMITS]},
        "default_project_quota": {"oneOf": [{"type": "null"}, {**_QUOTA, "required": []}]},
    }},
    "AuditEvent": {"type": "object", "required": ["id", "at", "actor", "project", "action", "detail"], "properties": {
        "id": {"type": "integer"}, "at": {"type": "string", "format": "date-time"}, "actor": {"type": "string"},
        "project": {"type": ["string", "null"]}, "action": {"type": "string"}, "detail": {"type": "object"}}},
    "AuditList": list_schema("events", {"$ref": "#/components/schemas/AuditEvent"}),
    "UsageHistory": {"type": "object", "required": ["days", "series", "others"], "properties": {
        "days": {"type": "array", "items": {"type": "string", "format": "date"}},
        "series": {"type": "array", "items": {"type": "object", "required": ["key", "cpu_hours", "gpu_hours"], "properties": {
            "key": {"type": "string"},
            "cpu_hours": {"type": "array", "items": {"type": "number"}},
            "gpu_hours": {"type": "array", "items": {"type": "number"}}}}},
        "others": {"type": ["object", "null"], "required": ["keys", "cpu_hours", "gpu_hours"],
                   "description": "the series left out by 'top', summed; null when none is", "properties": {
                       "keys": {"type": "integer", "description": "how many projects or users it sums"},
                       "cpu_hours": {"type": "array", "items": {"type": "number"}},
                       "gpu_hours": {"type": "array", "items": {"type": "number"}}}}}},
}

ROUTES = [
    route("/admin/settings", SettingsHandler),
    route("/admin/audit", AuditHandler),
    route("/admin/usage", UsageHandler),
]
