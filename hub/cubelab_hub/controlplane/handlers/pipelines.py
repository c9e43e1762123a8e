"""Pipelines: CRUD, validation (diagnostics), export/import, resource proposals.

A pipeline belongs to a project: members read it; its creator and the project's
creators edit it; admins do everything (rules in :mod:`cubelab_hub.domain.access`).
Invalid drafts save; runs are refused while diagnostics have errors.
"""

from __future__ import annotations

from dataclasses import replace

from ...domain.errors import Conflict, FieldError, NotFound
from ...domain.formats import validate_dns_label
from ...domain.ids import parse_id
from ...domain.pipelines import export_pipeline, import_pipeline, pipeline_from_dict, validate
from ...importers.kubeflow_v2 import import_kfp_v2_pipeline, kfp_v2_document
from ..models.pipelines import PipelineRow, aware
from ..services.lists import list_pipelines
from ..services.pipelines import accept_proposal, copy_pipeline, delete_pipeline, ensure_unique, import_cube_studio, resource_proposals
from ..services.templates import check_not_retired, load_catalog
from ..store import row_to_pipeline, store_pipeline
from .base import APIHandler, op, route
from .listing import ListArguments, list_params, list_schema

TAGS = ["pipelines"]
ID_PARAM = {"name": "pipeline_id", "in": "path", "required": True, "schema": {"type": "integer"}}
TASK_PARAM = {"name": "task", "in": "path", "required": True, "schema": {"type": "string"}}
FILTERS = ("project", "q", "creator", "since", "until")


class PipelineBase(APIHandler):
    def load(self, session, pipeline_id: str, action: str = "pipeline:read") -> PipelineRow:
        try:
            pid = parse_id(pipeline_id, "pipeline_id")
        except FieldError:  # not an id any pipeline can have
            raise NotFound.of("pipeline", pipeline_id) from None
        row = session.get(PipelineRow, pid)
        if row is None or not self.allowed("pipeline:read", row.project):
            raise NotFound.of("pipeline", pipeline_id)
        if action != "pipeline:read":
            self.require(action, row.project, row.creator)
        return row

    def view(self, session, row: PipelineRow, with_diagnostics: bool = True) -> dict:
        pipeline = row_to_pipeline(row)
        data = pipeline.to_dict()
        data["created_at"] = aware(row.created_at).isoformat() if row.created_at else None
        data["updated_at"] = aware(row.updated_at).isoformat() if row.updated_at else None
        data["permissions"] = {
            "edit": self.allowed("pipeline:edit", row.project, row.creator),
            "run": self.allowed("pipeline:run", row.project, row.creator),
        }
        if with_diagnostics:
            catalog = load_catalog(session)
            data["diagnostics"] = [d.to_dict() for d in validate(pipeline, catalog, self.actor.admin)]
        return data

    def insert(self, session, pipeline) -> dict:
        """Store a new pipeline of the caller's; its view."""
        ensure_unique(session, pipeline.project, pipeline.name)
        check_not_retired(session, pipeline)
        row = PipelineRow(name=pipeline.name, project=pipeline.project, creator=self.actor.name, body={}, schedule_enabled=False)
        store_pipeline(row, pipeline)
        session.add(row)
        session.flush()
        return self.view(session, row)

    async def check_project(self, project: str) -> None:
        if not isinstance(project, str) or not project:
            raise FieldError("project", "is missing", "the name of a project you belong to")
        self.require("pipeline:create", project)
        if self.actor.admin and project not in self.actor.projects and await self.hub.get_group(project) is None:
            raise NotFound.of("project", project, "project")


class PipelineListHandler(ListArguments, PipelineBase):
    openapi = {
        "get": op("List pipelines of the caller's projects (all for admins), by project, name and id; paged", tags=TAGS,
                  returns="PipelineList", params=list_params(*FILTERS)),
        "post": op("Create a pipeline (creators and devs of its project); invalid drafts are saved with their diagnostics",
                   tags=TAGS, body="Pipeline", returns="Pipeline", status=201, errors=(400, 401, 403, 404, 409)),
    }

    async def get(self):
        limit, cursor, filters = self.page_arguments(FILTERS)
        if filters.q is None and self.get_argument("search", ""):
            # the name search's earlier parameter name
            filters = replace(filters, q=self.get_argument("search").lower()[:255])
        self.send(await self.db.run(list_pipelines, self.visible_projects(), filters, limit, cursor))

    async def post(self):
        body = self.json_body()
        pipeline = pipeline_from_dict(body)
        await self.check_project(pipeline.project)
        self.send(await self.db.run(self.insert, pipeline), 201)


