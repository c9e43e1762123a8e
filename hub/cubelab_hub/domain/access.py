"""Who may do what: the one place where CubeLab's authorization rules live.

Identity comes from JupyterHub (admin flag, group membership); the member role
comes from the project's properties. Handlers build an :class:`Actor` once per
request and ask :func:`require`; nothing else decides permissions.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class PermissionDenied(Exception):
    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class Actor:
    name: str
    admin: bool = False
    # project name -> member role ("creator" | "dev" | "ops")
    projects: dict[str, str] = field(default_factory=dict)

    def role_in(self, project: str) -> str | None:
        return self.projects.get(project)


# action -> rule(actor, project, owner) -> bool
def _member(actor: Actor, project: str | None, owner: str | None) -> bool:
    return project is not None and actor.role_in(project) is not None


def _creator(actor: Actor, project: str | None, owner: str | None) -> bool:
    return project is not None and actor.role_in(project) == "creator"


def _developer(actor: Actor, project: str | None, owner: str | None) -> bool:
    return project is not None and actor.role_in(project) in ("creator", "dev")


def _owner_or_creator(actor: Actor, project: str | None, owner: str | None) -> bool:
    # an owner who has left the project loses edit rights with their membership
    return _creator(actor, project, owner) or (owner == actor.name and _member(actor, project, owner))


def _runner(actor: Actor, project: str | None, owner: str | None) -> bool:
    return _owner_or_creator(actor, project, owner) or actor.role_in(project or "") == "ops"


def _self(actor: Actor, project: str | None, owner: str | None) -> bool:
    return owner is not None and owner == actor.name


def _anyone(actor: Actor, project: str | None, owner: str | None) -> bool:
    return True


def _nobody(actor: Actor, project: str | None, owner: str | None) -> bool:
    return False


RULES = {
    "project:create": (_anyone, "any user may create a project"),
    "project:read": (_member, "only members of project '{project}' may read it"),
    "project:edit": (_creator, "only creators of project '{project}' (or admins) may change its settings"),
    "project:members": (_creator, "only creators of project '{project}' (or admins) may change its members"),
    "project:delete": (_nobody, "only admins may delete projects"),
    "pipeline:read": (_member, "only members of project '{project}' may read its pipelines"),
    "pipeline:create": (_developer, "only creators and devs of project '{project}' may create pipelines in it"),
    "pipeline:edit": (_owner_or_creator, "only the pipeline's creator or creators of project '{project}' may change it"),
    "pipeline:run": (_runner, "only the pipeline's creator, creators or ops of project '{project}' may run it"),
    "service:read": (_member, "only members of project '{project}' may read its services"),
    "service:create": (_developer, "only creators and devs of project '{project}' may create services in it"),
    "service:edit": (_owner_or_creator, "only the service's owner or creators of project '{project}' may change, deploy or stop it"),
    "registry:read": (_member, "only members of project '{project}' may see its registries"),
    "registry:pull": (_member, "only members of project '{project}' may have its registries' pull Secrets written"),
    "registry:edit": (_creator, "only creators of project '{project}' (or admins) may add, change or delete its registries"),
    "build:read": (_member, "only members of project '{project}' may read its image builds"),
    "build:create": (_developer, "only creators and devs of project '{project}' may build images in it"),
    "build:cancel": (_owner_or_creator, "only the build's creator or creators of project '{project}' may cancel it"),
    "image:read": (_member, "only members of project '{project}' may see its images"),
    "image:delete": (_developer, "only creators and devs of project '{project}' may delete its images"),
    "image:import": (_nobody, "only admins may import images from archives"),
    "image:debug": (_developer, "only creators and devs of project '{project}' may run commands in its images"),
    "template:write": (_nobody, "only admins may create or change job templates"),
    "template:read-alpha": (_nobody, "only admins may see Alpha job templates"),
    "server:manage": (_self, "only {owner} or an admin may see or change {owner}'s servers"),
    "admin": (_nobody, "only admins may do this"),
}


def allowed(actor: Actor, action: str, project: str | None = None, owner: str | None = None) -> bool:
    rule, _ = RULES[action]
    return actor.admin or rule(actor, project, owner)


def require(actor: Actor, action: str, project: str | None = None, owner: str | None = None) -> None:
    if not allowed(actor, action, project, owner):
        _, message = RULES[action]
        raise PermissionDenied(message.format(project=project, owner=owner))


def project_permissions(actor: Actor, project: str) -> dict[str, bool]:
    """What the UI may offer for a project (the server checks again on write)."""
    return {
        "edit_settings": allowed(actor, "project:edit", project),
        "manage_members": allowed(actor, "project:members", project),
        "delete": allowed(actor, "project:delete", project),
        "create_pipeline": allowed(actor, "pipeline:create", project),
    }
