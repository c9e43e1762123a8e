"""Services: create, validate, edit, deploy, stop; replicas, their logs, and
the history (scaling decisions, upgrades, takeovers).

A service belongs to a project: members read it; creators and devs create
services; its owner and the project's creators change, deploy and stop it;
admins do everything (rules in :mod:`cubelab_hub.domain.access`). A caller who
may not see a service gets 404 before the body is read.
"""

from __future__ import annotations

import asyncio
import time

from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.iostream import StreamClosedError

from ...domain.errors import FieldError, NotFound
from ...domain.ids import parse_id
from ...domain.paging import parse_limit
from ...domain.services import TRY_MAX_BODY, TRY_METHODS, try_request_from_dict
from ..models.services import SERVICE_STATUSES, ServiceRow
from .base import APIError, APIHandler, op, route
from .listing import ListArguments, list_params, list_schema

TAGS = ["services"]
ID_PARAM = {"name": "service_id", "in": "path", "required": True, "schema": {"type": "integer"}}
INDEX_PARAM = {"name": "index", "in": "path", "required": True, "schema": {"type": "integer"}}
FILTERS = ("project", "q", "status", "creator", "since", "until")
EVENT_PARAMS = list_params()


class ServiceBase(APIHandler):
    @property
    def manager(self):
        return self.app.service_manager

    def load(self, session, service_id: str, action: str = "service:read") -> ServiceRow:
        try:
            sid = parse_id(service_id, "service_id")
        except FieldError:  # not an id any service can have
            raise NotFound.of("service", service_id) from None
        row = session.get(ServiceRow, sid)
        if row is None or not self.allowed("service:read", row.project):
            raise NotFound.of("service", service_id)
        if action != "service:read":
            self.require(action, row.project, row.owner)
        return row

    def with_permissions(self, view: dict) -> dict:
        """What the caller may do with it, and where it is reached (its host on the gateway, the hub's path)."""
        view["permissions"] = {"edit": self.allowed("service:edit", view["project"], view["owner"])}
        view["url"] = self.app.gateway_url(view["host"])
        view["hub_path"] = self.app.service_hub_path(view["name"])
        return view

    async def check_project(self, project) -> None:
        if not isinstance(project, str) or not project:
            raise FieldError("project", "is missing", "the name of a project you belong to")
        self.require("service:create", project)
        if self.actor.admin and project not in self.actor.projects and await self.hub.get_group(project) is None:
            raise NotFound.of("project", project, "project")

    def body_with_owner(self, body: dict) -> dict:
        """The owner is the caller unless an admin names someone else."""
        body = dict(body)
        if body.get("owner") in (None, ""):
            body["owner"] = self.actor.name
        elif body["owner"] != self.actor.name and not self.actor.admin:
            raise FieldError("owner", f"'{body['owner']}' is not you; only admins create services for others", f"'{self.actor.name}' or empty")
        return body


class ServiceListHandler(ListArguments, ServiceBase):
    openapi = {
        "get": op("List services of the caller's projects (all for admins), by project, name and id; paged", tags=TAGS,
                  returns="ServiceList", params=list_params(*FILTERS, statuses=SERVICE_STATUSES)),
        "post": op("Create a service (creators and devs of its project); it is stopped until deployed", tags=TAGS, body="Service",
                   returns="Service", status=201, errors=(400, 401, 403, 404, 409)),
    }

    async def get(self):
        limit, cursor, filters = self.page_arguments(FILTERS, SERVICE_STATUSES)
        page = await self.db.run(self.manager.list, self.visible_projects(), filters, limit, cursor)
        page["services"] = [self.with_permissions(v) for v in page["services"]]
        self.send(page)

    async def post(self):
        body = self.json_body()
        await self.check_project(body.get("project"))
        service = self.manager.parse(self.body_with_owner(body), is_admin=self.actor.admin)

        def insert(session) -> dict:
            return self.manager.view(session, self.manager.create(session, service, self.actor.name))

        self.send(self.with_permissions(await self.db.run(insert)), 201)


class ValidateHandler(ServiceBase):
    openapi = {"post": op("Diagnostics of a service draft as it is typed (nothing is saved): every problem, each naming its field; "
                          "pass ?id= for an edit of an existing service", tags=TAGS, body="Service", returns="ServiceDiagnostics",
                          params=[{"name": "id", "in": "query", "required": False, "schema": {"type": "integer"}}])}

    async def post(self):
        existing = self.get_argument("id", None)
        exclude = None
        if existing is not None:
            exclude = await self.db.run(lambda session: self.load(session, existing).id)
        body = self.json_body()
        if isinstance(body.get("project"), str) and body["project"] and not self.allowed("service:read", body["project"]):
            raise NotFound.of("project", body["project"], "project")
        body = dict(body)
        body.setdefault("owner", self.actor.name)

        def check(session) -> list[dict]:
            return self.manager.diagnostics(session, body, is_admin=self.actor.admin, exclude=exclude)

        self.send({"errors": await self.db.run(check)})


