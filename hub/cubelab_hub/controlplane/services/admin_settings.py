"""Platform settings an admin changes at run time, kept in the database and
applied without a restart; every change audited with its old and new value.

Where each setting takes effect:

- ``registration_open``: the hub's authenticator (asked and set through the
  hub's API, as ``PUT /settings/registration`` does); not stored here.
- ``server_expiry``: this process's :class:`~.servers.ServerExpiry`, which the
  reaper and every server view read on each use.
- ``role_limits`` and ``default_project_quota``: the spawners, in the hub's
  process, read :data:`~cubelab_hub.domain.admin_settings.RUNTIME_SETTINGS_FILE`
  from the data directory on every spawn; this process's own quota checks
  (runs, services, builds) ask :meth:`AdminSettings.default_quota`.

What was configured (traitlets) stays the baseline: an override is a row of
``platform_settings``; setting ``role_limits`` or ``default_project_quota`` back
to null removes it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from pathlib import Path

from sqlalchemy import select

from ...domain.admin_settings import RUNTIME_SETTINGS_FILE, merge_expiry, parse_settings_patch, runtime_document
from ...domain.projects import QUOTA_FIELDS, Quota, parse_quota
from ..models import utcnow
from ..models.admin import PlatformSettingRow

log = logging.getLogger("cubelab.settings")

# the settings stored here (registration lives in the hub)
STORED = ("server_expiry", "role_limits", "default_project_quota")


def _read_overrides(session) -> dict:
    return {row.name: row.value for row in session.scalars(select(PlatformSettingRow).where(PlatformSettingRow.name.in_(STORED)))}


def _write_overrides(session, changes: dict, actor: str) -> None:
    for name, value in changes.items():
        row = session.get(PlatformSettingRow, name)
        if value is None:
            if row is not None:
                session.delete(row)
            continue
        if row is None:
            session.add(PlatformSettingRow(name=name, value=value, updated_by=actor, updated_at=utcnow()))
        else:
            row.value, row.updated_by, row.updated_at = value, actor, utcnow()


class AdminSettings:
    """``expiry``: the :class:`ServerExpiry` in use; ``configured_quota``: the
    ``ControlPlane.default_project_quota`` setting (text, as a project's quota);
    ``audit``: ``async (actor, project, action, detail)``."""

    def __init__(self, database, hub_client, expiry, data_dir: str | os.PathLike, configured_quota: dict | None = None, audit=None):
        self.db = database
        self.hub = hub_client
        self.expiry = expiry
        self.runtime_file = Path(data_dir) / RUNTIME_SETTINGS_FILE
        self._audit = audit
        self._configured_expiry = {"default": expiry.default, "per_kind": dict(expiry.per_kind), "gpu": expiry.gpu}
        self._configured_quota = {k: str(v) for k, v in (configured_quota or {}).items() if v is not None} or None
        parse_quota(self._configured_quota, "ControlPlane.default_project_quota")  # a bad setting fails at start-up
        self._overrides: dict = {}
        # one change at a time: each reads the state the one before it left
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------ start-up

    def load(self) -> None:
        """Read the stored overrides and apply them (at start, before serving)."""
        with self.db.session() as session:
            self._overrides = _read_overrides(session)
        self._apply()

    def _apply(self) -> None:
        expiry = merge_expiry(self._configured_expiry, self._overrides.get("server_expiry") or {})
        self.expiry.default, self.expiry.per_kind, self.expiry.gpu = expiry["default"], expiry["per_kind"], expiry["gpu"]
        self._publish()

    def _publish(self) -> None:
        """Write what the spawners read, atomically (a reader never sees half a file)."""
        document = runtime_document(self._overrides.get("role_limits"), self._quota_text())
        self.runtime_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".runtime-settings-", dir=self.runtime_file.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(document, f)
            os.replace(tmp, self.runtime_file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # ------------------------------------------------------------ reading

    def _quota_text(self) -> dict | None:
        if "default_project_quota" in self._overrides:
            return self._overrides["default_project_quota"]
        return self._configured_quota

    def default_quota(self) -> Quota | None:
        """The quota of projects that set none (None: unlimited)."""
        text = self._quota_text()
        return parse_quota(text) if text else None

    def _expiry_view(self) -> dict:
        return {"default": self.expiry.default, "per_kind": dict(self.expiry.per_kind), "gpu": self.expiry.gpu}

    async def view(self) -> dict:
        registration = await self.hub.get_registration()
        quota = self._quota_text() or {}
        return {
            "registration_open": bool(registration.get("open")),
            "server_expiry": self._expiry_view(),
            "role_limits": self._overrides.get("role_limits"),
            "default_project_quota": {k: quota.get(k) for k in QUOTA_FIELDS},
        }

    # ------------------------------------------------------------ changing

    async def update(self, actor: str, body) -> dict:
        """Validate the whole patch (nothing changes when a field is bad), store
        and apply it, and audit each setting that changed with old and new."""
        patch = parse_settings_patch(body)
        async with self._lock:
            before = await self.view()
            # the hub's switch first: if the hub refuses, nothing here has changed
            if "registration_open" in patch and patch["registration_open"] != before["registration_open"]:
                await self.hub.set_registration(patch["registration_open"])
            changes: dict = {}
            if "server_expiry" in patch:
                merged = merge_expiry(self._expiry_view(), patch["server_expiry"])
                # stored as what differs from the configuration, so a configuration change still shows through
                diff = {k: v for k, v in merged.items() if v != self._configured_expiry[k]}
                changes["server_expiry"] = diff or None
            for name in ("role_limits", "default_project_quota"):
                if name in patch:
                    changes[name] = patch[name]
            if changes:
                await self.db.run(_write_overrides, changes, actor)
                for name, value in changes.items():
                    if value is None:
                        self._overrides.pop(name, None)
                    else:
                        self._overrides[name] = value
                self._apply()
            after = await self.view()
        for name in patch:
            if before[name] != after[name] and self._audit is not None:
                await self._audit(actor, None, "settings.change", {"setting": name, "old": before[name], "new": after[name]})
        return after


# ---------------------------------------------------------------- the audit log


def audit_query(limit: int, before_id: int | None, actor: str | None, action: str | None, project: str | None):
    """The statement of :func:`audit_page` (bench/admin.py shows its plan)."""
    from ..models import AuditEvent

    query = select(AuditEvent)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    # The first filter also leads the order (the same order: its value is fixed),
    # so only its (column, id) index gives it and the database reads one range of
    # it. Ordered by id alone, PostgreSQL walks the primary key newest first and
    # filters, reading every newer event of others (all of them for an actor
    # whose events are old). Written as a range, not '=': PostgreSQL drops an
    # order on a column it knows to be equal to a constant.
    order = []
    for column, value in ((AuditEvent.actor, actor), (AuditEvent.action, action), (AuditEvent.project, project)):
        if value is None:
            continue
        if order:
            query = query.where(column == value)
        else:
            query = query.where(column >= value, column <= value)
            order = [column.desc()]
    return query.order_by(*order, AuditEvent.id.desc()).limit(limit + 1)


def audit_page(session, limit: int, before_id: int | None, actor: str | None, action: str | None, project: str | None) -> list[dict]:
    """Up to ``limit + 1`` audit events, newest first (by id, which only grows),
    older than ``before_id``; one range of the first filter's index (migrations
    0010 and 0013)."""
    rows = session.scalars(audit_query(limit, before_id, actor, action, project)).all()
    return [{"id": r.id, "at": r.at.isoformat() if r.at.tzinfo else r.at.isoformat() + "+00:00", "actor": r.actor,
             "project": r.project, "action": r.action, "detail": r.detail or {}} for r in rows]
