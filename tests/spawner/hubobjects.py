"""Real JupyterHub ORM users and groups in an in-memory database, for driving
the spawners' hub-facing code without starting a hub (the end-to-end tests
start a real one)."""

from __future__ import annotations

from jupyterhub import orm
from jupyterhub.objects import Hub
from jupyterhub.user import User
from traitlets.config import Config


class HubDB:
    def __init__(self, spawner_class, config: Config | None = None):
        self.db = orm.new_session_factory("sqlite://")()
        self.config = config or Config()
        self.spawner_class = spawner_class
        self.hub = Hub(ip="127.0.0.1", port=8081, base_url="/hub/")
        self.settings = {
            "spawner_class": spawner_class,
            "config": self.config,
            "hub": self.hub,
            "domain": "",
            "base_url": "/",
            "statsd": None,
        }

    def group(self, name: str, properties: dict | None = None, members=()) -> orm.Group:
        group = orm.Group.find(self.db, name) or orm.Group(name=name)
        group.properties = dict(properties or {})
        self.db.add(group)
        for member in members:
            if group not in member.groups:
                member.groups.append(group)
        self.db.commit()
        return group

    def user(self, name: str, admin: bool = False, roles=("user",)) -> User:
        orm_user = orm.User(name=name, admin=admin)
        self.db.add(orm_user)
        for role_name in roles:
            role = orm.Role.find(self.db, role_name) or orm.Role(name=role_name)
            self.db.add(role)
            orm_user.roles.append(role)
        self.db.commit()
        return User(orm_user, self.settings)

    def spawner(self, user: User, server_name: str = "", user_options: dict | None = None):
        spawner = user.get_or_create_spawner(server_name, server_name)
        if user_options is not None:
            # what User.spawn does with the options of a start request
            spawner.orm_spawner.user_options = dict(user_options)
            spawner.user_options = dict(user_options)
            self.db.commit()
        return spawner

    def mark_running(self, spawner, user_options: dict) -> None:
        """Record another server as running with these options (for quota use)."""
        spawner.orm_spawner.user_options = dict(user_options)
        server = orm.Server(ip="127.0.0.1", port=1)
        self.db.add(server)
        spawner.orm_spawner.server = server
        self.db.commit()
