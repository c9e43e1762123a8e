"""Projects and their members: JupyterHub groups with CubeLab properties."""

from __future__ import annotations

from ...domain.access import project_permissions
from ...domain.errors import Conflict, FieldError, NotFound
from ...domain.paging import decode_cursor, encode_cursor, page_in_memory
from ...domain.projects import (
    PUBLIC,
    ROLES,
    apply_settings_patch,
    member_roles,
    settings_view,
    validate_description,
    validate_project_name,
    validate_role,
)
from .base import APIHandler, op, route
from .listing import ListArguments, list_params, list_schema

TAGS = ["projects"]
PROJECT_PARAM = {"name": "project", "in": "path", "required": True, "schema": {"type": "string"}}
MEMBER_PARAM = {"name": "member", "in": "path", "required": True, "schema": {"type": "string"}}


def project_summary(group: dict, actor) -> dict:
    props = group.get("properties") or {}
    return {
        "name": group["name"],
        "description": props.get("description", ""),
        "role": actor.role_in(group["name"]),
        "settings": settings_view(props),
        "member_count": len(group.get("users") or []),
    }


def project_detail(group: dict, actor) -> dict:
    props = group.get("properties") or {}
    roles = member_roles(props, sorted(group.get("users") or []), group["name"])
    detail = project_summary(group, actor)
    detail["creator"] = props.get("creator")
    detail["members"] = [{"name": name, "role": role} for name, role in roles.items()]
    detail["permissions"] = project_permissions(actor, group["name"])
    return detail


class ProjectBase(APIHandler):
    async def load_project(self, project: str) -> dict:
        # a project the caller may not read answers as one that does not exist
        if not self.allowed("project:read", project):
            raise NotFound.of("project", project)
        group = await self.hub.get_group(project)
        if group is None or not self.app.is_project(group):
            raise NotFound.of("project", project)
        return group

    async def reload_project(self, project: str) -> dict:
        """The group again, under the project's lock: a concurrent delete may
        have removed it since :meth:`load_project`."""
        group = await self.hub.get_group(project)
        if group is None:
            raise NotFound.of("project", project)
        return group

    async def audit(self, project: str | None, action: str, **detail) -> None:
        await self.app.audit(self.actor.name, project, action, detail)


class ProjectListHandler(ListArguments, ProjectBase):
    openapi = {
        "get": op("List the projects the caller is a member of, by name (admins: every project, in the order JupyterHub keeps "
                  "its groups); paged", tags=TAGS, returns="ProjectList", params=list_params("q")),
        "post": op("Create a project; the caller becomes its creator", tags=TAGS, body="ProjectCreate", returns="Project", status=201, errors=(400, 401, 403, 409)),
    }

    async def get(self):
        limit, cursor, filters = self.page_arguments(("q",))

        def wanted(group: dict) -> bool:
            return self.app.is_project(group) and (filters.q is None or filters.q in group["name"].lower())

        if self.actor.admin:
            # every group of the hub, read with the hub's own paging; the cursor is where to resume
            start = decode_cursor("projects:all", cursor, (int,), filters)
            groups, resume = await self.hub.scan("/groups", start[0] if start else 0, limit, wanted)
            next_cursor = encode_cursor("projects:all", [resume], filters) if resume is not None else None
        else:
            # a member's projects are a bounded set the actor already holds
            known = {g["name"]: g for g in await self.app.project_groups()}
            mine = [known[name] for name in self.actor.projects if name in known and wanted(known[name])]
            page = page_in_memory(mine, limit, decode_cursor("projects", cursor, (str,), filters), "projects",
                                  lambda g: (g["name"],), filters)
            groups, next_cursor = page.items, page.next_cursor
        self.send({"projects": [project_summary(g, self.actor) for g in groups], "next_cursor": next_cursor})

    async def post(self):
        self.require("project:create")
        body = self.json_body()
        unknown = sorted(set(body) - {"name", "description", "settings"})
        if unknown:
            raise FieldError(unknown[0], "is not a field of a project", "name, description, settings")
        name = validate_project_name(body.get("name"))
        description = validate_description(body.get("description", ""))
        properties = {"description": description, "creator": self.actor.name, "member_roles": {self.actor.name: "creator"}}
        properties = apply_settings_patch(properties, body.get("settings") or {}, is_admin=self.actor.admin, clusters=self.app.cluster_names, engines=self.app.engine_names)
        async with self.app.project_lock(name):
            if await self.hub.get_group(name) is not None:
                raise Conflict(f"a project or group named '{name}' already exists", "name")
            await self.hub.create_group(name, [self.actor.name], properties)
            self.app.forget_groups(self.actor.name)
        await self.audit(name, "project.create", settings=body.get("settings") or {})
        self.actor = await self.load_actor(self.actor.name)
        self.send(project_detail(await self.reload_project(name), self.actor), 201)


