"""A fake Kubernetes API server with a fake kubelet, for KubeSpawner end to end.

The mock boundary is the Kubernetes API: KubeSpawner, JupyterHub and the
notebook server are real. The API part answers what KubeSpawner 7 uses for
pods (create, get, delete, list and watch by label, per namespace) and what
the control plane uses for pull Secrets (create, get, merge patch, delete, list
by label in a namespace or in all); the kubelet part runs a created pod's container command as a local process on 127.0.0.1
with the pod's environment, and reports the pod Running and ready.

    python fake_kube.py PORT WORKDIR

Pods are also listed at ``GET /fake/pods`` (all namespaces), Secrets at
``GET /fake/secrets``, and every changing request in order at ``GET /fake/requests``,
for tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import tornado.web
from tornado.httpserver import HTTPServer


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def label_match(labels: dict, selector: str | None) -> bool:
    for part in filter(None, (selector or "").split(",")):
        key, _, value = part.partition("=")
        if labels.get(key) != value:
            return False
    return True


class Cluster:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.pods: dict[tuple[str, str], dict] = {}
        self.secrets: dict[tuple[str, str], dict] = {}
        self.requests: list[dict] = []  # (method, path) of every request that changes something, in order
        self.procs: dict[tuple[str, str], subprocess.Popen] = {}
        self.rv = 0
        self.log: list[tuple[int, str, dict]] = []
        self.changed = asyncio.Condition()

    async def emit(self, kind: str, pod: dict) -> None:
        self.rv += 1
        pod["metadata"]["resourceVersion"] = str(self.rv)
        self.log.append((self.rv, kind, json.loads(json.dumps(pod))))
        async with self.changed:
            self.changed.notify_all()

    async def create(self, namespace: str, pod: dict) -> dict:
        meta = pod.setdefault("metadata", {})
        key = (namespace, meta["name"])
        if key in self.pods:
            raise tornado.web.HTTPError(409)
        meta.update(namespace=namespace, uid=str(uuid.uuid4()), creationTimestamp=now())
        pod["status"] = {"phase": "Pending"}
        self.pods[key] = pod
        await self.emit("ADDED", pod)
        asyncio.get_running_loop().call_later(0.2, lambda: asyncio.ensure_future(self.kubelet_start(key)))
        return pod

    async def kubelet_start(self, key) -> None:
        pod = self.pods.get(key)
        if pod is None:
            return
        container = pod["spec"]["containers"][0]
        argv = list(container.get("command") or []) + list(container.get("args") or [])
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "PYTHONPATH", "LANG", "JUPYTER_CONFIG_DIR")}
        for item in container.get("env") or []:
            if "value" in item:
                env[item["name"]] = item["value"]
        # the container's file system: a directory per pod
        root = self.workdir / key[0] / key[1]
        root.mkdir(parents=True, exist_ok=True)
        env["HOME"] = str(root)
        log = open(root / "container.log", "ab")
        self.procs[key] = subprocess.Popen(argv, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        pod["status"] = {
            "phase": "Running",
            "podIP": "127.0.0.1",
            "hostIP": "127.0.0.1",
            "startTime": now(),
            "containerStatuses": [{"name": container["name"], "ready": True, "restartCount": 0, "image": container.get("image", ""), "state": {"running": {"startedAt": now()}}}],
        }
        await self.emit("MODIFIED", pod)

    async def delete(self, namespace: str, name: str) -> dict:
        key = (namespace, name)
        pod = self.pods.pop(key, None)
        if pod is None:
            raise tornado.web.HTTPError(404)
        proc = self.procs.pop(key, None)
        if proc and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            for _ in range(100):
                if proc.poll() is not None:
                    break
                await asyncio.sleep(0.1)
            else:
                os.killpg(proc.pid, signal.SIGKILL)
        await self.emit("DELETED", pod)
        return pod

    def shutdown(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)


class Base(tornado.web.RequestHandler):
    def initialize(self, cluster: Cluster):
        self.cluster = cluster

    def prepare(self):
        if self.request.method != "GET":
            self.cluster.requests.append({"method": self.request.method, "path": self.request.path})

    def send(self, code: int, body: dict) -> None:
        self.set_status(code)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))


class PodsHandler(Base):
    async def get(self, namespace):
        selector = self.get_argument("labelSelector", None)
        if self.get_argument("watch", "") in ("true", "1", "True"):
            return await self.watch(namespace, selector)
        items = [p for (ns, _), p in self.cluster.pods.items() if ns == namespace and label_match(p["metadata"].get("labels", {}), selector)]
        self.send(200, {"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": str(self.cluster.rv)}, "items": items})

    async def watch(self, namespace, selector):
        since = int(self.get_argument("resourceVersion", "0") or 0)
        timeout = float(self.get_argument("timeoutSeconds", "30"))
        deadline = asyncio.get_running_loop().time() + timeout
        self.set_header("Content-Type", "application/json")
        sent = since
        while True:
            for rv, kind, pod in list(self.cluster.log):
                if rv > sent and pod["metadata"]["namespace"] == namespace and label_match(pod["metadata"].get("labels", {}), selector):
                    self.write(json.dumps({"type": kind, "object": pod}) + "\n")
                sent = max(sent, rv)
            await self.flush()
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            try:
                async with self.cluster.changed:
                    await asyncio.wait_for(self.cluster.changed.wait(), left)
            except TimeoutError:
                break
        self.finish()

    async def post(self, namespace):
        self.send(201, await self.cluster.create(namespace, json.loads(self.request.body)))


class PodHandler(Base):
    def get(self, namespace, name):
        pod = self.cluster.pods.get((namespace, name))
        if pod is None:
            return self.send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})
        self.send(200, pod)

    async def delete(self, namespace, name):
        if (namespace, name) not in self.cluster.pods:
            return self.send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})
        self.send(200, await self.cluster.delete(namespace, name))


NOT_FOUND = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


class SecretsHandler(Base):
    def get(self, namespace=None):
        selector = self.get_argument("labelSelector", None)
        items = [s for (ns, _), s in sorted(self.cluster.secrets.items())
                 if (namespace is None or ns == namespace) and label_match(s["metadata"].get("labels", {}), selector)]
        self.send(200, {"apiVersion": "v1", "kind": "SecretList", "metadata": {"resourceVersion": str(self.cluster.rv)}, "items": items})

    def post(self, namespace):
        body = json.loads(self.request.body)
        key = (namespace, body["metadata"]["name"])
        if key in self.cluster.secrets:
            return self.send(409, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "AlreadyExists", "code": 409})
        body["metadata"].update(namespace=namespace, uid=str(uuid.uuid4()))
        self.cluster.secrets[key] = body
        self.send(201, body)


class SecretHandler(Base):
    def get(self, namespace, name):
        secret = self.cluster.secrets.get((namespace, name))
        self.send(200, secret) if secret is not None else self.send(404, NOT_FOUND)

    def patch(self, namespace, name):
        secret = self.cluster.secrets.get((namespace, name))
        if secret is None:
            return self.send(404, NOT_FOUND)
        self.cluster.secrets[(namespace, name)] = merge_patch(secret, json.loads(self.request.body))
        self.send(200, self.cluster.secrets[(namespace, name)])

    def delete(self, namespace, name):
        if self.cluster.secrets.pop((namespace, name), None) is None:
            return self.send(404, NOT_FOUND)
        self.send(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})


class FakeSecretsHandler(Base):
    def get(self):
        self.send(200, {"items": list(self.cluster.secrets.values())})


class RequestsHandler(Base):
    def get(self):
        self.send(200, {"items": self.cluster.requests})


class AllPodsHandler(Base):
    def get(self):
        self.send(200, {"items": list(self.cluster.pods.values())})


async def main(port: int, workdir: Path) -> None:
    cluster = Cluster(workdir)
    args = {"cluster": cluster}
    app = tornado.web.Application([
        (r"/api/v1/namespaces/([a-z0-9-]+)/pods", PodsHandler, args),
        (r"/api/v1/namespaces/([a-z0-9-]+)/pods/([a-z0-9.-]+)", PodHandler, args),
        (r"/api/v1/secrets", SecretsHandler, args),
        (r"/api/v1/namespaces/([a-z0-9-]+)/secrets", SecretsHandler, args),
        (r"/api/v1/namespaces/([a-z0-9-]+)/secrets/([a-z0-9.-]+)", SecretHandler, args),
        (r"/fake/pods", AllPodsHandler, args),
        (r"/fake/secrets", FakeSecretsHandler, args),
        (r"/fake/requests", RequestsHandler, args),
    ])
    server = HTTPServer(app)
    server.listen(port, "127.0.0.1")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    cluster.shutdown()
    server.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), Path(sys.argv[2])))