class ServiceHandler(ServiceBase):
    openapi = {
        "get": op("Read a service with its replicas", tags=TAGS, returns="Service", params=[ID_PARAM]),
        "patch": op("Change fields of a service (its owner, project creators, admins); a deployed service rolls its replicas to "
                    "the change one at a time, each new one healthy before an old one stops", tags=TAGS, body="Service",
                    returns="Service", params=[ID_PARAM], errors=(400, 401, 403, 404, 409)),
        "delete": op("Stop a service's replicas and delete it with its history", tags=TAGS, status=204, params=[ID_PARAM],
                     errors=(401, 403, 404)),
    }

    async def get(self, service_id):
        self.send(self.with_permissions(await self.db.run(lambda session: self.manager.view(session, self.load(session, service_id)))))

    async def patch(self, service_id):
        current = await self.db.run(lambda session: dict(self.load(session, service_id, "service:edit").body))
        changes = self.json_body()
        if "owner" in changes and changes["owner"] != current.get("owner") and not self.actor.admin:
            raise FieldError("owner", "only admins give a service to someone else", f"'{current.get('owner')}'")
        service = self.manager.parse({**current, **changes}, is_admin=self.actor.admin)

        def store(session) -> tuple[bool, int]:
            row = self.load(session, service_id, "service:edit")
            return self.manager.update(session, row, service, self.actor.name), row.id

        roll, sid = await self.db.run(store)
        if roll:
            await self.manager.upgrade(sid, self.actor.name)
        self.send(self.with_permissions(await self.db.run(lambda session: self.manager.view(session, self.load(session, service_id)))))

    async def delete(self, service_id):
        sid = await self.db.run(lambda session: self.load(session, service_id, "service:edit").id)
        await self.manager.delete(sid, self.actor.name)
        self.send(None, 204)


class DeployHandler(ServiceBase):
    openapi = {"post": op("Deploy a service: min_replicas replicas (refused, naming the field, beyond the project's quota); "
                          "on a deployed service, roll its replicas to its latest edit", tags=TAGS, returns="Service",
                          params=[ID_PARAM], errors=(400, 401, 403, 404, 409))}

    async def post(self, service_id):
        sid = await self.db.run(lambda session: self.load(session, service_id, "service:edit").id)
        await self.manager.deploy(sid, self.actor.name)
        self.send(self.with_permissions(await self.db.run(lambda session: self.manager.view(session, self.load(session, service_id)))))


class StopHandler(ServiceBase):
    openapi = {"post": op("Stop a service's replicas (it stays, stopped)", tags=TAGS, returns="Service", params=[ID_PARAM],
                          errors=(401, 403, 404))}

    async def post(self, service_id):
        sid = await self.db.run(lambda session: self.load(session, service_id, "service:edit").id)
        await self.manager.stop(sid, self.actor.name)
        self.send(self.with_permissions(await self.db.run(lambda session: self.manager.view(session, self.load(session, service_id)))))


class ReplicasHandler(ServiceBase):
    openapi = {"get": op("A service's replicas: status, port, pid, restarts, last exit", tags=TAGS, returns="ReplicaList", params=[ID_PARAM])}

    async def get(self, service_id):
        def read(session) -> list[dict]:
            row = self.load(session, service_id)
            return [self.manager.replica_view(r) for r in self.manager.replica_rows(session, row.id)]

        self.send({"replicas": await self.db.run(read)})


