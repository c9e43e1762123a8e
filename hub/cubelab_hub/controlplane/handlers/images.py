"""Images of a project (the local registry and finished builds), deleting one
(asked first when something uses it), importing one from an OCI or docker
archive (admins), and "save as image": a Dockerfile that reproduces the
package changes made in an environment, for review.

Members read a project's images; creators and devs delete them; admins do
everything (:mod:`cubelab_hub.domain.access`). A caller who may not see the
project gets 404 before anything else is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from ...domain.environment_changes import environment_changes_from_dict
from ...domain.errors import FieldError, FieldErrors, NotFound
from ...domain.image_shell import Input, parse_shell_message, shell_request_from_dict
from ...domain.paging import FILTERS, decode_cursor, encode_cursor, parse_filters, parse_limit
from ..services.image_shell import ShellProcess
from .base import APIError, APIHandler, op, route
from .listing import CURSOR_PARAM, LIMIT_PARAM

TAGS = ["images"]
_TEXT = {"type": "string"}
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


class ImageImportHandler(APIHandler):
    openapi = {"post": op("Import an image from an OCI or docker archive of the caller's workspace (admins only) into "
                          "<registry>/<project>/<image>:<tag>: pulled into the project's build storage and pushed to the local "
                          "registry. Builds whose FROM cannot be reached are offered imported images",
                          tags=TAGS, body="ImageImportRequest", returns="ImageImport", status=201, errors=(400, 401, 403, 404, 409))}

    async def post(self):
        self.require("image:import")
        request = self.app.image_importer.parse(self.json_body())
        if request.project not in self.actor.projects and await self.hub.get_group(request.project) is None:
            raise NotFound.of("project", request.project, "project")
        self.send(await self.app.image_importer.run(request, self.actor.name), 201)


class ImageImportListHandler(APIHandler):
    openapi = {"get": op("List images imported from archives (admins only), newest first; paged", tags=TAGS, returns="ImageImportList",
                         params=[LIMIT_PARAM, CURSOR_PARAM], errors=(400, 401, 403))}

    async def get(self):
        self.require("image:import")
        limit = parse_limit(self.get_argument("limit", None))
        cursor = self.get_argument("cursor", None)
        self.send(await self.db.run(self.app.image_importer.list, limit, cursor))


class ImageDebugRunHandler(APIHandler):
    openapi = {"post": op("Debug an image: run one command inside an image of the project's build storage (built or imported "
                          "here) as the caller's account, under the request's CPU and memory limits and timeout (creators and "
                          "devs). The answer is text/plain, streamed while the command runs; its last line is "
                          "'[cubelab] exited with code N' or why it was stopped",
                          tags=TAGS, body="ImageDebugRun", errors=(400, 401, 403, 404))}

    async def post(self):
        body = self.json_body()
        project = body.get("project")
        if not isinstance(project, str) or not project:
            raise FieldError("project", "is missing", PROJECT_ACCEPTED)
        if not self.allowed("image:read", project):
            raise NotFound.of("project", project, "project")
        self.require("image:debug", project)
        debugger = self.app.image_debugger
        request = debugger.parse(body)
        async with debugger.open(request, self.actor.name) as session:
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.set_header("X-Accel-Buffering", "no")

            async def write(chunk: bytes) -> None:
                self.write(chunk)
                await self.flush()

            # on_connection_close cancels it: a client gone while the command is silent stops it too
            self._stream = asyncio.ensure_future(session.stream(write))
            try:
                await self._stream
            except (StreamClosedError, asyncio.CancelledError):  # the client left; the command was stopped
                return
        self.finish()

    def on_connection_close(self):
        stream = getattr(self, "_stream", None)
        if stream is not None and not stream.done():
            stream.cancel()


class ImageShellHandler(APIHandler, WebSocketHandler):
    openapi = {"get": op("Debug an image interactively: a WebSocket to /bin/sh on a terminal inside an image of the project's "
                         "build storage, as the caller's account, under the CPU and memory limits (creators and devs; the "
                         "same rule and build-queue hold as debug-runs). Send JSON text messages {type: input, data} and "
                         "{type: resize, rows, cols}; receive the terminal's output as binary messages, then "
                         "{type: exit, code, reason}. It ends when the shell exits, the socket closes, after idle_timeout "
                         "without a byte either way or after the platform's maximum lifetime; the container is removed",
                         tags=TAGS, status=101, errors=(400, 401, 403, 404),
                         params=[{"name": "project", "in": "query", "required": True, "schema": _TEXT},
                                 {"name": "image", "in": "query", "required": True, "schema": _TEXT},
                                 *({"name": name, "in": "query", "required": False, "schema": _TEXT, "description": about}
                                   for name, about in (("cpu", "default 1"), ("memory", "default 1G"),
                                                       ("rows", "the terminal's height, 1 to 1000 (default 24)"),
                                                       ("cols", "the terminal's width, 1 to 1000 (default 80)"),
                                                       ("idle_timeout", "shorter than the platform's, which is the default")))])}

    async def get(self):
        query = {name: self.get_argument(name) for name in self.request.query_arguments}
        repeated = [FieldError(name, "is given more than once", "one value") for name, values in self.request.query_arguments.items()
                    if len(values) > 1]
        project = query.get("project")
        if not project:
            raise FieldError("project", "is missing", PROJECT_ACCEPTED)
        if not self.allowed("image:read", project):
            raise NotFound.of("project", project, "project")
        self.require("image:debug", project)
        app = self.app
        if repeated:
            raise FieldErrors(repeated)
        request = shell_request_from_dict(query, app.image_debugger.builds.registry, app.image_shell_idle_timeout)
        if self.request.headers.get("Upgrade", "").lower() != "websocket":
            raise APIError(400, "invalid", "this is a WebSocket: connect with 'Upgrade: websocket'", "Upgrade")
        # the container is made (or the image refused with a 400) before the upgrade; the relay removes it
        self._stack = contextlib.AsyncExitStack()
        session = await self._stack.enter_async_context(app.image_debugger.open(request.debug, self.actor.name))
        self._shell = ShellProcess(session, request, app.image_shell_max_lifetime)
        self._relay = None
        try:
            await WebSocketHandler.get(self)  # returns when the socket has closed
        finally:
            if self._relay is None:  # the upgrade failed (or the client left first): no shell ran, the container goes here
                await self._stack.aclose()

    def open(self):
        # from here the relay owns the container: it removes it once the shell has stopped
        self._relay = asyncio.ensure_future(self._run())

    async def _run(self):
        shell = self._shell
        try:
            await shell.run(self._send)
            reason = shell.reason or f"the shell exited with code {shell.code}"
        except Exception:
            logging.getLogger("cubelab.builds").exception("image shell in %s failed", shell.session.container)
            reason = "the shell failed; see the control plane's log"
        try:
            with contextlib.suppress(WebSocketClosedError):
                await self.write_message(json.dumps({"type": "exit", "code": None if shell.reason else shell.code, "reason": reason}))
        finally:
            await self._stack.aclose()
            self.close()

    async def _send(self, chunk: bytes) -> None:
        try:
            await self.write_message(chunk, binary=True)
        except WebSocketClosedError:
            self._shell.stop("closed by the client")

    async def on_message(self, message):
        try:
            parsed = parse_shell_message(message)
        except (FieldError, FieldErrors) as exc:
            first = exc.errors[0] if isinstance(exc, FieldErrors) else exc
            with contextlib.suppress(WebSocketClosedError):
                await self.write_message(json.dumps({"type": "error", "field": first.field, "message": str(first),
                                                     "accepted": first.accepted}))
            return
        if isinstance(parsed, Input):
            await self._shell.write(parsed.data)
        else:
            self._shell.resize(parsed.rows, parsed.cols)

    def on_close(self):
        shell = getattr(self, "_shell", None)
        if shell is not None:
            shell.stop("closed by the client")


class DockerfileFromEnvironmentHandler(APIHandler):
    openapi = {"post": op("'Save as image': from package lists taken before and after changing an environment (pip freeze, "
                          "conda list --export, apt list --installed), the Dockerfile FROM the base image that reproduces "
                          "the changes, for review; nothing is built or stored", tags=TAGS, body="EnvironmentChanges",
                          returns="GeneratedDockerfile", errors=(400, 401))}

    async def post(self):
        changes = environment_changes_from_dict(self.json_body())
        self.send({"dockerfile": changes.dockerfile(), **changes.to_dict()})


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
    "ImageImportRequest": {"type": "object", "required": ["path", "project", "image"], "properties": {
        "path": {**_TEXT, "description": "a tar archive in your workspace", "examples": ["images/base.oci.tar"]},
        "format": {"type": "string", "enum": ["oci-archive", "docker-archive"], "description": "default: found from the archive"},
        "project": _TEXT, "image": _TEXT, "tag": {**_TEXT, "default": "latest"}}},
    "ImageImport": {"type": "object", "properties": {
        "id": {"type": "integer"}, "project": _TEXT, "image": _TEXT, "tag": _TEXT, "reference": _TEXT, "archive": _TEXT,
        "format": _TEXT, "image_id": {"type": ["string", "null"]}, "digest": {"type": ["string", "null"]},
        "size": {"type": ["integer", "null"]}, "creator": _TEXT, "created_at": _TEXT}},
    "ImageImportList": {"type": "object", "required": ["imports", "next_cursor"], "properties": {
        "imports": {"type": "array", "items": {"$ref": "#/components/schemas/ImageImport"}},
        "next_cursor": {"type": ["string", "null"]}}},
    "ImageDebugRun": {"type": "object", "required": ["project", "image", "command"], "properties": {
        "project": _TEXT, "image": {**_TEXT, "examples": ["127.0.0.1:5000/team-a/trainer:v1"]},
        "command": {"type": "array", "items": _TEXT, "examples": [["sh", "-c", "pip list"]]},
        "timeout": {"type": ["string", "integer"], "examples": ["60s"], "description": "1s to 10m, default 60s"},
        "cpu": {"type": ["string", "number"], "examples": ["1"]}, "memory": {**_TEXT, "examples": ["1G"]}}},
    "GeneratedDockerfile": {"type": "object", "properties": {
        "dockerfile": _TEXT, "base": _TEXT, "changes": {"type": "object", "additionalProperties": _CHANGES}}},
}

ROUTES = [
    route("/images", ImageListHandler),
    route("/images/dockerfile-from-environment", DockerfileFromEnvironmentHandler),
    route("/images/import", ImageImportHandler),
    route("/images/imports", ImageImportListHandler),
    route("/images/debug-runs", ImageDebugRunHandler),
    route("/images/shell", ImageShellHandler),
    route("/images/{project}/{image}/{tag}", ImageHandler),
]
