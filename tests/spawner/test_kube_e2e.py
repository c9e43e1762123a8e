"""CubeKubeSpawner end to end: a real JupyterHub with the real KubeSpawner
machinery (pod manifests, reflectors, start, poll, stop) against two fake
Kubernetes API servers (the mock boundary) whose fake kubelets run the pod's
command as a real notebook server on 127.0.0.1. A project in a namespace runs
there; a project on another cluster runs on that cluster. The control plane is
configured but does not answer: servers start all the same."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import kubernetes_validate
import pytest
import requests
from hubprocess import VENV_BIN, HubProcess, free_port

from cubelab_hub.controlplane.hubclient import HubClient
from cubelab_hub.controlplane.services.images import server_users

pytestmark = pytest.mark.hub
HERE = Path(__file__).resolve().parent
K8S_VERSION = "1.34.0"


class FakeKube:
    def __init__(self, workdir: Path, name: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.kubeconfig = workdir / f"{name}.kubeconfig"
        self.kubeconfig.write_text(
            f"apiVersion: v1\nkind: Config\ncurrent-context: {name}\n"
            f"clusters: [{{name: {name}, cluster: {{server: '{self.url}'}}}}]\n"
            f"users: [{{name: {name}, user: {{token: fake-token}}}}]\n"
            f"contexts: [{{name: {name}, context: {{cluster: {name}, user: {name}}}}}]\n"
        )
        (workdir / name).mkdir()
        self.log = open(workdir / f"{name}.log", "wb")
        self.proc = subprocess.Popen([sys.executable, str(HERE / "fake_kube.py"), str(self.port), str(workdir / name)], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/fake/pods", timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError("fake API server did not start")

    def pods(self) -> list[dict]:
        return requests.get(self.url + "/fake/pods", timeout=10).json()["items"]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()


@pytest.fixture(scope="module")
def kube(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("kube")
    home, farm = FakeKube(workdir, "home"), FakeKube(workdir, "farm")
    pod_port, no_controlplane = free_port(), free_port()  # nothing listens on the second
    config = f'''
c.JupyterHub.spawner_class = "cubelab_spawner.kube.CubeKubeSpawner"
c.KubeSpawner.cmd = ["{VENV_BIN / 'jupyterhub-singleuser'}"]
c.KubeSpawner.args = ["--ServerApp.jpserver_extensions=cubelab_server=True", "--ServerApp.allow_root=True"]
c.KubeSpawner.ip = "127.0.0.1"
c.KubeSpawner.port = {pod_port}
c.KubeSpawner.events_enabled = False
c.KubeSpawner.image = "fake/notebook:1"
c.CubeKubeSpawner.kinds = {{"jupyterlab": {{"images": ["quay.io/jupyter/base-notebook:2025-06-02"]}}}}
c.Clusters.clusters = {{"gpu-farm": {{"kubeconfig": "{farm.kubeconfig}"}}}}
c.CubeKubeSpawner.role_limits = {{"user": {{"cpu": "4", "memory": "8G", "gpu": 2}}}}
c.CubeKubeSpawner.controlplane_api_url = "http://127.0.0.1:{no_controlplane}/services/cubelab/api/v1"
c.JupyterHub.load_roles.append({{"name": "user", "scopes": ["self", "access:services!service=cubelab"]}})
'''
    (workdir / "hub").mkdir()
    hub = HubProcess(workdir / "hub", extra_config=config, extra_env={"KUBECONFIG": str(home.kubeconfig)})
    # the pod reaches the hub where the hub listens
    with open(hub.workdir / "jupyterhub_config.py", "a") as f:
        f.write(f'c.KubeSpawner.hub_connect_url = "http://127.0.0.1:{hub.hub_port}"\n')
    hub.start()
    try:
        hub.api("POST", "/users/alice").raise_for_status()
        hub.api("POST", "/groups/public", json={"users": ["alice"]})
        hub.api("POST", "/groups/vision").raise_for_status()
        hub.api("PUT", "/groups/vision/properties", json={"namespace": "team-vision", "node_selector": "disk=ssd", "volume_mount": "4G(memory):/dev/shm"}).raise_for_status()
        hub.api("POST", "/groups/vision/users", json={"users": ["alice"]}).raise_for_status()
        hub.api("POST", "/groups/far").raise_for_status()
        hub.api("PUT", "/groups/far/properties", json={"cluster": "gpu-farm", "org": "edge"}).raise_for_status()
        hub.api("POST", "/groups/far/users", json={"users": ["alice"]}).raise_for_status()
        yield hub, home, farm
    finally:
        hub.stop()
        home.stop()
        farm.stop()


def spawn(hub, session, form):
    session.get(f"{hub.url}/hub/spawn/alice", timeout=30)
    xsrf = next(c.value for c in session.cookies if c.name == "_xsrf" and c.path == "/hub/")
    r = session.post(f"{hub.url}/hub/spawn/alice", data={**form, "_xsrf": xsrf}, allow_redirects=False, timeout=120)
    assert r.status_code == 302, r.text[-1500:]
    hub.wait_ready("alice")
    lab = session.get(f"{hub.url}/user/alice/lab", timeout=120)
    assert lab.status_code == 200 and "JupyterLab" in lab.text


def stop_and_wait(hub, cluster):
    hub.api("DELETE", "/users/alice/server")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (hub.api("GET", "/users/alice").json()["servers"] or cluster.pods()):
        time.sleep(0.5)
    assert cluster.pods() == [] and not hub.api("GET", "/users/alice").json()["servers"]


def test_project_namespace_pod_on_home_cluster(kube):
    hub, home, farm = kube
    session = hub.login("alice")
    # the control plane does not answer: the form says built images are not listed, and still works
    form = session.get(f"{hub.url}/hub/spawn/alice", timeout=60).text
    assert "cubelab-built-note" in form and "are not listed: the control plane did not answer" in form
    spawn(hub, session, {"project": "vision", "kind": "jupyterlab", "cpu": "0.5~2", "memory": "1G~2G", "gpu": "0"})
    [pod] = home.pods()
    assert farm.pods() == []
    assert pod["metadata"]["namespace"] == "team-vision"
    assert pod["metadata"]["labels"]["cubelab.io/project"] == "vision"
    assert pod["spec"]["nodeSelector"] == {"disk": "ssd", "notebook": "true", "cpu": "true", "org": "public"}
    container = pod["spec"]["containers"][0]
    assert container["image"] == "quay.io/jupyter/base-notebook:2025-06-02"
    assert container["resources"]["limits"]["memory"] == 2 * 2**30
    assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/mnt/alice", "/dev/shm"}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["CUBELAB_PROJECT"] == "vision" and env["NVIDIA_VISIBLE_DEVICES"] == "none"
    # nor were the project's pull Secrets written: the server starts without them
    assert not pod["spec"].get("imagePullSecrets")
    kubernetes_validate.validate(pod | {"status": {}}, K8S_VERSION, strict=False)
    stop_and_wait(hub, home)


def test_project_on_other_cluster_runs_there(kube):
    hub, home, farm = kube
    session = hub.login("alice")
    spawn(hub, session, {"project": "far", "kind": "jupyterlab", "cpu": "1", "memory": "1G", "gpu": "0"})
    assert home.pods() == []
    [pod] = farm.pods()
    assert pod["spec"]["nodeSelector"]["org"] == "edge"
    # the hub's poll goes to that cluster too: the server stays up
    time.sleep(2)
    assert hub.api("GET", "/users/alice").json()["servers"][""]["ready"]
    stop_and_wait(hub, farm)


def test_revoked_membership_deletes_the_pod(kube):
    hub, home, farm = kube
    session = hub.login("alice")
    spawn(hub, session, {"project": "vision", "kind": "jupyterlab", "cpu": "1", "memory": "1G", "gpu": "0"})
    assert len(home.pods()) == 1
    hub.api("DELETE", "/groups/vision/users", json={"users": ["alice"]}).raise_for_status()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and (home.pods() or hub.api("GET", "/users/alice").json()["servers"]):
        time.sleep(1)
    assert home.pods() == [] and not hub.api("GET", "/users/alice").json()["servers"]


async def test_a_server_started_from_an_image_is_one_of_its_users(kube):
    """Deleting an image asks about the project's servers spawned from it: read
    from the real hub's server models (their spawn options), as the control plane does."""
    hub, home, _ = kube
    hub.api("POST", "/groups/vision/users", json={"users": ["alice"]}).raise_for_status()  # an earlier test revoked it
    session = hub.login("alice")
    spawn(hub, session, {"project": "vision", "kind": "jupyterlab", "cpu": "1", "memory": "1G", "gpu": "0"})
    client = HubClient(hub.url + "/hub/api", hub.token)
    image = ("quay.io", "jupyter/base-notebook")
    assert await server_users(client, "vision", *image, ["2025-06-02"]) == [
        {"kind": "server", "name": "alice", "project": "vision", "reference": "quay.io/jupyter/base-notebook:2025-06-02"}]
    # another tag, another project, another registry: not a user
    assert await server_users(client, "vision", *image, ["2024-01-01"]) == []
    assert await server_users(client, "far", *image, ["2025-06-02"]) == []
    assert await server_users(client, "vision", "registry.example.com", image[1], ["2025-06-02"]) == []
    stop_and_wait(hub, home)
