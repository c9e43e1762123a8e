"""A small OCI distribution client for tests: the registry's v2 HTTP API with
``requests``, answering its token challenge the way docker, buildah and podman
do (Basic credentials at the realm, then the Bearer token)."""

from __future__ import annotations

import hashlib
import json
import re
import time

import requests

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def wait_for(base: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/v2/", timeout=2).status_code == 401:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"no registry answered at {base}")


class Client:
    def __init__(self, base: str, auth: tuple[str, str] | None = None):
        self.base = base.rstrip("/")
        self.auth = auth
        self.token_answers: list[requests.Response] = []

    def _token(self, challenge: str) -> str | None:
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = params.pop("realm")
        resp = requests.get(realm, params=params, auth=self.auth, timeout=30)
        self.token_answers.append(resp)
        return resp.json()["token"] if resp.status_code == 200 else None

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        url = path if path.startswith("http") else self.base + path
        resp = requests.request(method, url, timeout=30, **kwargs)
        challenge = resp.headers.get("Www-Authenticate", "")
        if resp.status_code == 401 and challenge.startswith("Bearer "):
            token = self._token(challenge[len("Bearer "):])
            if token is None:
                return self.token_answers[-1]
            headers = dict(kwargs.pop("headers", {}), Authorization=f"Bearer {token}")
            resp = requests.request(method, url, headers=headers, timeout=30, **kwargs)
        return resp

    def upload_blob(self, repository: str, data: bytes) -> requests.Response:
        start = self.request("POST", f"/v2/{repository}/blobs/uploads/")
        if start.status_code != 202:
            return start
        location = start.headers["Location"]
        if location.startswith("/"):
            location = self.base + location
        sep = "&" if "?" in location else "?"
        return self.request("PUT", f"{location}{sep}digest={digest(data)}", data=data,
                            headers={"Content-Type": "application/octet-stream"})

    def push_image(self, repository: str, tag: str, layer: bytes) -> requests.Response:
        """Push a one-layer image: the layer, its config, then the manifest; the last answer that failed, or the manifest's."""
        config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [digest(layer)]}}).encode()
        for blob in (layer, config):
            resp = self.upload_blob(repository, blob)
            if resp.status_code != 201:
                return resp
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": MANIFEST_TYPE,
            "config": {"mediaType": CONFIG_TYPE, "digest": digest(config), "size": len(config)},
            "layers": [{"mediaType": LAYER_TYPE, "digest": digest(layer), "size": len(layer)}],
        }).encode()
        return self.request("PUT", f"/v2/{repository}/manifests/{tag}", data=manifest, headers={"Content-Type": MANIFEST_TYPE})

    def pull_manifest(self, repository: str, tag: str) -> requests.Response:
        return self.request("GET", f"/v2/{repository}/manifests/{tag}", headers={"Accept": MANIFEST_TYPE})