class PipelineHandler(PipelineBase):
    openapi = {
        "get": op("Read a pipeline with its diagnostics", tags=TAGS, returns="Pipeline", params=[ID_PARAM]),
        "put": op("Replace a pipeline (its creator, project creators, admins)", tags=TAGS, body="Pipeline", returns="Pipeline",
                  params=[ID_PARAM], errors=(400, 401, 403, 404, 409)),
        "delete": op("Delete a pipeline with its runs and schedule records (refused while runs are active)", tags=TAGS, status=204,
                     params=[ID_PARAM], errors=(401, 403, 404, 409)),
    }

    async def get(self, pipeline_id):
        self.send(await self.db.run(lambda session: self.view(session, self.load(session, pipeline_id))))

    async def put(self, pipeline_id):
        # who may edit it is known before the body is looked at: 404 first for what the caller may not see
        project = await self.db.run(lambda session: self.load(session, pipeline_id, "pipeline:edit").project)
        pipeline = pipeline_from_dict(self.json_body())
        if pipeline.project != project:
            # moving a pipeline: the caller must be allowed to create in the target project
            await self.check_project(pipeline.project)

        def replace(session) -> dict:
            row = self.load(session, pipeline_id, "pipeline:edit")  # again: it may have changed meanwhile
            if row.project != project:
                raise Conflict(f"pipeline {pipeline_id} moved to project '{row.project}' meanwhile; load it again")
            ensure_unique(session, pipeline.project, pipeline.name, exclude=row.id)
            check_not_retired(session, pipeline, row)
            store_pipeline(row, pipeline)
            session.flush()
            return self.view(session, row)

        self.send(await self.db.run(replace))

    async def delete(self, pipeline_id):
        await self.db.run(lambda session: delete_pipeline(session, self.load(session, pipeline_id, "pipeline:edit")))
        self.send(None, 204)


class ValidateDraftHandler(PipelineBase):
    openapi = {"post": op("Validate a pipeline body without saving it", tags=TAGS, body="Pipeline", returns="Diagnostics")}

    async def post(self):
        pipeline = pipeline_from_dict(self.json_body())
        catalog = await self.db.run(load_catalog)
        diags = await self.app.pipeline_runs.diagnostics(pipeline, catalog, self.actor.admin)
        self.send({"diagnostics": [d.to_dict() for d in diags]})


class ValidateHandler(PipelineBase):
    openapi = {"post": op("Validate a saved pipeline", tags=TAGS, returns="Diagnostics", params=[ID_PARAM])}

    async def post(self, pipeline_id):
        def read(session):
            return row_to_pipeline(self.load(session, pipeline_id)), load_catalog(session)

        pipeline, catalog = await self.db.run(read)
        diags = await self.app.pipeline_runs.diagnostics(pipeline, catalog, self.actor.admin)
        self.send({"diagnostics": [d.to_dict() for d in diags]})


class ExportHandler(PipelineBase):
    openapi = {"get": op("Export a pipeline as one JSON document (templates by name and version)", tags=TAGS, returns="PipelineExport", params=[ID_PARAM])}

    async def get(self, pipeline_id):
        def export(session) -> tuple[str, dict]:
            row = self.load(session, pipeline_id)
            return row.name, export_pipeline(row_to_pipeline(row), load_catalog(session))

        name, document = await self.db.run(export)
        self.set_header("Content-Disposition", f'attachment; filename="{name}.pipeline.json"')
        self.send(document)


class ImportHandler(PipelineBase):
    openapi = {"post": op("Import pipelines into a project (saved even when invalid, with diagnostics). format 'cubelab' (default): "
                          "an exported pipeline, or a KFP v2 IR pipeline (compiled YAML text or its object; its templates come "
                          "from the template import of the same file), answered with it. format 'cube-studio': a Cube Studio "
                          "pipeline file (one pipeline or name -> pipeline), imported entry by entry, answered with the "
                          "pipelines saved and a report per entry",
                          tags=TAGS, body="PipelineImport", returns="Pipeline", status=201, errors=(400, 401, 403, 404, 409))}
    # the answer's shape follows the format
    openapi["post"]["responses"]["201"]["content"]["application/json"]["schema"] = {
        "oneOf": [{"$ref": "#/components/schemas/Pipeline"}, {"$ref": "#/components/schemas/CubeStudioImport"}]}

    async def post(self):
        body = self.json_body()
        unknown = sorted(set(body) - {"document", "project", "name", "format"})
        if unknown:
            raise FieldError(unknown[0], "is not an import field", "document, project, name, format")
        fmt = body.get("format", "cubelab")
        if fmt not in ("cubelab", "cube-studio"):
            raise FieldError("format", f"'{fmt}' is not a pipeline import format", "'cubelab' (an export of CubeLab) or 'cube-studio'")
        project = body.get("project")
        await self.check_project(project)
        if fmt == "cube-studio":
            if body.get("name") is not None:
                raise FieldError("name", "is not used with format 'cube-studio' (a file names its pipelines)", "no name")

            def import_file(session) -> tuple[list[dict], list]:
                rows, reports = import_cube_studio(session, body.get("document"), project, self.actor.name)
                return [self.view(session, row) for row in rows], reports

            views, reports = await self.db.run(import_file)
            self.send({"pipelines": views, "entries": [r.to_dict() for r in reports]}, 201)
            return

        def insert_imported(session) -> tuple[dict, list]:
            catalog = load_catalog(session)
            if kfp_v2_document(body.get("document")) is not None:
                pipeline, import_diags = import_kfp_v2_pipeline(body.get("document"), catalog, project=project, name=body.get("name"))
            else:
                pipeline, import_diags = import_pipeline(body.get("document"), catalog, project=project, name=body.get("name"))
            return self.insert(session, pipeline), import_diags

        view, import_diags = await self.db.run(insert_imported)
        view["diagnostics"] = [d.to_dict() for d in import_diags] + view["diagnostics"]
        self.send(view, 201)