class ProjectHandler(ProjectBase):
    openapi = {
        "get": op("Read a project with its settings and members", tags=TAGS, returns="Project", params=[PROJECT_PARAM]),
        "patch": op("Change a project's description and settings (creators, admins); a null setting is unset",
                    tags=TAGS, body="ProjectUpdate", returns="Project", params=[PROJECT_PARAM]),
        "delete": op("Delete a project (admins only; not 'public')", tags=TAGS, status=204, params=[PROJECT_PARAM], errors=(401, 403, 404, 409)),
    }

    async def get(self, project):
        group = await self.load_project(project)
        self.send(project_detail(group, self.actor))

    async def patch(self, project):
        await self.load_project(project)
        self.require("project:edit", project)
        body = self.json_body()
        unknown = sorted(set(body) - {"description", "settings"})
        if unknown:
            raise FieldError(unknown[0], "cannot be changed here", "description, settings")
        async with self.app.project_lock(project):
            group = await self.reload_project(project)
            before = dict(group.get("properties") or {})
            properties = dict(before)
            if "description" in body:
                properties["description"] = validate_description(body["description"])
            if "settings" in body:
                properties = apply_settings_patch(properties, body["settings"], is_admin=self.actor.admin, clusters=self.app.cluster_names, engines=self.app.engine_names)
            await self.hub.set_group_properties(project, properties)
            self.app.forget_groups()
        # what each named field was and became, as stored (the audit log shows both)
        names = (["description"] if "description" in body else []) + sorted((body.get("settings") or {}) if isinstance(body.get("settings"), dict) else [])
        await self.audit(project, "project.update", change=body, old={n: before.get(n) for n in names}, new={n: properties.get(n) for n in names})
        self.send(project_detail(await self.reload_project(project), self.actor))

    async def delete(self, project):
        await self.load_project(project)
        self.require("project:delete", project)
        if project == PUBLIC:
            raise Conflict("the 'public' project cannot be deleted: every user is a member of it")
        async with self.app.project_lock(project):
            await self.reload_project(project)  # a concurrent delete got here first
            await self.app.before_project_delete(project)
            await self.hub.delete_group(project)
            self.app.forget_groups()
        await self.audit(project, "project.delete")
        self.send(None, 204)


class MemberListHandler(ListArguments, ProjectBase):
    openapi = {
        "get": op("List a project's members and their roles, by name; paged", tags=TAGS, returns="MemberList",
                  params=[PROJECT_PARAM, *list_params("q")]),
        "post": op("Add a member with a role (creators, admins)", tags=TAGS, body="MemberCreate", returns="Member",
                   status=201, params=[PROJECT_PARAM], errors=(400, 401, 403, 404, 409)),
    }

    async def get(self, project):
        group = await self.load_project(project)  # 404 before the query string is read
        limit, cursor, filters = self.page_arguments(("q",))
        kind = f"members:{project}"
        # members are a group's property, bounded by the group: paged here by name
        roles = member_roles(group.get("properties"), sorted(group.get("users") or []), project)
        members = [{"name": n, "role": r} for n, r in roles.items() if filters.q is None or filters.q in n.lower()]
        page = page_in_memory(members, limit, decode_cursor(kind, cursor, (str,), filters), kind, lambda m: (m["name"],), filters)
        self.send({"members": page.items, "next_cursor": page.next_cursor})

    async def post(self, project):
        await self.load_project(project)
        self.require("project:members", project)
        body = self.json_body()
        unknown = sorted(set(body) - {"name", "role"})
        if unknown:
            raise FieldError(unknown[0], "is not a field of a member", "name, role")
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise FieldError("name", "must be the name of an existing user", "a username")
        role = validate_role(body.get("role", "dev"))
        if await self.hub.get_user(name, fresh=True) is None:
            raise NotFound(f"user '{name}' does not exist", "name")
        async with self.app.project_lock(project):
            group = await self.reload_project(project)
            if name in (group.get("users") or []):
                raise Conflict(f"'{name}' is already a member of '{project}'", "name")
            properties = dict(group.get("properties") or {})
            properties["member_roles"] = {**(properties.get("member_roles") or {}), name: role}
            await self.hub.set_group_properties(project, properties)
            try:
                await self.hub.add_group_members(project, [name])
            except Exception:
                # keep properties and membership in step: undo the role entry
                properties["member_roles"].pop(name, None)
                await self.hub.set_group_properties(project, properties)
                raise
            self.app.forget_groups(name)
        await self.audit(project, "member.add", member=name, role=role)
        self.send({"name": name, "role": role}, 201)


