"""Job templates: admins publish and edit; everyone reads released ones
(``Alpha`` only for admins). Imports Cube Studio template JSON and Kubeflow
Pipelines component YAML."""

from __future__ import annotations

from sqlalchemy import select

from ...domain.errors import FieldError, FieldErrors
from ...domain.templates import JobTemplate, TemplateCatalog, builtin_templates, template_from_dict
from ...importers.cube_studio import cube_studio_ignored_fields, import_cube_studio_template
from ...importers.kubeflow import import_kfp_component
from ..models.pipelines import TemplateRow, aware
from .base import APIError, APIHandler, not_found, op, route

TAGS = ["templates"]
NAME_PARAM = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
VERSION_PARAM = {"name": "version", "in": "path", "required": True, "schema": {"type": "string", "enum": ["Release", "Alpha"]}}


# ---------------------------------------------------------------- storage helpers (used by pipelines and runs too)


def row_to_template(row: TemplateRow) -> JobTemplate:
    return template_from_dict(row.body)


def template_view(row: TemplateRow) -> dict:
    data = dict(row.body)
    data["id"] = row.id
    data["created_by"] = row.created_by
    data["updated_at"] = aware(row.updated_at).isoformat() if row.updated_at else None
    return data


def load_catalog(session, include_alpha: bool = True) -> TemplateCatalog:
    rows = session.scalars(select(TemplateRow)).all()
    return TemplateCatalog([row_to_template(r) for r in rows if include_alpha or r.version == "Release"])


def ensure_builtin_templates(database) -> None:
    """Insert the built-in templates an installation needs (never overwrites an admin's edits)."""
    with database.session() as session:
        existing = {(r.name, r.version) for r in session.scalars(select(TemplateRow)).all()}
        for tpl in builtin_templates():
            if tpl.ref not in existing:
                session.add(_new_row(tpl, None))


def _new_row(tpl: JobTemplate, actor: str | None) -> TemplateRow:
    # only the installation's own built-ins are protected from deletion
    tpl.builtin = actor is None and tpl.builtin
    return TemplateRow(
        name=tpl.name, version=tpl.version, kind=tpl.kind, category=tpl.category, category_index=tpl.category_index,
        body=tpl.to_dict(), builtin=tpl.builtin, created_by=actor,
    )


def _update_row(row: TemplateRow, tpl: JobTemplate) -> None:
    row.kind, row.category, row.category_index = tpl.kind, tpl.category, tpl.category_index
    body = tpl.to_dict()
    body["builtin"] = row.builtin
    row.body = body


# ---------------------------------------------------------------- handlers


class TemplateBase(APIHandler):
    def visible(self, version: str) -> bool:
        return version == "Release" or self.allowed("template:read-alpha")

    def load(self, session, name: str, version: str) -> TemplateRow:
        row = session.scalars(select(TemplateRow).where(TemplateRow.name == name, TemplateRow.version == version)).first()
        if row is None or not self.visible(version):
            raise not_found("template", f"{name} ({version})")
        return row


class TemplateListHandler(TemplateBase):
    openapi = {
        "get": op("List job templates (Release for everyone, Alpha for admins), ordered by category index", tags=TAGS, returns="TemplateList",
                  params=[{"name": "category", "in": "query", "required": False, "schema": {"type": "string"}}]),
        "post": op("Create a job template (admins)", tags=TAGS, body="Template", returns="Template", status=201, errors=(400, 401, 403, 409)),
    }

    async def get(self):
        category = self.get_argument("category", None)
        with self.db.session() as session:
            rows = session.scalars(select(TemplateRow)).all()
            items = [template_view(r) for r in rows if self.visible(r.version) and (category is None or r.category == category)]
        items.sort(key=lambda t: (t["category_index"], t["category"], t["name"], t["version"]))
        self.send({"templates": items})

    async def post(self):
        self.require("template:write")
        tpl = template_from_dict(self.json_body())
        with self.db.session() as session:
            if session.scalars(select(TemplateRow).where(TemplateRow.name == tpl.name, TemplateRow.version == tpl.version)).first():
                raise APIError(409, "conflict", f"template '{tpl.name}' version {tpl.version} already exists", "name")
            row = _new_row(tpl, self.actor.name)
            session.add(row)
            session.flush()
            view = template_view(row)
        self.send(view, 201)


