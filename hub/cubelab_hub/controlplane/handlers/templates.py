"""Job templates: admins publish and edit; everyone reads released ones
(``Alpha`` only for admins). Imports Cube Studio template JSON and Kubeflow
Pipelines component YAML. The admin page's routes: template categories and their
palette order, Alpha -> Release, retiring a version, marking demo pipelines."""

from __future__ import annotations

from ...domain.errors import Conflict, FieldError, FieldErrors, NotFound
from ...domain.ids import parse_id
from ...domain.templates import parse_category_index, parse_retired, template_from_dict
from ..models.pipelines import TemplateRow
from ..services.lists import list_templates
from ..services.templates import (
    add_template,
    find_template,
    list_categories,
    read_import,
    release_alpha,
    save_entries,
    save_imported,
    set_category_index,
    set_demo,
    set_retired,
)
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
                  params=[*list_params("q"), {"name": "category", "in": "query", "required": False, "schema": {"type": "string"}},
                          {"name": "retired", "in": "query", "required": False, "schema": {"type": "boolean", "default": False},
                           "description": "true: retired versions too (admins; the palette leaves them out)"}]),
        "post": op("Create a job template (admins)", tags=TAGS, body="Template", returns="Template", status=201, errors=(400, 401, 403, 409)),
    }

    async def get(self):
        limit, cursor, filters = self.page_arguments(("q",))
        category = self.get_argument("category", None)
        retired = self.get_argument("retired", "false")
        if retired not in ("true", "false"):
            raise FieldError("retired", f"'{retired[:40]}' is not a choice", "'true' or 'false'")
        if retired == "true":
            self.require("admin")
        self.send(await self.db.run(list_templates, self.allowed("template:read-alpha"), category, filters, limit, cursor,
                                    retired == "true"))

    async def post(self):
        self.require("template:write")
        tpl = template_from_dict(self.json_body())
        self.send(await self.db.run(lambda session: template_view(add_template(session, tpl, self.actor.name))), 201)


class TemplateHandler(TemplateBase):
    openapi = {
        "get": op("Read one template version", tags=TAGS, returns="Template", params=[NAME_PARAM, VERSION_PARAM]),
        "put": op("Replace a template version (admins); name and version stay", tags=TAGS, body="Template", returns="Template", params=[NAME_PARAM, VERSION_PARAM]),
        "delete": op("Delete a template version (admins; not built-ins)", tags=TAGS, status=204, params=[NAME_PARAM, VERSION_PARAM], errors=(401, 403, 404, 409)),
        "patch": op("Retire or bring back a template version (admins): retired, it leaves the palette and new pipelines; "
                    "pipelines that use it keep running it", tags=TAGS, body="TemplateRetire", returns="Template",
                    params=[NAME_PARAM, VERSION_PARAM]),
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

    async def patch(self, name, version):
        self.require("admin")
        await self.db.run(self.load, name, version)  # 404 before the body is read
        retired = parse_retired(self.json_body())
        view = await self.db.run(lambda session: template_view(set_retired(session, self.load(session, name, version), retired)))
        await self.app.audit(self.actor.name, None, "template.retire" if retired else "template.unretire",
                             {"template": name, "version": version})
        self.send(view)


class TemplateReleaseHandler(TemplateBase):
    openapi = {"post": op("Release a template's Alpha (admins): its Release is created, or replaced with the Alpha's content "
                          "(not a built-in's), and is not retired; the Alpha stays", tags=TAGS, returns="Template",
                          params=[NAME_PARAM], errors=(401, 403, 404, 409))}

    async def post(self, name):
        self.require("admin")
        view, created = await self.db.run(lambda session: (lambda r: (template_view(r[0]), r[1]))(
            release_alpha(session, name, self.actor.name)))
        await self.app.audit(self.actor.name, None, "template.release", {"template": name, "created": created})
        self.send(view, 201 if created else 200)


ADMIN_TAGS = ["admin"]
CATEGORY_PARAM = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
PIPELINE_ID_PARAM = {"name": "pipeline_id", "in": "path", "required": True, "schema": {"type": "integer"}}


class TemplateCategoryListHandler(APIHandler):
    openapi = {"get": op("Template categories in palette order with their index and number of templates (admins)",
                         tags=ADMIN_TAGS, returns="TemplateCategoryList", errors=(401, 403))}

    async def get(self):
        self.require("admin")
        self.send({"categories": await self.db.run(list_categories)})


class TemplateCategoryHandler(APIHandler):
    openapi = {"put": op("Move a category in the palette (admins): each of its templates takes the index", tags=ADMIN_TAGS,
                         body="TemplateCategoryIndex", returns="TemplateCategory", params=[CATEGORY_PARAM])}

    async def put(self, name):
        self.require("admin")
        index = parse_category_index(self.json_body())
        view = await self.db.run(set_category_index, name, index)
        await self.app.audit(self.actor.name, None, "template.category", {"category": name, "index": index})
        self.send(view)


class DemoPipelineHandler(APIHandler):
    openapi = {
        "put": op("Mark a pipeline as a demo everyone may copy from (admins)", tags=ADMIN_TAGS, returns="DemoPipeline",
                  params=[PIPELINE_ID_PARAM], errors=(401, 403, 404)),
        "delete": op("Unmark a demo pipeline (admins)", tags=ADMIN_TAGS, returns="DemoPipeline", params=[PIPELINE_ID_PARAM],
                     errors=(401, 403, 404)),
    }

    async def mark(self, pipeline_id: str, demo: bool) -> None:
        self.require("admin")
        try:
            pid = parse_id(pipeline_id, "pipeline_id")
        except FieldError:  # not an id any pipeline can have
            raise NotFound.of("pipeline", pipeline_id) from None
        view = await self.db.run(set_demo, pid, demo)
        await self.app.audit(self.actor.name, view["project"], "pipeline.demo" if demo else "pipeline.undemo",
                             {"pipeline": view["id"], "name": view["name"]})
        self.send(view)

    async def put(self, pipeline_id):
        await self.mark(pipeline_id, True)

    async def delete(self, pipeline_id):
        await self.mark(pipeline_id, False)


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
            "retired": {"type": "boolean", "readOnly": True, "description": "hidden from the palette and new pipelines (PATCH to change)"},
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
    "TemplateRetire": {"type": "object", "required": ["retired"], "additionalProperties": False,
                       "properties": {"retired": {"type": "boolean"}}},
    "TemplateCategory": {"type": "object", "required": ["name", "index", "templates"], "properties": {
        "name": {"type": "string"}, "index": {"type": "integer", "description": "palette order: lower first"},
        "templates": {"type": "integer", "description": "template versions in it (retired and Alpha ones included)"}}},
    "TemplateCategoryList": {"type": "object", "required": ["categories"], "properties": {
        "categories": {"type": "array", "items": {"$ref": "#/components/schemas/TemplateCategory"}}}},
    "TemplateCategoryIndex": {"type": "object", "required": ["index"], "additionalProperties": False,
                              "properties": {"index": {"type": "integer", "minimum": 0, "maximum": 1000000}}},
    "DemoPipeline": {"type": "object", "required": ["id", "name", "project", "demo"], "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"}, "project": {"type": "string"}, "demo": {"type": "boolean"}}},
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
    route("/templates/{name}/Alpha/release", TemplateReleaseHandler),
    route("/admin/template-categories", TemplateCategoryListHandler),
    route("/admin/template-categories/{name}", TemplateCategoryHandler),
    route("/admin/demo-pipelines/{pipeline_id}", DemoPipelineHandler),
]
