"""The registry `cubelab up` runs (Debian's docker-registry) with token
authentication served by the control plane: members of a project push to and
pull from its repositories; non-members, anonymous clients and wrong
credentials do not; a build's service credential opens its own project only."""

from __future__ import annotations

import os

import pytest
import yaml
from support.platform import register

from cubelab_hub.registry.config import find_registry
from cubelab_hub.registry.tokens import RegistryTokens

from .oci_client import Client, wait_for

pytestmark = [pytest.mark.hub,
              pytest.mark.skipif(find_registry() is None, reason="docker-registry is not installed (apt-get install docker-registry)")]


@pytest.fixture(scope="module")
def registry(platform):
    base = f"http://127.0.0.1:{platform.registry_port}"
    wait_for(base)
    return base


@pytest.fixture(scope="module")
def team(platform, registry):
    member, outsider = register(platform, f"regm{os.getpid() % 1000}"), register(platform, f"rego{os.getpid() % 1000}")
    project = f"img-{member.name}"
    assert member.api("POST", "/projects", json={"name": project}).status_code == 201
    return member, outsider, project


def test_the_registry_runs_on_loopback_with_the_platforms_config(platform, registry):
    state = platform.data_dir / "registry"
    config = yaml.safe_load((state / "config.yml").read_text())
    assert config["http"]["addr"] == f"127.0.0.1:{platform.registry_port}"
    assert config["auth"]["token"]["realm"] == f"http://127.0.0.1:{platform.cp_port}/services/cubelab/api/v1/registry/token"
    assert config["storage"]["filesystem"]["rootdirectory"] == str(state / "storage")
    for name in ("config.yml", "token-signing.key"):
        assert (state / name).stat().st_mode & 0o077 == 0, name
    assert state.stat().st_mode & 0o077 == 0


def test_a_member_pushes_and_pulls_and_others_are_refused(platform, registry, team):
    member, outsider, project = team
    repository = f"{project}/app"
    mine = Client(registry, (member.name, member.token))
    pushed = mine.push_image(repository, "v1", b"layer of " + project.encode())
    assert pushed.status_code == 201, pushed.text
    pulled = mine.pull_manifest(repository, "v1")
    assert pulled.status_code == 200 and pulled.json()["schemaVersion"] == 2

    # a non-member gets a token that grants nothing: the registry refuses both ways
    theirs = Client(registry, (outsider.name, outsider.token))
    assert theirs.pull_manifest(repository, "v1").status_code == 401
    assert theirs.push_image(repository, "v2", b"intruder").status_code == 401
    assert theirs.token_answers[-1].status_code == 200  # the token was issued, with no actions
    # anonymous: the same
    anonymous = Client(registry)
    assert anonymous.pull_manifest(repository, "v1").status_code == 401
    # someone else's token, or a wrong one: refused at the token endpoint
    for auth in ((outsider.name, member.token), (member.name, "not-a-token")):
        answer = Client(registry, auth).pull_manifest(repository, "v1")
        assert answer.status_code == 401 and answer.json()["error"] == "unauthorized", answer.text
    # a member's own repositories only
    assert mine.push_image("other-project/app", "v1", b"x").status_code == 401
    assert mine.push_image("app", "v1", b"x").status_code == 401


def test_a_builds_service_credential_opens_its_own_project_only(platform, registry, team):
    _, _, project = team
    tokens = RegistryTokens(platform.data_dir / "registry")
    user, password = tokens.service_credential(project)
    build = Client(registry, (user, password))
    assert build.push_image(f"{project}/built", "latest", b"built layer").status_code == 201
    assert build.push_image("someone-else/built", "latest", b"x").status_code == 401
    forged = Client(registry, ("cubelab-build.someone-else", password))
    assert forged.pull_manifest("someone-else/built", "latest").status_code == 401


def test_the_token_endpoint_refuses_bad_requests_naming_the_field(platform, registry):
    import requests

    realm = f"{platform.url}/services/cubelab/api/v1/registry/token"
    bad = requests.get(realm, params={"service": "elsewhere"}, timeout=10)
    assert bad.status_code == 400 and bad.json()["field"] == "service"
    bad = requests.get(realm, params={"scope": "nonsense"}, timeout=10)
    assert bad.status_code == 400 and bad.json()["field"] == "scope" and "repository:" in bad.json()["accepted"]