class TemplateHandler(TemplateBase):
    openapi = {
        "get": op("Read one template version", tags=TAGS, returns="Template", params=[NAME_PARAM, VERSION_PARAM]),
        "put": op("Replace a template version (admins); name and version stay", tags=TAGS, body="Template", returns="Template", params=[NAME_PARAM, VERSION_PARAM]),
        "delete": op("Delete a template version (admins; not built-ins)", tags=TAGS, status=204, params=[NAME_PARAM, VERSION_PARAM], errors=(401, 403, 404, 409)),
    }

    async def get(self, name, version):
        with self.db.session() as session:
            self.send(template_view(self.load(session, name, version)))

    async def put(self, name, version):
        self.require("template:write")
        body = self.json_body()
        for key, value in (("name", name), ("version", version)):
            if key in body and body[key] != value:
                raise FieldError(key, f"cannot be changed here ('{body[key]}' != '{value}')", "create a new template instead")
        body["name"], body["version"] = name, version
        tpl = template_from_dict(body)
        with self.db.session() as session:
            row = self.load(session, name, version)
            _update_row(row, tpl)
            session.flush()
            view = template_view(row)
        self.send(view)

    async def delete(self, name, version):
        self.require("template:write")
        with self.db.session() as session:
            row = self.load(session, name, version)
            if row.builtin:
                raise APIError(409, "conflict", f"template '{name}' is built in and cannot be deleted")
            session.delete(row)
        self.send(None, 204)


class TemplateImportHandler(TemplateBase):
    openapi = {
        "post": op("Import templates (admins): Cube Studio template JSON (one, a list, or name -> template) or a Kubeflow Pipelines "
                   "component YAML. All or nothing.", tags=TAGS, body="TemplateImport", returns="TemplateList", status=201,
                   errors=(400, 401, 403, 409)),
    }

    async def post(self):
        self.require("template:write")
        body = self.json_body()
        unknown = sorted(set(body) - {"format", "content", "category", "version", "replace"})
        if unknown:
            raise FieldError(unknown[0], "is not an import field", "format, content, category, version, replace")
        fmt = body.get("format")
        content = body.get("content")
        replace = bool(body.get("replace", False))
        templates: list[JobTemplate] = []
        ignored: dict[str, list[str]] = {}
        if fmt == "cube-studio":
            items = content
            if isinstance(content, dict) and not any(k in content for k in ("name", "job_template_name")):
                items = list(content.values())  # init-job-template.json: name -> template
            if isinstance(items, dict):
                items = [items]
            if not isinstance(items, list) or not items:
                raise FieldError("content", "must be a template object, a list of them or name -> template", "Cube Studio job template JSON")
            errors = []
            for i, item in enumerate(items):
                try:
                    templates.append(import_cube_studio_template(item))
                    if cube_studio_ignored_fields(item):
                        ignored[templates[-1].name] = cube_studio_ignored_fields(item)
                except FieldErrors as exc:
                    errors.extend(e.prefixed(f"content[{i}]") for e in exc.errors)
            if errors:
                raise FieldErrors(errors)
        elif fmt == "kfp":
            if not isinstance(content, str):
                raise FieldError("content", "must be the component YAML text", "a Kubeflow Pipelines component YAML")
            version = body.get("version", "Release")
            if version not in ("Release", "Alpha"):
                raise FieldError("version", f"'{version}' is not a version", "'Release' or 'Alpha'")
            templates.append(import_kfp_component(content, category=body.get("category") or "kubeflow", version=version))
        else:
            raise FieldError("format", f"'{fmt}' is not an import format", "'cube-studio' or 'kfp'")
        with self.db.session() as session:
            views = []
            for tpl in templates:
                row = session.scalars(select(TemplateRow).where(TemplateRow.name == tpl.name, TemplateRow.version == tpl.version)).first()
                if row is not None and not replace:
                    raise APIError(409, "conflict", f"template '{tpl.name}' version {tpl.version} already exists (send \"replace\": true to overwrite)", "name")
                if row is None:
                    row = _new_row(tpl, self.actor.name)
                    session.add(row)
                else:
                    _update_row(row, tpl)
                session.flush()
                views.append(template_view(row))
        # fields of the source that have no CubeLab meaning, reported rather than dropped silently
        self.send({"templates": views, "ignored": ignored}, 201)


def setup(app) -> None:
    ensure_builtin_templates(app.database)


_ARG = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["int", "float", "bool", "str", "text", "enum", "multiple", "list", "dict", "json", "file"]},
        "item_type": {"type": "string"},
        "label": {"type": "string"},
        "require": {"type": "integer", "enum": [0, 1]},
        "choice": {"type": "array"},
        "range": {"type": "string"},
        "default": {},
        "placeholder": {"type": "string"},
        "describe": {"type": "string"},
        "editable": {"type": "integer", "enum": [0, 1]},
    },
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
            "outputs": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}, "description": {"type": "string"}, "type": {"type": "string"}, "flag": {"type": ["string", "null"]}}}},
        },
    },
    "TemplateList": {"type": "object", "properties": {
        "templates": {"type": "array", "items": {"$ref": "#/components/schemas/Template"}},
        "ignored": {"type": "object", "description": "import only: template name -> source fields CubeLab does not carry over",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}}}}},
    "TemplateImport": {
        "type": "object",
        "required": ["format", "content"],
        "properties": {
            "format": {"type": "string", "enum": ["cube-studio", "kfp"]},
            "content": {"description": "Cube Studio JSON (object/list) or the component YAML text"},
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
