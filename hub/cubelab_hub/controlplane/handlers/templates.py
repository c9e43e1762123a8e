"""Job templates: admins publish and edit; everyone reads released ones
(``Alpha`` only for admins). Imports Cube Studio template JSON and Kubeflow
Pipelines component YAML."""

from __future__ import annotations

from ...domain.errors import Conflict, FieldError, FieldErrors, NotFound
from ...domain.templates import template_from_dict
from ..models.pipelines import TemplateRow
from ..services.lists import list_templates
from ..services.templates import add_template, find_template, read_import, save_entries, save_imported
from ..store import template_view, update_template_row
from .base import APIHandler, op, route
from .listing import ListArguments, list_params

TAGS = ["templates"]
NAME_PARAM = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
VERSION_PARAM = {"name": "version", "in": "path", "required": True, "schema": {"type": "string", "enum": ["Release", "Alpha"]}}


class TemplateBase(APIHandler):
    def visible(self, version: str) -> bool:
        return version == "Release" or self.allowed("template:read-alpha")

    def load(self, session, name: str, version: str) -> TemplateRow:
        row = find_template(session, name, version)
        if row is None or not self.visible(version):
            raise NotFound.of("template", f"{name} ({version})")
        return row


class TemplateListHandler(ListArguments, TemplateBase):
    openapi = {
        "get": op("List job templates (Release for everyone, Alpha for admins) by category index, category, name and version; paged",
                  tags=TAGS, returns="TemplateList",
                  params=[*list_params("q"), {"name": "category", "in": "query", "required": False, "schema": {"type": "string"}}]),
        "post": op("Create a job template (admins)", tags=TAGS, body="Template", returns="Template", status=201, errors=(400, 401, 403, 409)),
    }

    async def get(self):
        limit, cursor, filters = self.page_arguments(("q",))
        category = self.get_argument("category", None)
        self.send(await self.db.run(list_templates, self.allowed("template:read-alpha"), category, filters, limit, cursor))

    async def post(self):
        self.require("template:write")
        tpl = template_from_dict(self.json_body())
        self.send(await self.db.run(lambda session: template_view(add_template(session, tpl, self.actor.name))), 201)


class TemplateHandler(TemplateBase):
    openapi = {
        "get": op("Read one template version", tags=TAGS, returns="Template", params=[NAME_PARAM, VERSION_PARAM]),
        "put": op("Replace a template version (admins); name and version stay", tags=TAGS, body="Template", returns="Template", params=[NAME_PARAM, VERSION_PARAM]),
        "delete": op("Delete a template version (admins; not built-ins)", tags=TAGS, status=204, params=[NAME_PARAM, VERSION_PARAM], errors=(401, 403, 404, 409)),
    }

    async def get(self, name, version):
        self.send(await self.db.run(lambda session: template_view(self.load(session, name, version))))

    async def put(self, name, version):
        self.require("template:write")
        await self.db.run(self.load, name, version)  # 404 before the body is read
        body = self.json_body()
        for key, value in (("name", name), ("version", version)):
            if key in body and body[key] != value:
                raise FieldError(key, f"cannot be changed here ({body[key]!r} != {value!r})", "create a new template instead")
        body["name"], body["version"] = name, version
        tpl = template_from_dict(body)

        def replace(session) -> dict:
            row = self.load(session, name, version)
            update_template_row(row, tpl)
            session.flush()
            return template_view(row)

        self.send(await self.db.run(replace))

    async def delete(self, name, version):
        self.require("template:write")
        def delete(session) -> None:
            row = self.load(session, name, version)
            if row.builtin:
                raise Conflict(f"template '{name}' is built in and cannot be deleted")
            session.delete(row)

        await self.db.run(delete)
        self.send(None, 204)


class TemplateImportHandler(TemplateBase):
    openapi = {
        "post": op("Import templates (admins): Cube Studio template JSON (one, a list, or name -> template: entry by entry, "
                   "each entry's outcome in 'entries'; names of CubeLab's built-ins are imported as '<name>-cube-studio') or a "
                   "Kubeflow Pipelines component YAML (v1, or KFP v2 IR: each container component becomes a template; all or "
                   "nothing).", tags=TAGS, body="TemplateImport", returns="TemplateList", status=201, errors=(400, 401, 403, 409)),
    }

    async def post(self):
        self.require("template:write")
        body = self.json_body()
        templates, ignored, entries = read_import(body)
        replace = bool(body.get("replace", False))

        def save(session) -> list[dict]:
            if entries is None:
                return [template_view(row) for row in save_imported(session, templates, self.actor.name, replace)]
            return [template_view(row) for row in save_entries(session, templates, entries, self.actor.name, replace)]

        views = await self.db.run(save)
        # fields of the source that have no CubeLab meaning, reported rather than dropped silently
        answer = {"templates": views, "ignored": ignored}
        if entries is not None:
            answer["entries"] = [e.to_dict() for e in entries]
            if not views:
                # nothing imported: the file's every entry was refused, each for the reasons named
                raise FieldErrors([err for e in entries for err in e.errors])
        self.send(answer, 201)


