"""Run-time settings kept in the database: applied again at the next start,
published for the spawners, the configuration still the baseline."""

from __future__ import annotations

import json

import pytest

from cubelab_hub.controlplane.db import Database
from cubelab_hub.controlplane.services.admin_settings import AdminSettings, _write_overrides
from cubelab_hub.controlplane.services.servers import ServerExpiry
from cubelab_hub.domain.admin_settings import RUNTIME_SETTINGS_FILE, runtime_from_document
from cubelab_hub.domain.projects import parse_quota


@pytest.fixture
def db(db_url):
    database = Database(db_url)
    database.upgrade()
    return database


def start(db, data_dir, **configured) -> AdminSettings:
    """What ControlPlane.initialize does at each start."""
    expiry = ServerExpiry(default=configured.pop("default", "3d"), per_kind={"vscode": "1d"})
    settings = AdminSettings(db, None, expiry, data_dir, configured_quota=configured.get("quota"))
    settings.load()
    return settings


def test_overrides_survive_a_restart_and_reach_the_spawners(db, tmp_path):
    first = start(db, tmp_path, quota={"cpu": "8"})
    assert first.default_quota() == parse_quota({"cpu": "8"})
    assert runtime_from_document(json.loads((tmp_path / RUNTIME_SETTINGS_FILE).read_text())) == (None, parse_quota({"cpu": "8"}))
    with db.session() as session:
        _write_overrides(session, {"server_expiry": {"default": "12h"}, "role_limits": {"user": {"gpu": "0"}},
                                   "default_project_quota": {"memory": "4G"}}, "admin")
    again = start(db, tmp_path, quota={"cpu": "8"})
    assert (again.expiry.default, again.expiry.per_kind) == ("12h", {"vscode": "1d"})
    assert again.expiry.policy().default.total_seconds() == 12 * 3600
    assert again.default_quota() == parse_quota({"memory": "4G"})
    assert runtime_from_document(json.loads((tmp_path / RUNTIME_SETTINGS_FILE).read_text())) == (
        {"user": {"gpu": "0"}}, parse_quota({"memory": "4G"}))
    # removed overrides: the configuration again
    with db.session() as session:
        _write_overrides(session, {"server_expiry": None, "role_limits": None, "default_project_quota": None}, "admin")
    last = start(db, tmp_path, default="2d")
    assert last.expiry.default == "2d" and last.default_quota() is None


def test_a_bad_configured_default_quota_fails_at_start(db, tmp_path):
    with pytest.raises(ValueError, match="default_project_quota"):
        start(db, tmp_path, quota={"cpu": "lots"})


@pytest.mark.parametrize("column,value,index", [("actor", "early", "ix_audit_events_actor_id"),
                                                ("project", "early-project", "ix_audit_events_project_id")])
def test_a_filtered_audit_page_is_one_range_of_the_filters_index(db, column, value, index):
    """An actor (or project) whose events are all old: its page is read from its
    own index, not by walking every newer event newest first and filtering."""
    from datetime import UTC, datetime

    from sqlalchemy import insert, text

    from cubelab_hub.controlplane.models import AuditEvent
    from cubelab_hub.controlplane.services.admin_settings import audit_page, audit_query

    at = datetime(2026, 3, 1, tzinfo=UTC)
    with db.session() as session:
        session.execute(insert(AuditEvent), [
            {"at": at, "actor": "early" if n < 300 else f"someone-{n % 7}", "project": "early-project" if n < 300 else f"p{n % 5}",
             "action": f"action.{n % 3}", "detail": {"n": n}} for n in range(6000)])
    filters = {"actor": None, "action": None, "project": None, column: value}
    with db.session() as session:
        first = audit_page(session, 50, None, **filters)
        second = audit_page(session, 50, first[49]["id"], **filters)
    assert [e["detail"]["n"] for e in first] == list(range(299, 248, -1))
    assert [e["detail"]["n"] for e in second] == list(range(249, 198, -1))
    assert all(e[column] == value for e in first + second)
    with db.session() as session:
        postgres = session.get_bind().dialect.name == "postgresql"
        if postgres:
            session.execute(text("ANALYZE audit_events"))
        sql = str(audit_query(50, None, **filters).compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
        plan = " ".join(str(row[-1] if not postgres else row[0]) for row in session.execute(text(("EXPLAIN " if postgres else "EXPLAIN QUERY PLAN ") + sql)))
    assert index in plan, plan
    assert "Sort" not in plan and "TEMP B-TREE" not in plan, plan  # the index gives the order: no sort of every match
