"""Project settings as group properties: names, roles, each setting's
validation, atomic patches, typed views. Pure unit tests."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from cubelab_hub.domain.errors import FieldError, FieldErrors
from cubelab_hub.domain.formats import VolumeMount
from cubelab_hub.domain.projects import (
    PUBLIC,
    ROLES,
    SETTING_FIELDS,
    ProjectSettings,
    Quota,
    apply_settings_patch,
    format_quota,
    member_roles,
    parse_external_ips,
    parse_org,
    parse_quota,
    settings_from_properties,
    settings_view,
    validate_description,
    validate_project_name,
    validate_role,
    validate_setting,
)

G = 2**30


def refused(func, *args, field: str, bad: str, **kwargs) -> FieldError:
    with pytest.raises(FieldError) as info:
        func(*args, **kwargs)
    assert info.value.field == field
    assert bad in info.value.message, info.value.message
    assert info.value.accepted
    return info.value


# ---------------------------------------------------------------- names, roles, descriptions


@pytest.mark.parametrize("name", ["ab", "team-a", "a1", "x" * 63, "a-b-c9"])
def test_project_name_good(name):
    assert validate_project_name(name) == name


@pytest.mark.parametrize(
    "name,bad",
    [("a", "'a' is not a valid project name"), ("-a", "not a valid"), ("a-", "not a valid"), ("1team", "not a valid"),
     ("Team", "not a valid"), ("team_a", "not a valid"), ("team.a", "not a valid"), ("x" * 64, "not a valid"),
     ("", "must be a non-empty string"), (None, "must be a non-empty string"), (5, "must be a non-empty string")],
)
def test_project_name_bad(name, bad):
    err = refused(validate_project_name, name, field="name", bad=bad)
    assert "2 to 63 lowercase letters" in err.accepted


def test_roles():
    assert ROLES == ("creator", "dev", "ops")
    for role in ROLES:
        assert validate_role(role) == role
    for bad in ("owner", "Creator", "", None, 1):
        err = refused(validate_role, bad, field="role", bad="is not a role")
        assert err.accepted == "one of creator, dev, ops"


def test_description():
    assert validate_description("") == ""
    assert validate_description("x" * 2000) == "x" * 2000
    refused(validate_description, "x" * 2001, field="description", bad="is 2001 characters, more than 2000")
    refused(validate_description, None, field="description", bad="must be a string, got NoneType")


# ---------------------------------------------------------------- org, external IPs, quota


def test_org():
    assert parse_org(None) == [PUBLIC]
    assert parse_org("public") == ["public"]
    assert parse_org(" team-a , team_b.x ") == ["team-a", "team_b.x"]
    refused(parse_org, "a,,b", field="org", bad="has an empty organisation")
    refused(parse_org, "", field="org", bad="has an empty organisation")
    refused(parse_org, "a,a", field="org", bad="names an organisation twice")
    refused(parse_org, "team a", field="org", bad="'team a' is not a valid label value")
    refused(parse_org, "x" * 64, field="org", bad="is not a valid label value")
    refused(parse_org, 3, field="org", bad="must be a string, got int")


def test_external_ips():
    assert parse_external_ips(None) == []
    assert parse_external_ips("10.0.0.5") == ["10.0.0.5"]
    assert parse_external_ips(" 10.0.0.5 ,fd00:0::1") == ["10.0.0.5", "fd00::1"]
    refused(parse_external_ips, "10.0.0.256", field="service_external_ip", bad="'10.0.0.256' is not an IP address")
    refused(parse_external_ips, "host.example", field="service_external_ip", bad="is not an IP address")
    refused(parse_external_ips, "10.0.0.5,", field="service_external_ip", bad="has an empty address")
    refused(parse_external_ips, "10.0.0.0/24", field="service_external_ip", bad="'10.0.0.0/24' is not an IP address")


@pytest.mark.parametrize(
    "value,expected,shown",
    [
        (None, Quota(), {"cpu": None, "memory": None, "gpu": None}),
        ({}, Quota(), {"cpu": None, "memory": None, "gpu": None}),
        ({"cpu": "32", "memory": "128G", "gpu": "8"}, Quota(Decimal(32), 128 * G, 8), {"cpu": "32", "memory": "128G", "gpu": "8"}),
        ({"cpu": "0.5"}, Quota(cpu=Decimal("0.5")), {"cpu": "0.5", "memory": None, "gpu": None}),
        ({"cpu": 4, "gpu": 0}, Quota(cpu=Decimal(4), gpu=0), {"cpu": "4", "memory": None, "gpu": "0"}),
        ({"memory": "1.5G", "cpu": None}, Quota(memory=1536 * 2**20), {"cpu": None, "memory": "1536M", "gpu": None}),
    ],
)
def test_quota_good(value, expected, shown):
    quota = parse_quota(value)
    assert quota == expected
    assert format_quota(quota) == shown


@pytest.mark.parametrize(
    "value,field,bad,accepted",
    [
        ("32", "quota", "must be an object, got str", "an object with any of 'cpu'"),
        ({"disk": "1T", "cpu": "1"}, "quota", "unknown key(s) disk", "an object with any of 'cpu'"),
        ({"cpu": "1~4"}, "quota.cpu", "'1~4' is a range", "one number of cores"),
        ({"cpu": "x"}, "quota.cpu", "'x' is not a number of cores", "one number of cores"),
        ({"cpu": "0"}, "quota.cpu", "must be more than 0 cores", "one number of cores"),
        ({"memory": "1G~8G"}, "quota.memory", "'1G~8G' is a range", "one size"),
        ({"memory": "much"}, "quota.memory", "'much' is not a size", "one size"),
        ({"memory": "0"}, "quota.memory", "'0' must be more than 0", "one size"),
        ({"gpu": "1.5"}, "quota.gpu", "is not a whole number of cards", "a whole number"),
        ({"gpu": "1(V100)"}, "quota.gpu", "is not a whole number of cards", "a whole number"),
        ({"gpu": False}, "quota.gpu", "is not a whole number of cards", "a whole number"),
    ],
)
def test_quota_bad(value, field, bad, accepted):
    err = refused(parse_quota, value, field=field, bad=bad)
    assert err.accepted.startswith(accepted), err.accepted
    # a quota is one value: the accepted forms must not offer a range
    assert "~" not in err.accepted


# ---------------------------------------------------------------- validate_setting


@pytest.mark.parametrize(
    "name,value,stored",
    [
        ("cluster", "default", "default"),
        ("org", " a , b ", "a,b"),
        ("node_selector", " disk=ssd;zone=a ", "disk=ssd;zone=a"),
        ("volume_mount", " ws(pvc):/mnt ", "ws(pvc):/mnt"),
        ("service_external_ip", "10.0.0.5, 10.0.0.6", "10.0.0.5,10.0.0.6"),
        ("quota", {"cpu": " 8 ", "memory": "32G", "gpu": None}, {"cpu": "8", "memory": "32G"}),
        ("quota", {"cpu": None}, None),
        ("namespace", "team-a", "team-a"),
    ]
    + [(name, None, None) for name in SETTING_FIELDS],
)
def test_validate_setting_stores_normalised_text(name, value, stored):
    assert validate_setting(name, value, is_admin=False, clusters=["default", "gpu"]) == stored


def test_validate_setting_errors():
    refused(validate_setting, "cluster", "other", is_admin=True, clusters=["default", "gpu"], field="cluster",
            bad="'other' is not a configured cluster")
    # without a cluster list any non-empty name is accepted
    assert validate_setting("cluster", "anything", is_admin=False) == "anything"
    refused(validate_setting, "volume_mount", "/d(hostpath):/d", is_admin=False, field="volume_mount", bad="only an admin may set")
    assert validate_setting("volume_mount", "/d(hostpath):/d", is_admin=True) == "/d(hostpath):/d"
    refused(validate_setting, "namespace", "Team", is_admin=False, field="namespace", bad="'Team' is not a valid name")
    refused(validate_setting, "namespace", 5, is_admin=False, field="namespace", bad="must be a string")
    refused(validate_setting, "image", "x", is_admin=True, field="image", bad="is not a project setting")


# ---------------------------------------------------------------- apply_settings_patch


BASE = {"description": "d", "creator": "alice", "member_roles": {"alice": "creator"}, "org": "team-a",
        "volume_mount": "/data(hostpath):/data", "quota": {"cpu": "8"}}


def test_patch_sets_unsets_and_keeps_other_properties():
    base = copy.deepcopy(BASE)
    new = apply_settings_patch(base, {"namespace": "ns-a", "org": None, "quota": {"cpu": None, "gpu": "2"}, "node_selector": ""},
                               is_admin=False)
    assert new == {"description": "d", "creator": "alice", "member_roles": {"alice": "creator"},
                   "volume_mount": "/data(hostpath):/data", "quota": {"gpu": "2"}, "namespace": "ns-a"}
    assert base == BASE  # the input is not modified
    # an all-null quota is unset
    assert "quota" not in apply_settings_patch(base, {"quota": {"cpu": None}}, is_admin=False)
    assert apply_settings_patch(base, {}, is_admin=False) == base


def test_patch_is_atomic_and_reports_every_bad_setting():
    base = copy.deepcopy(BASE)
    with pytest.raises(FieldErrors) as info:
        apply_settings_patch(base, {"org": "team-b", "namespace": "Bad", "colour": "red", "quota": {"gpu": "x"}}, is_admin=True)
    assert [e.field for e in info.value.errors] == ["namespace", "colour", "quota.gpu"]
    assert "colour: is not a project setting" in str(info.value)
    assert base == BASE


def test_non_admin_may_resend_an_admin_mount_unchanged_but_not_add_one():
    base = copy.deepcopy(BASE)
    same = apply_settings_patch(base, {"volume_mount": "/data(hostpath):/data", "org": "x"}, is_admin=False)
    assert same["volume_mount"] == "/data(hostpath):/data" and same["org"] == "x"
    with pytest.raises(FieldErrors) as info:
        apply_settings_patch(base, {"volume_mount": "/data(hostpath):/data,/etc(hostpath):/host-etc"}, is_admin=False)
    assert info.value.errors[0].field == "volume_mount"
    with pytest.raises(FieldErrors):
        apply_settings_patch({}, {"volume_mount": "1.2.3.4/x(nfs):/n"}, is_admin=False)
    # removing the admin's mount is fine
    assert "volume_mount" not in apply_settings_patch(base, {"volume_mount": None}, is_admin=False)


def test_patch_must_be_an_object():
    for bad in ("org=x", ["org"], None):
        with pytest.raises(FieldError) as info:
            apply_settings_patch({}, bad, is_admin=True)
        assert info.value.field == "settings"


def test_cluster_list_is_checked_in_patches():
    assert apply_settings_patch({}, {"cluster": "gpu"}, is_admin=False, clusters=["default", "gpu"])["cluster"] == "gpu"
    with pytest.raises(FieldErrors) as info:
        apply_settings_patch({}, {"cluster": "cpu"}, is_admin=True, clusters=["default", "gpu"])
    assert info.value.errors[0].accepted == "one of default, gpu"


# ---------------------------------------------------------------- typed views


def test_settings_from_properties():
    props = {"cluster": "default", "org": "a,b", "node_selector": "disk=ssd", "volume_mount": "ws(pvc):/mnt;4G(memory):/dev/shm",
             "service_external_ip": "10.0.0.5", "quota": {"cpu": "8", "memory": "32G", "gpu": "1"}, "namespace": "ns"}
    settings = settings_from_properties(props)
    assert settings == ProjectSettings(
        cluster="default", org=["a", "b"], node_selector={"disk": "ssd"},
        volume_mounts=[VolumeMount("pvc", "ws", "/mnt"), VolumeMount("memory", "4G", "/dev/shm", size_bytes=4 * G)],
        service_external_ip=["10.0.0.5"], quota=Quota(Decimal(8), 32 * G, 1), namespace="ns",
    )
    assert settings_from_properties(None) == ProjectSettings()
    assert ProjectSettings().org == [PUBLIC]


def test_settings_view_shows_every_setting():
    view = settings_view({"org": "a", "quota": {"gpu": "2"}, "member_roles": {"x": "dev"}})
    assert set(view) == set(SETTING_FIELDS)
    assert view["org"] == "a" and view["cluster"] is None
    assert view["quota"] == {"cpu": None, "memory": None, "gpu": "2"}
    assert settings_view(None)["quota"] == {"cpu": None, "memory": None, "gpu": None}


def test_member_roles_follow_the_hub_membership():
    props = {"member_roles": {"alice": "creator", "bob": "ops", "gone": "dev"}}
    assert member_roles(props, ["alice", "bob", "carol"], "p") == {"alice": "creator", "bob": "ops", "carol": "dev"}
    assert member_roles(None, ["x"], "public") == {"x": "dev"}
    assert member_roles(props, [], "p") == {}
