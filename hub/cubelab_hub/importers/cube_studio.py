"""Cube Studio job templates -> :class:`~cubelab_hub.domain.templates.JobTemplate`.

Both shapes Cube Studio writes import: the registration form
(``job_template_name``, ``image_name``, ``job_template_args`` ...) and the
database export (``name``, ``images``, ``project``, ``args``, ``entrypoint`` ...).
The argument schema is CubeLab's own (:mod:`cubelab_hub.domain.argspec`), so it
carries over unchanged; fields CubeLab does not carry over are reported by
:func:`cube_studio_ignored_fields`, never dropped silently.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..domain.errors import FieldError, FieldErrors
from ..domain.templates import JobTemplate, template_from_dict
from .naming import argument_flag, template_name

# Keys of Cube Studio's template JSON this importer reads; anything else with a
# value is reported by cube_studio_ignored_fields (never dropped silently).
CUBE_STUDIO_KEYS = frozenset({
    "image_name", "images", "image", "group_name", "project_name", "project", "job_template_expand", "expand",
    "job_template_name", "name", "job_template_version", "version", "job_template_workdir", "workdir",
    "job_template_command", "entrypoint", "command", "job_template_args", "args", "job_template_env", "env",
    "job_template_volume", "volume_mount", "job_template_account", "accounts", "service_account", "help_url",
    "job_template_describe", "describe", "description",
    # bookkeeping of Cube Studio's own database, meaningless elsewhere
    "id", "created_on", "changed_on", "created_by", "changed_by", "created_by_fk", "changed_by_fk", "image_describe",
    "project_id", "images_id", "gitpath",
})


def cube_studio_ignored_fields(data: Any) -> list[str]:
    """Fields of a Cube Studio template that CubeLab does not carry over (e.g.
    ``privileged``, ``hostAliases``), so the importer can say so."""
    if not isinstance(data, dict):
        return []
    return sorted(k for k, v in data.items() if k not in CUBE_STUDIO_KEYS and v not in (None, "", 0, False, [], {}))


def import_cube_studio_template(data: Any) -> JobTemplate:
    """Cube Studio template JSON -> :class:`JobTemplate`.

    Accepts both shapes Cube Studio writes: the registration form
    (``job_template_name``, ``image_name``, ``job_template_args`` ...) and the
    database export (``name``, ``images``, ``project``, ``args``, ``entrypoint`` ...).
    """
    if not isinstance(data, dict):
        raise FieldErrors([FieldError("template", "must be a JSON object", "a Cube Studio job template export")])

    def pick(*keys: str, default: Any = "") -> Any:
        for key in keys:
            if key in data and data[key] not in (None,):
                return data[key]
        return default

    images = pick("image_name", "images", "image")
    if isinstance(images, dict):
        images = images.get("name", "")
    project = pick("group_name", "project_name", "project", default="base")
    category_index = 0
    if isinstance(project, dict):
        expand = project.get("expand") or {}
        if isinstance(expand, str):
            try:
                expand = json.loads(expand or "{}")
            except json.JSONDecodeError:
                expand = {}
        category_index = int(expand.get("index", 0) or 0) if isinstance(expand, dict) else 0
        project = project.get("name", "base")
    expand = pick("job_template_expand", "expand", default={})
    if isinstance(expand, str):
        try:
            expand = json.loads(expand or "{}")
        except json.JSONDecodeError:
            raise FieldErrors([FieldError("expand", "is not valid JSON", "a JSON object such as {\"index\": 1, \"help_url\": \"...\"}")])
    if not isinstance(expand, dict):
        expand = {}
    category_index = int(expand.get("index", category_index) or category_index) if str(expand.get("index", "")).lstrip("-").isdigit() else category_index
    name = pick("job_template_name", "name")
    body = {
        "name": template_name(name) if isinstance(name, str) and not re.match(r"^[a-z0-9-]+$", name) else name,
        "version": pick("job_template_version", "version", default="Release") or "Release",
        "kind": "container",
        "category": project or "base",
        "category_index": category_index,
        "image": images or "",
        "workdir": pick("job_template_workdir", "workdir"),
        "command": pick("job_template_command", "entrypoint", "command", default=[]),
        "args": pick("job_template_args", "args", default={}),
        "env": pick("job_template_env", "env"),
        "volume_mount": pick("job_template_volume", "volume_mount"),
        "service_account": pick("job_template_account", "accounts", "service_account"),
        "help_url": expand.get("help_url") or expand.get("help") or pick("help_url"),
        "description": pick("job_template_describe", "describe", "description"),
    }
    name_errors = _argument_name_errors(body["args"])
    try:
        tpl = template_from_dict(body)
    except FieldErrors as exc:
        # the schema parser stops at the first bad name; the list above names them all
        others = [e for e in exc.errors if not (name_errors and e.field.startswith("args"))]
        raise FieldErrors(name_errors + others) from None
    if name_errors:
        raise FieldErrors(name_errors)
    return tpl


def _argument_name_errors(args: Any) -> list[FieldError]:
    """Argument keys that are not flags. Cube Studio passes its keys to the image as
    written, so such a key is refused rather than renamed; the message names the
    flag CubeLab's naming rule would give it."""
    if isinstance(args, str):
        try:
            args = json.loads(args or "{}")
        except json.JSONDecodeError:
            return []  # template_from_dict reports the JSON error
    if not isinstance(args, dict):
        return []
    errors: list[FieldError] = []
    for group, items in args.items():
        if not isinstance(items, dict):
            continue
        for name in items:
            flag = argument_flag(str(name))
            if flag != name:
                errors.append(FieldError(f"args.{group}.{name}", f"argument name '{name}' is not a flag", f"the flag as the image parses it, e.g. '{flag}'"))
    return errors
