"""Image registries: list, add, read, change, delete.

Platform-wide registries (``project`` null) are seen by every user and kept by
admins; a project's registries are seen by its members and kept by its
creators (rules in :mod:`cubelab_hub.domain.access`). A caller who may not see
a registry, or names a project they are not in, gets 404 before the body is
read. The password is write-only: answers say ``password_set``. On
Kubernetes a change is written, in the background, into the namespaces that
hold the registry's pull Secrets (:meth:`ControlPlane.registries_changed`).
"""

from __future__ import annotations

from ...domain.errors import FieldError, NotFound
from ...domain.registries import registry_from_dict
from ..models.registries import RegistryRow
from ..services.registries import RegistryStore
from .base import APIHandler, op, route
from .listing import ListArguments, list_params, list_schema

TAGS = ["registries"]
NAME_PARAM = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
FILTERS = ("project", "q")


class RegistryBase(APIHandler):
    @property
    def store(self) -> RegistryStore:
        return self.app.registries

    def can_read(self, project: str | None) -> bool:
        return project is None or self.allowed("registry:read", project)

    def can_edit(self, project: str | None) -> bool:
        return self.actor.admin if project is None else self.allowed("registry:edit", project)

    def load(self, session, name: str, edit: bool = False) -> RegistryRow:
        row = self.store.find(session, name)
        if row is None or not self.can_read(row.project):
            raise NotFound.of("registry", name)
        if edit and not self.can_edit(row.project):
            self.require("admin" if row.project is None else "registry:edit", row.project)
        return row

    def with_permissions(self, view: dict) -> dict:
        view["permissions"] = {"edit": self.can_edit(view["project"])}
        return view

    async def check_target(self, project) -> None:
        """404 for a project the caller is not in, 403 for one they may not keep registries of."""
        if project in (None, ""):
            self.require("admin")
            return
        if not isinstance(project, str):
            raise FieldError("project", f"must be a string or null, not {type(project).__name__}", "a project name or null")
        if not self.actor.admin and project not in self.actor.projects:
            raise NotFound.of("project", project, "project")
        self.require("registry:edit", project)
        if self.actor.admin and project not in self.actor.projects and await self.hub.get_group(project) is None:
            raise NotFound.of("project", project, "project")


class RegistryListHandler(ListArguments, RegistryBase):
    openapi = {
        "get": op("Registries the caller may use: the platform-wide ones and their projects' (all for admins), by name; paged",
                  tags=TAGS, returns="RegistryList", params=list_params(*FILTERS)),
        "post": op("Add a registry: platform-wide (admins, project null) or a project's (its creators). The password is "
                   "stored encrypted and never shown again", tags=TAGS, body="RegistryInput", returns="Registry", status=201,
                   errors=(400, 401, 403, 404, 409)),
    }

    async def get(self):
        limit, cursor, filters = self.page_arguments(FILTERS)
        page = await self.db.run(self.store.list, self.visible_projects(), filters, limit, cursor)
        page["registries"] = [self.with_permissions(v) for v in page["registries"]]
        self.send(page)

    async def post(self):
        body = self.json_body()
        await self.check_target(body.get("project"))
        registry = registry_from_dict(body)

        def insert(session) -> dict:
            return self.store.view(self.store.create(session, registry, self.actor.name))

        view = await self.db.run(insert)
        await self.app.audit(self.actor.name, registry.project, "registry:create", {"registry": registry.name, "host": registry.host})
        self.app.registries_changed(registry.project)
        self.send(self.with_permissions(view), 201)


class RegistryHandler(RegistryBase):
    openapi = {
        "get": op("Read a registry (never its password)", tags=TAGS, returns="Registry", params=[NAME_PARAM]),
        "patch": op("Change a registry's host, user name, description or password (leave the password out to keep it)",
                    tags=TAGS, body="RegistryInput", returns="Registry", params=[NAME_PARAM]),
        "delete": op("Delete a registry and its stored credentials", tags=TAGS, status=204, params=[NAME_PARAM], errors=(401, 403, 404)),
    }

    async def get(self, name):
        self.send(self.with_permissions(await self.db.run(lambda session: self.store.view(self.load(session, name)))))

    async def patch(self, name):
        current = await self.db.run(lambda session: self.store.view(self.load(session, name, edit=True)))
        changes = self.json_body()
        merged = {k: current[k] for k in ("name", "project", "host", "username", "description")}
        merged.update(changes)
        registry = registry_from_dict(merged, require_password=False)

        def store(session) -> dict:
            return self.store.view(self.store.update(session, self.load(session, name, edit=True), registry))

        view = await self.db.run(store)
        detail = {"registry": name, "fields": sorted(k for k in changes if k in merged)}  # names of fields, never values
        await self.app.audit(self.actor.name, current["project"], "registry:edit", detail)
        self.app.registries_changed(current["project"])
        self.send(self.with_permissions(view))

    async def delete(self, name):
        def remove(session) -> str | None:
            row = self.load(session, name, edit=True)
            project = row.project
            self.store.delete(session, row)
            return project

        project = await self.db.run(remove)
        await self.app.audit(self.actor.name, project, "registry:delete", {"registry": name})
        self.app.registries_changed(project)
        self.send(None, 204)


_FIELDS = {
    "name": {"type": "string", "description": "lowercase letters, digits and '-', at most 40 characters; unique; never changes"},
    "project": {"type": ["string", "null"], "description": "the project that keeps it; null: platform-wide (admins)"},
    "host": {"type": "string", "description": "host[:port] without scheme or path, e.g. 'registry.example.com'"},
    "username": {"type": "string"},
    "description": {"type": "string"},
}
SCHEMAS = {
    "RegistryInput": {"type": "object", "required": ["name", "host", "username", "password"], "properties": {
        **_FIELDS, "password": {"type": "string", "writeOnly": True, "description": "password or access token; never returned"}}},
    "Registry": {"type": "object", "properties": {
        "id": {"type": "integer"}, **_FIELDS,
        "password_set": {"type": "boolean", "description": "a password is stored (it is never returned)"},
        "pull_secret": {"type": "string", "description": "the kubernetes.io/dockerconfigjson Secret pods reference on Kubernetes"},
        "creator": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "permissions": {"type": "object", "properties": {"edit": {"type": "boolean"}}}}},
    "RegistryList": list_schema("registries", {"$ref": "#/components/schemas/Registry"}),
}

ROUTES = [
    route("/registries", RegistryListHandler),
    route("/registries/{name}", RegistryHandler),
]
