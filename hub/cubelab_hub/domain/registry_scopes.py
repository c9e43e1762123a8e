"""Who may pull from and push to the platform's own registry (Docker registry
v2 token authentication).

A client asks the token endpoint for ``scope=repository:<name>:<actions>``
(several ``scope`` parameters allowed); the answer's token lists, per
repository, the actions granted, which may be fewer than asked (the
registry then refuses the rest). Repositories are ``<project>/<image>``: the
members of a project get ``pull`` and ``push`` on the project's repositories,
nobody gets anything else (no catalog, no deletes through the registry).

Pure Python: the rules, the scope grammar and the repository grammar.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from .errors import FieldError

GRANTABLE = ("pull", "push")
SCOPE_ACCEPTED = "'repository:<project>/<image>:<actions>' with actions among pull and push joined by ',', e.g. 'repository:team-a/app:pull,push'"
REPOSITORY_ACCEPTED = ("'<project>/<image>': the project's name, then lowercase path components of letters and digits "
                       "separated by '.', '_', '__' or '-', joined by '/', e.g. 'team-a/trainer' or 'team-a/tools/cli'")
# distribution's reference grammar for one path component
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_REPOSITORY_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})+$")
MAX_REPOSITORY_LENGTH = 255


@dataclass(frozen=True)
class Scope:
    """One resource a client asks for: ``type`` ("repository", "registry"),
    ``name`` (the repository) and the actions asked."""

    type: str
    name: str
    actions: tuple[str, ...]

    def to_claim(self, actions: Iterable[str]) -> dict:
        """The token's ``access`` entry granting ``actions`` of this scope."""
        return {"type": self.type, "name": self.name, "actions": list(actions)}


def parse_scope(text: str) -> Scope:
    """``repository:team-a/app:pull,push`` -> Scope. The name may not hold ':'
    here: repositories of this registry never do."""
    kind, sep, rest = text.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not kind or not name:
        raise FieldError("scope", f"'{text[:200]}' is not a scope", SCOPE_ACCEPTED)
    kind = kind.split("(", 1)[0]  # 'repository(plugin)' names a class: the type is what counts
    return Scope(kind, name, tuple(a for a in actions.split(",") if a))


def project_of(repository: str) -> str | None:
    """The project a repository belongs to; None for a name outside the
    ``<project>/<image>`` scheme (nobody may use it)."""
    if len(repository) > MAX_REPOSITORY_LENGTH or not _REPOSITORY_RE.fullmatch(repository):
        return None
    project = repository.split("/", 1)[0]
    return project if re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])", project) else None


def check_repository(repository: str, field_name: str = "repository") -> str:
    if project_of(repository) is None:
        raise FieldError(field_name, f"'{repository[:200]}' is not a repository of this registry", REPOSITORY_ACCEPTED)
    return repository


def granted_actions(scope: Scope, projects: Collection[str]) -> tuple[str, ...]:
    """The actions of ``scope`` granted to someone who may use the
    repositories of ``projects`` (a user's projects, or the one project of a
    build's service credential)."""
    if scope.type != "repository":
        return ()
    project = project_of(scope.name)
    if project is None or project not in projects:
        return ()
    return tuple(a for a in dict.fromkeys(scope.actions) if a in GRANTABLE)


def access_claims(scopes: Iterable[Scope], projects: Collection[str]) -> list[dict]:
    """The token's ``access`` claim: one entry per scope asked, with what is
    granted (possibly nothing: the registry then answers 401/403)."""
    return [scope.to_claim(granted_actions(scope, projects)) for scope in scopes]
