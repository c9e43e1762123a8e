"""A server pod on Kubernetes pulls with its project's registry credentials,
and the spawn form offers the images built in the project: a real JupyterHub
with CubeKubeSpawner, the real control plane as its managed service (its
database holds the registries, sealed, and a finished build), and the fake
Kubernetes API server with its fake kubelet (the mock boundary).

- The control plane writes the project's ``kubernetes.io/dockerconfigjson``
  Secrets into the project's namespace before the pod is created, and the pod
  lists them in ``imagePullSecrets`` (after the admin's own).
- The form lists the project's built image with its digest; starting it works;
  an image of another project's repository is refused at the image field.
- In Chromium, the built images show with their project chosen only.
- A registry changed or deleted through the REST API reaches the namespace
  that holds its Secrets.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import kubernetes_validate
import pytest
import requests
from hubprocess import VENV_BIN, HubProcess, free_port
from test_kube_e2e import K8S_VERSION, FakeKube, stop_and_wait
from test_spawn_form_browser import CHROMIUM_ARGS

from cubelab_hub.platform.hubconfig import CONTROL_PLANE_SCOPES

pytestmark = pytest.mark.hub
PREFIX = "/services/cubelab/api/v1"
DIGEST = "sha256:" + "c0" * 32
BUILT = "127.0.0.1:5000/vision/trainer:v1"


def _add_build(data_dir: Path) -> None:
    """A finished build of project vision in the control plane's own database."""
    from cubelab_hub.controlplane.app import ControlPlane
    from cubelab_hub.controlplane.db import Database
    from cubelab_hub.controlplane.models.builds import BuildRow

    database = Database(ControlPlane(data_dir=str(data_dir)).db_url)
    try:
        def add(session):
            session.add(BuildRow(project="vision", image="trainer", creator="alice", body={"tags": ["v1"]}, status="succeeded",
                                 digest=DIGEST, size=1234, finished_at=datetime.now(UTC)))

        asyncio.run(database.run(add))
    finally:
        database.close()


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("pull")
    home = FakeKube(workdir, "home")
    pod_port, cp_port = free_port(), free_port()
    cp_data = workdir / "cp"
    cp_data.mkdir()
    config = f'''
c.JupyterHub.spawner_class = "cubelab_spawner.kube.CubeKubeSpawner"
c.KubeSpawner.cmd = ["{VENV_BIN / 'jupyterhub-singleuser'}"]
c.KubeSpawner.args = ["--ServerApp.jpserver_extensions=cubelab_server=True", "--ServerApp.allow_root=True"]
c.KubeSpawner.ip = "127.0.0.1"
c.KubeSpawner.port = {pod_port}
c.KubeSpawner.events_enabled = False
c.KubeSpawner.image = "fake/notebook:1"
c.KubeSpawner.image_pull_secrets = ["admins-own"]
c.CubeKubeSpawner.kinds = {{"jupyterlab": {{"images": ["quay.io/jupyter/base-notebook:2025-06-02"]}}}}
c.CubeKubeSpawner.controlplane_api_url = "http://127.0.0.1:{cp_port}{PREFIX}"
c.JupyterHub.services.append({{
    "name": "cubelab", "url": "http://127.0.0.1:{cp_port}", "oauth_no_confirm": True, "display": False,
    "command": [{sys.executable!r}, "-m", "cubelab_hub.controlplane", "--ControlPlane.gateway_enabled=False",
                "--ControlPlane.kubernetes_server_namespace=default"],
    "environment": {{"CUBELAB_DATA_DIR": "{cp_data}", "KUBECONFIG": "{home.kubeconfig}"}},
}})
c.JupyterHub.load_roles.append({{"name": "cubelab-controlplane", "scopes": {CONTROL_PLANE_SCOPES!r}, "services": ["cubelab"]}})
c.JupyterHub.load_roles.append({{"name": "user", "scopes": ["self", "access:services!service=cubelab"]}})
'''
    (workdir / "hub").mkdir()
    hub = HubProcess(workdir / "hub", extra_config=config, extra_env={"KUBECONFIG": str(home.kubeconfig)})
    with open(hub.workdir / "jupyterhub_config.py", "a") as f:
        f.write(f'c.KubeSpawner.hub_connect_url = "http://127.0.0.1:{hub.hub_port}"\n')
    hub.start()
    try:
        hub.api("POST", "/users/alice").raise_for_status()  # admin exists: an admin user of the configuration
        hub.api("POST", "/groups/public", json={"users": ["alice"]})
        hub.api("POST", "/groups/vision").raise_for_status()
        hub.api("PUT", "/groups/vision/properties", json={"namespace": "team-vision"}).raise_for_status()
        hub.api("POST", "/groups/vision/users", json={"users": ["alice"]}).raise_for_status()
        admin_token = hub.api("POST", "/users/admin/tokens", json={"note": "test"}).json()["token"]
        cp = f"http://127.0.0.1:{cp_port}{PREFIX}"
        headers = {"Authorization": f"token {admin_token}"}
        deadline = time.monotonic() + 90
        while True:
            try:
                if requests.get(cp + "/me", headers=headers, timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "the control plane did not answer:\n" + hub.log_text()
            time.sleep(0.5)
        for body in ({"name": "harbor", "host": "harbor.example.com", "username": "robot", "password": "platform-pass"},
                     {"name": "vision-reg", "project": "vision", "host": "reg.vision.example", "username": "ci", "password": "vision-pass"}):
            r = requests.post(cp + "/registries", json=body, headers=headers, timeout=30)
            assert r.status_code == 201, r.text
        _add_build(cp_data)
        hub.cp_url, hub.cp_headers = cp, headers
        yield hub, home, cp_port
    finally:
        hub.stop()
        home.stop()


def _secrets(kube: FakeKube) -> dict[tuple[str, str], dict]:
    items = requests.get(kube.url + "/fake/secrets", timeout=10).json()["items"]
    return {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in items}


def _requests(kube: FakeKube) -> list[str]:
    return [f'{r["method"]} {r["path"]}' for r in requests.get(kube.url + "/fake/requests", timeout=10).json()["items"]]


def _spawn(hub, session, form) -> requests.Response:
    session.get(f"{hub.url}/hub/spawn/alice", timeout=60)
    xsrf = next(c.value for c in session.cookies if c.name == "_xsrf" and c.path == "/hub/")
    return session.post(f"{hub.url}/hub/spawn/alice", data={**form, "_xsrf": xsrf}, allow_redirects=False, timeout=120)


def test_the_server_pod_lists_the_projects_pull_secrets_written_before_it_and_runs_a_built_image(platform):
    hub, home, _ = platform
    session = hub.login("alice")
    form = session.get(f"{hub.url}/hub/spawn/alice", timeout=60).text
    # the project's built image is offered, with its digest
    assert f'<option value="{BUILT}"' in form, hub.log_text()
    assert f"{BUILT} (sha256:c0c0c0c0c0c0...)" in form, form[form.index(f'<option value="{BUILT}"'):][:300]
    assert 'data-project="vision"' in form

    r = _spawn(hub, session, {"project": "vision", "kind": "jupyterlab", "image": BUILT, "cpu": "1", "memory": "1G", "gpu": "0"})
    assert r.status_code == 302, r.text[-1500:]
    hub.wait_ready("alice")
    [pod] = home.pods()
    assert pod["metadata"]["namespace"] == "team-vision"
    assert pod["spec"]["containers"][0]["image"] == BUILT
    assert pod["spec"]["imagePullSecrets"] == [{"name": "admins-own"}, {"name": "cubelab-registry-harbor"},
                                                {"name": "cubelab-registry-vision-reg"}]
    secrets = _secrets(home)
    assert sorted(name for ns, name in secrets if ns == "team-vision") == ["cubelab-registry-harbor", "cubelab-registry-vision-reg"]
    config = json.loads(base64.b64decode(secrets[("team-vision", "cubelab-registry-vision-reg")]["data"][".dockerconfigjson"]))
    assert secrets[("team-vision", "cubelab-registry-vision-reg")]["type"] == "kubernetes.io/dockerconfigjson"
    assert config["auths"]["reg.vision.example"]["password"] == "vision-pass"
    order = _requests(home)
    assert order.index("POST /api/v1/namespaces/team-vision/secrets") < order.index("POST /api/v1/namespaces/team-vision/pods")
    # names only in the pod, never a password
    assert "vision-pass" not in json.dumps(pod) and "platform-pass" not in json.dumps(pod)
    kubernetes_validate.validate(pod | {"status": {}}, K8S_VERSION, strict=False)
    stop_and_wait(hub, home)


def test_an_image_of_another_projects_repository_is_refused_at_the_image_field(platform):
    hub, home, _ = platform
    r = hub.api("POST", "/users/alice/server", json={"project": "public", "kind": "jupyterlab", "image": BUILT,
                                                       "cpu": "1", "memory": "1G", "gpu": "0"})
    assert r.status_code == 400, r.text
    message = r.json()["message"]
    assert "in project 'vision''s repository" in message and "project 'public'" in message
    assert home.pods() == []


def _wait(check, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_a_registry_change_reaches_the_namespaces_that_hold_its_secrets(platform):
    hub, home, _ = platform
    if ("team-vision", "cubelab-registry-vision-reg") not in _secrets(home):  # written by a server start
        session = hub.login("alice")
        assert _spawn(hub, session, {"project": "vision", "kind": "jupyterlab", "cpu": "1", "memory": "1G", "gpu": "0"}).status_code == 302
        hub.wait_ready("alice")
        stop_and_wait(hub, home)

    def password(name, host):
        secret = _secrets(home).get(("team-vision", name))
        if secret is None:
            return None
        return json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))["auths"][host]["password"]

    r = requests.patch(hub.cp_url + "/registries/vision-reg", json={"password": "rotated-pass"}, headers=hub.cp_headers, timeout=30)
    assert r.status_code == 200, r.text
    _wait(lambda: password("cubelab-registry-vision-reg", "reg.vision.example") == "rotated-pass")
    r = requests.delete(hub.cp_url + "/registries/harbor", headers=hub.cp_headers, timeout=30)
    assert r.status_code == 204, r.text
    _wait(lambda: ("team-vision", "cubelab-registry-harbor") not in _secrets(home))
    assert ("team-vision", "cubelab-registry-vision-reg") in _secrets(home)


