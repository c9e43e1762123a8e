"""Services end to end on one machine, through the REST API of a real CubeLab
(``cubelab up``: JupyterHub, proxy, control plane): a service from a command
answering on its replicas' loopback ports as its owner's account; a killed
replica restarted; a grey upgrade with a client sending all along and no failed
request; a takeover of a host by a newer service; autoscaling up under CPU load
and down after the window; the quota refusing a deploy, replicas counted by
runs and servers of the project, a scale-up beyond it held; an inference
service serving a scikit-learn model trained here; the permission matrix of
every route; deployed services started again after a control-plane crash.

The platform is this module's own, with short health, drain and autoscaling
intervals (``--controlplane ServiceManager.*``)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest
import requests
from pipelines.cp import ROLES, World, controlplane_pid, fresh
from pipelines.test_rest import restarted_controlplane, wait_exited
from support.browser_http import only_resets, resending_session
from support.platform import IS_ROOT, Platform, User

from cubelab_hub.serving import find_serving_venv, serving_missing_message

pytestmark = pytest.mark.hub

# A tiny HTTP server: who and which replica answers, /burn to load a CPU core
# (for that many seconds at most) and /calm to end the burning.
SERVER = r"""
import json, os, pwd, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

time.sleep(float(os.environ.get('DELAY', '0')))  # a replica that takes a while to come up

calm = threading.Event()

def burn(seconds):
    calm.clear()
    end = time.monotonic() + seconds
    while time.monotonic() < end and not calm.is_set():
        pass

