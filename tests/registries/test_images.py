"""A project's images from the real local registry (docker-registry with the
platform's config) and from builds; who uses an image; deleting one asks first."""

from __future__ import annotations

import re
import socket
import subprocess
from datetime import UTC, datetime

import pytest

from cubelab_hub.controlplane.db import Database
from cubelab_hub.controlplane.models.builds import BuildRow
from cubelab_hub.controlplane.models.experiments import ExperimentRow
from cubelab_hub.controlplane.models.pipelines import PipelineRow, TemplateRow
from cubelab_hub.controlplane.models.services import ServiceRow
from cubelab_hub.controlplane.services.images import ImageCatalog, ImageInUse, RegistryImages, image_users
from cubelab_hub.domain.errors import NotFound
from cubelab_hub.registry.config import command, find_registry, state_dir, write_config
from cubelab_hub.registry.tokens import RegistryTokens

from .oci_client import Client, wait_for

pytestmark = pytest.mark.skipif(find_registry() is None, reason="docker-registry is not installed (apt-get install docker-registry)")


class IssuerClient(Client):
    """Pushes with tokens signed by the platform's key, as the token endpoint would for a member."""

    def __init__(self, base: str, tokens: RegistryTokens):
        super().__init__(base)
        self.tokens = tokens

    def _token(self, challenge: str) -> str | None:
        scope = dict(re.findall(r'(\w+)="([^"]*)"', challenge))["scope"]
        name = scope.split(":")[1]
        return self.tokens.token("member", [{"type": "repository", "name": name, "actions": ["pull", "push"]}])["token"]


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    data = tmp_path_factory.mktemp("registry-data")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"127.0.0.1:{port}"
    config = write_config(data, address=address, realm="http://127.0.0.1:9/registry/token")
    proc = subprocess.Popen(command(find_registry(), config), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(f"http://{address}")
        yield address, RegistryTokens(state_dir(data))
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def db(db_url):
    database = Database(db_url)
    database.upgrade()
    return database


def add_users(session, registry: str) -> None:
    session.add(TemplateRow(name="trainer", version="Release", kind="container", category="ml",
                            body={"name": "trainer", "image": f"{registry}/imgs/app:v1"}))
    session.add(TemplateRow(name="other", version="Release", kind="container", category="ml", body={"image": "python:3.11"}))
    session.add(ServiceRow(project="imgs", name="web", owner="alice", kind="internal", host="web.localhost",
                           body={"image": f"localhost:{registry.split(':')[1]}/imgs/app:v1"}))
    session.add(ServiceRow(project="imgs", name="old", owner="alice", kind="internal", host="old.localhost",
                           body={"image": f"{registry}/imgs/app:v0"}))
    for name, status in (("search", "running"), ("done", "succeeded")):
        session.add(ExperimentRow(name=name, project="imgs", creator="alice", status=status, body={"trial": {"template": "trainer"}}))


def add_trial_and_task_users(session, registry: str) -> None:
    """Users through the ``images`` override: a pipeline task, an experiment's trial."""
    session.add(PipelineRow(name="etl", project="imgs", creator="alice", body={"tasks": [
        {"name": "prep", "template": "python", "args": {"--code": "print(1)"}},
        {"name": "train", "template": "custom", "args": {"images": f"{registry}/imgs/app:v1", "command": "train"}}]}))
    session.add(PipelineRow(name="elsewhere", project="imgs", creator="alice", body={"description": f"{registry}/imgs/app:v1 once",
                                                                                     "tasks": [{"name": "t", "args": {}}]}))
    session.add(ExperimentRow(name="own-image", project="imgs", creator="alice", status="running",
                              body={"trial": {"template": "custom", "args": {"images": f"{registry}/imgs/app:v1"}}}))
    # its own image overrides its template's: the template's image does not make it a user
    session.add(ExperimentRow(name="other-image", project="imgs", creator="alice", status="running",
                              body={"trial": {"template": "trainer", "args": {"images": "python:3.11"}}}))
    session.add(ExperimentRow(name="finished", project="imgs", creator="alice", status="stopped",
                              body={"trial": {"template": "custom", "args": {"images": f"{registry}/imgs/app:v1"}}}))


def test_trials_and_pipeline_tasks_with_their_own_image_are_users(db):
    registry = "127.0.0.1:5000"
    db_session_run(db, lambda s: (add_users(s, registry), add_trial_and_task_users(s, registry)))
    users = db_session_run(db, lambda s: image_users(s, registry, "imgs/app", ["v1"]))
    assert [(u["kind"], u["name"]) for u in users] == [
        ("template", "trainer"), ("pipeline", "etl"), ("service", "web"), ("experiment", "own-image"), ("experiment", "search")]
    assert users[1]["task"] == "train" and users[3]["reference"] == f"{registry}/imgs/app:v1"
    digest = "sha256:" + "b" * 64
    db_session_run(db, lambda s: s.add(ServiceRow(project="imgs", name="pinned", owner="alice", kind="internal", host="p.localhost",
                                                  body={"image": f"{registry}/imgs/app@{digest}"})))
    pinned = db_session_run(db, lambda s: image_users(s, registry, "imgs/app", ["v9"], digest))
    assert [(u["kind"], u["name"]) for u in pinned] == [("service", "pinned")]


def test_who_uses_an_image_templates_services_and_running_experiments(db):
    registry = "127.0.0.1:5000"
    db_session_run(db, lambda s: add_users(s, registry))
    users = db_session_run(db, lambda s: image_users(s, registry, "imgs/app", ["v1"]))
    assert [(u["kind"], u["name"]) for u in users] == [("template", "trainer"), ("service", "web"), ("experiment", "search")]
    assert users[1]["reference"] == "localhost:5000/imgs/app:v1"  # another name of the loopback registry
    assert [u["name"] for u in db_session_run(db, lambda s: image_users(s, registry, "imgs/app", ["v0"]))] == ["old"]
    assert db_session_run(db, lambda s: image_users(s, registry, "imgs/app", ["v2"])) == []
    assert db_session_run(db, lambda s: image_users(s, "registry.example.com", "imgs/app", ["v1"])) == []


def db_session_run(db, fn):
    with db.session() as session:
        result = fn(session)
        session.commit()
        return result


async def test_list_pages_and_delete_asks_first(db, registry):
    address, tokens = registry
    client = IssuerClient(f"http://{address}", tokens)
    for repo, tag, layer in (("imgs/app", "v1", b"one"), ("imgs/app", "same", b"one"), ("imgs/app", "v2", b"two"),
                             ("imgs/tools", "latest", b"tools"), ("others/app", "v1", b"not theirs")):
        assert client.push_image(repo, tag, layer).status_code == 201
    db_session_run(db, lambda s: add_users(s, address))
    db_session_run(db, lambda s: s.add(BuildRow(project="imgs", image="built", creator="alice", status="succeeded", message="",
                                                cache="", refs=[f"{address}/imgs/built:latest"], body={"tags": ["latest"]},
                                                digest="sha256:" + "a" * 64, size=1234, created_at=datetime.now(UTC),
                                                finished_at=datetime.now(UTC))))
    catalog = ImageCatalog(db, address, RegistryImages(address, tokens))

    first, after = await catalog.list("imgs", 2, None)
    assert [i["repository"] for i in first] == ["imgs/app", "imgs/built"] and after == "imgs/built"
    rest, end = await catalog.list("imgs", 2, after)
    assert [i["repository"] for i in rest] == ["imgs/tools"] and end is None
    # what a picker searches as you type: the image name (not the project) contains q, any case
    assert [i["repository"] for i in (await catalog.list("imgs", 10, None, "too"))[0]] == ["imgs/tools"]
    assert [i["repository"] for i in (await catalog.list("imgs", 1, None, "p"))[0]] == ["imgs/app"]
    assert (await catalog.list("imgs", 10, None, "imgs"))[0] == []
    app = {t["tag"]: t for t in first[0]["tags"]}
    assert sorted(app) == ["same", "v1", "v2"]
    assert app["v1"]["digest"] == app["same"]["digest"] != app["v2"]["digest"]
    assert app["v1"]["digest"].startswith("sha256:") and app["v1"]["size"] > len(b"one")
    assert app["v1"]["reference"] == f"{address}/imgs/app:v1" and app["v1"]["in_registry"]
    built = first[1]["tags"][0]
    assert (built["tag"], built["size"], built["in_registry"], built["digest"]) == ("latest", 1234, False, "sha256:" + "a" * 64)

    # v1 is used: refused, naming the users; 'same' shares its manifest, so it is asked about too
    with pytest.raises(ImageInUse) as refused:
        await catalog.delete("imgs", "app", "same", force=False)
    assert "template 'trainer'" in refused.value.message and "service 'web' (project imgs)" in refused.value.message
    assert refused.value.extra["tags"] == ["same", "v1"]
    assert [t["tag"] for t in (await catalog.list("imgs", 10, None))[0][0]["tags"]] == ["same", "v1", "v2"]
    # unused: deleted at once; forced: deleted with the users named in the answer
    assert (await catalog.delete("imgs", "app", "v2", force=False))["deleted_tags"] == ["v2"]
    done = await catalog.delete("imgs", "app", "v1", force=True)
    assert done["deleted_tags"] == ["same", "v1"] and {u["name"] for u in done["users"]} == {"trainer", "web", "search"}
    remaining = (await catalog.list("imgs", 10, None))[0]
    assert [i["repository"] for i in remaining if i["tags"]] == ["imgs/built", "imgs/tools"]
    with pytest.raises(NotFound):
        await catalog.delete("imgs", "app", "v1", force=True)