_ARG = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["int", "float", "bool", "str", "text", "enum", "multiple", "list", "dict", "json", "file"]},
        "item_type": {"type": "string"},
        "label": {"type": "string"},
        "require": {"oneOf": [{"type": "integer", "enum": [0, 1]}, {"type": "boolean"}]},
        "choice": {"type": "array"},
        "range": {"type": "string"},
        "default": {},
        "placeholder": {"type": "string"},
        "describe": {"type": "string"},
        "editable": {"oneOf": [{"type": "integer", "enum": [0, 1]}, {"type": "boolean"}]},
        "regex": {"type": "string", "description": "values must match (search semantics; anchor with ^...$)"},
        "condition": {"type": "string", "description": "kept as given (Cube Studio's display condition, evaluated by forms only)"},
        "sub_args": {"type": "object", "description": "the schema of a dict argument's keys (or of each dict of a list): key -> argument; values are checked against it"},
    },
    "additionalProperties": False,
}

SCHEMAS = {
    "Template": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "description": "k8s-safe name"},
            "version": {"type": "string", "enum": ["Release", "Alpha"]},
            "kind": {"type": "string", "enum": ["container", "python", "shell", "notebook", "logical"]},
            "category": {"type": "string"},
            "category_index": {"type": "integer"},
            "image": {"type": "string"},
            "workdir": {"type": "string"},
            "command": {"type": "array", "items": {"type": "string"}},
            "fixed_args": {"type": "array", "items": {"type": "string"}},
            "args": {"type": "object", "description": "{group: {'--flag': argument}}", "additionalProperties": {"type": "object", "additionalProperties": _ARG}},
            "env": {"type": "string", "description": "K=V lines; TASK_RESOURCE_CPU/MEMORY/GPU, NO_RESOURCE_CHECK"},
            "volume_mount": {"type": "string"},
            "service_account": {"type": "string"},
            "help_url": {"type": "string"},
            "description": {"type": "string"},
            "display_name": {"type": "string", "description": "the name as the source wrote it (e.g. '自定义镜像'); empty: the name"},
            "aliases": {"type": "array", "items": {"type": "string"}, "description": "former names (Cube Studio's job_template_old_names) pipelines may reference"},
            "expand": {"type": "object", "description": "Cube Studio's extension keys, kept; acted on: index, help_url, HostNetwork (host ports PORT1/PORT2)"},
            "outputs": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}, "description": {"type": "string"}, "type": {"type": "string"}, "flag": {"type": ["string", "null"]}}}},
            "argv": {"type": "array", "description": "an argv template: the whole command line (replacing command, fixed_args and the "
                     "'--flag value' rendering of args), items strings or placeholders {value: ARG}, {path: ARG}, {output: OUTPUT}, "
                     "{concat: [...]}, {if_present: ARG, then: [...], else: [...]} (Kubeflow components)",
                     "items": {"oneOf": [{"type": "string"}, {"type": "object"}]}},
            "always_present": {"type": "array", "items": {"type": "string"},
                               "description": "arguments of an argv template passed even without a value (their default, '' included)"},
        },
    },
    "TemplateList": {"type": "object", "properties": {
        "templates": {"type": "array", "items": {"$ref": "#/components/schemas/Template"}},
        "next_cursor": {"type": ["string", "null"], "description": "list only: pass as ?cursor= for the next page; null on the last page"},
        "ignored": {"type": "object", "description": "import only: template name -> source fields CubeLab does not carry over",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}}},
        "entries": {"type": "array", "description": "Cube Studio import only: each entry of the file, in order", "items": {"$ref": "#/components/schemas/ImportEntry"}}}},
    "ImportEntry": {"type": "object", "properties": {
        "entry": {"type": "string", "description": "the entry as the file names it (its key or position)"},
        "status": {"type": "string", "enum": ["imported", "renamed", "refused"]},
        "name": {"type": "string"}, "display_name": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {"field": {"type": "string"}, "message": {"type": "string"}, "accepted": {"type": "string"}}}},
        "warnings": {"type": "array", "items": {"type": "string"}},
        "ignored": {"type": "array", "items": {"type": "string"}}}},
    "TemplateImport": {
        "type": "object",
        "required": ["format", "content"],
        "properties": {
            "format": {"type": "string", "enum": ["cube-studio", "kfp"]},
            "content": {"description": "Cube Studio JSON (object/list), or the Kubeflow component YAML text (v1, or KFP v2 IR)"},
            "category": {"type": "string"},
            "version": {"type": "string", "enum": ["Release", "Alpha"]},
            "replace": {"type": "boolean"},
        },
    },
}

ROUTES = [
    route("/templates", TemplateListHandler),
    route("/templates/import", TemplateImportHandler),
    route("/templates/{name}/{version}", TemplateHandler),
]