@pytest.fixture(scope="module")
def browser():
    api = pytest.importorskip("playwright.sync_api")
    path = os.environ.get("CUBELAB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        pytest.fail(f"Debian chromium not found at {path}")
    with api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.mark.browser
def test_the_form_shows_a_projects_built_images_with_that_project_only(platform, browser):
    hub, _, _ = platform
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"{hub.url}/hub/login")
        page.fill("input[name=username]", "alice")
        page.fill("input[name=password]", "pw")
        page.click("#login_submit, input[type=submit], button[type=submit]")
        page.goto(f"{hub.url}/hub/spawn/alice")
        page.wait_for_selector(".cubelab-spawn-form")
        group = 'optgroup[data-project="vision"]'
        page.select_option("#cubelab-project", "public")
        assert page.eval_on_selector(group, "g => g.disabled && g.hidden")
        page.select_option("#cubelab-project", "vision")
        assert page.eval_on_selector(group, "g => !g.disabled && !g.hidden")
        page.select_option("#cubelab-image", BUILT)
        assert page.eval_on_selector("#cubelab-image", "s => s.value") == BUILT
        # back to public: the built image is no longer chosen, a configured one is
        page.select_option("#cubelab-project", "public")
        assert page.eval_on_selector("#cubelab-image", "s => s.value") == "quay.io/jupyter/base-notebook:2025-06-02"
    finally:
        context.close()
