"""Pull Secrets of a project's registries written into its namespace
(hub/cubelab_hub/controlplane/services/pull_secrets.py), from registries stored
sealed in a real control-plane database, against the fake API server."""

from __future__ import annotations

import base64
import json

import pytest
from kubernetes_asyncio import client as k8s

from cubelab_hub.controlplane.db import Database
from cubelab_hub.controlplane.services.pull_secrets import usable_credentials, write_pull_secrets
from cubelab_hub.controlplane.services.registries import RegistryStore
from cubelab_hub.controlplane.services.secret_box import SecretBox
from cubelab_hub.domain.registries import registry_from_dict
from cubelab_hub.kube.client import JobClient


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'cp.sqlite'}")
    database.upgrade()
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
async def jobs(apiserver):
    configuration = k8s.Configuration()
    configuration.host = apiserver.url
    client = JobClient(k8s.ApiClient(configuration))
    try:
        yield client
    finally:
        await client.close()


def _add(store, session, **fields):
    store.create(session, registry_from_dict(fields), "admin")


def _config(secret):
    return json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))["auths"]


async def test_a_projects_registries_are_written_into_its_namespace_and_stale_ones_removed(db, jobs, apiserver, tmp_path):
    store = RegistryStore(SecretBox(tmp_path / "registry.key"))

    def setup(session):
        _add(store, session, name="harbor", host="harbor.example.com", username="robot", password="platform-pass")
        _add(store, session, name="team-reg", host="reg.team-a.example", username="ci", password="team-a-pass", project="team-a")
        _add(store, session, name="other", host="reg.team-b.example", username="ci", password="team-b-pass", project="team-b")

    await db.run(setup)
    creds = await db.run(usable_credentials, store, "team-a")
    assert sorted(creds) == ["harbor", "team-reg"]  # never another project's registry

    names = await write_pull_secrets(jobs, "team-a", "team-a-ns", creds)
    assert names == ["cubelab-registry-harbor", "cubelab-registry-team-reg"]
    secrets = {name: s for (ns, name), s in apiserver.cluster.secrets.items() if ns == "team-a-ns"}
    assert sorted(secrets) == names
    assert secrets["cubelab-registry-team-reg"]["type"] == "kubernetes.io/dockerconfigjson"
    assert _config(secrets["cubelab-registry-team-reg"])["reg.team-a.example"]["password"] == "team-a-pass"
    # a Secret of another namespace, or not the platform's, is left alone
    apiserver.cluster.secrets[("team-a-ns", "theirs")] = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "theirs", "labels": {}}}

    # a password changes, a registry goes: written again, the stale Secret is removed
    def change(session):
        row = store.find(session, "harbor")
        store.update(session, row, registry_from_dict({"name": "harbor", "host": "harbor.example.com", "username": "robot",
                                                       "password": "rotated-pass"}))
        store.delete(session, store.find(session, "team-reg"))

    await db.run(change)
    names = await write_pull_secrets(jobs, "team-a", "team-a-ns", await db.run(usable_credentials, store, "team-a"))
    assert names == ["cubelab-registry-harbor"]
    left = sorted(name for (ns, name) in apiserver.cluster.secrets if ns == "team-a-ns")
    assert left == ["cubelab-registry-harbor", "theirs"]
    assert _config(apiserver.cluster.secrets[("team-a-ns", "cubelab-registry-harbor")])["harbor.example.com"]["password"] == "rotated-pass"
    # writing the same set again changes nothing
    before = json.dumps(apiserver.cluster.secrets[("team-a-ns", "cubelab-registry-harbor")]["data"])
    await write_pull_secrets(jobs, "team-a", "team-a-ns", await db.run(usable_credentials, store, "team-a"))
    assert json.dumps(apiserver.cluster.secrets[("team-a-ns", "cubelab-registry-harbor")]["data"]) == before
