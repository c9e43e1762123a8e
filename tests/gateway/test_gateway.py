"""The gateway with real nginx and real replica processes on loopback."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from support.platform import free_port

from cubelab_hub.domain.errors import FieldErrors
from cubelab_hub.gateway.process import Gateway
from cubelab_hub.gateway.routes import Backend, Mirror, Route, Split

pytestmark = pytest.mark.skipif(not Gateway().nginx or not Path(Gateway().nginx).exists(), reason="nginx is not installed")


def route(host: str, *splits: tuple, mirror: tuple | None = None, expose: str = "public", project: str = "demo") -> Route:
    return Route(host, project, tuple(Split(u.backend(), p) for u, p in splits),
                 Mirror(mirror[0].backend(), mirror[1]) if mirror else None, expose)


async def get(gw, host: str, path: str = "/", session: aiohttp.ClientSession | None = None, **kwargs) -> tuple[int, str, dict]:
    own = session is None
    session = session or aiohttp.ClientSession()
    try:
        headers = {"Host": host, **kwargs.pop("headers", {})}
        async with session.get(f"http://127.0.0.1:{gw.port}{path}", headers=headers, **kwargs) as resp:
            return resp.status, await resp.text(), dict(resp.headers)
    finally:
        if own:
            await session.close()


async def stats(u) -> dict:
    async with aiohttp.ClientSession() as s, s.get(u.url + "/_stats") as resp:
        return await resp.json()


async def many(gw, host: str, n: int, concurrency: int = 16) -> list[str]:
    """``n`` requests, ``concurrency`` at a time on kept-alive connections; the bodies' first words."""
    answers: list[str] = []
    queue = iter(range(n))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def worker():
            for _ in queue:
                status, text, _ = await get(gw, host, session=session)
                assert status == 200, text
                answers.append(text.split()[0])
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return answers


async def test_routes_by_host_and_refuses_other_hosts(gateway, upstream):
    a, b = upstream("alpha"), upstream("beta")
    gw = await gateway([route("alpha.localhost", (a, 100)), route("beta.localhost", (b, 100))])
    assert (await get(gw, "alpha.localhost"))[1].startswith("alpha")
    assert (await get(gw, "BETA.localhost:80"))[1].startswith("beta")  # host names match case-insensitively, port ignored
    status, _, headers = await get(gw, "other.localhost")
    assert status == 404
    assert headers.get("Server") == "nginx"  # no version
    assert (Path(gw.prefix) / "logs" / "access-alpha.localhost.log").read_text().count('"GET /"') == 1
    assert (Path(gw.prefix) / "nginx.pid").read_text().strip() == str(gw.proc.pid)


async def test_weighted_split_lands_within_three_points(gateway, upstream):
    stable, canary = upstream("stable"), upstream("canary")
    gw = await gateway([route("model.localhost", (stable, 80), (canary, 20))])
    answers = await many(gw, "model.localhost", 2000)
    share = answers.count("canary") / len(answers)
    assert abs(share - 0.20) <= 0.03, share
    assert answers.count("stable") + answers.count("canary") == 2000


async def test_mirror_copies_half_and_client_sees_only_primary(gateway, upstream):
    primary, shadow = upstream("primary"), upstream("shadow")
    gw = await gateway([route("m.localhost", (primary, 100), mirror=(shadow, 50))])
    answers = await many(gw, "m.localhost", 1000)
    assert set(answers) == {"primary"}
    await asyncio.sleep(0.5)
    seen = await stats(shadow)
    assert seen["requests"] == seen["mirrored"]
    assert 0.43 <= seen["mirrored"] / 1000 <= 0.57, seen["mirrored"]
    assert (await stats(primary))["requests"] == 1000


async def test_slow_shadow_delays_no_answer_even_on_a_kept_alive_connection(gateway, upstream):
    primary, shadow = upstream("primary"), upstream("slowshadow", delay=1.5)
    gw = await gateway([route("m.localhost", (primary, 100), mirror=(shadow, 100))])
    times = []
    # one kept-alive connection: nginx holds its next request until the previous
    # request's mirror subrequests end, which the relay makes immediate
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        for _ in range(5):
            started = time.monotonic()
            status, text, _ = await get(gw, "m.localhost", "/predict", session=session)
            times.append(time.monotonic() - started)
            assert (status, text.split()[0]) == (200, "primary")
    assert max(times) < 0.5, times
    await asyncio.sleep(2)
    seen = await stats(shadow)
    assert seen["mirrored"] == 5 and seen["paths"] == ["/predict"] * 5


async def test_websocket_passes(gateway, upstream):
    a = upstream("wsone")
    gw = await gateway([route("ws.localhost", (a, 100))])
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"http://127.0.0.1:{gw.port}/ws", headers={"Host": "ws.localhost"}) as ws:
            for word in ("hello", "again"):
                await ws.send_str(word)
                assert (await ws.receive(timeout=5)).data == f"wsone:{word}"


