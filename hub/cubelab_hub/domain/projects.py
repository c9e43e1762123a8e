"""Projects: JupyterHub groups whose properties hold CubeLab's settings.

A project's group ``properties`` look like::

    {"description": "...", "creator": "alice",
     "member_roles": {"alice": "creator", "bob": "dev"},
     "cluster": "default", "org": "public", "node_selector": "disk=ssd",
     "volume_mount": "kubeflow-user-workspace(pvc):/mnt",
     "service_external_ip": "10.0.0.5", "namespace": "team-a",
     "quota": {"cpu": "32", "memory": "128G", "gpu": "8"}, "engine": "kubernetes"}

Settings are kept as the text the user wrote (so the form shows it back) and
validated strictly on every write; readers get typed values from
:func:`settings_from_properties`. Pure Python.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from decimal import Decimal

from .errors import FieldError, FieldErrors
from .formats import (
    VolumeMount,
    check_mount_permissions,
    format_bytes,
    parse_bytes,
    parse_cpu,
    parse_node_selector,
    parse_volume_mounts,
    validate_dns_label,
    validate_label_value,
)

PUBLIC = "public"
ROLES = ("creator", "dev", "ops")
DEFAULT_ROLE = "dev"
SETTING_FIELDS = ("cluster", "org", "node_selector", "volume_mount", "service_external_ip", "quota", "namespace", "engine")
QUOTA_FIELDS = ("cpu", "memory", "gpu")

PROJECT_NAME_ACCEPTED = "2 to 63 lowercase letters, digits and '-', starting with a letter and ending with a letter or digit"
_PROJECT_NAME_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])$")
ROLE_ACCEPTED = "one of " + ", ".join(ROLES)
ORG_ACCEPTED = "one or more organisation labels joined by ',', e.g. 'public' or 'team-a,team-b'"
IP_ACCEPTED = "IPv4 or IPv6 addresses joined by ',', e.g. '10.0.0.5' or '10.0.0.5,10.0.0.6'"
QUOTA_ACCEPTED = "an object with any of 'cpu' (e.g. '32'), 'memory' (e.g. '128G'), 'gpu' (a whole number, e.g. '8')"
QUOTA_CPU_ACCEPTED = "one number of cores, e.g. '32' or '0.5'"
QUOTA_MEMORY_ACCEPTED = "one size, e.g. '128G' or '512M' (units K, M, G, T; binary)"
DESCRIPTION_MAX = 2000


@dataclass(frozen=True)
class Quota:
    """Max resources of a project's running work; ``None`` = unlimited."""

    cpu: Decimal | None = None
    memory: int | None = None
    gpu: int | None = None


@dataclass(frozen=True)
class ProjectSettings:
    cluster: str | None = None
    org: list[str] = field(default_factory=lambda: [PUBLIC])
    node_selector: dict[str, str] = field(default_factory=dict)
    volume_mounts: list[VolumeMount] = field(default_factory=list)
    service_external_ip: list[str] = field(default_factory=list)
    quota: Quota = field(default_factory=Quota)
    namespace: str | None = None
    engine: str | None = None  # the pipeline engine of the project's runs; None: the platform's default


def validate_project_name(name: object, field_name: str = "name") -> str:
    if not isinstance(name, str) or not name:
        raise FieldError(field_name, "must be a non-empty string", PROJECT_NAME_ACCEPTED)
    if len(name) > 63 or not _PROJECT_NAME_RE.fullmatch(name):
        raise FieldError(field_name, f"'{name}' is not a valid project name", PROJECT_NAME_ACCEPTED)
    return name


def validate_role(role: object, field_name: str = "role") -> str:
    if role not in ROLES:
        raise FieldError(field_name, f"'{role}' is not a role", ROLE_ACCEPTED)
    return role  # type: ignore[return-value]


def validate_description(text: object, field_name: str = "description") -> str:
    if not isinstance(text, str):
        raise FieldError(field_name, f"must be a string, got {type(text).__name__}", f"text of at most {DESCRIPTION_MAX} characters")
    if len(text) > DESCRIPTION_MAX:
        raise FieldError(field_name, f"is {len(text)} characters, more than {DESCRIPTION_MAX}", f"text of at most {DESCRIPTION_MAX} characters")
    return text


