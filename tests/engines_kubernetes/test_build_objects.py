"""Builders of an image build on Kubernetes (hub/cubelab_hub/kube/builds.py):
golden objects validated strictly against Kubernetes' schema, the BuildKit
command line, the size limit of a context, and reading a Job's outcome.
Regenerate the golden file after an intended change with ``CUBELAB_UPDATE_GOLDEN=1``."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from support.pod_security import restricted_violations
from support.service_schema import kubernetes_errors

from cubelab_hub.domain.builds import build_request_from_dict
from cubelab_hub.domain.errors import FieldError
from cubelab_hub.kube.builds import (
    BUILD_CONTAINER,
    MAX_CONTEXT_BYTES,
    BuildJobContext,
    build_objects,
    buildctl_args,
    credentials_secret,
    job_outcome,
    pushed_digest,
)

GOLDEN = Path(__file__).parent / "golden" / "build-job.json"
REQUEST = build_request_from_dict({"project": "team-a", "image": "trainer", "tags": ["v1", "latest"], "dockerfile": "FROM scratch\nCOPY a /a\n",
                                   "build_args": {"PIP_INDEX": "https://pypi.example/simple", "NOTE": "two words; $HOME"},
                                   "cpu": "1.5", "memory": "3G", "timeout": "20m"})
CTX = BuildJobContext(namespace="team-a-ns", registry="registry.example.com:8443", build_id=42, image_pull_secrets=("cubelab-registry-harbor",))


def test_build_objects_match_the_golden_file_and_validate():
    objects = build_objects(REQUEST, CTX, b"\x1f\x8bcontext", "FROM scratch\nCOPY a /a\n")
    objects.append(credentials_secret("team-a", "team-a-ns", '{"auths":{}}'))
    if os.environ.get("CUBELAB_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(objects, indent=2, sort_keys=True) + "\n")
    assert objects == json.loads(GOLDEN.read_text())
    for obj in objects:
        assert kubernetes_errors(obj) == [], obj["metadata"]["name"]


def test_the_job_runs_buildkit_rootless_once_within_the_timeout_and_limits():
    secret, job = build_objects(REQUEST, CTX, b"tar", "FROM scratch\n")
    spec = job["spec"]
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"], spec["ttlSecondsAfterFinished"]) == (0, 1200, 3600)
    pod = spec["template"]["spec"]
    (build,) = pod["containers"]
    assert build["image"].startswith("moby/buildkit:v") and build["image"].endswith("-rootless")
    assert build["command"] == ["buildctl-daemonless.sh"]
    assert {"name": "BUILDKITD_FLAGS", "value": "--oci-worker-no-process-sandbox"} in build["env"]
    assert build["resources"]["limits"] == {"cpu": "1.5", "memory": build["resources"]["requests"]["memory"]}
    sc = build["securityContext"]
    assert (sc["runAsUser"], sc["seccompProfile"], sc["appArmorProfile"], sc["privileged"]) == (1000, {"type": "Unconfined"}, {"type": "Unconfined"}, False)
    assert "capabilities" not in sc and not pod.get("hostNetwork") and pod["automountServiceAccountToken"] is False
    # BuildKit rootless is exactly what the restricted profile refuses, and nothing more
    assert restricted_violations(pod) == [
        "containers[build]: appArmorProfile Unconfined",
        "containers[build]: allowPrivilegeEscalation is not false",  # newuidmap's file capabilities
        "containers[build]: seccompProfile.type is Unconfined, not RuntimeDefault or Localhost (here or on the pod)",
        "containers[build]: capabilities.drop does not include ALL",
    ]
    # the credentials are a file where buildctl reads them, never an argument or a variable
    mounts = {m["mountPath"]: m["name"] for m in build["volumeMounts"]}
    assert mounts["/home/user/.docker"] == "docker-config"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["docker-config"]["secret"]["items"] == [{"key": ".dockerconfigjson", "path": "config.json"}]
    assert volumes["input"]["secret"]["secretName"] == secret["metadata"]["name"] == job["metadata"]["name"]
    assert "password" not in json.dumps(job)
    assert pod["imagePullSecrets"] == [{"name": "cubelab-registry-harbor"}]


def test_buildctl_pushes_every_tag_with_the_registry_cache_and_literal_build_args():
    args = buildctl_args(REQUEST, CTX)
    assert args[:4] == ["build", "--progress=plain", "--frontend", "dockerfile.v0"]
    assert args[args.index("--output") + 1] == \
        'type=image,"name=registry.example.com:8443/team-a/trainer:v1,registry.example.com:8443/team-a/trainer:latest",push=true'
    cache = "registry.example.com:8443/team-a/trainer:buildcache"
    assert args[args.index("--export-cache") + 1] == f"type=registry,ref={cache},mode=max"
    assert args[args.index("--import-cache") + 1] == f"type=registry,ref={cache}"
    assert "build-arg:NOTE=two words; $HOME" in args
    insecure = buildctl_args(REQUEST, BuildJobContext("ns", "10.0.0.5:5000", 1, insecure_registry=True))
    assert insecure[insecure.index("--output") + 1].endswith(",registry.insecure=true")


def test_a_context_too_large_for_a_secret_is_refused_naming_the_field_and_limit():
    with pytest.raises(FieldError) as caught:
        build_objects(REQUEST, CTX, b"x" * (MAX_CONTEXT_BYTES + 1), "FROM scratch\n")
    assert caught.value.field == "context"
    assert "compressed tar" in str(caught.value.accepted) and ".dockerignore" in str(caught.value.accepted)
    secret, _ = build_objects(REQUEST, CTX, b"x" * MAX_CONTEXT_BYTES, "FROM scratch\n")
    assert base64.b64decode(secret["data"]["context.tar.gz"]) == b"x" * MAX_CONTEXT_BYTES
    # what the largest context makes still fits in a Secret (1 MiB)
    assert len(json.dumps(secret)) < 2**20


def _job(*conditions):
    return {"status": {"conditions": [{"type": t, "status": "True", "reason": r} for t, r in conditions]}}


def _pod(container, **terminated):
    return {"status": {"containerStatuses": [{"name": container, "state": {"terminated": terminated}}]}}


def test_the_outcome_comes_from_the_job_conditions_and_says_why_it_failed():
    reg = CTX.registry
    assert job_outcome(_job(), None, REQUEST, reg) is None
    assert job_outcome(_job(("Complete", "")), None, REQUEST, reg) == \
        ("succeeded", f"built and pushed {reg}/team-a/trainer:v1, {reg}/team-a/trainer:latest")
    assert job_outcome(_job(("Failed", "DeadlineExceeded")), None, REQUEST, reg) == ("failed", "stopped after the timeout of 20m")
    status, message = job_outcome(_job(("Failed", "BackoffLimitExceeded")), _pod(BUILD_CONTAINER, reason="OOMKilled", exitCode=137), REQUEST, reg)
    assert (status, message.startswith("killed at its memory limit")) == ("failed", True)
    assert job_outcome(_job(("Failed", "BackoffLimitExceeded")), _pod(BUILD_CONTAINER, reason="Error", exitCode=1), REQUEST, reg) == \
        ("failed", "buildctl exited with code 1; see the log")
    assert job_outcome(None, None, REQUEST, reg)[0] == "failed"


def test_the_pushed_digest_is_read_from_the_progress_output():
    digest = "sha256:" + "ab" * 32
    lines = ["#9 exporting layers done\n", f"#9 exporting manifest {digest} 0.0s done\n", "#9 pushing layers\n"]
    assert pushed_digest(lines) == digest
    listed = "sha256:" + "cd" * 32
    assert pushed_digest([*lines, f"#9 exporting manifest list {listed} done\n"]) == listed
    assert pushed_digest(["nothing\n"]) is None
