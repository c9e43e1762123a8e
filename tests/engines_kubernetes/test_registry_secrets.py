"""Pull Secrets of registries (hub/cubelab_hub/kube/registry_secrets.py):
golden objects validated against Kubernetes' schema, and what a client reads
out of them. Regenerate the golden file after an intended change with
``CUBELAB_UPDATE_GOLDEN=1``."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path

from support.service_schema import kubernetes_errors

from cubelab_hub.kube.registry_secrets import SECRET_TYPE, docker_config, image_pull_secrets, project_pull_secrets

GOLDEN = Path(__file__).parent / "golden" / "registry-secrets.json"


@dataclass
class Creds:
    host: str
    username: str
    password: str


REGISTRIES = {"harbor": Creds("registry.example.com:8443", "robot$ci", "golden-password"),
              "hub": Creds("docker.io", "bot", "dckr_pat_golden")}


def test_project_pull_secrets_match_the_golden_file_and_validate():
    secrets = project_pull_secrets("team-a", "team-a-ns", REGISTRIES)
    if os.environ.get("CUBELAB_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(secrets, indent=2, sort_keys=True) + "\n")
    assert secrets == json.loads(GOLDEN.read_text())
    for secret in secrets:
        assert kubernetes_errors(secret) == [], secret["metadata"]["name"]


def test_a_secret_holds_the_docker_config_a_kubelet_reads():
    harbor, hub = project_pull_secrets("team-a", "ns", REGISTRIES)
    assert harbor["type"] == SECRET_TYPE == "kubernetes.io/dockerconfigjson"
    config = json.loads(base64.b64decode(harbor["data"][".dockerconfigjson"]))
    entry = config["auths"]["registry.example.com:8443"]
    assert (entry["username"], entry["password"]) == ("robot$ci", "golden-password")
    assert base64.b64decode(entry["auth"]).decode() == "robot$ci:golden-password"
    # Docker Hub is keyed by its index URL, as docker login writes it
    assert list(json.loads(base64.b64decode(hub["data"][".dockerconfigjson"]))["auths"]) == ["https://index.docker.io/v1/"]


def test_pods_reference_the_secrets_by_name():
    assert image_pull_secrets(["hub", "harbor", "hub"]) == [{"name": "cubelab-registry-harbor"}, {"name": "cubelab-registry-hub"}]
    assert docker_config([]) == {"auths": {}}
