"""Registries: stored with their password sealed, shown without it.

Platform-wide registries are visible to every user and kept by admins; a
project's are visible to its members and kept by its creators (the handler
asks :mod:`cubelab_hub.domain.access`). The clear password leaves this module
only through :meth:`RegistryStore.credentials`, for the platform's own use
(pull Secrets on Kubernetes, a build's push), never in a view.

Every method takes a session first (they run through ``Database.run``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import or_, select, tuple_

from ...domain.errors import Conflict, FieldError, NotFound
from ...domain.paging import ListFilters, decode_cursor, page_from
from ...domain.registries import Registry, pull_secret_name, registry_to_dict
from ..models.pipelines import aware
from ..models.registries import RegistryRow
from .secret_box import SecretBox

REGISTRY_KEY = (str, int)


@dataclass(frozen=True)
class Credentials:
    """What a client needs to log in to a registry. ``password`` is kept out of ``repr``."""

    host: str
    username: str
    password: str = field(repr=False)


def _context(name: str) -> str:
    # the name is unique and never changes: a sealed password opens in its own row only
    return f"registry:{name}"


class RegistryStore:
    def __init__(self, box: SecretBox):
        self.box = box

    # ------------------------------------------------------------ views

    @staticmethod
    def view(row: RegistryRow) -> dict:
        reg = Registry(name=row.name, host=row.host, username=row.username, project=row.project, description=row.description)
        return {"id": row.id, **registry_to_dict(reg, password_set=bool(row.password)), "creator": row.creator,
                "pull_secret": pull_secret_name(row.name),
                "created_at": aware(row.created_at).isoformat(), "updated_at": aware(row.updated_at).isoformat()}

    @staticmethod
    def find(session, name: str) -> RegistryRow | None:
        return session.scalars(select(RegistryRow).where(RegistryRow.name == name)).first()

    def list(self, session, projects: Collection[str] | None, filters: ListFilters, limit: int, cursor: str | None) -> dict:
        """Registries by name: the platform-wide ones and those of ``projects``
        (None: every project's, for admins)."""
        after = decode_cursor("registries", cursor, REGISTRY_KEY, filters)
        query = select(RegistryRow)
        if filters.project is not None:
            if projects is not None and filters.project not in projects:
                return {"registries": [], "next_cursor": None}
            query = query.where(RegistryRow.project == filters.project)
        elif projects is not None:
            query = query.where(or_(RegistryRow.project.is_(None), RegistryRow.project.in_(sorted(projects))))
        if filters.q:
            query = query.where(RegistryRow.name.contains(filters.q.lower(), autoescape=True))
        if after is not None:
            query = query.where(tuple_(RegistryRow.name, RegistryRow.id) > tuple_(*after))
        rows = session.scalars(query.order_by(RegistryRow.name, RegistryRow.id).limit(limit + 1)).all()
        page = page_from(rows, limit, "registries", lambda r: (r.name, r.id), filters)
        return {"registries": [self.view(r) for r in page.items], "next_cursor": page.next_cursor}

    # ------------------------------------------------------------ changes

    def create(self, session, registry: Registry, creator: str) -> RegistryRow:
        if self.find(session, registry.name) is not None:
            raise Conflict(f"a registry named '{registry.name}' exists already", "name")
        assert registry.password is not None  # the parser requires one on create
        row = RegistryRow(name=registry.name, project=registry.project, host=registry.host, username=registry.username,
                          password=self.box.seal(registry.password, _context(registry.name)),
                          description=registry.description, creator=creator)
        session.add(row)
        session.flush()
        return row

    def update(self, session, row: RegistryRow, registry: Registry) -> RegistryRow:
        """Apply an edit; the name and the project stay (the name seals the
        password and names the pull Secrets)."""
        if registry.name != row.name:
            raise FieldError("name", f"a registry keeps its name ('{row.name}'); create another one to rename it", f"'{row.name}'")
        if registry.project != row.project:
            raise FieldError("project", "a registry stays where it was created; create another one elsewhere",
                             f"'{row.project}'" if row.project else "null (platform-wide)")
        row.host, row.username, row.description = registry.host, registry.username, registry.description
        if registry.password is not None:
            row.password = self.box.seal(registry.password, _context(row.name))
        session.flush()
        return row

    @staticmethod
    def delete(session, row: RegistryRow) -> None:
        session.delete(row)
        session.flush()

    def delete_project(self, session, project: str) -> int:
        rows = session.scalars(select(RegistryRow).where(RegistryRow.project == project)).all()
        for row in rows:
            session.delete(row)
        session.flush()
        return len(rows)

    # ------------------------------------------------------------ the platform's own use

    def credentials(self, session, name: str) -> Credentials:
        """The clear credentials of a registry, for the platform's own clients only."""
        row = self.find(session, name)
        if row is None:
            raise NotFound.of("registry", name)
        return Credentials(row.host, row.username, self.box.open(row.password, _context(row.name)))

    def usable_by(self, session, project: str) -> list[str]:
        """The registries a project's pods may pull from: the platform-wide ones and its own."""
        query = select(RegistryRow.name).where(or_(RegistryRow.project.is_(None), RegistryRow.project == project))
        return list(session.scalars(query.order_by(RegistryRow.name)).all())
