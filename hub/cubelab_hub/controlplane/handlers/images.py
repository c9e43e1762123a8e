"""Images of a project (the local registry and finished builds), deleting one
(asked first when something uses it), and "save as image": a Dockerfile that
reproduces the package changes made in an environment, for review.

Members read a project's images; creators and devs delete them; admins do
everything (:mod:`cubelab_hub.domain.access`). A caller who may not see the
project gets 404 before anything else is read.
"""

from __future__ import annotations

from ...domain.environment_changes import environment_changes_from_dict
from ...domain.errors import FieldError, NotFound
from ...domain.paging import FILTERS, decode_cursor, encode_cursor, parse_filters, parse_limit
from .base import APIHandler, op, route
from .listing import CURSOR_PARAM, LIMIT_PARAM

TAGS = ["images"]
PROJECT_ACCEPTED = "the name of a project you belong to"
PATH_PARAMS = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in ("project", "image", "tag")]


class ImageBase(APIHandler):
    @property
    def catalog(self):
        return self.app.image_catalog

    def visible_project(self, project: str | None) -> str:
        if not project:
            raise FieldError("project", "is missing", PROJECT_ACCEPTED)
        if not self.allowed("image:read", project):
            raise NotFound.of("project", project, "project")
        return project


class ImageListHandler(ImageBase):
    openapi = {"get": op("List a project's images: the repositories of the local registry and of finished builds, each with "
                         "its tags, digests and sizes; paged by repository; q: those whose image name contains it "
                         "(what an image picker searches as you type)", tags=TAGS, returns="ImageList",
                         params=[{"name": "project", "in": "query", "required": True, "schema": {"type": "string"}},
                                 LIMIT_PARAM, CURSOR_PARAM,
                                 {"name": "q", "in": "query", "required": False, "description": FILTERS["q"],
                                  "schema": {"type": "string"}}])}

    async def get(self):
        project = self.visible_project(self.get_argument("project", None))
        limit = parse_limit(self.get_argument("limit", None))
        filters = parse_filters({"q": self.get_argument("q", None)}, ["q"])
        kind = f"images:{project}"
        after = decode_cursor(kind, self.get_argument("cursor", None), (str,), filters)
        items, last = await self.catalog.list(project, limit, after[0] if after else None, filters.q or "")
        self.send({"images": items, "next_cursor": encode_cursor(kind, (last,), filters) if last else None})


class ImageHandler(ImageBase):
    openapi = {"delete": op("Delete an image tag from the local registry (creators and devs of its project). The registry deletes "
                            "the tag's manifest, so every tag of the same digest goes too. Answers 409 listing what uses it "
                            "(job templates, pipelines, services, running experiments, the project's running notebook servers) unless force=1",
                            tags=TAGS, returns="ImageDeleted",
                            params=[*PATH_PARAMS, {"name": "force", "in": "query", "required": False, "schema": {"type": "boolean"}}],
                            errors=(400, 401, 403, 404, 409))}

    async def delete(self, project, image, tag):
        self.visible_project(project)
        self.require("image:delete", project)
        force = self.get_argument("force", "0").lower()
        if force not in ("0", "1", "true", "false", "yes", "no"):
            raise FieldError("force", f"'{force[:20]}' is not a yes or no", "1 or 0 (true or false)")
        self.send(await self.catalog.delete(project, image, tag, force in ("1", "true", "yes")))


class DockerfileFromEnvironmentHandler(APIHandler):
    openapi = {"post": op("'Save as image': from package lists taken before and after changing an environment (pip freeze, "
                          "conda list --export, apt list --installed), the Dockerfile FROM the base image that reproduces "
                          "the changes, for review; nothing is built or stored", tags=TAGS, body="EnvironmentChanges",
                          returns="GeneratedDockerfile", errors=(400, 401))}

    async def post(self):
        changes = environment_changes_from_dict(self.json_body())
        self.send({"dockerfile": changes.dockerfile(), **changes.to_dict()})


_TEXT = {"type": "string"}
_CHANGES = {"type": "object", "properties": {
    "added": {"type": "array", "items": _TEXT}, "removed": {"type": "array", "items": _TEXT},
    "changed": {"type": "array", "items": {"type": "object", "properties": {"name": _TEXT, "from": _TEXT, "to": _TEXT}}},
    "left_out": {"type": "array", "items": {"type": "object", "properties": {"line": _TEXT, "why": _TEXT}}}}}

SCHEMAS = {
    "ImageTag": {"type": "object", "properties": {
        "tag": _TEXT, "reference": _TEXT, "digest": {"type": ["string", "null"]}, "size": {"type": ["integer", "null"]},
        "in_registry": {"type": "boolean"}, "build": {"type": ["integer", "null"], "description": "the build that made it"},
        "built_at": {"type": ["string", "null"]}}},
    "Image": {"type": "object", "properties": {
        "project": _TEXT, "image": _TEXT, "repository": _TEXT,
        "tags": {"type": "array", "items": {"$ref": "#/components/schemas/ImageTag"}}}},
    "ImageList": {"type": "object", "required": ["images", "next_cursor"], "properties": {
        "images": {"type": "array", "items": {"$ref": "#/components/schemas/Image"}},
        "next_cursor": {"type": ["string", "null"]}}},
    "ImageDeleted": {"type": "object", "properties": {
        "repository": _TEXT, "digest": _TEXT, "deleted_tags": {"type": "array", "items": _TEXT},
        "users": {"type": "array", "items": {"type": "object"}}}},
    "EnvironmentChanges": {"type": "object", "required": ["base"], "description": "give both lists of each package manager you used",
                           "properties": {"base": {**_TEXT, "examples": ["127.0.0.1:5000/team-a/trainer:v1"]},
                                          **{f"{m}_{w}": _TEXT for m in ("pip", "conda", "apt") for w in ("before", "after")}}},
    "GeneratedDockerfile": {"type": "object", "properties": {
        "dockerfile": _TEXT, "base": _TEXT, "changes": {"type": "object", "additionalProperties": _CHANGES}}},
}

ROUTES = [
    route("/images", ImageListHandler),
    route("/images/dockerfile-from-environment", DockerfileFromEnvironmentHandler),
    route("/images/{project}/{image}/{tag}", ImageHandler),
]
