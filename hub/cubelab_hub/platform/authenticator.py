"""CubeAuthenticator: login is registration, as in Cube Studio.

A new username with a password at the login page creates the account (when
registration is open) and logs in; an existing one must give its password.
Admins can deactivate accounts (logins refused with a message, tokens revoked,
servers stopped) and close registration. Built on JupyterHub's own
``Authenticator`` so allow/block lists, admin_users and RBAC keep working.
"""

from __future__ import annotations

import asyncio
import os
import re

from jupyterhub import orm
from jupyterhub.apihandlers.base import APIHandler
from jupyterhub.auth import Authenticator
from jupyterhub.handlers.login import LoginHandler
from jupyterhub.roles import assign_default_roles
from jupyterhub.scopes import needs_scope
from jupyterhub.utils import new_token
from sqlalchemy.orm import object_session
from tornado import web
from traitlets import Bool, Integer, Unicode, default

from .accounts import AccountExists, AccountStore
from .unix import UnixAccounts

PUBLIC_PROJECT = "public"
USERNAME_ACCEPTED = "2 to 32 characters: lowercase letters, digits, '-' and '_', starting with a letter"


class CubeAuthenticator(Authenticator):
    db_url = Unicode(
        config=True,
        help="SQLAlchemy URL of the credential store (password hashes, active flags). "
        "Default: SQLite file 'accounts.sqlite' in $CUBELAB_DATA_DIR (or the working directory).",
    )

    @default("db_url")
    def _db_url_default(self):
        data_dir = os.environ.get("CUBELAB_DATA_DIR") or os.getcwd()
        return f"sqlite:///{os.path.join(data_dir, 'accounts.sqlite')}"

    open_registration = Bool(
        True,
        config=True,
        help="Whether logging in with a new username creates the account. Admins can change this "
        "at run time (PUT /services/cubelab/api/v1/settings/registration); the stored choice then wins.",
    )

    minimum_password_length = Integer(8, config=True, help="Shortest password accepted when an account is created.")

    @default("username_pattern")
    def _username_pattern_default(self):
        return r"^[a-z][a-z0-9_-]{1,31}$"

    @default("username_regex")
    def _username_regex_default(self):
        # JupyterHub compiles username_regex in an observer of username_pattern,
        # and observers do not fire for @default values: without this the
        # pattern above is never applied and every name is accepted.
        return re.compile(self.username_pattern) if self.username_pattern else None

    @default("allow_all")
    def _allow_all_default(self):
        # whoever holds a CubeLab account may log in; check_allowed enforces it
        return False

    @default("any_allow_config")
    def _any_allow_config_default(self):
        return True  # check_allowed admits exactly the holders of active accounts

    @default("allow_existing_users")
    def _allow_existing_users_default(self):
        return False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.store = AccountStore(self.db_url)
        # the Unix side of accounts (root only): locked with the account, removed with it
        self.unix = UnixAccounts(parent=self)

    # ------------------------------------------------------------ registration

    @property
    def registration_open(self) -> bool:
        stored = self.store.get_setting("registration_open")
        return self.open_registration if stored is None else stored == "true"

    def set_registration_open(self, value: bool) -> None:
        self.store.set_setting("registration_open", "true" if value else "false")

    # ------------------------------------------------------------ login

    async def authenticate(self, handler, data):
        username = self.normalize_username((data or {}).get("username", "").strip())
        password = (data or {}).get("password", "")
        if not username:
            raise web.HTTPError(400, "Enter a username.")
        if not self.validate_username(username):
            raise web.HTTPError(400, f"'{username[:40]}' is not a valid username: use {USERNAME_ACCEPTED}.")
        if not password:
            raise web.HTTPError(400, "Enter a password.")
        account = self.store.get(username)
        if account is None:
            if not self.registration_open:
                raise web.HTTPError(403, "Registration is closed: only existing accounts can log in. Ask an admin for an account.")
            if len(password) < self.minimum_password_length:
                raise web.HTTPError(400, f"Choose a password of at least {self.minimum_password_length} characters to register '{username}'.")
            if len(password) > 1024:
                raise web.HTTPError(400, "Passwords are at most 1024 characters.")
            try:
                self.store.create(username, password)
            except AccountExists:  # registered concurrently: fall through to verification
                account = self.store.get(username)
            else:
                self.log.info("Registered new account %s", username)
                return username
        if not self.store.verify(account, password):
            return None  # JupyterHub shows "Invalid username or password"
        if not account.active:
            raise web.HTTPError(403, f"The account '{username}' is deactivated. Ask an admin to reactivate it.")
        return username

    def check_allowed(self, username, authentication=None):
        account = self.store.get(username)
        return bool(account and account.active) or super().check_allowed(username, authentication)

    async def refresh_user(self, user, handler=None):
        # a deactivated user's remaining sessions must log in again (and are refused)
        account = self.store.get(user.name)
        if account is not None and not account.active:
            return False
        return True

    def add_user(self, user):
        """Every user is a member of the project 'public'."""
        super().add_user(user)
        orm_user = getattr(user, "orm_user", user)  # a User wrapper or an orm.User
        db = object_session(orm_user)
        group = orm.Group.find(db, PUBLIC_PROJECT)
        if group is None:
            group = orm.Group(name=PUBLIC_PROJECT, properties={"description": "Everyone's project", "member_roles": {}})
            db.add(group)
        if group not in orm_user.groups:
            orm_user.groups.append(group)
        db.commit()

    def delete_user(self, user):
        super().delete_user(user)
        self.store.delete(user.name)
        if self.unix.enabled:
            self.unix.remove(user.name)

    def get_handlers(self, app):
        return [
            (r"/login", CubeLoginHandler),
            (r"/api/cubelab/accounts", AccountListAPIHandler),
            (r"/api/cubelab/accounts/([^/]+)", AccountAPIHandler),
            (r"/api/cubelab/registration", RegistrationAPIHandler),
        ]

    def get_custom_html(self, base_url):
        return ""


