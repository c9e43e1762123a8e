"""Run-time platform settings: every field checked, named, nothing half-applied."""

from __future__ import annotations

import pytest

from cubelab_hub.domain.admin_settings import (
    effective_quota,
    merge_expiry,
    parse_settings_patch,
    runtime_document,
    runtime_from_document,
)
from cubelab_hub.domain.errors import FieldError, FieldErrors
from cubelab_hub.domain.projects import Quota, parse_quota


def fields(exc) -> list[str]:
    return [e.field for e in exc.value.errors] if isinstance(exc.value, FieldErrors) else [exc.value.field]


def test_a_full_patch_is_normalised():
    patch = parse_settings_patch({
        "registration_open": False,
        "server_expiry": {"default": " 12h ", "per_kind": {"vscode": "1d"}, "gpu": None},
        "role_limits": {"user": {"cpu": "4", "memory": "8G", "gpu": 1}, "admin": {}},
        "default_project_quota": {"cpu": 16, "memory": "64G", "gpu": None},
    })
    assert patch == {
        "registration_open": False,
        "server_expiry": {"default": "12h", "per_kind": {"vscode": "1d"}, "gpu": ""},
        "role_limits": {"user": {"cpu": "4", "memory": "8G", "gpu": "1"}, "admin": {}},
        "default_project_quota": {"cpu": "16", "memory": "64G"},
    }


def test_null_role_limits_and_quota_mean_back_to_the_configuration():
    assert parse_settings_patch({"role_limits": None, "default_project_quota": None}) == {"role_limits": None, "default_project_quota": None}


@pytest.mark.parametrize("body, field", [
    ({"registration_open": "yes"}, "registration_open"),
    ({"server_expiry": {"default": "three days"}}, "server_expiry.default"),
    ({"server_expiry": {"default": ""}}, "server_expiry.default"),
    ({"server_expiry": {"per_kind": {"vscode": "soon"}}}, "server_expiry.per_kind.vscode"),
    ({"server_expiry": {"per_kind": {"Bad Kind": "1d"}}}, "server_expiry.per_kind.Bad Kind"),
    ({"server_expiry": {"gpu": "-1h"}}, "server_expiry.gpu"),
    ({"server_expiry": {"forever": "1d"}}, "server_expiry.forever"),
    ({"server_expiry": "3d"}, "server_expiry"),
    ({"role_limits": {"user": {"cpu": "lots"}}}, "role_limits.user.cpu"),
    ({"role_limits": {"user": {"memory": "8 apples"}}}, "role_limits.user.memory"),
    ({"role_limits": {"user": {"gpu": "1.5"}}}, "role_limits.user.gpu"),
    ({"role_limits": {"user": {"disk": "1"}}}, "role_limits.user.disk"),
    ({"role_limits": {"no spaces": {}}}, "role_limits.no spaces"),
    ({"role_limits": ["user"]}, "role_limits"),
    ({"default_project_quota": {"cpu": "1~4"}}, "default_project_quota.cpu"),
    ({"default_project_quota": {"memory": "0"}}, "default_project_quota.memory"),
    ({"default_project_quota": {"disk": "1"}}, "default_project_quota"),
    ({"theme": "dark"}, "theme"),
])
def test_every_bad_value_is_named(body, field):
    with pytest.raises((FieldError, FieldErrors)) as exc:
        parse_settings_patch(body)
    assert field in fields(exc)


def test_all_problems_are_reported_at_once():
    with pytest.raises(FieldErrors) as exc:
        parse_settings_patch({"registration_open": 1, "server_expiry": {"default": "x"}, "role_limits": {"user": {"cpu": "x"}}})
    assert fields(exc) == ["registration_open", "server_expiry.default", "role_limits.user.cpu"]


@pytest.mark.parametrize("body", [None, [], {}, "open"])
def test_the_body_must_name_a_setting(body):
    with pytest.raises(FieldError) as exc:
        parse_settings_patch(body)
    assert exc.value.field == "settings"


def test_expiry_keys_replace_only_the_ones_named():
    current = {"default": "3d", "per_kind": {"vscode": "1d"}, "gpu": ""}
    assert merge_expiry(current, {"gpu": "6h"}) == {"default": "3d", "per_kind": {"vscode": "1d"}, "gpu": "6h"}
    assert merge_expiry(current, {"per_kind": {}}) == {"default": "3d", "per_kind": {}, "gpu": ""}


def test_the_default_quota_applies_only_to_projects_without_one():
    default = parse_quota({"cpu": "8"})
    assert effective_quota(Quota(), default) == default
    own = parse_quota({"gpu": "1"})
    assert effective_quota(own, default) == own
    assert effective_quota(Quota(), None) == Quota()


def test_the_spawners_document_round_trips_and_refuses_anything_else():
    doc = runtime_document({"user": {"cpu": "2"}}, {"memory": "4G"})
    limits, quota = runtime_from_document(doc)
    assert limits == {"user": {"cpu": "2"}}
    assert quota == parse_quota({"memory": "4G"})
    assert runtime_from_document(runtime_document(None, None)) == (None, None)
    with pytest.raises(ValueError):
        runtime_from_document({"format": "other"})
    with pytest.raises(ValueError):
        runtime_from_document(runtime_document({"user": {"cpu": "x"}}, None))
