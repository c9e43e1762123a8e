"""Cube Studio job templates -> :class:`~cubelab_hub.domain.templates.JobTemplate`.

Both shapes Cube Studio writes import: the registration form
(``job_template_name``, ``image_name``, ``job_template_args`` ...; what its
``init-job-template.json`` holds, name -> template) and the database export
(``name``, ``images``, ``project``, ``args``, ``entrypoint`` ...). The argument
schema is CubeLab's own (:mod:`cubelab_hub.domain.argspec`), so it carries over
unchanged, platform overrides (``images``, ``workdir``, ``command``) included.

A whole file imports entry by entry (:func:`import_cube_studio_file`): each
entry is imported, renamed or refused, with its reasons, warnings and ignored
fields in an :class:`EntryReport` — never all-or-nothing, never dropped silently.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..domain.errors import FieldError, FieldErrors
from ..domain.templates import EXPAND_ACTED_ON, JobTemplate, template_from_dict
from .naming import argument_flag, template_name

# Keys of Cube Studio's template JSON this importer maps; any other key with a
# value is reported by cube_studio_ignored_fields (never dropped silently).
CUBE_STUDIO_KEYS = frozenset({
    "image_name", "images", "image", "group_name", "project_name", "project", "job_template_expand", "expand",
    "job_template_name", "name", "job_template_version", "version", "job_template_workdir", "workdir",
    "job_template_command", "entrypoint", "command", "job_template_args", "args", "job_template_env", "env",
    "job_template_volume", "volume_mount", "job_template_account", "accounts", "service_account", "help_url",
    "job_template_describe", "describe", "description", "job_template_old_names",
    # bookkeeping of Cube Studio's own database, meaningless elsewhere
    "id", "created_on", "changed_on", "created_by", "changed_by", "created_by_fk", "changed_by_fk",
    "project_id", "images_id",
})
# Describe the image rather than the template: kept in the template's expand, reported as ignored.
IMAGE_KEYS = ("image_describe", "image_expand", "gitpath")


@dataclass
class EntryReport:
    """What became of one entry of an imported file."""

    entry: str  # the entry as the file names it (its key, or its position)
    status: str  # 'imported' | 'renamed' (imported under another name) | 'refused'
    name: str = ""  # the CubeLab name it has (or would have had)
    display_name: str = ""
    errors: list[FieldError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # source fields with no effect in CubeLab

    def to_dict(self) -> dict:
        return {
            "entry": self.entry, "status": self.status, "name": self.name, "display_name": self.display_name,
            "errors": [e.to_dict() for e in self.errors], "warnings": list(self.warnings), "ignored": list(self.ignored),
        }


def cube_studio_ignored_fields(data: Any) -> list[str]:
    """Fields of a Cube Studio template that CubeLab does not act on (e.g.
    ``privileged``, ``gitpath``, ``expand.enterprise``), so the importer can say so."""
    if not isinstance(data, dict):
        return []
    out = sorted(k for k, v in data.items() if k not in CUBE_STUDIO_KEYS and v not in (None, "", 0, False, [], {}))
    expand = _expand_of(data, strict=False)
    out += [f"expand.{k}" for k in expand if k not in EXPAND_ACTED_ON]
    return out


def _expand_of(data: dict, strict: bool) -> dict:
    expand = data.get("job_template_expand", data.get("expand")) or {}
    if isinstance(expand, str):
        try:
            expand = json.loads(expand or "{}")
        except json.JSONDecodeError:
            if strict:
                raise FieldErrors([FieldError("expand", "is not valid JSON", "a JSON object such as {\"index\": 1, \"help_url\": \"...\"}")]) from None
            return {}
    return expand if isinstance(expand, dict) else {}


def _env_of(value: Any, warnings: list[str]) -> Any:
    """Cube Studio's env text; an 'export K=V' line (a shell habit real files have)
    becomes 'K=V' with a warning."""
    if not isinstance(value, str):
        return value
    lines = []
    for line in value.splitlines():
        stripped = line.strip()
        if re.match(r"^export\s+[A-Za-z_]\w*=", stripped):
            warnings.append(f"env: '{stripped}' read as '{stripped[6:].strip()}'")
            stripped = stripped[6:].strip()
        lines.append(stripped)
    return "\n".join(lines)


def import_cube_studio_template(data: Any, warnings: list[str] | None = None) -> JobTemplate:
    """Cube Studio template JSON -> :class:`JobTemplate`.

    The display name is kept (``display_name``) and a valid name derived from it
    (:func:`~.naming.template_name`); ``job_template_old_names`` become aliases.
    With ``warnings`` (a list), what is kept but not enforced (a ``range`` such as
    '$min,$max') is reported there instead of refused.
    """
    if not isinstance(data, dict):
        raise FieldErrors([FieldError("template", "must be a JSON object", "a Cube Studio job template export")])
    lenient = warnings is not None
    warnings = warnings if warnings is not None else []

    def pick(*keys: str, default: Any = "") -> Any:
        for key in keys:
            if key in data and data[key] is not None:
                return data[key]
        return default

    images = pick("image_name", "images", "image")
    if isinstance(images, dict):
        images = images.get("name", "")
    project = pick("group_name", "project_name", "project", default="base")
    category_index = 0
    if isinstance(project, dict):
        category_index = _index(_expand_of(project, strict=False).get("index"), 0)
        project = project.get("name", "base")
    expand = dict(_expand_of(data, strict=True))
    for key in IMAGE_KEYS:
        if data.get(key) not in (None, "", {}, []):
            expand[key] = data[key]
    category_index = _index(expand.get("index"), category_index)
    display = pick("job_template_name", "name")
    name = template_name(display) if isinstance(display, str) and display else display
    aliases = pick("job_template_old_names", default=[]) or []
    if isinstance(aliases, str):
        aliases = [a.strip() for a in re.split(r"[,\n]", aliases) if a.strip()]
    body = {
        "name": name,
        "display_name": display if isinstance(display, str) and display != name else "",
        "aliases": aliases,
        "expand": expand,
        "version": pick("job_template_version", "version", default="Release") or "Release",
        "kind": "container",
        "category": project or "base",
        "category_index": category_index,
        "image": images or "",
        "workdir": pick("job_template_workdir", "workdir"),
        "command": pick("job_template_command", "entrypoint", "command", default=[]),
        "args": pick("job_template_args", "args", default={}),
        "env": _env_of(pick("job_template_env", "env"), warnings),
        "volume_mount": pick("job_template_volume", "volume_mount"),
        "service_account": pick("job_template_account", "accounts", "service_account"),
        "help_url": expand.get("help_url") or expand.get("help") or pick("help_url"),
        "description": pick("job_template_describe", "describe", "description"),
    }
    name_errors = _argument_name_errors(body["args"])
    range_warnings: list = []
    try:
        tpl = template_from_dict(body, range_warnings if lenient else None)
    except FieldErrors as exc:
        # the schema parser stops at the first bad name; the list above names them all
        others = [e for e in exc.errors if not (name_errors and e.field.startswith("args"))]
        raise FieldErrors(name_errors + others) from None
    if name_errors:
        raise FieldErrors(name_errors)
    warnings.extend(f"{where}: {message}" for where, message in range_warnings)
    return tpl


def _index(value: Any, default: int) -> int:
    return int(value) if str(value).lstrip("-").isdigit() else default


def _argument_name_errors(args: Any) -> list[FieldError]:
    """Argument keys that are neither flags nor platform overrides. Cube Studio
    passes its keys to the image as written, so such a key is refused rather than
    renamed; the message names the flag CubeLab's naming rule would give it."""
    from ..domain.argspec import PLATFORM_OVERRIDES

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
            if flag != name and name not in PLATFORM_OVERRIDES:
                errors.append(FieldError(f"args.{group}.{name}", f"argument name '{name}' is not a flag", f"the flag as the image parses it, e.g. '{flag}'"))
    return errors


