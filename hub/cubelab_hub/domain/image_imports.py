"""Importing an image from an OCI or docker archive (admins only): the request,
the archive's format from its members, and buildah's command lines.

An admin names an archive file of their workspace (``buildah push
oci-archive:...``, ``skopeo copy ... oci-archive:...`` or ``docker save``
write them) and where it goes: ``<registry>/<project>/<image>:<tag>``. The
image is pulled from the archive into the project's build storage (so a
``FROM`` of that reference in the project's builds finds it without pulling)
and pushed to the local registry. Such images are what a ``FROM`` that cannot
be reached is offered instead (:func:`~.builds.unreachable_base_message`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from .builds import _IMAGE_RE, _TAG_RE, IMAGE_ACCEPTED, PATH_ACCEPTED, TAG_ACCEPTED, BuildahPaths, storage_argv
from .errors import FieldError, FieldErrors
from .projects import validate_project_name

FORMATS = ("oci-archive", "docker-archive")
FORMAT_ACCEPTED = "'oci-archive' (an OCI image layout in a tar) or 'docker-archive' ('docker save' output); default: found from the archive"
ARCHIVE_ACCEPTED = ("a relative path of a tar file in your workspace, without '..' or ':' "
                    "(e.g. 'images/base.oci.tar')")
_FIELDS = ("path", "format", "project", "image", "tag")


@dataclass(frozen=True)
class ImportRequest:
    path: str
    project: str
    image: str
    tag: str = "latest"
    format: str | None = None  # None: found from the archive's members

    def reference(self, registry: str) -> str:
        return f"{registry}/{self.project}/{self.image}:{self.tag}"

    def to_dict(self) -> dict:
        return {"path": self.path, "project": self.project, "image": self.image, "tag": self.tag, "format": self.format}


def import_request_from_dict(data: Any) -> ImportRequest:
    """Every field checked, every problem reported at once."""
    if not isinstance(data, dict):
        raise FieldErrors([FieldError("body", "must be an object", "{" + ", ".join(_FIELDS) + "}")])
    errors: list[FieldError] = []
    for key in data:
        if key not in _FIELDS:
            errors.append(FieldError(key, "is not a field of an import", ", ".join(_FIELDS)))
    path = data.get("path")
    if not isinstance(path, str) or not path.strip():
        errors.append(FieldError("path", "is missing" if path in (None, "") else "must be text", ARCHIVE_ACCEPTED))
    else:
        parts = path.split("/")
        # ':' would end the path inside buildah's 'oci-archive:PATH[:REF]' transport name
        if path.startswith("/") or ".." in parts or ":" in path or "\x00" in path or len(path) > 1024:
            errors.append(FieldError("path", f"'{path[:120]}' is not a relative path inside your workspace", ARCHIVE_ACCEPTED))
    project = data.get("project")
    try:
        validate_project_name(project, "project")
    except FieldError as exc:
        errors.append(exc)
    image = data.get("image")
    if not isinstance(image, str) or len(image) > 128 or not _IMAGE_RE.match(image):
        errors.append(FieldError("image", "is missing" if image in (None, "") else f"'{str(image)[:60]}' is not a repository name",
                                 IMAGE_ACCEPTED))
    tag = data.get("tag", "latest")
    if not isinstance(tag, str) or not _TAG_RE.match(tag):
        errors.append(FieldError("tag", f"'{str(tag)[:60]}' is not a tag", TAG_ACCEPTED))
    fmt = data.get("format")
    if fmt is not None and fmt not in FORMATS:
        errors.append(FieldError("format", f"'{str(fmt)[:40]}' is not an archive format", FORMAT_ACCEPTED))
    if errors:
        raise FieldErrors(errors)
    return ImportRequest(path=path, project=project, image=image, tag=tag, format=fmt)


def archive_format(members: Collection[str]) -> str | None:
    """The format of a tar archive from its member names: an OCI image layout
    has ``oci-layout`` and ``index.json``; ``docker save`` writes ``manifest.json``
    without them. None: neither (not an image archive)."""
    names = {m.removeprefix("./").rstrip("/") for m in members}
    if "oci-layout" in names and "index.json" in names:
        return "oci-archive"
    if "manifest.json" in names:
        return "docker-archive"
    return None


def check_path_inside(path: str, workspace: str, real: str) -> None:
    """``real`` (the resolved path) must stay inside ``workspace`` (resolved): a link may not lead out."""
    if real != workspace and not real.startswith(workspace.rstrip("/") + "/"):
        raise FieldError("path", f"'{path}' leads out of your workspace through a link", PATH_ACCEPTED)


def buildah_pull_archive_argv(buildah: str, paths: BuildahPaths, fmt: str, archive: str) -> list[str]:
    """Pull the archive's image into the project's storage; buildah prints its image id last."""
    if fmt not in FORMATS:
        raise ValueError(fmt)
    return [*storage_argv(buildah, paths), "pull", "--quiet", f"{fmt}:{archive}"]


def buildah_tag_argv(buildah: str, paths: BuildahPaths, image_id: str, reference: str) -> list[str]:
    return [*storage_argv(buildah, paths), "tag", image_id, reference]