# ---------------------------------------------------------------- single settings


def parse_org(text: str | None, field_name: str = "org") -> list[str]:
    if text is None:
        return [PUBLIC]
    if not isinstance(text, str):
        raise FieldError(field_name, f"must be a string, got {type(text).__name__}", ORG_ACCEPTED)
    orgs = [part.strip() for part in text.split(",")]
    if not text.strip() or any(not part for part in orgs):
        raise FieldError(field_name, f"'{text}' has an empty organisation", ORG_ACCEPTED)
    for org in orgs:
        try:
            validate_label_value(org, field_name)
        except FieldError:
            raise FieldError(field_name, f"'{org}' is not a valid label value", ORG_ACCEPTED) from None
    if len(set(orgs)) != len(orgs):
        raise FieldError(field_name, f"'{text}' names an organisation twice", ORG_ACCEPTED)
    return orgs


def parse_external_ips(text: str | None, field_name: str = "service_external_ip") -> list[str]:
    if text is None:
        return []
    if not isinstance(text, str):
        raise FieldError(field_name, f"must be a string, got {type(text).__name__}", IP_ACCEPTED)
    result = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise FieldError(field_name, f"'{text}' has an empty address", IP_ACCEPTED)
        try:
            result.append(str(ipaddress.ip_address(part)))
        except ValueError:
            raise FieldError(field_name, f"'{part}' is not an IP address", IP_ACCEPTED) from None
    return result


def parse_quota(value: dict | None, field_name: str = "quota") -> Quota:
    if value is None:
        return Quota()
    if not isinstance(value, dict):
        raise FieldError(field_name, f"must be an object, got {type(value).__name__}", QUOTA_ACCEPTED)
    unknown = sorted(set(value) - set(QUOTA_FIELDS))
    if unknown:
        raise FieldError(field_name, f"unknown key(s) {', '.join(unknown)}", QUOTA_ACCEPTED)
    cpu = memory = gpu = None
    if value.get("cpu") is not None:
        text = str(value["cpu"]).strip()
        if "~" in text:
            raise FieldError(f"{field_name}.cpu", f"'{text}' is a range; a quota is one number of cores", QUOTA_CPU_ACCEPTED)
        try:
            cpu = parse_cpu(text, f"{field_name}.cpu").limit
        except FieldError as exc:
            raise FieldError(exc.field, exc.message, QUOTA_CPU_ACCEPTED) from None
    if value.get("memory") is not None:
        text = str(value["memory"]).strip()
        if "~" in text:
            raise FieldError(f"{field_name}.memory", f"'{text}' is a range; a quota is one size", QUOTA_MEMORY_ACCEPTED)
        memory = parse_bytes(text, f"{field_name}.memory", QUOTA_MEMORY_ACCEPTED)
        if memory <= 0:
            raise FieldError(f"{field_name}.memory", f"'{text}' must be more than 0", QUOTA_MEMORY_ACCEPTED)
    if value.get("gpu") is not None:
        raw = value["gpu"]
        text = str(raw).strip()
        if isinstance(raw, bool) or not re.fullmatch(r"^\d+$", text):
            raise FieldError(f"{field_name}.gpu", f"'{text}' is not a whole number of cards", "a whole number such as '0' or '8'")
        gpu = int(text)
    return Quota(cpu, memory, gpu)


def format_quota(quota: Quota) -> dict:
    return {
        "cpu": None if quota.cpu is None else format(quota.cpu.normalize(), "f"),
        "memory": None if quota.memory is None else format_bytes(quota.memory),
        "gpu": None if quota.gpu is None else str(quota.gpu),
    }


# ---------------------------------------------------------------- whole settings


