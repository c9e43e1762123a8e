"""A small fake Kubernetes API server, at the HTTP boundary only.

It implements just the endpoints the Kubernetes engine uses, with the API
server's observable behaviour where the engine depends on it:

- argoproj.io/v1alpha1 workflows: create (``generateName``, 409 on a taken name),
  get, list (``labelSelector``, ``fieldSelector=metadata.name=``), watch
  (``?watch=true`` JSON-lines stream from ``resourceVersion``, 410 ``ERROR`` event
  for a compacted version), patch (merge patch only: a JSON-patch content type
  with an object body is a 400, strategic merge on a custom resource is a 415,
  as on a real server), delete.
- a service's kinds (apps/v1 deployments, core/v1 services, autoscaling/v2
  horizontalpodautoscalers, Istio's virtualservices and destinationrules):
  server-side apply (``PATCH`` with ``application/apply-patch+yaml`` and a
  ``fieldManager``: creates, or updates labels, annotations and spec keeping
  the status, with ``metadata.generation`` bumped when the spec changes; other
  patch types are a 415 here), get, list by ``labelSelector`` /
  ``fieldSelector=metadata.name=``, watch, delete (a Deployment's pods go
  with it). batch/v1 jobs the same way, also created by ``POST`` (409 on a
  taken name); deleting one records its ``propagationPolicy`` and removes its
  pods (those labelled ``job-name``). Applied objects are validated against the Kubernetes schema and
  the Istio CRDs (:mod:`support.service_schema`), a 422 naming the problem.
- core/v1 secrets: create, get, list by ``labelSelector`` (in a namespace or in all), merge patch, delete.
- core/v1 nodes: list with ``limit`` / ``continue`` (by name, an opaque token;
  a token the test expired is a 410), get, patch of labels (strategic merge or
  merge patch: null removes a key; other content types are a 415).
  ``/version`` answers as an API server does (a reachability probe).
- core/v1 pods: list by ``labelSelector``; ``pods/<name>/log`` with
  ``container`` (400 when a multi-container pod is asked without one) and
  ``follow=true`` (streams until the container ends).

The "cluster" side (what the Argo controller and kubelet would do) is driven by
the test through :class:`FakeCluster` methods. Binds 127.0.0.1 on a free port.
"""

from __future__ import annotations

import asyncio
import copy
import json
import socket
import uuid
from datetime import UTC, datetime

import tornado.httpserver
import tornado.iostream
import tornado.web
from support.kube_schema import workflow_errors
from support.service_schema import object_errors

ARGO_PREFIX = r"/apis/argoproj\.io/v1alpha1/namespaces/([a-z0-9-]+)/workflows"
# resource path ("apps/v1/deployments") -> (apiVersion, kind) of the kinds a service is made of
OBJECT_KINDS = {
    "apps/v1/deployments": ("apps/v1", "Deployment"),
    "v1/services": ("v1", "Service"),
    "autoscaling/v2/horizontalpodautoscalers": ("autoscaling/v2", "HorizontalPodAutoscaler"),
    "networking.istio.io/v1/virtualservices": ("networking.istio.io/v1", "VirtualService"),
    "networking.istio.io/v1/destinationrules": ("networking.istio.io/v1", "DestinationRule"),
    "batch/v1/jobs": ("batch/v1", "Job"),
}
OBJECTS_PREFIX = r"/(?:api|apis/([a-z0-9.]+))/(v[0-9a-z]+)/namespaces/([a-z0-9-]+)/(deployments|services|horizontalpodautoscalers|virtualservices|destinationrules|jobs)"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(code: int, reason: str, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code}


def _merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


def _go_bool(text: str | None) -> bool:
    """Query booleans as the API server (Go's strconv.ParseBool) reads them;
    kubernetes-asyncio sends Python's 'True'."""
    return text in ("1", "t", "T", "TRUE", "true", "True")


def _label_match(labels: dict, selector: str | None) -> bool:
    if not selector:
        return True
    for term in selector.split(","):
        term = term.strip()
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.split("=", 1)
            if labels.get(key) != value.lstrip("="):
                return False
        elif labels.get(term) is None:
            return False
    return True


def _field_match(obj: dict, selector: str | None) -> bool:
    if not selector:
        return True
    for term in selector.split(","):
        key, _, value = term.partition("=")
        if key == "metadata.name" and obj["metadata"]["name"] != value:
            return False
        if key == "metadata.namespace" and obj["metadata"]["namespace"] != value:
            return False
    return True


