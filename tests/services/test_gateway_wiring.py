"""Services behind the gateway on a real CubeLab (``cubelab up`` with its
nginx gateway on a port of its own), set up through the REST API: a 20% split
over two services sharing a host, a 50% mirror whose copies reach the shadow
while clients see only the primary, who may pass a project-only and a public
route, and the hub's path to a service for members."""

from __future__ import annotations

import sys
import time

import pytest
import requests
from pipelines.cp import World, fresh
from support.browser_http import only_resets, resending_session
from support.platform import Platform, User

pytestmark = pytest.mark.hub

# Says which service answered, what it was sent, and counts requests and mirrored copies (/_stats).
SERVER = r"""
import json, os, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

stats = {'requests': 0, 'mirrored': 0}
lock = threading.Lock()

class H(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def answer(self):
        body_in = self.rfile.read(int(self.headers.get('Content-Length') or 0))
        if self.path == '/_stats':
            body = json.dumps(stats).encode()
        else:
            with lock:
                stats['requests'] += 1
                stats['mirrored'] += bool(self.headers.get('X-CubeLab-Mirror'))
            seen = {k: self.headers.get(k) for k in ('Host', 'Authorization', 'Cookie', 'X-CubeLab-User', 'X-Forwarded-Prefix')}
            body = json.dumps({'service': os.environ['CUBELAB_SERVICE'], 'path': self.path, 'method': self.command,
                               'body': body_in.decode(), 'headers': seen}).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.send_header('Set-Cookie', 'jupyterhub-session-id=stolen; Path=/')
        self.send_header('Set-Cookie', 'own=1; Path=/')
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = answer
    def log_message(self, *args):
        pass

ThreadingHTTPServer(('127.0.0.1', int(os.environ['PORT'])), H).serve_forever()
"""


@pytest.fixture(scope="module")
def platform(tmp_path_factory, artifacts_dir):
    args = ["--controlplane=ServiceManager.health_interval=0.5", "--controlplane=ServiceManager.drain_seconds=1"]
    p = Platform(tmp_path_factory.mktemp("gateway-wiring") / "data", extra_args=args, log_path=artifacts_dir / "platform-gateway-wiring.log")
    p.start()
    yield p
    p.stop()
    p.remove_unix_accounts()


@pytest.fixture(scope="module")
def cp(platform) -> World:
    admin = User(platform, platform.admin, platform.admin_password)
    assert admin.login().status_code == 302
    admin.create_token()
    return World(platform, admin)


def deploy(cp, name, **fields) -> dict:
    body = {"project": cp.project, "name": name, "command": [sys.executable, "-c", SERVER], "ports": "8080", "health": "8080:/_stats",
            "cpu": "0.5", "memory": "512M", **fields}
    r = cp.call("creator", "POST", "/services", body)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert cp.call("creator", "POST", f"/services/{sid}/deploy").status_code == 200
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        service = cp.call("creator", "GET", f"/services/{sid}").json()
        if service["status"] == "running":
            return service
        time.sleep(0.3)
    raise TimeoutError(f"{name} is not running: {service}")


def through_gateway(platform, host, path="/", session=None, **kwargs) -> requests.Response:
    headers = {"Host": host, **kwargs.pop("headers", {})}
    return (session or requests).get(f"http://127.0.0.1:{platform.gateway_port}{path}", headers=headers, timeout=30, **kwargs)


def wait_routed(platform, host, want: set[str], headers=None, timeout=30) -> None:
    """Until the gateway's answers for ``host`` come from every service in ``want``."""
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and seen != want:
        r = through_gateway(platform, host, headers=headers or {})
        if r.status_code == 200:
            seen.add(r.json()["service"])
        else:
            time.sleep(0.2)
    assert seen == want, f"{host} reached {seen}, not {want}"


def test_a_20_percent_split_sends_20_percent_to_the_canary(cp, platform):
    canary = deploy(cp, fresh("canary-"), expose="public")
    main = deploy(cp, fresh("main-"), expose="public", canary=f"{canary['name']}:20%")
    assert main["url"] == f"http://{main['host']}:{platform.gateway_port}/" and main["host"] == f"{main['name']}.localhost"
    assert main["hub_path"] == f"/services/cubelab/proxy/{main['name']}/"
    wait_routed(platform, main["host"], {main["name"], canary["name"]})
    counts = {main["name"]: 0, canary["name"]: 0}
    resent: list[str] = []
    with resending_session(resent) as session:  # another test's reload may close an idle connection
        for _ in range(2000):
            r = through_gateway(platform, main["host"], session=session)
            assert r.status_code == 200
            counts[r.json()["service"]] += 1
    assert only_resets(resent, 2), resent
    assert 0.17 <= counts[canary["name"]] / 2000 <= 0.23, counts


