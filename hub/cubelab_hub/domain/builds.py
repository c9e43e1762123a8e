"""Image builds: the request users write, the buildah command line that runs
it, and what buildah's output says (steps, cache hits, an unreachable base).

A build turns a Dockerfile (inline, or a file of the workspace) and a context
folder of the workspace into an image of the project's repository,
``<registry>/<project>/<image>:<tag>``, with each of its tags. Every field is
checked here, each problem naming its field and the accepted form; nothing of
it runs anywhere until the whole request is accepted.

The command line is built as a list (no shell ever reads it): build arguments
are separate argv items, so a value with spaces, quotes or ``$`` stays one
literal value.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .errors import FieldError, FieldErrors
from .formats import format_bytes, parse_cpu, parse_memory
from .projects import validate_project_name
from .retries import format_duration, parse_duration_seconds

BUILD_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINISHED = ("succeeded", "failed", "cancelled")

IMAGE_ACCEPTED = ("1 to 128 lowercase letters and digits, separated by single '.', '_', '__' or '-' "
                  "(a repository name inside the project, e.g. 'trainer' or 'py311-base')")
TAG_ACCEPTED = "1 to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-' (e.g. 'latest', 'v1.2')"
PATH_ACCEPTED = "a relative path inside your workspace, without '..' (e.g. 'images/trainer')"
BUILD_ARG_ACCEPTED = "an object of NAME: value strings; NAME is letters, digits and '_', not starting with a digit"
DOCKERFILE_ACCEPTED = "the Dockerfile's text in 'dockerfile', or its path in your workspace in 'dockerfile_path' (one of the two)"

MAX_TAGS = 16
MAX_DOCKERFILE_BYTES = 256 * 1024
MAX_BUILD_ARGS = 64
MAX_BUILD_ARG_BYTES = 32 * 1024
DEFAULT_TIMEOUT = 3600
MIN_TIMEOUT = 10
MAX_TIMEOUT = 24 * 3600
DEFAULT_CPU = "2"
DEFAULT_MEMORY = "4G"

# the distribution spec's path component (lowercase), one component: the project is the first
_IMAGE_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_ARG_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FIELDS = ("project", "image", "tags", "dockerfile", "dockerfile_path", "context", "build_args", "cpu", "memory", "timeout")


@dataclass(frozen=True)
class BuildRequest:
    """A build as its user asked for it (every field checked)."""

    project: str
    image: str
    tags: tuple[str, ...] = ("latest",)
    dockerfile: str | None = None
    dockerfile_path: str | None = None
    context: str = "."
    build_args: dict[str, str] = field(default_factory=dict)
    cpu: Decimal = Decimal(DEFAULT_CPU)
    memory: int = 4 * 2**30
    timeout: int = DEFAULT_TIMEOUT

    def to_dict(self) -> dict:
        data = {"project": self.project, "image": self.image, "tags": list(self.tags), "context": self.context,
                "build_args": dict(self.build_args), "cpu": format(self.cpu.normalize(), "f"), "memory": format_bytes(self.memory),
                "timeout": format_duration(self.timeout)}
        if self.dockerfile is not None:
            data["dockerfile"] = self.dockerfile
        else:
            data["dockerfile_path"] = self.dockerfile_path
        return data

    def references(self, registry: str) -> list[str]:
        """Every reference the build tags, first tag first."""
        return [image_reference(registry, self.project, self.image, tag) for tag in self.tags]


def image_reference(registry: str, project: str, image: str, tag: str) -> str:
    """``<registry>/<project>/<image>:<tag>``: the project is the repository's first component."""
    return f"{registry.rstrip('/')}/{project}/{image}:{tag}"


def _workspace_path(value: Any, name: str) -> str:
    """A relative path that stays inside the workspace (its folders are resolved
    again on disk, where links could still point out of it)."""
    if not isinstance(value, str) or not value.strip():
        raise FieldError(name, "must be a non-empty string", PATH_ACCEPTED)
    text = value.strip()
    if "\x00" in text or "\n" in text:
        raise FieldError(name, "holds a control character", PATH_ACCEPTED)
    if text.startswith("/") or text.startswith("~"):
        raise FieldError(name, f"'{text}' is absolute; paths are relative to your workspace", PATH_ACCEPTED)
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise FieldError(name, f"'{text}' leaves your workspace through '..'", PATH_ACCEPTED)
    return "/".join(parts) or "."