def file_entries(content: Any) -> list[tuple[str, Any]]:
    """The entries of a Cube Studio template file: (how the file names it, the template).

    ``init-job-template.json`` is name -> template; an export may be one template or a list."""
    if isinstance(content, dict) and not any(k in content for k in ("name", "job_template_name")):
        return [(str(k), v) for k, v in content.items()]
    if isinstance(content, dict):
        return [("0", content)]
    if isinstance(content, list):
        return [(str(i), v) for i, v in enumerate(content)]
    raise FieldError("content", f"must be a template object, a list of them or name -> template, got {type(content).__name__}", "Cube Studio job template JSON")


def import_cube_studio_file(content: Any, reserved: Iterable[str] = ()) -> tuple[list[JobTemplate], list[EntryReport]]:
    """Every entry of a Cube Studio template file, imported on its own.

    ``reserved``: names that must not be replaced (CubeLab's built-ins, e.g.
    ``python`` and ``logical``). An entry whose name is reserved is imported as
    ``<name>-cube-studio`` keeping its display name, and its report says so.
    Returns the templates that imported and one report per entry, in file order.
    """
    reserved = set(reserved)
    templates: list[JobTemplate] = []
    reports: list[EntryReport] = []
    taken: set[tuple[str, str]] = set()
    for key, item in file_entries(content):
        warnings: list[str] = []
        display = item.get("job_template_name", item.get("name", key)) if isinstance(item, dict) else key
        try:
            tpl = import_cube_studio_template(item, warnings)
        except FieldErrors as exc:
            reports.append(EntryReport(entry=key, status="refused", display_name=str(display), errors=[e.prefixed(f"content.{key}") for e in exc.errors]))
            continue
        status = "imported"
        if tpl.name in reserved:
            original = tpl.name
            tpl.display_name = tpl.display_name or original
            tpl.name = f"{original}-cube-studio"
            status = "renamed"
            warnings.append(f"name: '{original}' is a CubeLab built-in, which stays as it is; imported as '{tpl.name}' (display name '{tpl.display_name}', which Cube Studio pipelines reference)")
        if tpl.ref in taken:
            reports.append(EntryReport(entry=key, status="refused", name=tpl.name, display_name=tpl.display_name,
                                       errors=[FieldError(f"content.{key}.name", f"'{tpl.name}' version {tpl.version} is also the name of an earlier entry of this file", "one entry per template name and version")]))
            continue
        taken.add(tpl.ref)
        templates.append(tpl)
        reports.append(EntryReport(entry=key, status=status, name=tpl.name, display_name=tpl.display_name or tpl.name,
                                   warnings=warnings, ignored=cube_studio_ignored_fields(item)))
    return templates, reports