class CopyHandler(PipelineBase):
    openapi = {"post": op("Copy a pipeline you can see (a demo, typically) into a project you may create in: one click in the Lab",
                          tags=TAGS, body="PipelineCopy", returns="Pipeline", status=201, params=[ID_PARAM], errors=(400, 401, 403, 404, 409))}

    async def post(self, pipeline_id):
        # 404 for a pipeline the caller may not see, before the body is looked at
        await self.db.run(self.load, pipeline_id)
        body = self.json_body()
        unknown = sorted(set(body) - {"project", "name"})
        if unknown:
            raise FieldError(unknown[0], "is not a copy field", "project, name")
        project = body.get("project")
        await self.check_project(project)
        name = body.get("name")
        if name is not None:
            validate_dns_label(name, "name")

        def copy(session) -> dict:
            source = self.load(session, pipeline_id)
            check_not_retired(session, row_to_pipeline(source))
            return self.view(session, copy_pipeline(session, source, project, name, self.actor.name))

        self.send(await self.db.run(copy), 201)


class ProposalsHandler(PipelineBase):
    openapi = {"get": op("Resource proposals: after 10 successful runs, each task's peak CPU/memory x1.4 rounded up "
                         "(templates with NO_RESOURCE_CHECK exempt)", tags=TAGS, returns="ProposalList", params=[ID_PARAM])}

    async def get(self, pipeline_id):
        def proposals(session) -> list[dict]:
            return [p.to_dict() for p in resource_proposals(session, self.load(session, pipeline_id))]

        self.send({"proposals": await self.db.run(proposals)})


class AcceptProposalHandler(PipelineBase):
    openapi = {"post": op("Accept a task's resource proposal: writes the proposed CPU and memory into the pipeline", tags=TAGS,
                          returns="Pipeline", params=[ID_PARAM, TASK_PARAM], errors=(401, 403, 404, 409))}

    async def post(self, pipeline_id, task):
        def accept(session) -> dict:
            row = self.load(session, pipeline_id, "pipeline:edit")
            store_pipeline(row, accept_proposal(session, row, task))
            session.flush()
            return self.view(session, row)

        self.send(await self.db.run(accept))


_TASK = {
    "type": "object",
    "required": ["name", "template"],
    "properties": {
        "name": {"type": "string"}, "template": {"type": "string"}, "template_version": {"type": ["string", "null"]},
        "label": {"type": "string"}, "args": {"type": "object", "description": "flag -> value; '{{tasks.T.outputs.NAME}}' references upstream outputs"},
        "cpu": {"type": "string", "examples": ["2", "0.5", "1~4"]}, "memory": {"type": "string", "examples": ["4G", "1G~8G"]},
        "gpu": {"type": "string", "examples": ["0", "1", "2(V100)"]}, "volume_mount": {"type": "string"}, "node_selector": {"type": "string"},
        "timeout": {"type": "integer", "description": "seconds, 0 = none"}, "retries": {"type": "integer"}, "skip": {"type": "boolean"},
        "retry_backoff": {"type": "object", "description": "wait between attempts: delay (e.g. '5s'), factor, max_delay (e.g. '5m')",
                          "properties": {"delay": {"type": "string"}, "factor": {"type": "integer"}, "max_delay": {"type": "string"}}},
        "env": {"type": "object", "additionalProperties": {"type": "string"}}, "position": {"type": "object"},
        "extra_args": {"type": "array", "items": {"type": "string"}, "examples": [["--lr=0.01", "--optimizer=sgd"]],
                       "description": "argv items appended after the task's own arguments (an experiment trial's "
                       "--name=value parameters); left out when empty"},
    },
}

