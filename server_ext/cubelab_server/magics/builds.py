"""What ``%cubelab build`` sends and shows: the REST body of a build from the
magic's options (a Dockerfile of the workspace, its folder as the context
unless ``--context`` names another) and the closing line with status, digest
and size.  Pure, so both are tested without a kernel."""

from __future__ import annotations

import os
import re

# statuses after which a build's log ends
FINISHED_BUILD = {"succeeded", "failed", "cancelled"}


def workspace_path(path: str, workspace: str | None, cwd: str) -> str:
    """``path`` as the API takes it: relative to the workspace.

    An absolute path must lie inside the workspace; a relative one is taken
    from the kernel's working folder when that folder is inside the workspace
    (a notebook's kernel starts in the notebook's folder), else as given."""
    if workspace:
        root = os.path.realpath(workspace)
        if os.path.isabs(path):
            full = os.path.normpath(path)
        else:
            here = os.path.realpath(cwd)
            inside = here == root or here.startswith(root + os.sep)
            full = os.path.normpath(os.path.join(here, path)) if inside else None
        if full is not None:
            rel = os.path.relpath(full, root)
            if rel == ".." or rel.startswith(".." + os.sep):
                raise ValueError(f"'{path}' is outside your workspace ({workspace}): give a path inside it")
            return rel.replace(os.sep, "/")
    if os.path.isabs(path):
        raise ValueError(f"'{path}' is absolute: give a path relative to your workspace")
    return os.path.normpath(path).replace(os.sep, "/")


def _image_name_for(dockerfile: str) -> str:
    """``<name>.Dockerfile`` gives ``<name>``, a plain ``Dockerfile`` its folder's name."""
    base = dockerfile.rsplit("/", 1)[-1]
    if base.lower().endswith(".dockerfile") and len(base) > len(".dockerfile"):
        stem = base[: -len(".dockerfile")]
    else:
        folder = dockerfile.rsplit("/", 1)[0] if "/" in dockerfile else ""
        stem = folder.rsplit("/", 1)[-1]
    name = re.sub(r"[^a-z0-9._-]+", "-", stem.lower()).strip("._-")
    return name or "image"


def build_body(dockerfile: str, project: str, *, image: str | None = None, tags: list[str] | None = None,
               context: str | None = None) -> dict:
    """The fields of the build ``%cubelab build`` starts; ``dockerfile`` and
    ``context`` are workspace paths.  Options not given are left to the
    server's defaults (tag ``latest``); the control plane checks every field
    and names the wrong ones."""
    folder = dockerfile.rsplit("/", 1)[0] if "/" in dockerfile else "."
    body: dict = {"project": project, "image": image or _image_name_for(dockerfile), "dockerfile_path": dockerfile,
                  "context": context if context is not None else folder}
    if tags:
        body["tags"] = list(tags)
    return body


def size_text(size: int | None) -> str:
    """Bytes in the units registries show (1000-based)."""
    if size is None:
        return "unknown size"
    value, unit = float(size), 0
    units = ["B", "kB", "MB", "GB", "TB"]
    while value >= 1000 and unit < len(units) - 1:
        value /= 1000
        unit += 1
    return f"{size} B" if unit == 0 else f"{value:.1f} {units[unit]}"


def build_summary(build: dict) -> str:
    """``build 7 succeeded in 3.2s: sha256:… (1.5 kB), pushed as …``, or the failure's message."""
    duration = build.get("duration")
    took = f" in {duration:.1f}s" if isinstance(duration, (int, float)) else ""
    line = f"build {build['id']} {build['status']}{took}"
    if build["status"] == "succeeded":
        line += f": digest {build.get('digest') or 'unknown'}, {size_text(build.get('size'))}"
        if build.get("references"):
            line += "\npushed as " + ", ".join(build["references"])
        if build.get("cache"):
            line += f"\ncache: {build['cache']}"
    elif build.get("message"):
        line += f": {build['message']}"
    return line