class ReplicaLogHandler(ServiceBase):
    openapi = {"get": op("A replica's log (every restart) as text; with follow=1 the response streams while the replica runs", tags=TAGS,
                         params=[ID_PARAM, INDEX_PARAM, {"name": "follow", "in": "query", "required": False, "schema": {"type": "boolean"}}])}

    async def get(self, service_id, index):
        follow = self.get_argument("follow", "0").lower() in ("1", "true", "yes")
        sid = await self.db.run(lambda session: self.load(session, service_id).id)
        if not index.isdigit() or len(index) > 6:
            raise NotFound.of("replica", index)
        if self.manager.on_kubernetes(sid):
            await self._kubernetes_log(sid, int(index), follow)
            return
        path = self.manager.supervisor.log_path(sid, int(index))
        if not path.exists():
            raise NotFound.of("replica", index)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("X-Accel-Buffering", "no")
        position = 0
        try:
            while True:
                with open(path, "rb") as fh:
                    fh.seek(position)
                    chunk = fh.read(256 * 1024)
                if chunk:
                    position += len(chunk)
                    self.write(chunk)
                    await self.flush()
                    continue
                running = any(r.index == int(index) for r in self.manager.supervisor.of(sid))
                if not follow or not running:
                    break
                await asyncio.sleep(0.2)
        except StreamClosedError:
            return
        self.finish()


    async def _kubernetes_log(self, sid: int, index: int, follow: bool) -> None:
        lines = self.manager.kubernetes_replica_log(sid, index, follow)
        first = await anext(lines, None)  # a missing replica is a 404 before any header goes out
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("X-Accel-Buffering", "no")
        try:
            if first is not None:
                self.write(first)
                async for line in lines:
                    self.write(line)
                    await self.flush()
        except StreamClosedError:
            return
        finally:
            await lines.aclose()
        self.finish()


class EventsHandler(ServiceBase):
    openapi = {"get": op("A service's history, oldest first: deploys, edits, upgrades, scaling decisions with their reasons, "
                         "restarts, takeovers; paged", tags=TAGS, returns="ServiceEventList", params=[ID_PARAM, *EVENT_PARAMS])}

    async def get(self, service_id):
        limit = parse_limit(self.get_argument("limit", None))
        cursor = self.get_argument("cursor", None) or None

        def read(session) -> dict:
            return self.manager.events(session, self.load(session, service_id).id, limit, cursor)

        self.send(await self.db.run(read))


_STRING_OR_LIST = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}

class TryHandler(ServiceBase):
    openapi = {"post": op("Send one request to the service through the gateway as the caller (a member of its project) and "
                          "answer with the service's status, content type, body (text, at most 1 MiB) and the latency: "
                          "the Lab's try-it panel", tags=TAGS, body="ServiceTry", returns="ServiceTryAnswer", params=[ID_PARAM],
                          errors=(400, 401, 403, 404, 502, 503))}

    async def post(self, service_id):
        host = await self.db.run(lambda session: self.load(session, service_id).host)
        request = try_request_from_dict(self.json_body())
        gateway = self.app.gateway
        route_ = next((r for r in gateway.routes if r.host == host), None) if self.app.gateway_running else None
        if route_ is None:
            why = "the services' gateway is not running" if not self.app.gateway_running else "the service has no healthy replica now"
            raise APIError(503, "unavailable", why)
        headers = {"Host": host, "Content-Type": request.content_type}
        if route_.expose == "project":
            # the caller's own credential, for the gateway's membership check; nginx does not pass it on
            token = self.hub_auth.get_token(self)
            if token:
                headers["Authorization"] = f"token {token}"
        address = f"[{gateway.ip}]" if ":" in gateway.ip else gateway.ip
        body = request.body.encode() if request.method in ("POST", "PUT", "PATCH") else None
        client = AsyncHTTPClient(force_instance=True, max_body_size=TRY_MAX_BODY * 4)
        started = time.monotonic()
        try:
            response = await client.fetch(HTTPRequest(
                f"http://{address}:{gateway.port}{request.path}", method=request.method, headers=headers, body=body,
                follow_redirects=False, allow_nonstandard_methods=True, connect_timeout=10, request_timeout=60), raise_error=False)
        finally:
            client.close()
        elapsed = 1000 * (time.monotonic() - started)
        if response.code == 599:
            raise APIError(502, "bad_gateway", f"the service did not answer: {response.error}")
        raw = response.body or b""
        self.send({"status": response.code, "content_type": response.headers.get("Content-Type", ""),
                   "body": raw[:TRY_MAX_BODY].decode("utf-8", "replace"), "truncated": len(raw) > TRY_MAX_BODY,
                   "elapsed_ms": round(elapsed, 1)})


