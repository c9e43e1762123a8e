"""Credentials of CubeLab accounts: password hashes and the active flag.

JupyterHub owns users (names, admin flag, groups, tokens); this store holds
only what an authenticator must: an Argon2 hash of each password, whether the
account may log in, and whether logging in with a new name registers it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Boolean, DateTime, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from ..storage import make_engine, unit_of_work


class _Base(DeclarativeBase):
    pass


class Account(_Base):
    __tablename__ = "cubelab_accounts"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=lambda: datetime.now(UTC))


class Setting(_Base):
    __tablename__ = "cubelab_auth_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class AccountExists(Exception):
    pass


class AccountStore:
    def __init__(self, url: str):
        self.engine = make_engine(url)
        _Base.metadata.create_all(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._hasher = PasswordHasher()

    def _session(self):
        return unit_of_work(self._sessions)

    def get(self, name: str) -> Account | None:
        with self._session() as session:
            return session.get(Account, name)

    def list(self) -> list[Account]:
        with self._session() as session:
            return list(session.scalars(select(Account).order_by(Account.name)))

    def create(self, name: str, password: str) -> Account:
        account = Account(name=name, password_hash=self._hasher.hash(password), active=True)
        try:
            with self._session() as session:
                session.add(account)
        except IntegrityError:
            raise AccountExists(name) from None
        return account

    def verify(self, account: Account, password: str) -> bool:
        try:
            self._hasher.verify(account.password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        if self._hasher.check_needs_rehash(account.password_hash):
            with self._session() as session:
                session.get(Account, account.name).password_hash = self._hasher.hash(password)
        return True

    def set_password(self, name: str, password: str) -> None:
        with self._session() as session:
            session.get(Account, name).password_hash = self._hasher.hash(password)

    def set_active(self, name: str, active: bool) -> bool:
        with self._session() as session:
            account = session.get(Account, name)
            if account is None:
                return False
            account.active = active
            return True

    def delete(self, name: str) -> None:
        with self._session() as session:
            account = session.get(Account, name)
            if account is not None:
                session.delete(account)

    def get_setting(self, key: str) -> str | None:
        with self._session() as session:
            setting = session.get(Setting, key)
            return setting.value if setting else None

    def set_setting(self, key: str, value: str) -> None:
        with self._session() as session:
            setting = session.get(Setting, key)
            if setting is None:
                session.add(Setting(key=key, value=value))
            else:
                setting.value = value