async def test_streamed_answer_arrives_before_the_upstream_finishes(gateway, upstream):
    a = upstream("streamer")
    gw = await gateway([route("s.localhost", (a, 100))])
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{gw.port}/stream", headers={"Host": "s.localhost"}) as resp:
            # the upstream holds its last chunk until released: the first must already be here
            assert await asyncio.wait_for(resp.content.readline(), 5) == b"first\n"
            await stats(a)
            async with session.get(a.url + "/_release"):
                pass
            assert await asyncio.wait_for(resp.content.readline(), 5) == b"last\n"


class AllowOnlyAliceAuth:
    """The control plane's gateway-auth endpoint as the gateway sees it: 204 for
    alice's token (naming her), 403 for any other token, 401 without one."""

    def __init__(self):
        self.port = free_port()
        self.projects: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.projects.append(request.query.get("project", ""))
        token = request.headers.get("Authorization", "")
        if not token:
            return web.Response(status=401)
        if token != "token alice-token":
            return web.Response(status=403)
        return web.Response(status=204, headers={"X-CubeLab-User": "alice"})

    async def __aenter__(self):
        app = web.Application()
        app.router.add_get("/services/cubelab/gateway/auth", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc):
        await self.runner.cleanup()


async def test_project_route_needs_the_login_and_public_does_not(gateway, upstream):
    private, open_ = upstream("private"), upstream("open")
    async with AllowOnlyAliceAuth() as auth:
        gw = await gateway([route("p.localhost", (private, 100), expose="project", project="team-a"),
                            route("o.localhost", (open_, 100), expose="public")], auth_address=f"127.0.0.1:{auth.port}")
        assert (await get(gw, "p.localhost"))[0] == 401
        assert (await get(gw, "p.localhost", headers={"Authorization": "token bob-token"}))[0] == 403
        assert (await stats(private))["requests"] == 0
        status, text, _ = await get(gw, "p.localhost", headers={"Authorization": "token alice-token"})
        assert (status, text.split()[0]) == (200, "private")
        seen = await stats(private)
        # the service learns who called, never the platform's token
        assert (seen["user"], seen["authorization"]) == ("alice", None)
        assert set(auth.projects) == {"team-a"}
        asked = len(auth.projects)
        status, text, _ = await get(gw, "o.localhost", headers={"X-CubeLab-User": "alice", "Authorization": "Basic eA=="})
        assert (status, text.split()[0]) == (200, "open")
        seen = await stats(open_)
        assert seen["user"] in (None, "")  # a caller cannot claim to be someone
        assert seen["authorization"] == "Basic eA=="  # public services keep their own authorization
        assert len(auth.projects) == asked


async def test_reload_keeps_requests_in_flight_and_serves_new_routes(gateway, upstream):
    a, b = upstream("first"), upstream("second")
    gw = await gateway([route("r.localhost", (a, 100))])
    async with aiohttp.ClientSession() as session:
        in_flight = [asyncio.ensure_future(get(gw, "r.localhost", "/?sleep=1.5", session=session)) for _ in range(8)]
        await asyncio.sleep(0.3)
        await gw.apply([route("r.localhost", (b, 100)), route("n.localhost", (a, 100))])
        assert [(s, t.split()[0]) for s, t, _ in await asyncio.gather(*in_flight)] == [(200, "first")] * 8
        assert (await get(gw, "r.localhost", session=session))[1].startswith("second")
        assert (await get(gw, "n.localhost", session=session))[1].startswith("first")


@pytest.mark.parametrize("bad, field", [
    (Route("x.localhost;\n}", "demo", ()), "routes[1].host"),
    (Route("x.localhost", "demo\n", ()), "routes[1].project"),
    (Route("x.localhost\n", "demo", ()), "routes[1].host"),
    (Route("x.localhost", "demo", (Split(Backend("a", ("127.0.0.1:80\n",)), 100),)), "routes[1].splits[0].backend.addresses[0]"),
    (Route("x.localhost", "demo", (Split(Backend("a;b", ("127.0.0.1:1",)), 100),)), "routes[1].splits[0].backend.name"),
    (Route("x.localhost", "demo", (Split(Backend("a", ("127.0.0.1:1; include /etc/passwd",)), 100),)), "routes[1].splits[0].backend.addresses[0]"),
    (Route("x.localhost", "demo", (Split(Backend("a", ("10.0.0.1:80",)), 100),)), "routes[1].splits[0].backend.addresses[0]"),
    (Route("x.localhost", "demo", (Split(Backend("a", ("unix:/tmp/a sock;",)), 100),)), "routes[1].splits[0].backend.addresses[0]"),
    (Route("x.localhost", "demo", (Split(Backend("a", ("127.0.0.1:1",)), "20%;"),)), "routes[1].splits[0].percent"),
    (Route("x.localhost", "demo", (Split(Backend("a", ("127.0.0.1:1",)), 100),), expose="all"), "routes[1].expose"),
])
async def test_injection_attempts_are_refused_and_the_running_routes_stay(gateway, upstream, bad, field):
    a = upstream("kept")
    gw = await gateway([route("k.localhost", (a, 100))])
    before = gw.conf_path.read_text()
    with pytest.raises(FieldErrors) as refused:
        await gw.apply([route("k.localhost", (a, 100)), bad])
    assert field in [e.field for e in refused.value.errors]
    assert gw.conf_path.read_text() == before
    assert (await get(gw, "k.localhost"))[1].startswith("kept")
