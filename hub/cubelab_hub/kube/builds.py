"""Pure builders of an image build on Kubernetes: a Job running BuildKit
rootless (``buildctl-daemonless.sh``), the Secret carrying its context, and
what its log and status say.

- **The context travels in a Secret** (``context.tar.gz`` and ``Dockerfile``),
  unpacked by an init container into an ``emptyDir``: no volume shared with
  the user's workspace, no upload endpoint in the cluster. A Kubernetes object
  holds about 1 MiB, so a context whose compressed tar is over
  :data:`MAX_CONTEXT_BYTES` is refused before anything is sent
  (:func:`check_context_size`). A Secret rather than a ConfigMap: a context
  may hold files its project keeps private.
- **Registry credentials** come from the project's build credentials Secret
  (``kubernetes.io/dockerconfigjson``: the push target and the registries the
  project may pull from), mounted as ``/home/user/.docker/config.json``,
  where buildctl reads them; never in an argument or a variable.
- **Cache** is exported to and imported from the registry
  (``<registry>/<project>/<image>:buildcache``, ``mode=max``), so a rebuild in
  a fresh pod reuses the finished layers of the last one.
- **Security context.** BuildKit's rootless mode documents what it needs
  in a pod: seccomp and AppArmor ``Unconfined`` (it creates user and mount
  namespaces, which the runtimes' default profiles refuse) and user 1000 (the
  image's ``user``, whose subuid range its ``newuidmap`` uses). This breaks the
  "restricted" Pod Security profile the platform's other pods meet; the
  namespace must admit "privileged" pods for builds. Nothing else is granted:
  not privileged, no added capabilities, no service-account token, no host
  path. With ``--oci-worker-no-process-sandbox`` a ``RUN`` step shares the
  pod's process namespace, so it could read the mounted Docker config: a
  Dockerfile is trusted with the credentials its project may use.

Data in, plain dicts out: no Kubernetes client.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from ..domain.builds import BuildRequest, image_reference
from ..domain.errors import FieldError
from ..domain.formats import bytes_to_quantity, format_bytes

__all__ = [
    "BUILDKIT_IMAGE",
    "BUILD_CONTAINER",
    "CREDENTIALS_SECRET",
    "MAX_CONTEXT_BYTES",
    "BuildJobContext",
    "build_job",
    "build_objects",
    "buildctl_args",
    "cache_reference",
    "check_context_size",
    "context_secret",
    "credentials_secret",
    "job_name",
    "job_outcome",
    "pushed_digest",
]

# moby/buildkit's rootless image, pinned: buildctl-daemonless.sh and the
# flags below are those of this release
BUILDKIT_IMAGE = "moby/buildkit:v0.23.2-rootless"
BUILD_CONTAINER = "build"
CONTEXT_CONTAINER = "context"
CREDENTIALS_SECRET = "cubelab-build-credentials"
CACHE_TAG = "buildcache"
# a Secret's data is at most 1 MiB; base64 makes 3 bytes 4, and the Dockerfile shares it
MAX_CONTEXT_BYTES = 512 * 1024
HOME = "/home/user"
INPUT_DIR = "/cubelab/input"
CONTEXT_DIR = "/cubelab/context"
LABELS = {"app.kubernetes.io/managed-by": "cubelab", "cubelab.io/kind": "build"}
DEFAULT_TTL = 3600
CONTEXT_ACCEPTED = (f"a context folder whose compressed tar is at most {format_bytes(MAX_CONTEXT_BYTES)} on Kubernetes "
                    "(leave data out with .dockerignore; large files belong in a base image or a volume)")


@dataclass(frozen=True)
class BuildJobContext:
    """Where and how one build runs: the project's namespace, the registry
    its images are pushed to, the build's id, and the platform's settings."""

    namespace: str
    registry: str
    build_id: int
    buildkit_image: str = BUILDKIT_IMAGE
    ttl_seconds: int = DEFAULT_TTL
    image_pull_secrets: tuple[str, ...] = ()
    insecure_registry: bool = False


def job_name(build_id: int) -> str:
    """The Job of a build (and its context Secret): one per build."""
    return f"cubelab-build-{build_id}"


def cache_reference(registry: str, request: BuildRequest) -> str:
    """Where the layer cache of a project's image lives in the registry."""
    return image_reference(registry, request.project, request.image, CACHE_TAG)


