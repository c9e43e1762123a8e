"""Registries and the local registry's access rules (pure domain)."""

from __future__ import annotations

import pytest

from cubelab_hub.domain.errors import FieldError, FieldErrors
from cubelab_hub.domain.registries import image_host, parse_host, pull_secret_name, registry_from_dict, registry_to_dict
from cubelab_hub.domain.registry_scopes import access_claims, check_repository, granted_actions, parse_scope, project_of

GOOD = {"name": "harbor", "host": "Registry.Example.com:8443", "username": "robot$ci", "password": "s3cr:et pass"}


def test_a_registry_is_parsed_and_shown_without_its_password():
    reg = registry_from_dict({**GOOD, "project": "team-a"})
    assert (reg.name, reg.host, reg.username, reg.project, reg.password) == ("harbor", "registry.example.com:8443", "robot$ci", "team-a", "s3cr:et pass")
    assert "s3cr" not in repr(reg)
    view = registry_to_dict(reg, password_set=True)
    assert view == {"name": "harbor", "project": "team-a", "host": "registry.example.com:8443", "username": "robot$ci",
                    "description": "", "password_set": True}
    assert registry_from_dict(GOOD).platform_wide


@pytest.mark.parametrize("host", ["docker.io", "10.0.0.5:5000", "[::1]:5000", "localhost", "a-b.c"])
def test_hosts_accepted(host):
    assert parse_host(host) == host.lower()


@pytest.mark.parametrize("host, part", [("https://r.example.com", "scheme"), ("r.example.com/team", "path"),
                                        ("r.example.com:70000", "70000"), ("bad host", "not a host"), ("-x.com", "not a host")])
def test_hosts_refused_name_the_problem(host, part):
    with pytest.raises(FieldError) as err:
        parse_host(host)
    assert err.value.field == "host" and part in str(err.value) and "e.g." in str(err.value)


def test_every_problem_is_reported_at_once_and_the_password_is_never_echoed():
    with pytest.raises(FieldErrors) as err:
        registry_from_dict({"name": "Bad_Name", "host": "http://x", "username": "a:b", "password": "line1\nline2-secret",
                            "project": "X", "colour": "red"})
    fields = sorted(e.field for e in err.value.errors)
    assert fields == ["colour", "host", "name", "password", "project", "username"]
    assert "line2-secret" not in str(err.value)


def test_missing_fields_and_edits_without_password():
    with pytest.raises(FieldErrors) as err:
        registry_from_dict({})
    assert sorted(e.field for e in err.value.errors) == ["host", "name", "password", "username"]
    assert registry_from_dict({k: v for k, v in GOOD.items() if k != "password"}, require_password=False).password is None
    with pytest.raises(FieldErrors):
        registry_from_dict([1])
    with pytest.raises(FieldErrors) as err:
        registry_from_dict({**GOOD, "password": 5})
    assert err.value.errors[0].field == "password" and "string" in str(err.value)


def test_names_and_hosts_of_images():
    assert pull_secret_name("harbor") == "cubelab-registry-harbor"
    assert image_host("10.0.0.5:5000/team/app:1") == "10.0.0.5:5000"
    assert image_host("registry.example.com/a/b@sha256:" + "a" * 64) == "registry.example.com"
    assert image_host("localhost/a") == "localhost"
    assert image_host("python:3.11") is None and image_host("library/python") is None


def test_scopes_are_parsed():
    scope = parse_scope("repository(plugin):team-a/app:pull")
    assert (scope.type, scope.name, scope.actions) == ("repository", "team-a/app", ("pull",))
    assert parse_scope("registry:catalog:*").actions == ("*",)
    for bad in ("repository", "repository:x", ":a:pull"):
        with pytest.raises(FieldError) as err:
            parse_scope(bad)
        assert err.value.field == "scope"


def test_members_get_pull_and_push_on_their_projects_repositories_only():
    mine = parse_scope("repository:team-a/tools/app:pull,push,delete,pull")
    assert granted_actions(mine, {"team-a"}) == ("pull", "push")
    assert granted_actions(mine, {"team-b"}) == ()
    assert granted_actions(parse_scope("registry:catalog:*"), {"team-a"}) == ()
    # outside the <project>/<image> scheme: nobody
    for name in ("app", "team-a", "Team-a/app", "team-a//app", "-x/app", "team-a/app:1"):
        assert project_of(name) is None, name
    assert access_claims([mine, parse_scope("repository:other/x:pull")], {"team-a"}) == [
        {"type": "repository", "name": "team-a/tools/app", "actions": ["pull", "push"]},
        {"type": "repository", "name": "other/x", "actions": []},
    ]
    assert check_repository("team-a/app") == "team-a/app"
    with pytest.raises(FieldError):
        check_repository("app")