SCHEMAS = {
    "ServiceTry": {"type": "object", "properties": {
        "method": {"type": "string", "enum": list(TRY_METHODS)}, "path": {"type": "string"}, "body": {"type": "string"},
        "content_type": {"type": "string"}}},
    "ServiceTryAnswer": {"type": "object", "required": ["status", "content_type", "body", "truncated", "elapsed_ms"], "properties": {
        "status": {"type": "integer"}, "content_type": {"type": "string"}, "body": {"type": "string"},
        "truncated": {"type": "boolean"}, "elapsed_ms": {"type": "number"}}},
    "Service": {
        "type": "object",
        "description": "A service in its users' forms (docs/formats.md); inference services add serving_type, model_name, "
                       "model_version, model_path and environment",
        "properties": {
            "id": {"type": "integer"}, "project": {"type": "string"}, "name": {"type": "string"}, "owner": {"type": "string"},
            "kind": {"type": "string", "enum": ["internal", "inference"]}, "image": {"type": "string"},
            "command": _STRING_OR_LIST, "args": _STRING_OR_LIST, "workdir": {"type": "string"},
            "env": {"type": "string", "description": "K=V lines"}, "ports": {"oneOf": [{"type": "string"}, {"type": "integer"},
                                                                                     {"type": "array", "items": {"type": "integer"}}]},
            "volume_mount": {"type": "string"}, "node_selector": {"type": "string"},
            "cpu": {"type": "string"}, "memory": {"type": "string"}, "gpu": {"type": "string"},
            "health": {"type": "string", "examples": ["8080:/healthz", "shell:test -f /tmp/ready"]},
            "min_replicas": {"type": ["integer", "string"]}, "max_replicas": {"type": ["integer", "string"]},
            "hpa": {"type": "string", "examples": ["cpu:50%,mem:50%"]}, "host": {"type": "string"},
            "canary": {"type": "string", "examples": ["svc-a:20%,svc-b:30%"]}, "mirror": {"type": "string", "examples": ["shadow:20%"]},
            "expose": {"type": "string", "enum": ["project", "public"]},
            "serving_type": {"type": "string"}, "model_name": {"type": "string"}, "model_version": {"type": "string"},
            "model_path": {"type": "string"}, "environment": {"type": "string", "enum": ["debug", "test", "prod"]},
            "status": {"type": "string", "enum": list(SERVICE_STATUSES)}, "message": {"type": "string"},
            "desired_replicas": {"type": "integer"}, "generation": {"type": "integer"}, "custom_host": {"type": "string"},
            "url": {"type": "string", "description": "the service's host on the gateway, e.g. http://model.localhost:8090/"},
            "hub_path": {"type": "string", "description": "the path under the hub's URL that forwards to the service for its "
                                                          "project's members, e.g. /services/cubelab/proxy/model/"},
            "replicas": {"type": "array", "items": {"$ref": "#/components/schemas/Replica"}},
            "permissions": {"type": "object", "properties": {"edit": {"type": "boolean"}}},
            "deployed_at": {"type": ["string", "null"]}, "created_at": {"type": ["string", "null"]}, "updated_at": {"type": ["string", "null"]},
        },
    },
    "Replica": {"type": "object", "properties": {
        "index": {"type": "integer"}, "generation": {"type": "integer"},
        "status": {"type": "string", "enum": ["starting", "healthy", "unhealthy", "restarting", "stopping", "failed"]},
        "pid": {"type": ["integer", "null"]}, "port": {"type": ["integer", "null"]}, "started_at": {"type": ["string", "null"]},
        "restarts": {"type": "integer"}, "last_exit": {"type": ["integer", "null"]}, "message": {"type": "string"}}},
    "ReplicaList": {"type": "object", "properties": {"replicas": {"type": "array", "items": {"$ref": "#/components/schemas/Replica"}}}},
    "ServiceList": list_schema("services", {"$ref": "#/components/schemas/Service"}),
    "ServiceDiagnostics": {"type": "object", "properties": {"errors": {"type": "array", "items": {"type": "object", "properties": {
        "field": {"type": "string"}, "message": {"type": "string"}, "accepted": {"type": ["string", "null"]}}}}}},
    "ServiceEventList": list_schema("events", {"type": "object", "properties": {
        "id": {"type": "integer"}, "at": {"type": "string"}, "actor": {"type": ["string", "null"]}, "message": {"type": "string"},
        "kind": {"type": "string", "enum": ["create", "edit", "deploy", "running", "upgrade", "scale", "scale-held", "restart", "stop",
                                            "takeover", "offline", "failed"]},
        "detail": {"type": "object"}}}),
}

ROUTES = [
    route("/services", ServiceListHandler),
    route("/services/validate", ValidateHandler),
    route("/services/{service_id}", ServiceHandler),
    route("/services/{service_id}/deploy", DeployHandler),
    route("/services/{service_id}/stop", StopHandler),
    route("/services/{service_id}/replicas", ReplicasHandler),
    route("/services/{service_id}/replicas/{index}/logs", ReplicaLogHandler),
    route("/services/{service_id}/events", EventsHandler),
    route("/services/{service_id}/try", TryHandler),
]