def _labels(request: BuildRequest, build_id: int) -> dict[str, str]:
    return dict(LABELS, **{"cubelab.io/project": request.project, "cubelab.io/build": str(build_id)})


def check_context_size(size: int) -> None:
    """Refuse a context too large to travel in a Secret, naming the limit."""
    if size > MAX_CONTEXT_BYTES:
        raise FieldError("context", f"is {format_bytes(size)} as a compressed tar, more than a build on Kubernetes takes", CONTEXT_ACCEPTED)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def context_secret(request: BuildRequest, ctx: BuildJobContext, context_tar: bytes, dockerfile: str) -> dict:
    """The Secret carrying a build's context (a gzip tar) and its Dockerfile."""
    check_context_size(len(context_tar))
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": job_name(ctx.build_id), "namespace": ctx.namespace, "labels": _labels(request, ctx.build_id)},
        "type": "Opaque",
        "data": {"context.tar.gz": _b64(context_tar), "Dockerfile": _b64(dockerfile.encode("utf-8"))},
    }


def credentials_secret(project: str, namespace: str, docker_config_json: str) -> dict:
    """The project's build credentials: one Docker config with every registry
    its builds push to or pull from (:func:`..registry_secrets.docker_config`)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": CREDENTIALS_SECRET, "namespace": namespace,
                     "labels": dict(LABELS, **{"cubelab.io/project": project, "cubelab.io/kind": "build-credentials"})},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": _b64(docker_config_json.encode("utf-8"))},
    }


def buildctl_args(request: BuildRequest, ctx: BuildJobContext) -> list[str]:
    """``buildctl build``'s arguments: each tag pushed, the cache to and from the
    registry, build arguments as separate items (no shell reads them)."""
    names = ",".join(request.references(ctx.registry))
    # a comma inside name= would split the option; tags and names cannot hold one (domain.builds)
    output = f"type=image,\"name={names}\",push=true"
    if ctx.insecure_registry:
        output += ",registry.insecure=true"
    cache = cache_reference(ctx.registry, request)
    insecure = ",registry.insecure=true" if ctx.insecure_registry else ""
    args = ["build", "--progress=plain", "--frontend", "dockerfile.v0",
            "--local", f"context={CONTEXT_DIR}", "--local", f"dockerfile={INPUT_DIR}",
            "--output", output,
            "--export-cache", f"type=registry,ref={cache},mode=max{insecure}",
            "--import-cache", f"type=registry,ref={cache}{insecure}"]
    for key, value in request.build_args.items():
        args += ["--opt", f"build-arg:{key}={value}"]
    return args


def _security_context() -> dict:
    # BuildKit's rootless requirements (see the module's docstring): not the restricted profile
    return {"runAsUser": 1000, "runAsGroup": 1000, "runAsNonRoot": True, "allowPrivilegeEscalation": True,
            "privileged": False, "seccompProfile": {"type": "Unconfined"}, "appArmorProfile": {"type": "Unconfined"}}


def _resources(request: BuildRequest) -> dict:
    cpu = format(request.cpu.normalize(), "f")
    memory = bytes_to_quantity(request.memory)
    # requests equal to limits: a build gets what it asked for or does not start
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}}


def build_job(request: BuildRequest, ctx: BuildJobContext) -> dict:
    """The Job: an init container unpacks the context, BuildKit builds and pushes."""
    name = job_name(ctx.build_id)
    labels = _labels(request, ctx.build_id)
    unpack = {
        "name": CONTEXT_CONTAINER,
        "image": ctx.buildkit_image,
        "command": ["tar", "-xzf", f"{INPUT_DIR}/context.tar.gz", "-C", CONTEXT_DIR],
        "securityContext": {"runAsUser": 1000, "runAsGroup": 1000, "runAsNonRoot": True, "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
        "volumeMounts": [{"name": "input", "mountPath": INPUT_DIR, "readOnly": True},
                         {"name": "context", "mountPath": CONTEXT_DIR}],
    }
    build = {
        "name": BUILD_CONTAINER,
        "image": ctx.buildkit_image,
        "command": ["buildctl-daemonless.sh"],
        "args": buildctl_args(request, ctx),
        "env": [{"name": "BUILDKITD_FLAGS", "value": "--oci-worker-no-process-sandbox"}],
        "securityContext": _security_context(),
        "resources": _resources(request),
        "volumeMounts": [
            {"name": "input", "mountPath": INPUT_DIR, "readOnly": True},
            {"name": "context", "mountPath": CONTEXT_DIR, "readOnly": True},
            {"name": "docker-config", "mountPath": f"{HOME}/.docker", "readOnly": True},
            {"name": "buildkitd", "mountPath": f"{HOME}/.local/share/buildkit"},
        ],
    }
    pod_spec = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {"fsGroup": 1000},
        "initContainers": [unpack],
        "containers": [build],
        "volumes": [
            {"name": "input", "secret": {"secretName": name, "defaultMode": 0o440}},
            {"name": "context", "emptyDir": {}},
            {"name": "docker-config", "secret": {"secretName": CREDENTIALS_SECRET, "defaultMode": 0o440,
                                                 "items": [{"key": ".dockerconfigjson", "path": "config.json"}]}},
            {"name": "buildkitd", "emptyDir": {}},
        ],
    }
    if ctx.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": n} for n in ctx.image_pull_secrets]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": ctx.namespace, "labels": labels},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": request.timeout,
            "ttlSecondsAfterFinished": ctx.ttl_seconds,
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def build_objects(request: BuildRequest, ctx: BuildJobContext, context_tar: bytes, dockerfile: str) -> list[dict]:
    """What one build creates, in order: its context Secret, then its Job."""
    return [context_secret(request, ctx, context_tar, dockerfile), build_job(request, ctx)]


# ---------------------------------------------------------------- what the cluster says


def _terminated(pod: dict | None, container: str) -> dict:
    status = (pod or {}).get("status") or {}
    for item in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        if item.get("name") == container:
            return (item.get("state") or {}).get("terminated") or {}
    return {}


def job_outcome(job: dict | None, pod: dict | None, request: BuildRequest, registry: str) -> tuple[str, str] | None:
    """(status, message) of a finished Job from its conditions (and its pod,
    for why it failed); None while it runs."""
    if job is None:
        return "failed", "the build's Job disappeared from the cluster"
    conditions = {c.get("type"): c for c in (job.get("status") or {}).get("conditions") or [] if c.get("status") == "True"}
    if "Complete" in conditions or "SuccessCriteriaMet" in conditions:
        return "succeeded", "built and pushed " + ", ".join(request.references(registry))
    failed = conditions.get("Failed") or conditions.get("FailureTarget")
    if failed is None:
        return None
    reason = failed.get("reason") or ""
    if reason == "DeadlineExceeded":
        return "failed", f"stopped after the timeout of {request.to_dict()['timeout']}"
    if _terminated(pod, BUILD_CONTAINER).get("reason") == "OOMKilled":
        return "failed", f"killed at its memory limit of {request.to_dict()['memory']}"
    unpack = _terminated(pod, CONTEXT_CONTAINER)
    if unpack and unpack.get("exitCode", 0) != 0:
        return "failed", f"unpacking the context failed (exit code {unpack.get('exitCode')}); see the log"
    code = _terminated(pod, BUILD_CONTAINER).get("exitCode")
    if code is not None:
        return "failed", f"buildctl exited with code {code}; see the log"
    return "failed", f"the build's Job failed ({reason or 'no reason given'}): {failed.get('message') or 'see the log'}"


# "#12 exporting manifest sha256:... done" / "#12 exporting manifest list sha256:..."
_DIGEST_RE = re.compile(r"exporting manifest(?: list)? (sha256:[0-9a-f]{64})")


def pushed_digest(lines) -> str | None:
    """The digest of the pushed manifest (the list's, for a multi-platform
    image), from buildctl's plain progress output."""
    found = None
    for line in lines:
        match = _DIGEST_RE.search(line)
        if match and (found is None or "manifest list" in line):
            found = match.group(1)
    return found
