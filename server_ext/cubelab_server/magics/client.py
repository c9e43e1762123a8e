"""The CubeLab API as seen from a kernel of a CubeLab server.

Kernels inherit their server's environment: ``JUPYTERHUB_SERVICE_URL`` (the
server's own address) and ``JUPYTERHUB_API_TOKEN`` (its token). The client calls
the server extension's same-origin API (``<server>/cubelab/api/...``), exactly
as the Lab plugin does; the token never leaves this process.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator


class CubeLabError(Exception):
    """An error to show the user as it is (no traceback)."""


def _server_url() -> str:
    url = os.environ.get("CUBELAB_SERVER_URL") or os.environ.get("JUPYTERHUB_SERVICE_URL")
    if not url:
        raise CubeLabError("this kernel does not run in a CubeLab server (no JUPYTERHUB_SERVICE_URL in its environment)")
    return url.rstrip("/") + "/"


class CubeLabClient:
    def __init__(self, server_url: str | None = None, token: str | None = None, timeout: float = 60):
        self.base = (server_url or _server_url()).rstrip("/") + "/cubelab/api/"
        self.token = token if token is not None else os.environ.get("JUPYTERHUB_API_TOKEN", "")
        self.timeout = timeout

    def _request(self, method: str, path: str, body=None, query: dict | None = None, timeout: float | None = None):
        url = self.base + path.lstrip("/")
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        data = None
        headers = {"Authorization": f"token {self.token}", "Accept": "application/json"}
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            return urllib.request.urlopen(req, timeout=timeout or self.timeout)
        except urllib.error.HTTPError as exc:
            raise CubeLabError(self._message(exc)) from None
        except urllib.error.URLError as exc:
            raise CubeLabError(f"cannot reach the CubeLab API at {self.base}: {exc.reason}") from None

    @staticmethod
    def _message(exc: urllib.error.HTTPError) -> str:
        try:
            body = json.loads(exc.read() or b"{}")
        except ValueError:
            body = {}
        message = body.get("message") or exc.reason
        if exc.code == 403 and body.get("error") == "forbidden":
            message = f"no permission: {message}"
        # several fields wrong at once: each message names its field and the accepted forms
        errors = [e.get("message") for e in body.get("errors") or [] if e.get("message")]
        if len(errors) > 1:
            message = "\n".join(errors)
        for diag in body.get("diagnostics") or []:
            where = diag.get("task") or ("→".join(diag["edge"]) if diag.get("edge") else diag.get("field") or "pipeline")
            message += f"\n  [{diag.get('severity', 'error')}] {where}: {diag.get('message')}"
        return message

    def get(self, path: str, **query):
        with self._request("GET", path, query=query) as resp:
            return json.loads(resp.read() or b"null")

    def pages(self, path: str, key: str, **query) -> Iterator[dict]:
        """Every item of a paged list (``key`` holds a page's items), following ``next_cursor``."""
        query.setdefault("limit", 500)
        while True:
            page = self.get(path, **query)
            yield from page[key]
            if not page.get("next_cursor"):
                return
            query["cursor"] = page["next_cursor"]

    def post(self, path: str, body=None):
        with self._request("POST", path, body if body is not None else {}) as resp:
            return json.loads(resp.read() or b"null")

    def patch(self, path: str, body: dict):
        with self._request("PATCH", path, body) as resp:
            return json.loads(resp.read() or b"null")

    def stream(self, path: str, **query) -> Iterator[str]:
        """Lines of a streaming response (a followed log)."""
        with self._request("GET", path, query=query, timeout=24 * 3600) as resp:
            for raw in resp:
                yield raw.decode("utf-8", errors="replace")

    # -------------------------------------------------------------- helpers

    def find_pipeline(self, name: str, project: str | None = None) -> dict:
        return self._find_named("pipelines", "pipeline", name, project)

    def find_experiment(self, name: str, project: str | None = None) -> dict:
        return self._find_named("experiments", "experiment", name, project)

    def find_service(self, body: dict) -> dict | None:
        """The project's service that a deploy ``body`` changes, if it has one: by
        name, or for an inference service by serving type, model and version
        (which make its name)."""
        if body.get("kind") == "inference":
            keys = ("serving_type", "model_name", "model_version")
            found = [s for s in self.pages("services", "services", project=body["project"], q=body["model_name"])
                     if s.get("kind") == "inference" and all(s.get(k) == body[k] for k in keys)]
        else:
            found = [s for s in self.pages("services", "services", project=body["project"], q=body["name"])
                     if s["name"] == body["name"]]
        return found[0] if found else None

    def _find_named(self, resource: str, what: str, name: str, project: str | None) -> dict:
        # the name search may match many items: every page of it, not just the first
        found = [p for p in self.pages(resource, resource, project=project, q=name) if p["name"] == name]
        if not found:
            where = f" in project '{project}'" if project else ""
            raise CubeLabError(f"unknown {what} '{name}'{where}; list them with %cubelab {resource}")
        if len(found) > 1:
            projects = ", ".join(sorted(p["project"] for p in found))
            raise CubeLabError(f"several projects have a {what} '{name}' ({projects}): add --project NAME")
        return found[0]