class H(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith('/burn'):
            threading.Thread(target=burn, args=(float(self.path.split('=')[-1]),), daemon=True).start()
        if self.path.startswith('/calm'):
            calm.set()
        body = json.dumps({'replica': os.environ.get('CUBELAB_SERVICE_REPLICA'), 'version': os.environ.get('VERSION', ''),
                           'user': pwd.getpwuid(os.getuid()).pw_name, 'port': os.environ['PORT']}).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

ThreadingHTTPServer(('127.0.0.1', int(os.environ['PORT'])), H).serve_forever()
"""

SETTINGS = {
    "autoscale_interval": 1, "scale_down_window": 6, "health_interval": 0.5, "drain_seconds": 5, "restart_backoff": 0.5,
    "kill_grace": 2,
}


@pytest.fixture(scope="module")
def platform(tmp_path_factory, artifacts_dir):
    args = [f"--controlplane=ServiceManager.{k}={v}" for k, v in SETTINGS.items()]
    p = Platform(tmp_path_factory.mktemp("services") / "data", extra_args=args, log_path=artifacts_dir / "platform-services.log")
    p.start()
    yield p
    p.stop()
    p.remove_unix_accounts()


@pytest.fixture(scope="module")
def admin(platform) -> User:
    user = User(platform, platform.admin, platform.admin_password)
    assert user.login().status_code == 302
    user.create_token()
    return user


@pytest.fixture(scope="module")
def cp(platform, admin):
    return World(platform, admin)


def service_body(cp, name, **fields):
    body = {"project": cp.project, "name": name, "command": [sys.executable, "-c", SERVER], "ports": "8080",
            "health": "8080:/", "cpu": "1", "memory": "1G"}
    body.update(fields)
    return body


def create(cp, name, role="creator", **fields) -> dict:
    r = cp.call(role, "POST", "/services", service_body(cp, name, **fields))
    assert r.status_code == 201, r.text
    return r.json()


def wait_for(cp, sid, predicate, timeout=60, what="the service") -> dict:
    deadline = time.monotonic() + timeout
    service = {}
    while time.monotonic() < deadline:
        service = cp.call("creator", "GET", f"/services/{sid}").json()
        if predicate(service):
            return service
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not get there: {service}")


def healthy(service) -> list[dict]:
    return [r for r in service["replicas"] if r["status"] == "healthy"]


def ask(port, path="/") -> dict:
    return requests.get(f"http://127.0.0.1:{port}{path}", timeout=5).json()


def test_a_service_from_a_command_answers_on_its_replica_port_as_its_owner(cp, platform):
    svc = create(cp, fresh("web-"))
    assert svc["status"] == "stopped" and svc["host"] == f"{svc['name']}.localhost"
    r = cp.call("creator", "POST", f"/services/{svc['id']}/deploy")
    assert r.status_code == 200, r.text
    running = wait_for(cp, svc["id"], lambda s: s["status"] == "running")
    (replica,) = healthy(running)
    answer = ask(replica["port"])
    assert answer["port"] == str(replica["port"])
    owner = platform.unix_prefix + cp.name("creator") if IS_ROOT else None
    if owner:
        assert answer["user"] == owner
    log = cp.call("dev", "GET", f"/services/{svc['id']}/replicas/{replica['index']}/logs")
    assert log.status_code == 200 and "starting replica 0" in log.text

    # the Lab's try-it request: the control plane sends it through the gateway as the caller, a member
    wait_until(lambda: cp.call("dev", "POST", f"/services/{svc['id']}/try", {"path": "/"}).status_code == 200, 30, "the route")
    tried = cp.call("dev", "POST", f"/services/{svc['id']}/try", {"method": "GET", "path": "/"}).json()
    assert tried["status"] == 200 and json.loads(tried["body"])["port"] == str(replica["port"]) and tried["elapsed_ms"] > 0
    bad = cp.call("dev", "POST", f"/services/{svc['id']}/try", {"method": "TRACE", "path": "//elsewhere"})
    assert bad.status_code == 400 and {e["field"] for e in bad.json().get("errors", [bad.json()])} >= {"method"}, bad.text

    # a replica killed is restarted, on the same port
    psutil.Process(replica["pid"]).kill()
    again = wait_for(cp, svc["id"], lambda s: healthy(s) and healthy(s)[0]["restarts"] >= 1 and healthy(s)[0]["pid"] != replica["pid"],
                     what="the killed replica")
    assert ask(healthy(again)[0]["port"])["replica"] == "0"
    kinds = [e["kind"] for e in cp.call("creator", "GET", f"/services/{svc['id']}/events").json()["events"]]
    assert kinds[:3] == ["create", "deploy", "running"] and "restart" in kinds

    assert cp.call("creator", "POST", f"/services/{svc['id']}/stop").status_code == 200
    stopped = cp.call("creator", "GET", f"/services/{svc['id']}").json()
    assert stopped["status"] == "stopped" and stopped["replicas"] == []
    assert not psutil.pid_exists(healthy(again)[0]["pid"]) or psutil.Process(healthy(again)[0]["pid"]).status() == psutil.STATUS_ZOMBIE


def test_a_grey_upgrade_serves_every_request(cp):
    svc = create(cp, fresh("grey-"), min_replicas=2, max_replicas=2, env="VERSION=1")
    assert cp.call("creator", "POST", f"/services/{svc['id']}/deploy").status_code == 200
    wait_for(cp, svc["id"], lambda s: s["status"] == "running" and len(healthy(s)) == 2)

    failures, versions, stop = [], [], threading.Event()
    ports: list[int] = []
    refreshed = [time.monotonic()]

    def refresh():
        while not stop.is_set():
            # the control plane's own address, as a gateway on this machine would ask it
            replicas = requests.get(f"{cp.direct_url}/services/{svc['id']}/replicas", headers=cp.headers("creator"), timeout=30).json()["replicas"]
            ports[:] = [r["port"] for r in replicas if r["status"] == "healthy"]
            refreshed[0] = time.monotonic()
            time.sleep(0.2)

    def client():
        while not stop.is_set():
            if not ports:
                time.sleep(0.05)
                continue
            try:
                versions.append(ask(random.choice(list(ports)))["version"])
            except (requests.RequestException, ValueError) as exc:
                failures.append(f"{time.monotonic() - refreshed[0]:.1f} s after the replicas were read: {exc!r}")
            time.sleep(0.02)

    threads = [threading.Thread(target=refresh), threading.Thread(target=client)]
    for t in threads:
        t.start()
    try:
        time.sleep(1)
        r = cp.call("creator", "PATCH", f"/services/{svc['id']}", {"env": "VERSION=2"})
        assert r.status_code == 200, r.text
        wait_for(cp, svc["id"], lambda s: len(s["replicas"]) == 2 and all(x["generation"] == s["generation"] and x["status"] == "healthy"
                                                                        for x in s["replicas"]), timeout=90, what="the upgrade")
        time.sleep(1)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == []
    assert versions[0] == "1" and versions[-1] == "2" and len(versions) > 50
    events = cp.call("creator", "GET", f"/services/{svc['id']}/events").json()["events"]
    assert any(e["kind"] == "upgrade" for e in events)
    cp.call("creator", "POST", f"/services/{svc['id']}/stop")


def test_autoscaling_up_under_cpu_load_and_down_after_the_window(cp):
    # a small request: a busy replica measures far above the target even on a loaded machine
    svc = create(cp, fresh("auto-"), min_replicas=1, max_replicas=3, hpa="cpu:30%", cpu="0.2")
    assert cp.call("creator", "POST", f"/services/{svc['id']}/deploy").status_code == 200
    (replica,) = healthy(wait_for(cp, svc["id"], lambda s: s["status"] == "running"))
    # the load lasts until the test has seen the scale-up, however slow a loaded machine makes it
    ask(replica["port"], "/burn?seconds=300")
    try:
        wait_for(cp, svc["id"], lambda s: s["desired_replicas"] >= 2 and len(healthy(s)) >= 2, timeout=90, what="scaling up")
    finally:
        ask(replica["port"], "/calm")
    wait_for(cp, svc["id"], lambda s: s["desired_replicas"] == 1 and len(s["replicas"]) == 1, timeout=120, what="scaling down")
    scales = [e for e in cp.call("creator", "GET", f"/services/{svc['id']}/events").json()["events"] if e["kind"] == "scale"]
    assert scales[0]["message"].startswith("scale up from 1 to ") and "cpu " in scales[0]["message"] and "(target 30%)" in scales[0]["message"]
    assert scales[-1]["message"].startswith("scale down from ") and scales[-1]["message"].split(":")[0].endswith("to 1")
    cp.call("creator", "POST", f"/services/{svc['id']}/stop")


def test_a_deploy_beyond_the_project_quota_is_refused_naming_the_field(platform, admin):
    world = World(platform, admin)
    assert world.call("creator", "PATCH", f"/projects/{world.project}", {"settings": {"quota": {"cpu": "2"}}}).status_code == 200
    svc = create(world, fresh("big-"), min_replicas=3, max_replicas=3)
    r = world.call("creator", "POST", f"/services/{svc['id']}/deploy")
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["error"] == "quota_exceeded" and body["field"] == "cpu"
    assert f"project '{world.project}' has a CPU quota of 2 cores" in body["message"] and "3 replica(s) ask for up to 3" in body["message"]
    assert world.call("creator", "GET", f"/services/{svc['id']}").json()["status"] == "stopped"


def test_validation_names_each_field_and_checks_targets_in_the_project(cp):
    create(cp, fresh("target-"))
    r = cp.call("dev", "POST", "/services/validate", {"project": cp.project, "name": "Bad Name", "canary": "nothere:20%", "ports": "x"})
    fields = {e["field"] for e in r.json()["errors"]}
    assert r.status_code == 200 and {"name", "ports"} <= fields
    r = cp.call("dev", "POST", "/services/validate", service_body(cp, fresh("ok-"), canary="nothere:20%"))
    assert [e["field"] for e in r.json()["errors"]] == ["canary"]
    r = cp.call("dev", "POST", "/services", service_body(cp, fresh("ok-"), canary="nothere:20%"))
    assert r.status_code == 400 and r.json()["field"] == "canary"


# (method, path, body, expected status per role in ROLES order: admin, creator (the owner), dev, ops, outsider, anonymous)
MATRIX = [
    ("GET", "/services", None, [200, 200, 200, 200, 200, 401]),
    ("POST", "/services", "new", [201, 201, 201, 403, 403, 401]),
    ("POST", "/services/validate", "new", [200, 200, 200, 200, 404, 401]),
    ("GET", "/services/{sid}", None, [200, 200, 200, 200, 404, 401]),
    ("PATCH", "/services/{sid}", {"memory": "1G"}, [200, 200, 403, 403, 404, 401]),
    ("DELETE", "/services/{fresh}", None, [204, 204, 403, 403, 404, 401]),
    ("POST", "/services/{fresh}/deploy", None, [200, 200, 403, 403, 404, 401]),
    ("POST", "/services/{sid}/stop", None, [200, 200, 403, 403, 404, 401]),
    ("GET", "/services/{sid}/replicas", None, [200, 200, 200, 200, 404, 401]),
    ("GET", "/services/{logged}/replicas/0/logs", None, [200, 200, 200, 200, 404, 401]),
    ("GET", "/services/{sid}/events", None, [200, 200, 200, 200, 404, 401]),
    # not deployed: nothing to send to
    ("POST", "/services/{sid}/try", {"path": "/"}, [503, 503, 503, 503, 404, 401]),
]


@pytest.fixture(scope="module")
def matrix_fixtures(cp):
    sid = create(cp, fresh("perm-"))["id"]
    logged = create(cp, fresh("logged-"))["id"]
    assert cp.call("creator", "POST", f"/services/{logged}/deploy").status_code == 200
    wait_for(cp, logged, lambda s: s["status"] == "running")
    cp.call("creator", "POST", f"/services/{logged}/stop")
    return {"sid": sid, "logged": logged}


@pytest.mark.parametrize("method,path,body,expected", MATRIX, ids=[f"{m} {p}" for m, p, _b, _e in MATRIX])
def test_permission_matrix(cp, matrix_fixtures, method, path, body, expected):
    got = []
    for role in ROLES:
        real = path.format(sid=matrix_fixtures["sid"], logged=matrix_fixtures["logged"], fresh="{fresh}")
        if "{fresh}" in real:
            real = real.replace("{fresh}", str(create(cp, fresh("f-"))["id"]))
        real_body = service_body(cp, fresh("n-")) if body == "new" else body
        r = cp.call(role, method, real, real_body)
        got.append(r.status_code)
        if r.status_code >= 400:
            assert r.json()["error"] == {401: "unauthorized", 403: "forbidden", 404: "not_found", 503: "unavailable"}[r.status_code], r.text
        if method == "POST" and path.endswith("/deploy") and r.status_code == 200:
            cp.call("creator", "POST", real.replace("/deploy", "/stop"))
    assert got == expected, dict(zip([r or "anonymous" for r in ROLES], got, strict=True))


def test_outsiders_get_404_before_the_body_is_read(cp, matrix_fixtures):
    for path in (f"/services/{matrix_fixtures['sid']}", "/services/987654321"):
        for body in (None, b"{not json", b'{"memory": "lots"}'):
            r = requests.patch(cp.url + path, data=body, headers=cp.headers("outsider"), timeout=30)
            assert r.status_code == 404 and r.json()["error"] == "not_found", r.text


def test_matrix_covers_every_route():
    from cubelab_hub.controlplane.handlers import services
    from cubelab_hub.controlplane.openapi import implemented_methods

    served = {(m.upper(), kw["openapi_path"]) for _p, handler, kw in services.ROUTES for m in implemented_methods(handler)}
    listed = {(m, p.replace("{sid}", "{service_id}").replace("{fresh}", "{service_id}").replace("{logged}", "{service_id}")
               .replace("/replicas/0/", "/replicas/{index}/")) for m, p, _b, _e in MATRIX}
    assert served == listed


def events(cp, sid) -> list[dict]:
    return cp.call("creator", "GET", f"/services/{sid}/events").json()["events"]


def test_a_new_service_on_the_same_host_takes_over_once_healthy_and_the_older_goes_offline(cp):
    host = f"{fresh('shared-')}.localhost"
    old = create(cp, fresh("old-"), host=host)
    assert cp.call("creator", "POST", f"/services/{old['id']}/deploy").status_code == 200
    (old_replica,) = healthy(wait_for(cp, old["id"], lambda s: s["status"] == "running"))

    # the newer one needs 3 s to answer: until then the older one keeps the host
    new = create(cp, fresh("new-"), host=host, env="DELAY=3")
    assert new["host"] == old["host"] == host
    assert cp.call("creator", "POST", f"/services/{new['id']}/deploy").status_code == 200
    time.sleep(1)
    assert cp.call("creator", "GET", f"/services/{old['id']}").json()["status"] == "running"
    assert ask(old_replica["port"])["replica"] == "0"

    running = wait_for(cp, new["id"], lambda s: s["status"] == "running", timeout=60, what="the newer service")
    offline = wait_for(cp, old["id"], lambda s: s["status"] == "offline" and s["replicas"] == [], timeout=60, what="the older service")
    assert new["name"] in offline["message"]
    assert len(healthy(running)) == 1
    wait_gone(old_replica["pid"])

    # the history of both is kept
    taken = [e for e in events(cp, new["id"]) if e["kind"] == "takeover"]
    assert len(taken) == 1 and old["name"] in taken[0]["message"] and taken[0]["detail"]["previous"] == old["name"]
    assert [e["kind"] for e in events(cp, old["id"])] == ["create", "deploy", "running", "offline"]
    listed = cp.call("creator", "GET", f"/services?project={cp.project}&status=offline").json()["services"]
    assert old["id"] in [s["id"] for s in listed]
    cp.call("creator", "POST", f"/services/{new['id']}/stop")


def wait_gone(pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.1)
    raise AssertionError(f"process {pid} still runs")


def published_usage(platform) -> dict:
    try:
        return json.loads((platform.data_dir / "task-usage.json").read_text())["projects"]
    except FileNotFoundError:
        return {}


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(what)


def test_replicas_count_in_the_quota_of_runs_and_servers_and_a_scale_up_beyond_it_is_held(platform, admin):
    world = World(platform, admin)
    assert world.call("creator", "PATCH", f"/projects/{world.project}", {"settings": {"quota": {"cpu": "1.5"}}}).status_code == 200
    # a replica holds its limit (1 core): a second one would not fit in 1.5
    svc = create(world, fresh("quota-"), min_replicas=1, max_replicas=3, hpa="cpu:30%", cpu="0.2~1")
    assert world.call("creator", "POST", f"/services/{svc['id']}/deploy").status_code == 200
    (replica,) = healthy(wait_for(world, svc["id"], lambda s: s["status"] == "running"))
    usage = wait_until(lambda: published_usage(platform).get(world.project), 10, "the replica's usage published")
    assert usage["cpu"] == "1" and usage["memory"] > 0

    # a run of the project sees the replica's core in use
    body = {"name": fresh("p-"), "project": world.project, "tasks": [{"name": "train", "template": "shell", "args": {"--command": "true"}, "cpu": "1"}]}
    pid = world.call("creator", "POST", "/pipelines", body).json()["id"]
    r = world.call("creator", "POST", f"/pipelines/{pid}/runs")
    assert r.status_code == 409, r.text
    (diag,) = [d for d in r.json()["diagnostics"] if d["severity"] == "error"]
    assert diag["field"] == "cpu" and f"project '{world.project}' has a CPU quota of 1.5 cores; 1 are in use" in diag["message"]
    # and so does a notebook server, through the spawner
    dev = world.users["dev"]
    r = dev.hub_api("POST", f"/users/{dev.name}/server", json={"project": world.project, "cpu": "1", "memory": "1G", "gpu": "0"})
    assert r.status_code == 400 and "quota" in r.text, r.text

    # under load the autoscaler wants more replicas: held, and said why, once
    ask(replica["port"], "/burn?seconds=300")
    try:
        held = wait_until(lambda: [e for e in events(world, svc["id"]) if e["kind"] == "scale-held"], 60, "a held scale-up")
    finally:
        ask(replica["port"], "/calm")
    assert "quota" in held[0]["message"] and "cpu" in held[0]["message"], held
    time.sleep(2)
    service = world.call("creator", "GET", f"/services/{svc['id']}").json()
    assert service["desired_replicas"] == 1 and len(service["replicas"]) == 1
    assert len([e for e in events(world, svc["id"]) if e["kind"] == "scale-held"]) == 1
    assert not [e for e in events(world, svc["id"]) if e["kind"] == "scale"]

    # stopped, it holds nothing: the run goes
    assert world.call("creator", "POST", f"/services/{svc['id']}/stop").status_code == 200
    wait_until(lambda: world.project not in published_usage(platform), 10, "the usage withdrawn")
    r = world.call("creator", "POST", f"/pipelines/{pid}/runs")
    assert r.status_code == 201, r.text


TRAIN = (
    "import joblib, os\n"
    "from sklearn.tree import DecisionTreeClassifier\n"
    "X = [[0.0, 5.0], [1.0, 3.0], [9.0, 4.0], [10.0, 2.0]]\n"
    "os.makedirs('models', exist_ok=True)\n"
    "joblib.dump(DecisionTreeClassifier(random_state=0).fit(X, [0, 0, 1, 1]), 'models/iris.joblib')\n"
)


def test_an_inference_service_serves_a_scikit_learn_model_trained_here(cp, platform):
    venv = find_serving_venv()
    if venv is None:
        pytest.skip(serving_missing_message())
    owner = cp.name("creator")
    workspace = platform.data_dir / "workspaces" / owner
    workspace.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(venv / "bin" / "python"), "-c", TRAIN], cwd=workspace, check=True, timeout=180)
    if IS_ROOT:
        try:
            account = platform.unix_account(owner)
        except KeyError:
            pass  # made at the first replica's start, which gives it the workspace as it is
        else:
            for path in (workspace, workspace / "models", workspace / "models" / "iris.joblib"):
                os.chown(path, account.pw_uid, account.pw_gid)

    model = fresh("iris")
    body = {"project": cp.project, "kind": "inference", "serving_type": "sklearn", "model_name": model, "model_version": "v2024.01.01",
            "model_path": "models/iris.joblib", "cpu": "1", "memory": "2G"}
    r = cp.call("creator", "POST", "/services", body)
    assert r.status_code == 201, r.text
    svc = r.json()
    assert svc["name"] == f"sklearn-{model}-20240101"
    assert cp.call("creator", "POST", f"/services/{svc['id']}/deploy").status_code == 200
    (replica,) = healthy(wait_for(cp, svc["id"], lambda s: s["status"] == "running", timeout=180, what="the model server"))

    # healthy means the model is loaded: its own readiness answers
    url = f"http://127.0.0.1:{replica['port']}"
    assert requests.get(f"{url}/v2/models/{model}/ready", timeout=5).status_code == 200
    request = {"inputs": [{"name": "x", "shape": [3, 2], "datatype": "FP64", "data": [0.5, 1.0, 9.5, 1.0, 8.0, 7.0]}]}
    answer = requests.post(f"{url}/v2/models/{model}/infer", json=request, timeout=30).json()
    assert answer["model_name"] == model and answer["model_version"] == "v2024.01.01"
    assert answer["outputs"][0]["data"] == [0, 1, 1]

    # the model server runs as the owner with the inference variables; its settings are the owner's
    env = dict(line.split("=", 1) for line in open(f"/proc/{replica['pid']}/environ", "rb").read().decode().split("\0") if "=" in line)
    assert env["KUBEFLOW_MODEL_NAME"] == model and env["KUBEFLOW_MODEL_VERSION"] == "v2024.01.01"
    assert env["KUBEFLOW_MODEL_PATH"] == "models/iris.joblib" and env["KUBEFLOW_ENV"] == "prod" and env["KUBEFLOW_AREA"] == "local"
    settings = platform.data_dir / "services" / str(svc["id"]) / "replica-0" / "settings.json"
    assert json.loads(settings.read_text())["http_port"] == replica["port"]
    if IS_ROOT:
        uid = platform.unix_account(owner).pw_uid
        assert psutil.Process(replica["pid"]).uids().real == uid
        assert settings.stat().st_uid == uid and settings.parent.stat().st_uid == uid
    cp.call("creator", "POST", f"/services/{svc['id']}/stop")


def test_a_grey_upgrade_through_the_gateway_fails_no_request(cp, platform):
    svc = create(cp, fresh("roll-"), min_replicas=2, max_replicas=2, env="VERSION=1", expose="public")
    assert cp.call("creator", "POST", f"/services/{svc['id']}/deploy").status_code == 200
    wait_for(cp, svc["id"], lambda s: s["status"] == "running" and len(healthy(s)) == 2)
    gateway = f"http://127.0.0.1:{platform.gateway_port}/"
    wait_until(lambda: requests.get(gateway, headers={"Host": svc["host"]}, timeout=10).status_code == 200, 30, "the route")

    failures, versions, stop = [], [], threading.Event()
    resent: list[str] = []

    def client():
        with resending_session(resent) as session:  # kept-alive connections, resent on a reset as a browser does
            while not stop.is_set():
                try:
                    r = session.get(gateway, headers={"Host": svc["host"]}, timeout=10)
                    if r.status_code != 200:
                        failures.append(f"{r.status_code}: {r.text[:200]}")
                    else:
                        versions.append(r.json()["version"])
                except (requests.RequestException, ValueError) as exc:
                    failures.append(repr(exc))

    thread = threading.Thread(target=client)
    thread.start()
    try:
        time.sleep(1)
        assert cp.call("creator", "PATCH", f"/services/{svc['id']}", {"env": "VERSION=2"}).status_code == 200
        wait_for(cp, svc["id"], lambda s: len(s["replicas"]) == 2 and all(x["generation"] == s["generation"] and x["status"] == "healthy"
                                                                        for x in s["replicas"]), timeout=90, what="the upgrade")
        wait_until(lambda: versions and versions[-1] == "2", 10, "answers of the new generation")
        time.sleep(1)
    finally:
        stop.set()
        thread.join()
    assert failures == []
    # only resets of an idle connection, at most one per reload (two per replica rolled)
    assert only_resets(resent, 4), resent
    assert versions[0] == "1" and versions[-1] == "2" and "1" not in versions[-20:] and len(versions) > 50
    cp.call("creator", "POST", f"/services/{svc['id']}/stop")


# last: it restarts this module's control plane
def test_deployed_services_start_again_after_a_control_plane_crash(cp, platform):
    up = create(cp, fresh("again-"))
    down = create(cp, fresh("down-"))
    assert cp.call("creator", "POST", f"/services/{up['id']}/deploy").status_code == 200
    (before,) = healthy(wait_for(cp, up["id"], lambda s: s["status"] == "running"))

    old = controlplane_pid(platform)
    os.kill(old, signal.SIGKILL)  # a crash: its replicas outlive it
    wait_exited(old)
    restarted_controlplane(platform, old)

    back = wait_for(cp, up["id"], lambda s: s["status"] == "running" and healthy(s) and healthy(s)[0]["pid"] != before["pid"],
                    timeout=90, what="the service after the restart")
    wait_gone(before["pid"])  # the crashed control plane's replica is not left running beside the new one
    assert ask(healthy(back)[0]["port"])["replica"] == "0"
    assert "started again with the control plane" in [e["message"] for e in events(cp, up["id"])]
    assert cp.call("creator", "GET", f"/services/{down['id']}").json()["status"] == "stopped"
    cp.call("creator", "POST", f"/services/{up['id']}/stop")
