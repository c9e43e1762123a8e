"""The platform settings an admin may change while CubeLab runs, and how they
are checked.

Only settings that are safe to change at run time live here: whether
registration is open, the notebook servers' expiry periods, the per-server
limits by role and the quota of projects that set none. Each is validated
strictly (a :class:`FieldErrors` naming every bad field, nothing applied when
one is bad) and normalised to the text an admin wrote, as project settings are.

The spawners run in the hub's process, so role limits and the default quota
reach them through a small document the control plane publishes in its data
directory (:data:`RUNTIME_SETTINGS_FILE`), read on every spawn.

Pure Python: no Jupyter, tornado or SQLAlchemy imports.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import FieldError, FieldErrors
from .expiry import DURATION_ACCEPTED, parse_duration
from .formats import MEMORY_ACCEPTED, parse_bytes, parse_cpu
from .projects import Quota, parse_quota

SETTINGS = ("registration_open", "server_expiry", "role_limits", "default_project_quota")
SETTINGS_ACCEPTED = "an object with any of " + ", ".join(SETTINGS)
EXPIRY_KEYS = ("default", "per_kind", "gpu")
EXPIRY_ACCEPTED = "an object with any of 'default' (e.g. '3d'), 'per_kind' ({'vscode': '1d'}), 'gpu' ('1d', or '' for as the others)"
ROLE_LIMIT_KEYS = ("cpu", "memory", "gpu")
ROLE_LIMITS_ACCEPTED = ("null (the spawner's configured limits) or an object of role name -> {'cpu': '8', 'memory': '32G', "
                        "'gpu': 1}, e.g. {'user': {'cpu': '8', 'memory': '32G', 'gpu': 1}, 'admin': {}}")
QUOTA_ACCEPTED = "null (back to the configured default, ControlPlane.default_project_quota) or an object with any of 'cpu' (e.g. '32'), 'memory' ('128G'), 'gpu' ('8')"
ROLE_NAME_ACCEPTED = "a JupyterHub role name: 1 to 255 letters, digits, '-' and '_'"
_ROLE_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
KIND_NAME_ACCEPTED = "a server kind such as 'jupyterlab', 'vscode' or 'rstudio'"

RUNTIME_SETTINGS_FILE = "runtime-settings.json"
RUNTIME_SETTINGS_FORMAT = "cubelab.runtime-settings/v1"


def _check_expiry(value: Any, errors: list[FieldError]) -> dict | None:
    name = "server_expiry"
    if not isinstance(value, dict):
        errors.append(FieldError(name, f"must be an object, got {type(value).__name__}", EXPIRY_ACCEPTED))
        return None
    unknown = sorted(set(value) - set(EXPIRY_KEYS))
    for key in unknown:
        errors.append(FieldError(f"{name}.{key}", "is not an expiry setting", EXPIRY_ACCEPTED))
    result: dict[str, Any] = {}
    if "default" in value:
        text = value["default"]
        try:
            if not isinstance(text, str | int) or isinstance(text, bool) or text == "":
                raise FieldError(f"{name}.default", f"must be a duration, got {text!r}", DURATION_ACCEPTED)
            parse_duration(text, f"{name}.default")
            result["default"] = str(text).strip()
        except FieldError as exc:
            errors.append(exc)
    if "per_kind" in value:
        kinds = value["per_kind"]
        if not isinstance(kinds, dict):
            errors.append(FieldError(f"{name}.per_kind", f"must be an object, got {type(kinds).__name__}",
                                     "an object of server kind -> duration, e.g. {'vscode': '1d'}"))
        else:
            checked = {}
            for kind, period in kinds.items():
                where = f"{name}.per_kind.{kind}"
                if not re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", str(kind)):
                    errors.append(FieldError(where, "is not a server kind", KIND_NAME_ACCEPTED))
                    continue
                try:
                    if not isinstance(period, str | int) or isinstance(period, bool) or period == "":
                        raise FieldError(where, f"must be a duration, got {period!r}", DURATION_ACCEPTED)
                    parse_duration(period, where)
                    checked[kind] = str(period).strip()
                except FieldError as exc:
                    errors.append(exc)
            result["per_kind"] = checked
    if "gpu" in value:
        period = value["gpu"]
        if period is None or period == "":
            result["gpu"] = ""
        else:
            try:
                if not isinstance(period, str | int) or isinstance(period, bool):
                    raise FieldError(f"{name}.gpu", f"must be a duration, got {period!r}", DURATION_ACCEPTED + "; '' for as the others")
                parse_duration(period, f"{name}.gpu")
                result["gpu"] = str(period).strip()
            except FieldError as exc:
                errors.append(exc)
    return result


def _check_role_limits(value: Any, errors: list[FieldError]) -> dict | None:
    name = "role_limits"
    if value is None:
        return None
    if not isinstance(value, dict):
        errors.append(FieldError(name, f"must be an object or null, got {type(value).__name__}", ROLE_LIMITS_ACCEPTED))
        return None
    result: dict[str, dict[str, str]] = {}
    for role, limits in value.items():
        where = f"{name}.{role}"
        if not isinstance(role, str) or not _ROLE_NAME_RE.match(role):
            errors.append(FieldError(where, "is not a role name", ROLE_NAME_ACCEPTED))
            continue
        if not isinstance(limits, dict):
            errors.append(FieldError(where, f"must be an object, got {type(limits).__name__}", ROLE_LIMITS_ACCEPTED))
            continue
        checked: dict[str, str] = {}
        for key, limit in limits.items():
            if key not in ROLE_LIMIT_KEYS:
                errors.append(FieldError(f"{where}.{key}", "is not a limit", "cpu, memory, gpu"))
                continue
            if limit is None:
                continue  # no limit of this kind
            text = str(limit).strip()
            try:
                if isinstance(limit, bool) or not isinstance(limit, str | int | float):
                    raise FieldError(f"{where}.{key}", f"must be text or a number, got {limit!r}", ROLE_LIMITS_ACCEPTED)
                if key == "cpu":
                    parse_cpu(text, f"{where}.cpu")
                elif key == "memory":
                    parse_bytes(text, f"{where}.memory", MEMORY_ACCEPTED)
                elif not re.fullmatch(r"\d{1,4}", text):
                    raise FieldError(f"{where}.gpu", f"'{text}' is not a whole number of cards", "a whole number such as 0 or 2")
                checked[key] = text
            except FieldError as exc:
                errors.append(exc)
        result[role] = checked
    return result


def _check_quota(value: Any, errors: list[FieldError]) -> dict | None:
    name = "default_project_quota"
    if value is None:
        return None
    if not isinstance(value, dict):
        errors.append(FieldError(name, f"must be an object or null, got {type(value).__name__}", QUOTA_ACCEPTED))
        return None
    try:
        parse_quota(value, name)
    except FieldError as exc:
        errors.append(exc)
        return None
    return {k: str(v).strip() for k, v in value.items() if v is not None} or None


def parse_settings_patch(body: Any) -> dict[str, Any]:
    """A PATCH body -> setting -> normalised value (only the settings it names).

    Every problem is collected into one :class:`FieldErrors`; nothing is
    returned half-checked. ``role_limits`` and ``default_project_quota`` may be
    null (back to the configured value / no default); ``server_expiry`` keys
    replace the ones they name."""
    if not isinstance(body, dict):
        raise FieldError("settings", f"must be an object, got {type(body).__name__}", SETTINGS_ACCEPTED)
    if not body:
        raise FieldError("settings", "names no setting", SETTINGS_ACCEPTED)
    errors: list[FieldError] = []
    result: dict[str, Any] = {}
    for key in body:
        if key not in SETTINGS:
            errors.append(FieldError(key, "is not a setting that can be changed at run time", "one of " + ", ".join(SETTINGS)))
    if "registration_open" in body:
        if isinstance(body["registration_open"], bool):
            result["registration_open"] = body["registration_open"]
        else:
            errors.append(FieldError("registration_open", f"must be true or false, got {body['registration_open']!r}", "true or false"))
    if "server_expiry" in body:
        checked = _check_expiry(body["server_expiry"], errors)
        if checked is not None:
            result["server_expiry"] = checked
    if "role_limits" in body:
        result["role_limits"] = _check_role_limits(body["role_limits"], errors)
    if "default_project_quota" in body:
        result["default_project_quota"] = _check_quota(body["default_project_quota"], errors)
    if errors:
        raise FieldErrors(errors)
    return result


def merge_expiry(current: Mapping[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    """The expiry settings after a patch: the keys it names replace the current ones."""
    merged = {"default": current.get("default", "3d"), "per_kind": dict(current.get("per_kind") or {}), "gpu": current.get("gpu", "")}
    merged.update({k: (dict(v) if k == "per_kind" else v) for k, v in change.items()})
    return merged


def effective_quota(own: Quota, default: Quota | None) -> Quota:
    """A project's quota: its own when it sets any limit, else the platform's default."""
    if default is None or own != Quota():
        return own
    return default


# ---------------------------------------------------------------- the spawners' copy


def runtime_document(role_limits: Mapping[str, Any] | None, default_project_quota: Mapping[str, Any] | None) -> dict:
    """What the spawners read: role limits (None: their own configuration) and the default quota."""
    return {"format": RUNTIME_SETTINGS_FORMAT, "role_limits": None if role_limits is None else dict(role_limits),
            "default_project_quota": None if default_project_quota is None else dict(default_project_quota)}


def runtime_from_document(document: Any) -> tuple[dict | None, Quota | None]:
    """(role limits or None, default quota or None) from a published document;
    ValueError when it is not one (the reader logs it and keeps its configuration)."""
    if not isinstance(document, dict) or document.get("format") != RUNTIME_SETTINGS_FORMAT:
        raise ValueError(f"not a {RUNTIME_SETTINGS_FORMAT} document")
    errors: list[FieldError] = []
    limits = _check_role_limits(document.get("role_limits"), errors)
    quota = _check_quota(document.get("default_project_quota"), errors)
    if errors:
        raise ValueError("; ".join(str(e) for e in errors))
    return limits, (parse_quota(quota) if quota else None)


__all__ = [
    "RUNTIME_SETTINGS_FILE", "RUNTIME_SETTINGS_FORMAT", "SETTINGS",
    "effective_quota", "merge_expiry", "parse_settings_patch", "runtime_document", "runtime_from_document",
]