def test_a_50_percent_mirror_copies_to_the_shadow_and_clients_see_only_the_primary(cp, platform):
    shadow = deploy(cp, fresh("shadow-"), expose="public")
    main = deploy(cp, fresh("primary-"), expose="public", mirror=f"{shadow['name']}:50%")
    wait_routed(platform, main["host"], {main["name"]})
    port = shadow["replicas"][0]["port"]
    before = requests.get(f"http://127.0.0.1:{port}/_stats", timeout=5).json()["mirrored"]
    resent: list[str] = []
    with resending_session(resent) as session:
        answers = {through_gateway(platform, main["host"], session=session).json()["service"] for _ in range(400)}
    assert answers == {main["name"]} and only_resets(resent, 2), resent
    # copies travel in the background: count once they stop arriving
    mirrored, last = -1, before
    deadline = time.monotonic() + 20
    while mirrored != last and time.monotonic() < deadline:
        mirrored = last
        time.sleep(1)
        last = requests.get(f"http://127.0.0.1:{port}/_stats", timeout=5).json()["mirrored"]
    assert 160 <= last - before <= 240, last - before


def test_project_only_services_need_a_member_and_public_ones_anyone(cp, platform):
    members = deploy(cp, fresh("members-"))
    public = deploy(cp, fresh("public-"), expose="public")
    wait_routed(platform, public["host"], {public["name"]})
    wait_routed(platform, members["host"], {members["name"]}, headers=cp.headers("dev"))
    assert through_gateway(platform, members["host"]).status_code == 401
    assert through_gateway(platform, members["host"], headers={"Authorization": "token not-a-token"}).status_code == 401
    assert through_gateway(platform, members["host"], headers=cp.headers("outsider")).status_code == 403
    for role in ("dev", "ops", "admin"):
        r = through_gateway(platform, members["host"], "/x?y=1", headers=cp.headers(role))
        assert r.status_code == 200, (role, r.text)
        seen = r.json()
        assert seen["path"] == "/x?y=1" and seen["headers"]["X-CubeLab-User"] == cp.name(role)
        assert seen["headers"]["Authorization"] is None
    r = through_gateway(platform, public["host"], headers={"X-CubeLab-User": "someone-else"})
    assert r.status_code == 200 and r.json()["headers"]["X-CubeLab-User"] is None


def test_the_hub_path_forwards_to_the_service_for_members_only(cp, platform):
    svc = deploy(cp, fresh("hubpath-"))
    wait_routed(platform, svc["host"], {svc["name"]}, headers=cp.headers("dev"))
    base = f"{platform.url}/services/cubelab/proxy/{svc['name']}"

    r = requests.post(f"{base}/echo?q=1", data=b"hello", headers=cp.headers("dev"), timeout=30)
    assert r.status_code == 200, r.text
    seen = r.json()
    assert (seen["service"], seen["path"], seen["method"], seen["body"]) == (svc["name"], "/echo?q=1", "POST", "hello")
    assert seen["headers"]["Host"] == svc["host"] and seen["headers"]["X-CubeLab-User"] == cp.name("dev")
    assert seen["headers"]["Authorization"] is None and seen["headers"]["X-Forwarded-Prefix"] == f"/services/cubelab/proxy/{svc['name']}"
    # its page runs as an origin of its own, and cannot set the platform's cookies
    assert r.headers["Content-Security-Policy"].startswith("sandbox")
    assert "jupyterhub-session-id" not in r.headers.get("Set-Cookie", "") and "own=1" in r.headers.get("Set-Cookie", "")

    assert requests.get(f"{base}/", headers=cp.headers("outsider"), timeout=30).status_code == 404
    assert requests.get(f"{platform.url}/services/cubelab/proxy/no-such-service/", headers=cp.headers("dev"), timeout=30).status_code == 404
    assert requests.get(f"{base}/", timeout=30).status_code == 401
    # the bare name: to the folder, after the membership check
    r = requests.get(base, headers=cp.headers("dev"), allow_redirects=False, timeout=30)
    assert r.status_code == 302 and r.headers["Location"] == f"/services/cubelab/proxy/{svc['name']}/"

    # a browser logged in to the hub goes through the OAuth login and lands on the service; no platform cookie reaches it
    dev = cp.users["dev"]
    browser = User(platform, dev.name, dev.password)
    assert browser.login().status_code == 302
    r = browser.session.get(f"{base}/page", headers={"Accept": "text/html"}, timeout=30)
    assert r.status_code == 200 and r.json()["path"] == "/page", r.text
    assert r.json()["headers"]["X-CubeLab-User"] == dev.name
    cookie = r.json()["headers"]["Cookie"] or ""
    assert "jupyterhub" not in cookie and "service-" not in cookie and "_xsrf" not in cookie, cookie
