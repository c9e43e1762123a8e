"""Debugging an image built (or imported) here: one command run inside the
image's root file system, as the requesting user's account, with its output
streamed back. The closest thing to ``docker run --rm -it IMAGE sh -c ...``
on one machine without a Docker daemon: ``buildah from`` a working container
of the image in the project's build storage, ``buildah run --isolation
chroot --user <uid>:<gid>`` the command in it, ``buildah rm`` it.

The command is an argv list handed to buildah as separate items after
``--``: no shell reads it unless the user names one (``["sh", "-c", ...]``),
and then it is the image's shell inside its chroot, not the host's.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .builds import BuildahPaths, _same_host, split_reference, storage_argv
from .errors import FieldError, FieldErrors
from .formats import parse_cpu, parse_memory
from .projects import validate_project_name
from .retries import format_duration, parse_duration_seconds

COMMAND_ACCEPTED = ("a list of 1 to 256 strings, the program first (e.g. [\"sh\", \"-c\", \"pip list\"]); "
                    "no NUL characters, 64K in all")
IMAGE_REF_ACCEPTED = "an image of the project built or imported here: '<registry>/<project>/<image>:<tag>'"
DEFAULT_TIMEOUT = 60
MIN_TIMEOUT = 1
MAX_TIMEOUT = 600
DEFAULT_CPU = "1"
DEFAULT_MEMORY = "1G"
_FIELDS = ("project", "image", "command", "timeout", "cpu", "memory")


@dataclass(frozen=True)
class DebugRequest:
    project: str
    image: str  # the full reference, '<registry>/<project>/<image>:<tag>'
    command: tuple[str, ...]
    timeout: int = DEFAULT_TIMEOUT
    cpu: Decimal = Decimal(DEFAULT_CPU)
    memory: int = 2**30

    def to_dict(self) -> dict:
        return {"project": self.project, "image": self.image, "command": list(self.command), "timeout": format_duration(self.timeout),
                "cpu": format(self.cpu.normalize(), "f"), "memory": self.memory}


def debug_request_from_dict(data: Any, registry: str) -> DebugRequest:
    """Every field checked at once; ``image`` must be one of the project's
    repositories in ``registry`` (the storage holds nothing else of it)."""
    if not isinstance(data, dict):
        raise FieldErrors([FieldError("body", "must be an object", "{" + ", ".join(_FIELDS) + "}")])
    errors: list[FieldError] = []
    values: dict[str, Any] = {}

    def check(name: str, parse) -> None:
        try:
            values[name] = parse()
        except FieldError as exc:
            errors.append(exc)

    for key in data:
        if key not in _FIELDS:
            errors.append(FieldError(key, "is not a field of a debug command", ", ".join(_FIELDS)))

    def image() -> str:
        value = data.get("image")
        if not isinstance(value, str) or not value.strip():
            raise FieldError("image", "is missing", IMAGE_REF_ACCEPTED)
        host, repository, tag, digest = split_reference(value)
        project = data.get("project")
        if (not _same_host(host, registry) or not repository.startswith(f"{project}/") or digest is not None
                or any(c.isspace() for c in value) or value.startswith("-")):
            raise FieldError("image", f"'{value[:200]}' is not an image of project '{project}' in {registry}", IMAGE_REF_ACCEPTED)
        return value if tag else f"{value}:latest"

    def command() -> tuple[str, ...]:
        value = data.get("command")
        if (not isinstance(value, list) or not 1 <= len(value) <= 256 or not all(isinstance(a, str) for a in value)
                or not value[0] or any("\x00" in a for a in value) or sum(len(a.encode()) for a in value) > 65536):
            raise FieldError("command", "is missing" if value is None else "is not a list of strings, the program first", COMMAND_ACCEPTED)
        return tuple(value)

    check("project", lambda: validate_project_name(data.get("project"), "project"))
    check("image", image)
    check("command", command)
    check("timeout", lambda: parse_duration_seconds(data.get("timeout", DEFAULT_TIMEOUT), "timeout", MIN_TIMEOUT, MAX_TIMEOUT))
    check("cpu", lambda: parse_cpu(data.get("cpu", DEFAULT_CPU), "cpu").limit)
    check("memory", lambda: parse_memory(data.get("memory", DEFAULT_MEMORY), "memory").limit)
    if errors:
        raise FieldErrors(errors)
    return DebugRequest(project=values["project"], image=values["image"], command=values["command"], timeout=values["timeout"],
                        cpu=values["cpu"], memory=values["memory"])


def buildah_from_argv(buildah: str, paths: BuildahPaths, image: str, container: str) -> list[str]:
    """A working container of the image, from the project's storage only (nothing is pulled)."""
    return [*storage_argv(buildah, paths), "from", "--pull=never", "--quiet", "--name", container, image]


# what JupyterLab's own terminal (xterm.js too) announces; Debian's and Alpine's base terminfo have it
SHELL_TERM = "xterm-256color"


def buildah_run_argv(buildah: str, paths: BuildahPaths, container: str, uid: int | None, gid: int | None,
                     command: tuple[str, ...], terminal: bool = False) -> list[str]:
    """The command in the container's chroot, as ``uid:gid`` (the image's own user when None);
    ``terminal``: on a pseudo-terminal of its own (an interactive shell)."""
    argv = [*storage_argv(buildah, paths), "run", "--isolation", "chroot"]
    if uid is not None:
        argv += ["--user", f"{uid}:{gid if gid is not None else uid}"]
    if terminal:
        # the Lab draws it with xterm.js, so curses programs (vi, top) are told what they draw on
        argv += ["--env", f"TERM={SHELL_TERM}", "--terminal"]
    return [*argv, container, "--", *command]


def buildah_rm_argv(buildah: str, paths: BuildahPaths, container: str) -> list[str]:
    return [*storage_argv(buildah, paths), "rm", container]