class CubeLoginHandler(LoginHandler):
    """JupyterHub's login page, with a line saying that a new name registers."""

    def _render(self, login_error=None, username=None, **kwargs):
        # JupyterHub calls this both awaited (the login page) and, through
        # render_template("error.html", sync=True) in write_error, synchronously
        # to show an authenticator's HTTPError message on the login form: keep
        # both shapes, or every refusal (short password, bad name, deactivated)
        # becomes an empty response.
        rendered = super()._render(login_error=login_error, username=username, **kwargs)
        if isinstance(rendered, (str, bytes)):
            return self._with_note(rendered)

        async def finish():
            return self._with_note(await rendered)

        return finish()

    def _with_note(self, html) -> str:
        note = (
            "New here? Log in with a new username and a password to create your account."
            if self.authenticator.registration_open
            else "Registration is closed: only existing accounts can log in."
        )
        marker = "</form>"
        if isinstance(html, bytes):
            html = html.decode()
        return html.replace(marker, f'<p class="cubelab-login-note" id="cubelab-login-note">{note}</p>{marker}', 1)


def _account_model(account, user) -> dict:
    return {"name": account.name if account else user.name, "active": account.active if account else True,
            "has_password": account is not None, "admin": bool(user.admin)}


class AccountListAPIHandler(APIHandler):
    @needs_scope("admin:users")
    def get(self):
        accounts = [{"name": a.name, "active": a.active, "has_password": True} for a in self.authenticator.store.list()]
        self.finish({"accounts": accounts})


class AccountAPIHandler(APIHandler):
    @needs_scope("read:users")
    def get(self, user_name):
        user = self.find_user(user_name)
        if user is None:
            raise web.HTTPError(404, f"no such user {user_name}")
        self.finish(_account_model(self.authenticator.store.get(user.name), user))

    @needs_scope("admin:users")
    async def patch(self, user_name):
        user = self.find_user(user_name)
        if user is None:
            raise web.HTTPError(404, f"no such user {user_name}")
        body = self.get_json_body() or {}
        if not body or set(body) - {"active", "admin"}:
            raise web.HTTPError(400, "the body takes 'active' and/or 'admin', each true or false")
        for key in body:
            if not isinstance(body[key], bool):
                raise web.HTTPError(400, f"'{key}' must be true or false")
        store = self.authenticator.store
        if "active" in body:
            active = body["active"]
            if store.get(user.name) is None:
                raise web.HTTPError(409, f"user {user_name} has no CubeLab account (created outside the login page)")
            store.set_active(user.name, active)
            unix = self.authenticator.unix
            if not active:
                await self._lock_out(user)
                if unix.enabled:  # and whatever else runs as them (tasks, strays): stopped, account locked
                    await asyncio.get_running_loop().run_in_executor(None, unix.lock, user.name)
            elif unix.enabled:
                await asyncio.get_running_loop().run_in_executor(None, unix.unlock, user.name)
        if "admin" in body and bool(user.admin) != body["admin"]:
            # as JupyterHub's own PATCH /users does; a token's scopes are cut to its
            # owner's roles when used, so a demoted admin's tokens lose admin at once
            user.orm_user.admin = body["admin"]
            assign_default_roles(self.db, entity=user.orm_user)
            self.db.commit()
            self.log.info("%s: admin set to %s", user.name, body["admin"])
        self.finish(_account_model(store.get(user.name), user))

    async def _lock_out(self, user):
        """Revoke every token, end every login session, stop every server."""
        for token in list(user.orm_user.api_tokens):
            self.db.delete(token)
        # login cookies carry the cookie id: a new one invalidates them all
        user.orm_user.cookie_id = new_token()
        self.db.commit()
        for name, spawner in list(user.spawners.items()):
            if spawner.active or spawner.pending:
                await self.stop_single_user(user, name)
        self.log.info("Deactivated %s: tokens revoked, sessions ended, servers stopped", user.name)


class RegistrationAPIHandler(APIHandler):
    def get(self):
        if self.current_user is None:
            raise web.HTTPError(403, "Missing or invalid credentials.")
        self.finish({"open": self.authenticator.registration_open})

    @needs_scope("admin:users")
    def put(self):
        body = self.get_json_body() or {}
        if not isinstance(body.get("open"), bool):
            raise web.HTTPError(400, "'open' must be true or false")
        self.authenticator.set_registration_open(body["open"])
        self.finish({"open": self.authenticator.registration_open})


