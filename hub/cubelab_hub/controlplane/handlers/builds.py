"""Image builds: start, list, read, cancel, and the log (``?follow=1`` streams
while the build runs).

A build belongs to a project: members read its builds; creators and devs
start builds; the build's creator and the project's creators cancel it; admins
do everything (rules in :mod:`cubelab_hub.domain.access`). A caller who may
not see a build gets 404 before anything else is read.
"""

from __future__ import annotations

import asyncio

from tornado.iostream import StreamClosedError

from ...domain.builds import BUILD_STATUSES
from ...domain.errors import FieldError, NotFound
from ...domain.ids import parse_id
from ..models.builds import BuildRow
from .base import APIHandler, op, route
from .listing import ListArguments, list_params, list_schema

TAGS = ["builds"]
ID_PARAM = {"name": "build_id", "in": "path", "required": True, "schema": {"type": "integer"}}
FILTERS = ("project", "q", "status", "creator", "since", "until")


class BuildBase(APIHandler):
    @property
    def manager(self):
        return self.app.build_manager

    def load(self, session, build_id: str, action: str = "build:read") -> BuildRow:
        try:
            bid = parse_id(build_id, "build_id")
        except FieldError:  # not an id any build can have
            raise NotFound.of("build", build_id) from None
        row = session.get(BuildRow, bid)
        if row is None or not self.allowed("build:read", row.project):
            raise NotFound.of("build", build_id)
        if action != "build:read":
            self.require(action, row.project, row.creator)
        return row

    def with_permissions(self, view: dict) -> dict:
        view["permissions"] = {"cancel": self.allowed("build:cancel", view["project"], view["creator"])}
        return view

    async def view_of(self, build_id: str) -> dict:
        return self.with_permissions(await self.db.run(lambda session: self.manager.view(self.load(session, build_id))))


class BuildListHandler(ListArguments, BuildBase):
    openapi = {
        "get": op("List image builds of the caller's projects (all for admins), newest first; paged", tags=TAGS, returns="BuildList",
                  params=list_params(*FILTERS, statuses=BUILD_STATUSES)),
        "post": op("Start an image build (creators and devs of its project): a Dockerfile and a context folder of the caller's "
                   "workspace built into <registry>/<project>/<image>:<tag>; it runs at once or after the project's running build",
                   tags=TAGS, body="Build", returns="Build", status=201, errors=(400, 401, 403, 404, 409)),
    }

    async def get(self):
        limit, cursor, filters = self.page_arguments(FILTERS, BUILD_STATUSES)
        page = await self.db.run(self.manager.list, self.visible_projects(), filters, limit, cursor)
        page["builds"] = [self.with_permissions(v) for v in page["builds"]]
        self.send(page)

    async def post(self):
        body = self.json_body()
        project = body.get("project")
        if not isinstance(project, str) or not project:
            raise FieldError("project", "is missing", "the name of a project you belong to")
        if not self.allowed("build:read", project):  # admins may read every project
            raise NotFound.of("project", project, "project")
        self.require("build:create", project)
        if self.actor.admin and project not in self.actor.projects and await self.hub.get_group(project) is None:
            raise NotFound.of("project", project, "project")
        request = self.manager.parse(body)
        build_id = await self.manager.create(request, self.actor.name)
        self.send(await self.view_of(str(build_id)), 201)


class BuildHandler(BuildBase):
    openapi = {"get": op("Read a build: status, duration, image id, digest, size, what the layer cache reused", tags=TAGS,
                         returns="Build", params=[ID_PARAM])}

    async def get(self, build_id):
        self.send(await self.view_of(build_id))


class CancelHandler(BuildBase):
    openapi = {"post": op("Cancel a queued or running build (its creator, project creators, admins): it stops within a second "
                          "and nothing of it is published", tags=TAGS, returns="Build", params=[ID_PARAM], errors=(401, 403, 404, 409))}

    async def post(self, build_id):
        bid = await self.db.run(lambda session: self.load(session, build_id, "build:cancel").id)
        await self.manager.cancel(bid)
        self.send(await self.view_of(build_id))


class LogHandler(BuildBase):
    openapi = {"get": op("A build's log as text, line by line as buildah writes it; with follow=1 the response streams until the "
                         "build ends", tags=TAGS, params=[ID_PARAM, {"name": "follow", "in": "query", "required": False,
                                                                     "schema": {"type": "boolean"}}])}

    async def get(self, build_id):
        follow = self.get_argument("follow", "0").lower() in ("1", "true", "yes")
        bid = await self.db.run(lambda session: self.load(session, build_id).id)
        path = self.manager.log_path(bid)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("X-Accel-Buffering", "no")
        position = 0
        try:
            while True:
                active = self.manager.is_active(bid)
                try:
                    with open(path, "rb") as fh:
                        fh.seek(position)
                        chunk = fh.read(256 * 1024)
                except FileNotFoundError:
                    chunk = b""
                if chunk:
                    position += len(chunk)
                    self.write(chunk)
                    await self.flush()
                    continue
                # read once more after the build ended: its last lines were written before it left the active set
                if not follow or not active:
                    break
                await asyncio.sleep(0.1)
        except StreamClosedError:
            return
        self.finish()


SCHEMAS = {
    "Build": {
        "type": "object",
        "description": "An image build (docs/builds.md): give 'dockerfile' (its text) or 'dockerfile_path' (in your workspace)",
        "required": ["project", "image"],
        "properties": {
            "id": {"type": "integer"}, "project": {"type": "string"}, "image": {"type": "string", "examples": ["trainer"]},
            "tags": {"type": "array", "items": {"type": "string"}, "examples": [["v1", "latest"]]},
            "dockerfile": {"type": "string"}, "dockerfile_path": {"type": "string"},
            "context": {"type": "string", "description": "a folder of your workspace; its .dockerignore is honoured"},
            "build_args": {"type": "object", "additionalProperties": {"type": "string"}},
            "cpu": {"type": ["string", "number"], "examples": ["2"]}, "memory": {"type": "string", "examples": ["4G"]},
            "timeout": {"type": ["string", "integer"], "examples": ["1h"]},
            "creator": {"type": "string"}, "status": {"type": "string", "enum": list(BUILD_STATUSES)}, "message": {"type": "string"},
            "references": {"type": "array", "items": {"type": "string"}},
            "image_id": {"type": ["string", "null"]}, "digest": {"type": ["string", "null"]}, "size": {"type": ["integer", "null"]},
            "cache": {"type": "string", "description": "what the layer cache reused"}, "duration": {"type": ["number", "null"]},
            "restarts": {
                "type": "array", "readOnly": True,
                "description": "control plane restarts during the build: its buildah re-attached, or the build restarted from the layer cache",
                "items": {"type": "object", "properties": {"at": {"type": "string"}, "how": {"type": "string", "enum": ["re-attached", "restarted"]},
                                                           "reason": {"type": "string"}}},
            },
            "permissions": {"type": "object", "properties": {"cancel": {"type": "boolean"}}},
            "started_at": {"type": ["string", "null"]}, "finished_at": {"type": ["string", "null"]}, "created_at": {"type": ["string", "null"]},
        },
    },
    "BuildList": list_schema("builds", {"$ref": "#/components/schemas/Build"}),
}

ROUTES = [
    route("/builds", BuildListHandler),
    route("/builds/{build_id}", BuildHandler),
    route("/builds/{build_id}/cancel", CancelHandler),
    route("/builds/{build_id}/logs", LogHandler),
]