class FakeCluster:
    """The state behind the fake API server, and the test's controls over it."""

    def __init__(self) -> None:
        self.workflows: dict[tuple[str, str], dict] = {}
        self.pods: dict[tuple[str, str], dict] = {}
        self.secrets: dict[tuple[str, str], dict] = {}
        self.logs: dict[tuple[str, str, str], dict] = {}
        self.events: list[tuple[int, str, str, dict]] = []  # (rv, namespace, type, object)
        self.requests: list[dict] = []
        self.compacted_before = 0  # watches from an older resourceVersion get 410
        self.validate = True  # check submitted workflows against the schemas
        self.stall_watches = False  # watches stay open and say nothing
        self.metrics: dict[tuple[str, str], dict] = {}  # (ns, pod) -> container -> {"cpu", "memory"}
        self.objects: dict[tuple[str, str, str], dict] = {}  # (resource path, ns, name) -> a service's object
        self.object_events: list[tuple[int, str, str, str, dict]] = []  # (rv, resource, ns, type, object)
        self.deletions: list[tuple[str, str, str, str | None]] = []  # (resource, ns, name, propagationPolicy)
        self.nodes: dict[str, dict] = {}
        self.expired_continue = False  # list continue tokens answer 410 Expired
        self._rv = 100
        self._changed = asyncio.Event()
        self.closing = False

    # ---- bookkeeping
    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _emit(self, namespace: str, kind: str, obj: dict) -> None:
        self.events.append((int(obj["metadata"]["resourceVersion"]), namespace, kind, copy.deepcopy(obj)))
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_change(self, timeout: float) -> None:
        event = self._changed
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass

    # ---- workflows (API side)
    def create_workflow(self, namespace: str, body: dict) -> dict:
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise ValueError("name or generateName is required")
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        meta["namespace"] = namespace
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _now()
        meta["resourceVersion"] = self._next_rv()
        meta["generation"] = 1
        self.workflows[(namespace, meta["name"])] = obj
        self._emit(namespace, "ADDED", obj)
        return obj

    def update_workflow(self, namespace: str, name: str, obj: dict) -> dict:
        obj["metadata"]["resourceVersion"] = self._next_rv()
        self.workflows[(namespace, name)] = obj
        self._emit(namespace, "MODIFIED", obj)
        return obj

    def delete_workflow(self, namespace: str, name: str) -> dict:
        obj = self.workflows.pop((namespace, name))
        # the garbage collector: what the workflow owns goes with it
        uid = obj["metadata"]["uid"]
        for key, secret in list(self.secrets.items()):
            if any(ref.get("uid") == uid for ref in secret["metadata"].get("ownerReferences") or []):
                del self.secrets[key]
        obj["metadata"]["resourceVersion"] = self._next_rv()
        self._emit(namespace, "DELETED", obj)
        return obj

    # ---- what the Argo controller would do (test controls)
    def set_status(self, namespace: str, name: str, status: dict) -> dict:
        obj = copy.deepcopy(self.workflows[(namespace, name)])
        obj["status"] = status
        return self.update_workflow(namespace, name, obj)

    # ---- pods and logs (what the kubelet would do)
    def add_pod(self, namespace: str, name: str, labels: dict, containers=("wait", "main"), annotations=None, phase="Running") -> dict:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": dict(labels),
                "annotations": dict(annotations or {}),
                "uid": str(uuid.uuid4()),
                "creationTimestamp": _now(),
                "resourceVersion": self._next_rv(),
            },
            "spec": {"containers": [{"name": c, "image": "x"} for c in containers]},
            "status": {"phase": phase},
        }
        self.pods[(namespace, name)] = pod
        for container in containers:
            self.logs[(namespace, name, container)] = {"text": "", "done": False}
        return pod

    def write_log(self, namespace: str, pod: str, container: str, text: str) -> None:
        self.logs[(namespace, pod, container)]["text"] += text
        self._changed.set()
        self._changed = asyncio.Event()

    def end_log(self, namespace: str, pod: str, container: str) -> None:
        self.logs[(namespace, pod, container)]["done"] = True
        self._changed.set()
        self._changed = asyncio.Event()

    # ---- a service's objects (API side)
    def apply_object(self, resource: str, namespace: str, name: str, body: dict, manager: str) -> tuple[int, dict]:
        """Server-side apply: (201, created) or (200, updated)."""
        key = (resource, namespace, name)
        current = self.objects.get(key)
        applied = copy.deepcopy(body)
        meta = applied.setdefault("metadata", {})
        if current is None:
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=_now(), resourceVersion=self._next_rv(), generation=1,
                        managedFields=[{"manager": manager, "operation": "Apply"}])
            self.objects[key] = applied
            self._emit_object(resource, namespace, "ADDED", applied)
            return 201, applied
        obj = copy.deepcopy(current)
        spec_changed = obj.get("spec") != applied.get("spec")
        for field in ("labels", "annotations"):
            if field in meta:
                obj["metadata"][field] = meta[field]
        if "spec" in applied:
            if resource == "apps/v1/deployments" and "replicas" not in applied["spec"] and "replicas" in (obj.get("spec") or {}):
                # a field this manager does not apply stays with its owner (the HPA's replicas)
                applied["spec"]["replicas"] = obj["spec"]["replicas"]
                spec_changed = obj.get("spec") != applied.get("spec")
            obj["spec"] = applied["spec"]
        if spec_changed:
            obj["metadata"]["generation"] = obj["metadata"].get("generation", 1) + 1
        if obj != current:
            obj["metadata"]["resourceVersion"] = self._next_rv()
            self.objects[key] = obj
            self._emit_object(resource, namespace, "MODIFIED", obj)
        return 200, obj

    def delete_object(self, resource: str, namespace: str, name: str) -> dict:
        obj = self.objects.pop((resource, namespace, name))
        obj["metadata"]["resourceVersion"] = self._next_rv()
        self._emit_object(resource, namespace, "DELETED", obj)
        if resource == "batch/v1/jobs":  # the Job's pods go with it
            for key, pod in list(self.pods.items()):
                if key[0] == namespace and pod["metadata"]["labels"].get("job-name") == name:
                    del self.pods[key]
        if resource == "apps/v1/deployments":  # garbage collection of its ReplicaSets' pods
            selector = obj["spec"]["selector"]["matchLabels"]
            for key, pod in list(self.pods.items()):
                if key[0] == namespace and all(pod["metadata"]["labels"].get(k) == v for k, v in selector.items()):
                    del self.pods[key]
        return obj

    def _emit_object(self, resource: str, namespace: str, kind: str, obj: dict) -> None:
        self.object_events.append((int(obj["metadata"]["resourceVersion"]), resource, namespace, kind, copy.deepcopy(obj)))
        self._changed.set()
        self._changed = asyncio.Event()

    def objects_of(self, resource: str, namespace: str | None = None) -> dict[str, dict]:
        """name -> object of one resource (in one namespace)."""
        return {name: obj for (res, ns, name), obj in sorted(self.objects.items()) if res == resource and namespace in (None, ns)}

    # ---- what the Deployment controller and the kubelet would do (test controls)
    def set_deployment_status(self, namespace: str, name: str, status: dict) -> dict:
        key = ("apps/v1/deployments", namespace, name)
        obj = copy.deepcopy(self.objects[key])
        obj["status"] = status
        obj["metadata"]["resourceVersion"] = self._next_rv()
        self.objects[key] = obj
        self._emit_object(key[0], namespace, "MODIFIED", obj)
        return obj

    def set_object_status(self, resource: str, namespace: str, name: str, status: dict) -> dict:
        key = (resource, namespace, name)
        obj = copy.deepcopy(self.objects[key])
        obj["status"] = status
        obj["metadata"]["resourceVersion"] = self._next_rv()
        self.objects[key] = obj
        self._emit_object(resource, namespace, "MODIFIED", obj)
        return obj

    def start_job_pod(self, namespace: str, name: str) -> dict:
        """The Job controller's work: the Job's pod, labelled as the controller labels it,
        with a log for each of its (init) containers."""
        template = self.objects[("batch/v1/jobs", namespace, name)]["spec"]["template"]
        containers = [c["name"] for c in [*template["spec"].get("initContainers", []), *template["spec"]["containers"]]]
        labels = dict(template["metadata"].get("labels", {}), **{"job-name": name, "batch.kubernetes.io/job-name": name})
        return self.add_pod(namespace, f"{name}-x7k2p", labels, containers=containers)

    def roll_out(self, namespace: str, name: str, ready: int | None = None) -> list[dict]:
        """The controller's work: ``ready`` (default: all wanted) pods of the
        Deployment's template running and ready, the status saying so."""
        deployment = self.objects[("apps/v1/deployments", namespace, name)]
        wanted = deployment["spec"].get("replicas", 1)
        ready = wanted if ready is None else ready
        template = deployment["spec"]["template"]
        containers = [c["name"] for c in template["spec"]["containers"]]
        pods = []
        for index in range(wanted):
            pod_name = f"{name}-{deployment['metadata']['generation']}abc-{index}"
            if (namespace, pod_name) not in self.pods:
                self.add_pod(namespace, pod_name, template["metadata"]["labels"], containers=containers)
            pod = self.pods[(namespace, pod_name)]
            ok = index < ready
            pod["status"] = {"phase": "Running", "startTime": _now(),
                             "conditions": [{"type": "Ready", "status": "True" if ok else "False"}],
                             "containerStatuses": [{"name": c, "ready": ok, "restartCount": 0, "state": {"running": {}}} for c in containers]}
            pods.append(pod)
        self.set_deployment_status(namespace, name, {
            "observedGeneration": deployment["metadata"]["generation"], "replicas": wanted, "updatedReplicas": wanted,
            "readyReplicas": ready, "availableReplicas": ready,
            "conditions": [{"type": "Available", "status": "True" if ready >= wanted else "False"},
                           {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable" if ready >= wanted else "ReplicaSetUpdated"}],
        })
        return pods

    def add_node(self, name: str, labels: dict | None = None, allocatable: dict | None = None, ready: bool = True) -> dict:
        node = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "uid": str(uuid.uuid4()), "resourceVersion": self._next_rv(),
                             "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
                "status": {"allocatable": allocatable or {"cpu": "4", "memory": "16Gi", "pods": "110"},
                           "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}
        self.nodes[name] = node
        return node

    def shutdown(self) -> None:
        self.closing = True
        self._changed.set()


class _Base(tornado.web.RequestHandler):
    cluster: FakeCluster

    def initialize(self, cluster: FakeCluster) -> None:
        self.cluster = cluster
        self.gone = False

    def prepare(self) -> None:
        self.cluster.requests.append(
            {
                "method": self.request.method,
                "path": self.request.path,
                "query": {k: self.get_query_argument(k) for k in self.request.query_arguments},
                "content_type": self.request.headers.get("Content-Type"),
            }
        )

    def on_connection_close(self) -> None:
        self.gone = True

    def send(self, code: int, body: dict) -> None:
        self.set_status(code)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def fail(self, code: int, reason: str, message: str) -> None:
        self.send(code, _status(code, reason, message))

    def body_json(self):
        try:
            return json.loads(self.request.body or b"null")
        except ValueError:
            return None


class WorkflowsHandler(_Base):
    async def get(self, namespace: str) -> None:
        labels = self.get_query_argument("labelSelector", None)
        fields = self.get_query_argument("fieldSelector", None)
        if _go_bool(self.get_query_argument("watch", None)):
            await self._watch(namespace, labels, fields)
            return
        items = [
            copy.deepcopy(obj)
            for (ns, _), obj in sorted(self.cluster.workflows.items())
            if ns == namespace and _label_match(obj["metadata"].get("labels", {}), labels) and _field_match(obj, fields)
        ]
        self.send(200, {"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowList", "metadata": {"resourceVersion": str(self.cluster._rv)}, "items": items})

    async def _watch(self, namespace: str, labels, fields) -> None:
        cluster = self.cluster
        since = int(self.get_query_argument("resourceVersion", "0") or 0)
        timeout = float(self.get_query_argument("timeoutSeconds", "30"))
        stalled = cluster.stall_watches  # this connection went silent: no events, no end
        if stalled:
            timeout = 3600.0
        self.set_header("Content-Type", "application/json")
        if since and since < cluster.compacted_before:
            self.write(json.dumps({"type": "ERROR", "object": _status(410, "Expired", f"too old resource version: {since} ({cluster.compacted_before})")}) + "\n")
            self.finish()
            return
        if not since:
            # A watch without a version starts with the current objects as ADDED.
            for (ns, _), obj in sorted(cluster.workflows.items()):
                if ns == namespace and _label_match(obj["metadata"].get("labels", {}), labels) and _field_match(obj, fields):
                    self.write(json.dumps({"type": "ADDED", "object": obj}) + "\n")
            since = cluster._rv
        await self.flush()  # headers go out at once, as from a real API server
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.gone and not cluster.closing and loop.time() < deadline:
            if stalled:
                await cluster.wait_change(0.05)
                continue
            sent = False
            for rv, ns, kind, obj in list(cluster.events):
                if rv <= since or ns != namespace:
                    continue
                since = rv
                if _label_match(obj["metadata"].get("labels", {}), labels) and _field_match(obj, fields):
                    self.write(json.dumps({"type": kind, "object": obj}) + "\n")
                    sent = True
            if sent:
                try:
                    await self.flush()
                except tornado.iostream.StreamClosedError:
                    return
            await cluster.wait_change(min(0.5, max(0.0, deadline - loop.time())))
        if not self.gone:
            self.finish()

    def post(self, namespace: str) -> None:
        body = self.body_json()
        if not isinstance(body, dict) or body.get("kind") != "Workflow" or body.get("apiVersion") != "argoproj.io/v1alpha1":
            self.fail(400, "BadRequest", "body is not an argoproj.io/v1alpha1 Workflow")
            return
        if self.cluster.validate:
            # as an API server with Argo's full CRD schema would (plus the pod
            # schema Argo applies when it creates the pods): every workflow an
            # engine test submits is checked
            problems = workflow_errors(body)
            if problems:
                self.fail(422, "Invalid", "; ".join(problems))
                return
        name = (body.get("metadata") or {}).get("name")
        if name and (namespace, name) in self.cluster.workflows:
            self.fail(409, "AlreadyExists", f'workflows.argoproj.io "{name}" already exists')
            return
        try:
            obj = self.cluster.create_workflow(namespace, body)
        except ValueError as exc:
            self.fail(422, "Invalid", str(exc))
            return
        self.send(201, obj)


class WorkflowHandler(_Base):
    def _get(self, namespace: str, name: str):
        obj = self.cluster.workflows.get((namespace, name))
        if obj is None:
            self.fail(404, "NotFound", f'workflows.argoproj.io "{name}" not found')
        return obj

    def get(self, namespace: str, name: str) -> None:
        obj = self._get(namespace, name)
        if obj is not None:
            self.send(200, obj)

    def patch(self, namespace: str, name: str) -> None:
        obj = self._get(namespace, name)
        if obj is None:
            return
        content_type = (self.request.headers.get("Content-Type") or "").split(";")[0].strip()
        body = self.body_json()
        if content_type == "application/strategic-merge-patch+json":
            self.fail(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")
            return
        if content_type == "application/json-patch+json":
            if not isinstance(body, list):
                self.fail(400, "BadRequest", "json: cannot unmarshal object into Go value of type jsonpatch.Patch")
                return
            self.fail(400, "BadRequest", "json-patch is not implemented by this fake")
            return
        if content_type != "application/merge-patch+json" or not isinstance(body, dict):
            self.fail(415, "UnsupportedMediaType", f"unsupported patch type {content_type!r}")
            return
        patched = _merge_patch(obj, body)
        patched["metadata"]["name"] = name
        patched["metadata"]["namespace"] = namespace
        self.send(200, self.cluster.update_workflow(namespace, name, patched))

    def delete(self, namespace: str, name: str) -> None:
        if self._get(namespace, name) is None:
            return
        self.cluster.delete_workflow(namespace, name)
        self.send(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": {"name": name, "group": "argoproj.io", "kind": "workflows"}})


class ObjectsHandler(_Base):
    """A service's kinds: list and watch."""

    def _resource(self, group, version, plural) -> str | None:
        resource = f"{group + '/' if group else ''}{version}/{plural}"
        if resource not in OBJECT_KINDS:
            self.fail(404, "NotFound", f"the server could not find the requested resource ({resource})")
            return None
        return resource

    def _items(self, resource, namespace, labels, fields):
        return [
            copy.deepcopy(obj)
            for name, obj in self.cluster.objects_of(resource, namespace).items()
            if _label_match(obj["metadata"].get("labels", {}), labels) and _field_match(obj, fields)
        ]

    async def get(self, group, version, namespace, plural) -> None:
        resource = self._resource(group, version, plural)
        if resource is None:
            return
        labels = self.get_query_argument("labelSelector", None)
        fields = self.get_query_argument("fieldSelector", None)
        if _go_bool(self.get_query_argument("watch", None)):
            await self._watch(resource, namespace, labels, fields)
            return
        api_version, kind = OBJECT_KINDS[resource]
        self.send(200, {"apiVersion": api_version, "kind": kind + "List", "metadata": {"resourceVersion": str(self.cluster._rv)},
                        "items": self._items(resource, namespace, labels, fields)})

    async def _watch(self, resource, namespace, labels, fields) -> None:
        cluster = self.cluster
        since = int(self.get_query_argument("resourceVersion", "0") or 0)
        timeout = float(self.get_query_argument("timeoutSeconds", "30"))
        self.set_header("Content-Type", "application/json")
        if since and since < cluster.compacted_before:
            self.write(json.dumps({"type": "ERROR", "object": _status(410, "Expired", f"too old resource version: {since} ({cluster.compacted_before})")}) + "\n")
            self.finish()
            return
        if not since:
            for obj in self._items(resource, namespace, labels, fields):
                self.write(json.dumps({"type": "ADDED", "object": obj}) + "\n")
            since = cluster._rv
        await self.flush()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.gone and not cluster.closing and loop.time() < deadline:
            sent = False
            for rv, res, ns, kind, obj in list(cluster.object_events):
                if rv <= since or res != resource or ns != namespace:
                    continue
                since = rv
                if _label_match(obj["metadata"].get("labels", {}), labels) and _field_match(obj, fields):
                    self.write(json.dumps({"type": kind, "object": obj}) + "\n")
                    sent = True
            if sent:
                try:
                    await self.flush()
                except tornado.iostream.StreamClosedError:
                    return
            await cluster.wait_change(min(0.5, max(0.0, deadline - loop.time())))
        if not self.gone:
            self.finish()


    def post(self, group, version, namespace, plural) -> None:
        resource = self._resource(group, version, plural)
        if resource is None:
            return
        body = self.body_json()
        api_version, kind = OBJECT_KINDS[resource]
        if not isinstance(body, dict) or body.get("apiVersion") != api_version or body.get("kind") != kind:
            self.fail(400, "BadRequest", f"body is not a {api_version} {kind}")
            return
        name = (body.get("metadata") or {}).get("name")
        if (resource, namespace, name) in self.cluster.objects:
            self.fail(409, "AlreadyExists", f'{plural} "{name}" already exists')
            return
        if self.cluster.validate:
            problems = object_errors(body)
            if problems:
                self.fail(422, "Invalid", "; ".join(problems))
                return
        code, obj = self.cluster.apply_object(resource, namespace, name, body, "create")
        self.send(code, obj)


class ObjectHandler(ObjectsHandler):
    """One object of a service's kinds: get, apply, delete."""

    def get(self, group, version, namespace, plural, name) -> None:
        resource = self._resource(group, version, plural)
        if resource is None:
            return
        obj = self.cluster.objects.get((resource, namespace, name))
        if obj is None:
            self.fail(404, "NotFound", f'{plural} "{name}" not found')
            return
        self.send(200, obj)

    def patch(self, group, version, namespace, plural, name) -> None:
        resource = self._resource(group, version, plural)
        if resource is None:
            return
        content_type = (self.request.headers.get("Content-Type") or "").split(";")[0].strip()
        if content_type != "application/apply-patch+yaml":
            self.fail(415, "UnsupportedMediaType", f"this fake implements server-side apply only, not {content_type!r}")
            return
        manager = self.get_query_argument("fieldManager", None)
        if not manager:
            self.fail(400, "BadRequest", "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch")
            return
        body = self.body_json()
        api_version, kind = OBJECT_KINDS[resource]
        if not isinstance(body, dict) or body.get("apiVersion") != api_version or body.get("kind") != kind:
            self.fail(400, "BadRequest", f"body is not a {api_version} {kind}")
            return
        meta = body.get("metadata") or {}
        if meta.get("name") != name or meta.get("namespace", namespace) != namespace:
            self.fail(400, "BadRequest", "the name and namespace of the body do not match the URL")
            return
        if self.cluster.validate:
            problems = object_errors(body)
            if problems:
                self.fail(422, "Invalid", "; ".join(problems))
                return
        code, obj = self.cluster.apply_object(resource, namespace, name, body, manager)
        self.send(code, obj)

    def delete(self, group, version, namespace, plural, name) -> None:
        resource = self._resource(group, version, plural)
        if resource is None:
            return
        if (resource, namespace, name) not in self.cluster.objects:
            self.fail(404, "NotFound", f'{plural} "{name}" not found')
            return
        body = self.body_json() or {}
        policy = self.get_query_argument("propagationPolicy", None) or body.get("propagationPolicy")
        self.cluster.deletions.append((resource, namespace, name, policy))
        self.cluster.delete_object(resource, namespace, name)
        self.send(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": {"name": name, "kind": plural}})


class SecretsHandler(_Base):
    def get(self, namespace: str) -> None:
        labels = self.get_query_argument("labelSelector", None)
        items = [copy.deepcopy(s) for (ns, _), s in sorted(self.cluster.secrets.items())
                 if ns == namespace and _label_match(s["metadata"].get("labels", {}), labels)]
        self.send(200, {"apiVersion": "v1", "kind": "SecretList", "metadata": {"resourceVersion": str(self.cluster._rv)}, "items": items})

    def post(self, namespace: str) -> None:
        body = self.body_json()
        if not isinstance(body, dict) or body.get("kind") != "Secret" or body.get("apiVersion") != "v1":
            self.fail(400, "BadRequest", "body is not a v1 Secret")
            return
        name = (body.get("metadata") or {}).get("name")
        if (namespace, name) in self.cluster.secrets:
            self.fail(409, "AlreadyExists", f'secrets "{name}" already exists')
            return
        obj = copy.deepcopy(body)
        obj["metadata"].update(namespace=namespace, uid=str(uuid.uuid4()), resourceVersion=self.cluster._next_rv())
        self.cluster.secrets[(namespace, name)] = obj
        self.send(201, obj)


class AllSecretsHandler(_Base):
    def get(self) -> None:
        labels = self.get_query_argument("labelSelector", None)
        items = []
        for (ns, _), secret in sorted(self.cluster.secrets.items()):
            if _label_match(secret["metadata"].get("labels", {}), labels):
                item = copy.deepcopy(secret)
                item["metadata"].setdefault("namespace", ns)
                items.append(item)
        self.send(200, {"apiVersion": "v1", "kind": "SecretList", "metadata": {"resourceVersion": str(self.cluster._rv)}, "items": items})


class SecretHandler(_Base):
    def _get(self, namespace: str, name: str):
        obj = self.cluster.secrets.get((namespace, name))
        if obj is None:
            self.fail(404, "NotFound", f'secrets "{name}" not found')
        return obj

    def get(self, namespace: str, name: str) -> None:
        obj = self._get(namespace, name)
        if obj is not None:
            self.send(200, obj)

    def patch(self, namespace: str, name: str) -> None:
        obj = self._get(namespace, name)
        if obj is None:
            return
        content_type = (self.request.headers.get("Content-Type") or "").split(";")[0].strip()
        body = self.body_json()
        if content_type != "application/merge-patch+json" or not isinstance(body, dict):
            self.fail(415, "UnsupportedMediaType", f"this fake takes merge patches only, not {content_type!r}")
            return
        patched = _merge_patch(obj, body)
        patched["metadata"]["resourceVersion"] = self.cluster._next_rv()
        self.cluster.secrets[(namespace, name)] = patched
        self.send(200, patched)

    def delete(self, namespace: str, name: str) -> None:
        if self._get(namespace, name) is None:
            return
        del self.cluster.secrets[(namespace, name)]
        self.send(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})


class PodsHandler(_Base):
    def get(self, namespace: str) -> None:
        labels = self.get_query_argument("labelSelector", None)
        items = [copy.deepcopy(p) for (ns, _), p in sorted(self.cluster.pods.items()) if ns == namespace and _label_match(p["metadata"]["labels"], labels)]
        self.send(200, {"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": str(self.cluster._rv)}, "items": items})


class PodLogHandler(_Base):
    async def get(self, namespace: str, name: str) -> None:
        cluster = self.cluster
        pod = cluster.pods.get((namespace, name))
        if pod is None:
            self.fail(404, "NotFound", f'pods "{name}" not found')
            return
        names = [c["name"] for c in pod["spec"]["containers"]]
        container = self.get_query_argument("container", None)
        if container is None:
            if len(names) != 1:
                self.fail(400, "BadRequest", f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]")
                return
            container = names[0]
        if container not in names:
            self.fail(400, "BadRequest", f"container {container} is not valid for pod {name}")
            return
        follow = _go_bool(self.get_query_argument("follow", None))
        self.set_header("Content-Type", "text/plain")
        log = cluster.logs[(namespace, name, container)]
        await self.flush()
        sent = 0
        while True:
            text = log["text"]
            if len(text) > sent:
                self.write(text[sent:])
                sent = len(text)
                try:
                    await self.flush()
                except tornado.iostream.StreamClosedError:
                    return
            if not follow or log["done"] or self.gone or cluster.closing:
                break
            await cluster.wait_change(0.5)
        if not self.gone:
            self.finish()


class PodMetricsHandler(_Base):
    """metrics.k8s.io PodMetrics, as metrics-server serves them."""

    def get(self, namespace: str, name: str) -> None:
        usage = self.cluster.metrics.get((namespace, name))
        if usage is None:
            self.fail(404, "NotFound", f'podmetrics.metrics.k8s.io "{name}" not found')
            return
        containers = [{"name": c, "usage": u} for c, u in usage.items()]
        self.send(200, {"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {"name": name, "namespace": namespace}, "window": "15s", "containers": containers})


class NodesHandler(_Base):
    def get(self) -> None:
        limit = int(self.get_query_argument("limit", "0") or 0)
        token = self.get_query_argument("continue", None)
        if token and self.cluster.expired_continue:
            self.fail(410, "Expired", "The provided continue parameter is too old to display a consistent list result.")
            return
        names = sorted(self.cluster.nodes)
        if token:
            names = [n for n in names if n > token]
        following = None
        if limit and len(names) > limit:
            names = names[:limit]
            following = names[-1]
        metadata = {"resourceVersion": str(self.cluster._rv)}
        if following:
            metadata["continue"] = following
        self.send(200, {"apiVersion": "v1", "kind": "NodeList", "metadata": metadata,
                        "items": [copy.deepcopy(self.cluster.nodes[n]) for n in names]})


class NodeHandler(_Base):
    def _get(self, name: str):
        node = self.cluster.nodes.get(name)
        if node is None:
            self.fail(404, "NotFound", f'nodes "{name}" not found')
        return node

    def get(self, name: str) -> None:
        node = self._get(name)
        if node is not None:
            self.send(200, node)

    def patch(self, name: str) -> None:
        node = self._get(name)
        if node is None:
            return
        content_type = (self.request.headers.get("Content-Type") or "").split(";")[0].strip()
        body = self.body_json()
        if content_type not in ("application/strategic-merge-patch+json", "application/merge-patch+json"):
            self.fail(415, "UnsupportedMediaType", f"this fake takes strategic merge or merge patches of nodes, not {content_type!r}")
            return
        if not isinstance(body, dict):
            self.fail(400, "BadRequest", "the patch is not a JSON object")
            return
        # for a map such as metadata.labels both kinds of patch behave alike: null removes a key
        patched = _merge_patch(node, body)
        patched["metadata"]["resourceVersion"] = self.cluster._next_rv()
        self.cluster.nodes[name] = patched
        self.send(200, patched)


class VersionHandler(_Base):
    def get(self) -> None:
        self.send(200, {"major": "1", "minor": "31", "gitVersion": "v1.31.0-fake", "gitCommit": "0" * 40, "gitTreeState": "clean",
                        "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.22.0", "compiler": "gc", "platform": "linux/amd64"})


class FakeApiServer:
    """Start with ``await server.start()``; stop with ``await server.stop()``."""

    def __init__(self) -> None:
        self.cluster = FakeCluster()
        self.port = 0
        self._server: tornado.httpserver.HTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> FakeApiServer:
        args = {"cluster": self.cluster}
        app = tornado.web.Application(
            [
                (ARGO_PREFIX, WorkflowsHandler, args),
                (ARGO_PREFIX + r"/([a-z0-9.-]+)", WorkflowHandler, args),
                (OBJECTS_PREFIX, ObjectsHandler, args),
                (OBJECTS_PREFIX + r"/([a-z0-9.-]+)", ObjectHandler, args),
                (r"/api/v1/namespaces/([a-z0-9-]+)/pods", PodsHandler, args),
                (r"/api/v1/nodes", NodesHandler, args),
                (r"/api/v1/nodes/([a-z0-9.-]+)", NodeHandler, args),
                (r"/version/?", VersionHandler, args),
                (r"/api/v1/secrets", AllSecretsHandler, args),
                (r"/api/v1/namespaces/([a-z0-9-]+)/secrets", SecretsHandler, args),
                (r"/api/v1/namespaces/([a-z0-9-]+)/secrets/([a-z0-9.-]+)", SecretHandler, args),
                (r"/api/v1/namespaces/([a-z0-9-]+)/pods/([a-z0-9.-]+)/log", PodLogHandler, args),
                (r"/apis/metrics\.k8s\.io/v1beta1/namespaces/([a-z0-9-]+)/pods/([a-z0-9.-]+)", PodMetricsHandler, args),
            ]
        )
        self._server = tornado.httpserver.HTTPServer(app)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))  # loopback only, a free port
        sock.listen(16)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        self._server.add_sockets([sock])
        return self

    async def stop(self) -> None:
        self.cluster.shutdown()
        if self._server is not None:
            self._server.stop()
            await asyncio.wait_for(self._server.close_all_connections(), 5)
            self._server = None