def _build_args(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FieldError("build_args", f"must be an object, got {type(value).__name__}", BUILD_ARG_ACCEPTED)
    if len(value) > MAX_BUILD_ARGS:
        raise FieldError("build_args", f"has {len(value)} arguments, more than {MAX_BUILD_ARGS}", BUILD_ARG_ACCEPTED)
    args: dict[str, str] = {}
    for key, item in value.items():
        if not _ARG_NAME_RE.fullmatch(key) or len(key) > 128:
            raise FieldError(f"build_args.{key}", f"'{key}' is not a build argument name", BUILD_ARG_ACCEPTED)
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise FieldError(f"build_args.{key}", f"must be a string, got {type(item).__name__}", BUILD_ARG_ACCEPTED)
        text = str(item)
        if "\x00" in text or len(text.encode()) > MAX_BUILD_ARG_BYTES:
            raise FieldError(f"build_args.{key}", "holds a NUL character or is longer than 32K", "a string up to 32K")
        args[key] = text
    return args


def _tags(value: Any) -> tuple[str, ...]:
    if value is None:
        return ("latest",)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise FieldError("tags", "must be a non-empty list of tags", TAG_ACCEPTED)
    if len(value) > MAX_TAGS:
        raise FieldError("tags", f"has {len(value)} tags, more than {MAX_TAGS}", TAG_ACCEPTED)
    tags: list[str] = []
    for i, tag in enumerate(value):
        if not isinstance(tag, str) or not _TAG_RE.fullmatch(tag):
            raise FieldError(f"tags[{i}]", f"{tag!r} is not a tag", TAG_ACCEPTED)
        if tag not in tags:
            tags.append(tag)
    return tuple(tags)


def build_request_from_dict(data: Any) -> BuildRequest:
    """Parse a build request; every problem is reported at once
    (:class:`FieldErrors`), each naming its field."""
    if not isinstance(data, dict):
        raise FieldErrors([FieldError("build", "must be an object", "{" + ", ".join(_FIELDS) + "}")])
    errors: list[FieldError] = []
    values: dict[str, Any] = {}

    def check(name: str, parse) -> None:
        try:
            values[name] = parse()
        except FieldErrors as exc:
            errors.extend(exc.errors)
        except FieldError as exc:
            errors.append(exc)

    for key in data:
        if key not in _FIELDS:
            errors.append(FieldError(key, "is not a field of a build", ", ".join(_FIELDS)))

    def image() -> str:
        value = data.get("image")
        if not isinstance(value, str) or not value:
            raise FieldError("image", "is missing", IMAGE_ACCEPTED)
        if len(value) > 128 or not _IMAGE_RE.fullmatch(value):
            raise FieldError("image", f"'{value}' is not an image name", IMAGE_ACCEPTED)
        return value

    def dockerfile() -> tuple[str | None, str | None]:
        inline, path = data.get("dockerfile"), data.get("dockerfile_path")
        if (inline is None) == (path is None):
            raise FieldError("dockerfile", "give exactly one of 'dockerfile' and 'dockerfile_path'", DOCKERFILE_ACCEPTED)
        if inline is not None:
            if not isinstance(inline, str) or not inline.strip():
                raise FieldError("dockerfile", "must be the Dockerfile's text", DOCKERFILE_ACCEPTED)
            if len(inline.encode()) > MAX_DOCKERFILE_BYTES or "\x00" in inline:
                raise FieldError("dockerfile", "is longer than 256K or holds a NUL character", "a Dockerfile up to 256K")
            return inline, None
        return None, _workspace_path(path, "dockerfile_path")

    check("project", lambda: validate_project_name(data.get("project"), "project"))
    check("image", image)
    check("tags", lambda: _tags(data.get("tags")))
    check("dockerfile", dockerfile)
    check("context", lambda: _workspace_path(data.get("context", "."), "context") if data.get("context") not in (None, "", ".") else ".")
    check("build_args", lambda: _build_args(data.get("build_args")))
    check("cpu", lambda: parse_cpu(data.get("cpu", DEFAULT_CPU), "cpu").limit)
    check("memory", lambda: parse_memory(data.get("memory", DEFAULT_MEMORY), "memory").limit)
    check("timeout", lambda: parse_duration_seconds(data.get("timeout", DEFAULT_TIMEOUT), "timeout", MIN_TIMEOUT, MAX_TIMEOUT))
    if errors:
        raise FieldErrors(errors)
    inline, path = values["dockerfile"]
    return BuildRequest(project=values["project"], image=values["image"], tags=values["tags"], dockerfile=inline, dockerfile_path=path,
                        context=values["context"], build_args=values["build_args"], cpu=values["cpu"], memory=values["memory"],
                        timeout=values["timeout"])


# ---------------------------------------------------------------- the command line


@dataclass(frozen=True)
class BuildahPaths:
    """Where one build's buildah keeps things: ``root``/``runroot`` are the
    storage (and so the layer cache) of the project; ``dockerfile`` and
    ``iidfile`` are the build's own files; ``context`` the folder sent."""

    root: str
    runroot: str
    dockerfile: str
    context: str
    iidfile: str


def storage_argv(buildah: str, paths: BuildahPaths) -> list[str]:
    """buildah's global options: the project's storage, vfs (works as root
    without overlay support and in nested containers)."""
    return [buildah, "--root", paths.root, "--runroot", paths.runroot, "--storage-driver", "vfs"]


def buildah_build_argv(request: BuildRequest, registry: str, paths: BuildahPaths, buildah: str = "buildah") -> list[str]:
    """The build: ``bud`` with chroot isolation, ``--layers`` so each finished
    step is kept in the project's storage and reused by the next build with the
    same parent and instruction, bases pulled only when missing (an image built
    here earlier is used from the storage, never fetched again)."""
    argv = [*storage_argv(buildah, paths), "bud", "--isolation", "chroot", "--layers", "--pull=missing",
            "--iidfile", paths.iidfile, "-f", paths.dockerfile]
    for ref in request.references(registry):
        argv += ["-t", ref]
    for key, value in request.build_args.items():
        argv += ["--build-arg", f"{key}={value}"]
    # '--' ends the options: a context named like an option stays a path
    argv += ["--", paths.context]
    return argv


def buildah_rm_all_argv(buildah: str, paths: BuildahPaths) -> list[str]:
    """Remove the working containers a stopped build may have left in the storage."""
    return [*storage_argv(buildah, paths), "rm", "--all"]


def buildah_push_argv(buildah: str, paths: BuildahPaths, image_id: str, reference: str, authfile: str, digestfile: str,
                      tls_verify: bool = True) -> list[str]:
    """Push a built image to ``reference``; the credential is in ``authfile``, never on the command line."""
    return [*storage_argv(buildah, paths), "push", "--authfile", authfile, "--digestfile", digestfile,
            f"--tls-verify={'true' if tls_verify else 'false'}", image_id, f"docker://{reference}"]


def registry_auth_file(registry: str, user: str, password: str) -> str:
    """The containers-auth.json text that gives ``user``'s credential for ``registry``."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return json.dumps({"auths": {registry: {"auth": token}}})


def buildah_inspect_argv(buildah: str, paths: BuildahPaths, image_id: str) -> list[str]:
    return [*storage_argv(buildah, paths), "inspect", "--type", "image", image_id]


def image_facts(inspect_output: str) -> tuple[str | None, int | None]:
    """The manifest digest and the size (config plus layers, bytes) from
    ``buildah inspect --type image``'s JSON."""
    try:
        data = json.loads(inspect_output)
        manifest = json.loads(data.get("Manifest") or "{}")
    except (ValueError, TypeError, AttributeError):
        return None, None
    digest = data.get("FromImageDigest") or None
    try:
        size = int(manifest.get("config", {}).get("size", 0)) + sum(int(layer.get("size", 0)) for layer in manifest.get("layers", []))
    except (TypeError, ValueError, AttributeError):
        size = None
    return digest, size


# ---------------------------------------------------------------- buildah's output

_STEP_RE = re.compile(r"^STEP (\d+)/(\d+): (.*)$")
_CACHE_RE = re.compile(r"^--> Using cache ([0-9a-f]{12,64})")
# "initializing source docker://debian:12: pinging container registry registry-1.docker.io: Get ...: ... no such host"
_UNREACHABLE_RE = re.compile(
    r"(?:initializing source docker://(?P<ref>\S+?):\s*)?pinging container registry (?P<registry>[^\s:]+(?::\d+)?):.*?"
    r"(?P<why>no such host|connection refused|i/o timeout|network is unreachable|no route to host|server misbehaving|"
    r"TLS handshake timeout|certificate)", re.IGNORECASE)
_FROM_RE = re.compile(r"^FROM\s+(?:--\S+\s+)*(\S+)", re.IGNORECASE)


@dataclass
class BuildOutput:
    """What a build's output said so far, fed line by line."""

    steps: list[str] = field(default_factory=list)
    total_steps: int = 0
    cached: list[str] = field(default_factory=list)
    unreachable: tuple[str, str, str] | None = None  # (image, registry, why)
    _current: str | None = None
    _current_from: str | None = None

    def feed(self, line: str) -> None:
        line = line.rstrip("\r\n")
        step = _STEP_RE.match(line)
        if step:
            self._current = f"STEP {step.group(1)}/{step.group(2)}: {step.group(3)}"
            self.steps.append(self._current)
            self.total_steps = int(step.group(2))
            base = _FROM_RE.match(step.group(3))
            if base:
                self._current_from = base.group(1)
            return
        if _CACHE_RE.match(line) and self._current is not None and self._current not in self.cached:
            self.cached.append(self._current)
            return
        found = _UNREACHABLE_RE.search(line)
        if found and self.unreachable is None:
            image = found.group("ref") or self._current_from or "?"
            self.unreachable = (image, found.group("registry"), found.group("why").lower())

    def cache_summary(self) -> str:
        """The "what is reused" line: how many steps came from the layer cache, and which."""
        if not self.steps:
            return "no step ran"
        if not self.cached:
            return f"no step was reused from the layer cache ({len(self.steps)} built)"
        return (f"reused {len(self.cached)} of {len(self.steps)} steps from the layer cache: "
                + "; ".join(self.cached))


def unreachable_base_message(image: str, registry: str, why: str, local_registry: str, project: str,
                             local_images: list[str], archives: list[str]) -> str:
    """What to tell the user whose ``FROM`` needs a registry this machine cannot reach."""
    lines = [
        f"the base image '{image}' needs the registry {registry}, which this machine cannot reach ({why}).",
        "Use one of these instead in FROM:",
    ]
    if local_images:
        lines.append(f"  - an image of project '{project}' built here: " + ", ".join(local_images))
    else:
        lines.append(f"  - an image of project '{project}' built here ({local_registry}/{project}/<image>:<tag>; none yet)")
    if archives:
        lines.append("  - an image an admin imported from an OCI archive: " + ", ".join(archives))
    else:
        lines.append("  - an image an admin imported from an OCI archive (none imported yet)")
    lines.append("  - scratch (an empty image: COPY what the image needs)")
    return "\n".join(lines)


# ---------------------------------------------------------------- references to built images

_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


def split_reference(reference: str) -> tuple[str, str, str | None, str | None]:
    """``host[:port]/repo/sitory[:tag][@digest]`` -> (host, repository, tag,
    digest); a reference without a registry host is Docker Hub's."""
    ref, _, digest = reference.strip().partition("@")
    first, sep, rest = ref.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        host, path = first, rest
    else:
        host, path = "docker.io", ref
    name, _, tag = path.rpartition(":") if ":" in path.rsplit("/", 1)[-1] else (path, "", "")
    return host, name, tag or None, digest or None


def _same_host(a: str, b: str) -> bool:
    """The local registry answers on loopback under any of its names."""
    ha, _, pa = a.rpartition(":") if ":" in a else (a, "", "")
    hb, _, pb = b.rpartition(":") if ":" in b else (b, "", "")
    return a == b or (ha in _LOOPBACK and hb in _LOOPBACK and pa == pb)


def refers_to(reference: str, registry: str, repository: str, tags: Collection[str], digest: str | None = None) -> bool:
    """Whether ``reference`` names ``registry/repository`` at one of ``tags``
    (no tag means 'latest') or at ``digest``."""
    if not isinstance(reference, str) or not reference.strip():
        return False
    host, name, tag, ref_digest = split_reference(reference)
    if not _same_host(host, registry) or name != repository:
        return False
    if ref_digest is not None:
        return digest is not None and ref_digest == digest
    return (tag or "latest") in tags
