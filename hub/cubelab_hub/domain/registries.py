"""Image registries: where images are pulled from and pushed to, with the
credentials that open them.

A registry is platform-wide (kept by admins) or belongs to one project (kept by
its creators). Its password or token is write-only: it is accepted here, stored
encrypted by the control plane and never shown again (views say
``password_set``). :func:`registry_from_dict` parses every field strictly and
raises :class:`FieldErrors` with every problem at once, each naming its field
and the accepted form. Pure Python: no Jupyter, tornado, SQLAlchemy or
Kubernetes imports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .errors import FieldError, FieldErrors
from .projects import validate_project_name

MAX_NAME_LENGTH = 40  # leaves room in the 63-character Secret name derived from it
MAX_USERNAME_LENGTH = 255
MAX_PASSWORD_LENGTH = 4096
FIELDS = ("name", "project", "host", "username", "password", "description")

NAME_ACCEPTED = f"lowercase letters, digits and '-', starting with a letter and ending with a letter or digit, at most {MAX_NAME_LENGTH} characters"
HOST_ACCEPTED = ("a registry host name or address with an optional port and no scheme or path, "
                 "e.g. 'registry.example.com', 'docker.io', '10.0.0.5:5000' or '[::1]:5000'")
USERNAME_ACCEPTED = f"1 to {MAX_USERNAME_LENGTH} printable characters without ':' or spaces"
PASSWORD_ACCEPTED = f"the password or access token, 1 to {MAX_PASSWORD_LENGTH} printable characters on one line"
PROJECT_ACCEPTED = "the name of a project you are a creator of, or empty (null) for a platform-wide registry (admins)"
DESCRIPTION_ACCEPTED = "text of at most 500 characters"

_NAME_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_HOST_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_RE = re.compile(rf"^(?:{_HOST_LABEL}(?:\.{_HOST_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::([0-9]{{1,5}}))?$")
_USERNAME_RE = re.compile(r"^[\x21-\x39\x3b-\x7e\u00a0-\U0010ffff]+$")  # printable, no space, no ':'


@dataclass(frozen=True)
class Registry:
    """A registry as its keepers see it; ``password`` is None when unchanged
    (an edit that does not set a new one keeps the stored one)."""

    name: str
    host: str
    username: str
    project: str | None = None
    description: str = ""
    password: str | None = field(default=None, repr=False, compare=False)

    @property
    def platform_wide(self) -> bool:
        return self.project is None


def _text(data: dict, name: str, errors: list[FieldError], accepted: str) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        errors.append(FieldError(name, f"must be a string, not {type(value).__name__}", accepted))
        return None
    return value


def parse_host(value: str, field_name: str = "host") -> str:
    """``value`` as a registry host, lowercased (host names are not case-sensitive)."""
    if "://" in value:
        raise FieldError(field_name, f"'{value}' has a scheme; give the host only", HOST_ACCEPTED)
    if "/" in value:
        raise FieldError(field_name, f"'{value}' has a path; give the host only (repositories are named when an image is)", HOST_ACCEPTED)
    match = _HOST_RE.fullmatch(value)
    if not match or len(value) > 253:
        raise FieldError(field_name, f"'{value}' is not a host name, address or host:port", HOST_ACCEPTED)
    port = match.group(3)
    if port is not None and not 1 <= int(port) <= 65535:
        raise FieldError(field_name, f"port {port} is not from 1 to 65535", HOST_ACCEPTED)
    return value.lower()


def registry_from_dict(data: Any, *, require_password: bool = True) -> Registry:
    """A registry from its JSON form. ``require_password``: False for an edit,
    where a missing password keeps the stored one."""
    if not isinstance(data, dict):
        raise FieldErrors([FieldError("registry", "must be a JSON object", "an object with " + ", ".join(FIELDS))])
    errors: list[FieldError] = []
    unknown = sorted(set(data) - set(FIELDS) - {"id", "password_set", "created_at", "updated_at", "creator", "permissions", "pull_secret"})
    for key in unknown:
        errors.append(FieldError(key, "is not a field of a registry", "fields " + ", ".join(FIELDS)))

    name = _text(data, "name", errors, NAME_ACCEPTED)
    if name is None and not any(e.field == "name" for e in errors):
        errors.append(FieldError("name", "is missing", NAME_ACCEPTED))
    elif name is not None and (len(name) > MAX_NAME_LENGTH or not _NAME_RE.fullmatch(name)):
        errors.append(FieldError("name", f"'{name}' is not a valid registry name", NAME_ACCEPTED))

    project = None
    if data.get("project") not in (None, ""):
        try:
            project = validate_project_name(data["project"], "project")
        except FieldError as exc:
            errors.append(FieldError("project", exc.message, PROJECT_ACCEPTED))

    host = _text(data, "host", errors, HOST_ACCEPTED)
    if host is None and not any(e.field == "host" for e in errors):
        errors.append(FieldError("host", "is missing", HOST_ACCEPTED))
    elif host is not None:
        try:
            host = parse_host(host)
        except FieldError as exc:
            errors.append(exc)

    username = _text(data, "username", errors, USERNAME_ACCEPTED)
    if username is None and not any(e.field == "username" for e in errors):
        errors.append(FieldError("username", "is missing", USERNAME_ACCEPTED))
    elif username is not None and (len(username) > MAX_USERNAME_LENGTH or not _USERNAME_RE.fullmatch(username)):
        # the user name is shown back, so naming it is safe; a password never is
        errors.append(FieldError("username", f"'{username[:40]}' has a ':', a space or a control character, or is too long", USERNAME_ACCEPTED))

    password = _text(data, "password", errors, PASSWORD_ACCEPTED)
    if password is None and require_password and not any(e.field == "password" for e in errors):
        errors.append(FieldError("password", "is missing", PASSWORD_ACCEPTED))
    elif password is not None and (len(password) > MAX_PASSWORD_LENGTH or not password.isprintable()):
        # never echo the password: the message says what is wrong, not what was sent
        errors.append(FieldError("password", "has a line break or control character, or is too long", PASSWORD_ACCEPTED))

    description = _text(data, "description", errors, DESCRIPTION_ACCEPTED) or ""
    if len(description) > 500:
        errors.append(FieldError("description", f"is {len(description)} characters long", DESCRIPTION_ACCEPTED))

    if errors:
        raise FieldErrors(errors)
    return Registry(name=name, host=host, username=username, project=project, description=description, password=password)


def registry_to_dict(registry: Registry, *, password_set: bool) -> dict:
    """The JSON form shown back: everything but the password."""
    return {"name": registry.name, "project": registry.project, "host": registry.host, "username": registry.username,
            "description": registry.description, "password_set": password_set}


def pull_secret_name(registry_name: str) -> str:
    """The name of the ``kubernetes.io/dockerconfigjson`` Secret holding a
    registry's credentials in each namespace that pulls from it; pods reference
    it in ``imagePullSecrets``."""
    return f"cubelab-registry-{registry_name}"


def image_host(image: str) -> str | None:
    """The registry host an image reference names (``10.0.0.5:5000/team/app:1``
    -> ``10.0.0.5:5000``); None for Docker Hub's short forms (``python:3.11``,
    ``library/python``), which name no host."""
    first, sep, _ = image.partition("/")
    if not sep:
        return None
    if "." in first or ":" in first or first == "localhost" or first.startswith("["):
        return first.lower()
    return None