class MemberHandler(ProjectBase):
    openapi = {
        "patch": op("Change a member's role (creators, admins)", tags=TAGS, body="MemberUpdate", returns="Member",
                    params=[PROJECT_PARAM, MEMBER_PARAM], errors=(400, 401, 403, 404, 409)),
        "delete": op("Remove a member (creators, admins; members may leave)", tags=TAGS, status=204,
                     params=[PROJECT_PARAM, MEMBER_PARAM], errors=(401, 403, 404, 409)),
    }

    def _check_keeps_creator(self, project: str, roles: dict[str, str], member: str, new_role: str | None) -> None:
        if project == PUBLIC:
            return
        creators = {n for n, r in roles.items() if r == "creator"}
        if creators and creators <= {member} and new_role != "creator":
            raise Conflict(f"'{member}' is the last creator of '{project}'; make another member creator first", "role" if new_role else None)

    async def patch(self, project, member):
        await self.load_project(project)
        self.require("project:members", project)
        body = self.json_body()
        unknown = sorted(set(body) - {"role"})
        if unknown:
            raise FieldError(unknown[0], "cannot be changed here", "role")
        role = validate_role(body.get("role"))
        async with self.app.project_lock(project):
            group = await self.reload_project(project)
            roles = member_roles(group.get("properties"), group.get("users") or [], project)
            if member not in roles:
                raise NotFound(f"'{member}' is not a member of '{project}'")
            self._check_keeps_creator(project, roles, member, role)
            properties = dict(group.get("properties") or {})
            properties["member_roles"] = {**(properties.get("member_roles") or {}), member: role}
            await self.hub.set_group_properties(project, properties)
            self.app.forget_groups(member)
        await self.audit(project, "member.role", member=member, role=role, old=roles[member], new=role)
        self.send({"name": member, "role": role})

    async def delete(self, project, member):
        await self.load_project(project)
        if member != self.actor.name:
            self.require("project:members", project)
        if project == PUBLIC:
            raise Conflict("every user is a member of 'public'; members cannot be removed from it")
        async with self.app.project_lock(project):
            group = await self.reload_project(project)
            roles = member_roles(group.get("properties"), group.get("users") or [], project)
            if member not in roles:
                raise NotFound(f"'{member}' is not a member of '{project}'")
            self._check_keeps_creator(project, roles, member, None)
            await self.hub.remove_group_members(project, [member])
            properties = dict(group.get("properties") or {})
            properties["member_roles"] = {k: v for k, v in (properties.get("member_roles") or {}).items() if k != member}
            await self.hub.set_group_properties(project, properties)
            self.app.forget_groups(member)
        await self.app.after_membership_revoked(project, member)
        await self.audit(project, "member.remove", member=member)
        self.send(None, 204)


ROLES_SCHEMA = {"type": "string", "enum": list(ROLES)}
SCHEMAS = {
    "Settings": {
        "type": "object",
        "properties": {
            "cluster": {"type": ["string", "null"]},
            "org": {"type": ["string", "null"], "example": "public"},
            "node_selector": {"type": ["string", "null"], "example": "disk=ssd;zone=a"},
            "volume_mount": {"type": ["string", "null"], "example": "kubeflow-user-workspace(pvc):/mnt"},
            "service_external_ip": {"type": ["string", "null"], "example": "10.0.0.5"},
            "namespace": {"type": ["string", "null"]},
            "engine": {"type": ["string", "null"], "example": "local"},
            "quota": {
                "type": ["object", "null"],
                "properties": {k: {"type": ["string", "null"]} for k in ("cpu", "memory", "gpu")},
            },
        },
    },
    "ProjectSummary": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "description": {"type": "string"},
            "role": {"oneOf": [ROLES_SCHEMA, {"type": "null"}]},
            "settings": {"$ref": "#/components/schemas/Settings"},
            "member_count": {"type": "integer"},
        },
    },
    "Project": {
        "allOf": [
            {"$ref": "#/components/schemas/ProjectSummary"},
            {
                "type": "object",
                "properties": {
                    "creator": {"type": ["string", "null"]},
                    "members": {"type": "array", "items": {"$ref": "#/components/schemas/Member"}},
                    "permissions": {"type": "object", "additionalProperties": {"type": "boolean"}},
                },
            },
        ]
    },
    "ProjectList": list_schema("projects", {"$ref": "#/components/schemas/ProjectSummary"}),
    "ProjectCreate": {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string"}, "description": {"type": "string"}, "settings": {"$ref": "#/components/schemas/Settings"}},
    },
    "ProjectUpdate": {"type": "object", "properties": {"description": {"type": "string"}, "settings": {"$ref": "#/components/schemas/Settings"}}},
    "Member": {"type": "object", "properties": {"name": {"type": "string"}, "role": ROLES_SCHEMA}},
    "MemberList": list_schema("members", {"$ref": "#/components/schemas/Member"}),
    "MemberCreate": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "role": ROLES_SCHEMA}},
    "MemberUpdate": {"type": "object", "required": ["role"], "properties": {"role": ROLES_SCHEMA}},
}

ROUTES = [
    route("/projects", ProjectListHandler),
    route("/projects/{project}", ProjectHandler),
    route("/projects/{project}/members", MemberListHandler),
    route("/projects/{project}/members/{member}", MemberHandler),
]