def validate_setting(name: str, value, *, is_admin: bool, clusters: list[str] | None = None, engines: list[str] | None = None):
    """Validate one setting; returns the value to store (normalised text).

    Raises FieldError naming ``name`` (or ``quota.cpu`` etc.). ``clusters`` and
    ``engines``: the names the platform has configured (None: not checked).
    """
    if value is None:
        return None
    if name == "cluster":
        if not isinstance(value, str) or not value:
            raise FieldError(name, "must be a non-empty string", "the name of a configured cluster")
        if clusters is not None and value not in clusters:
            raise FieldError(name, f"'{value}' is not a configured cluster", "one of " + ", ".join(clusters))
        return value
    if name == "engine":
        accepted = "one of " + ", ".join(engines) if engines else "the name of a configured pipeline engine"
        if not isinstance(value, str) or not value:
            raise FieldError(name, "must be a non-empty string", accepted)
        if engines is not None and value not in engines:
            raise FieldError(name, f"'{value}' is not a configured pipeline engine", accepted)
        return value
    if name == "org":
        return ",".join(parse_org(value, name))
    if name == "node_selector":
        parse_node_selector(value, name)
        return value.strip()
    if name == "volume_mount":
        mounts = parse_volume_mounts(value, name)
        check_mount_permissions(mounts, is_admin, name)
        return value.strip()
    if name == "service_external_ip":
        return ",".join(parse_external_ips(value, name))
    if name == "quota":
        parse_quota(value, name)
        # keep what the user wrote for each key; an explicit null means "no limit"
        return {k: str(v).strip() for k, v in value.items() if v is not None} or None
    if name == "namespace":
        if not isinstance(value, str):
            raise FieldError(name, f"must be a string, got {type(value).__name__}", "a Kubernetes namespace name")
        return validate_dns_label(value, name)
    raise FieldError(name, "is not a project setting", "one of " + ", ".join(SETTING_FIELDS))


def apply_settings_patch(properties: dict, patch: dict, *, is_admin: bool, clusters: list[str] | None = None, engines: list[str] | None = None) -> dict:
    """Return new group properties with ``patch`` (setting -> value or None to
    unset) applied. Every error in the patch is collected; if any, FieldErrors is
    raised and nothing changes.
    """
    if not isinstance(patch, dict):
        raise FieldError("settings", f"must be an object, got {type(patch).__name__}", "an object of " + ", ".join(SETTING_FIELDS))
    errors: list[FieldError] = []
    updated = dict(properties)
    for name, value in patch.items():
        if name not in SETTING_FIELDS:
            errors.append(FieldError(name, "is not a project setting", "one of " + ", ".join(SETTING_FIELDS)))
            continue
        # A value an admin set (say a hostpath mount) may be sent back unchanged
        # by a creator editing other fields: it stays valid for them.
        unchanged = properties.get(name) == value
        try:
            stored = validate_setting(name, value, is_admin=is_admin or unchanged, clusters=clusters, engines=engines)
        except FieldError as exc:
            errors.append(exc)
            continue
        if stored is None or stored == "" or stored == {}:
            updated.pop(name, None)
        else:
            updated[name] = stored
    if errors:
        raise FieldErrors(errors)
    return updated


def settings_from_properties(properties: dict | None) -> ProjectSettings:
    """Typed settings from stored group properties (already validated on write)."""
    props = properties or {}
    return ProjectSettings(
        cluster=props.get("cluster"),
        org=parse_org(props.get("org")),
        node_selector=parse_node_selector(props.get("node_selector")),
        volume_mounts=parse_volume_mounts(props.get("volume_mount")),
        service_external_ip=parse_external_ips(props.get("service_external_ip")),
        quota=parse_quota(props.get("quota")),
        namespace=props.get("namespace"),
        engine=props.get("engine"),
    )


def settings_view(properties: dict | None) -> dict:
    """The settings part of a project as the API shows it (text, null when unset)."""
    props = properties or {}
    view = {name: props.get(name) for name in SETTING_FIELDS if name != "quota"}
    quota = props.get("quota") or {}
    view["quota"] = {k: quota.get(k) for k in QUOTA_FIELDS}
    return view


def member_roles(properties: dict | None, members: list[str], group_name: str) -> dict[str, str]:
    """Role of each actual member (the hub's membership is the truth; a role
    entry for someone no longer in the group is ignored)."""
    roles = (properties or {}).get("member_roles") or {}
    return {name: roles.get(name, DEFAULT_ROLE) for name in members}