SCHEMAS = {
    "Diagnostic": {
        "type": "object",
        "properties": {
            "severity": {"type": "string", "enum": ["error", "warning"]}, "message": {"type": "string"},
            "task": {"type": ["string", "null"]}, "edge": {"type": ["array", "null"], "items": {"type": "string"}},
            "field": {"type": ["string", "null"]}, "extra": {"type": "object"},
        },
    },
    "Diagnostics": {"type": "object", "properties": {"diagnostics": {"type": "array", "items": {"$ref": "#/components/schemas/Diagnostic"}}}},
    "Schedule": {
        "type": "object",
        "properties": {
            "enabled": {"type": "boolean"}, "cron": {"type": "string"}, "timezone": {"type": "string"},
            "start_time": {"type": ["string", "null"], "format": "date-time"}, "backfill": {"type": "boolean"},
            "depends_on_past": {"type": "boolean"}, "max_active_runs": {"type": "integer"}, "expired_limit": {"type": "integer"},
        },
    },
    "Pipeline": {
        "type": "object",
        "required": ["name", "project"],
        "properties": {
            "id": {"type": "integer"}, "name": {"type": "string"}, "project": {"type": "string"}, "description": {"type": "string"},
            "creator": {"type": "string"}, "tasks": {"type": "array", "items": _TASK},
            "edges": {"type": "array", "items": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2}},
            "env": {"type": "object", "additionalProperties": {"type": "string"}}, "parallelism": {"type": ["integer", "null"]},
            "schedule": {"$ref": "#/components/schemas/Schedule"},
            "parameter": {"type": "object", "description": "Cube Studio's pipeline parameter, kept as given; 'demo': \"true\" lists it as a demo to copy from"},
            "diagnostics": {"type": "array", "items": {"$ref": "#/components/schemas/Diagnostic"}},
        },
    },
    "PipelineList": list_schema("pipelines", {"type": "object"}),
    "PipelineExport": {"type": "object", "properties": {"format": {"type": "string", "const": "cubelab.pipeline/v1"}, "templates": {"type": "array"}, "pipeline": {"$ref": "#/components/schemas/Pipeline"}}},
    "PipelineImport": {"type": "object", "required": ["document", "project"], "properties": {
        "format": {"type": "string", "enum": ["cubelab", "cube-studio"], "description": "default 'cubelab'"},
        "document": {"description": "format 'cubelab': a PipelineExport, or a KFP v2 IR pipeline (the YAML kfp 2 compiles, as text or "
                     "its object: components, deploymentSpec.executors, root.dag); 'cube-studio': Cube Studio's pipeline JSON, "
                     "{pipeline, tasks} or name -> {pipeline, tasks}",
                     "oneOf": [{"$ref": "#/components/schemas/PipelineExport"}, {"type": "string"}, {"type": "object"}, {"type": "array"}]},
        "project": {"type": "string"}, "name": {"type": "string", "description": "format 'cubelab' only"}}},
    "PipelineCopy": {"type": "object", "required": ["project"], "properties": {"project": {"type": "string"}, "name": {"type": "string", "description": "default: the source's name"}}},
    "CubeStudioImport": {"type": "object", "properties": {
        "pipelines": {"type": "array", "items": {"$ref": "#/components/schemas/Pipeline"}},
        "entries": {"type": "array", "items": {"type": "object", "properties": {
            "entry": {"type": "string"}, "status": {"type": "string", "enum": ["imported", "refused"]}, "name": {"type": "string"},
            "demo": {"type": "boolean"}, "errors": {"type": "array", "items": {"type": "object"}}, "warnings": {"type": "array", "items": {"type": "string"}},
            "ignored": {"type": "array", "items": {"type": "string"}}, "diagnostics": {"type": "array", "items": {"type": "object"}}}}}}},
    "ProposalList": {"type": "object", "properties": {"proposals": {"type": "array", "items": {"type": "object"}}}},
}

ROUTES = [
    route("/pipelines", PipelineListHandler),
    route("/pipelines/validate", ValidateDraftHandler),
    route("/pipelines/import", ImportHandler),
    route("/pipelines/{pipeline_id}", PipelineHandler),
    route("/pipelines/{pipeline_id}/validate", ValidateHandler),
    route("/pipelines/{pipeline_id}/export", ExportHandler),
    route("/pipelines/{pipeline_id}/copy", CopyHandler),
    route("/pipelines/{pipeline_id}/resource-proposals", ProposalsHandler),
    route("/pipelines/{pipeline_id}/resource-proposals/{task}/accept", AcceptProposalHandler),
]
