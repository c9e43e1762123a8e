"""Services end to end on one machine, through the REST API of a real CubeLab
(``cubelab up``: JupyterHub, proxy, control plane): a service from a command
answering on its replicas' loopback ports as its owner's account; a killed
replica restarted; a grey upgrade with a client sending all along and no failed
request; autoscaling up under CPU load and down after the window; the quota
refusing a deploy; the permission matrix of every route.

The platform is this module's own, with short health, drain and autoscaling
intervals (``--controlplane ServiceManager.*``)."""

from __future__ import annotations

import random
import sys
import threading
import time

import psutil
import pytest
import requests
from pipelines.cp import ROLES, World, fresh
from support.platform import IS_ROOT, Platform, User

pytestmark = pytest.mark.hub

# A tiny HTTP server: who and which replica answers, and /burn to load a CPU core.
SERVER = r"""
import json, os, pwd, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

def burn(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass

class H(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith('/burn'):
            threading.Thread(target=burn, args=(float(self.path.split('=')[-1]),), daemon=True).start()
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
    ask(replica["port"], "/burn?seconds=8")
    wait_for(cp, svc["id"], lambda s: s["desired_replicas"] >= 2 and len(healthy(s)) >= 2, timeout=30, what="scaling up")
    wait_for(cp, svc["id"], lambda s: s["desired_replicas"] == 1 and len(s["replicas"]) == 1, timeout=60, what="scaling down")
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
            assert r.json()["error"] == {401: "unauthorized", 403: "forbidden", 404: "not_found"}[r.status_code], r.text
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
