"""The control plane's gateway-auth endpoint against a real JupyterHub: its
answers alone, then behind real nginx in front of a real replica."""

from __future__ import annotations

import aiohttp
import pytest
from jupyterhub.services.auth import HubOAuth
from support.platform import free_port, register
from tornado import web
from tornado.httpserver import HTTPServer

from cubelab_hub.controlplane.handlers import gateway_auth
from cubelab_hub.gateway.routes import Backend, Route, Split

pytestmark = pytest.mark.hub
PREFIX = "/services/cubelab/"


@pytest.fixture(scope="module")
def people(platform):
    return register(platform, f"gwalice{free_port()}"), register(platform, f"gwbob{free_port()}")


@pytest.fixture
async def auth_endpoint(platform, admin, people):
    """The handler in a tornado application of its own, authenticating with the platform's hub
    (its own token serves only the OAuth flow of a browser; callers' tokens are checked as theirs)."""
    hub_auth = HubOAuth(api_url=f"http://127.0.0.1:{platform.hub_port}/hub/api", api_token=admin.token, cache_max_age=0,
                        oauth_client_id="service-cubelab",
                        access_scopes={"access:services!service=cubelab"})
    alice = people[0]

    async def only_alice_in_team_a(user: str, project: str) -> bool:
        return (user, project) == (alice.name, "team-a")

    app = web.Application(gateway_auth.routes(PREFIX, only_alice_in_team_a), hub_auth=hub_auth, cookie_secret=b"x" * 32)
    server = HTTPServer(app)
    port = free_port()
    server.listen(port, "127.0.0.1")
    yield port
    server.stop()


async def ask(port: int, project: str, authorization: str | None) -> tuple[int, str | None, bytes]:
    headers = {"Authorization": authorization} if authorization else {}
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}{PREFIX}gateway/auth", params={"project": project}, headers=headers) as resp:
            return resp.status, resp.headers.get("X-CubeLab-User"), await resp.read()


async def test_answers_from_the_hub_login_and_membership(auth_endpoint, people):
    alice, bob = people
    assert await ask(auth_endpoint, "team-a", f"token {alice.token}") == (204, alice.name, b"")
    assert (await ask(auth_endpoint, "team-a", f"Bearer {alice.token}"))[:2] == (204, alice.name)
    assert (await ask(auth_endpoint, "team-b", f"token {alice.token}"))[:2] == (403, None)
    assert (await ask(auth_endpoint, "team-a", f"token {bob.token}"))[:2] == (403, None)
    assert (await ask(auth_endpoint, "team-a", None))[:2] == (401, None)
    assert (await ask(auth_endpoint, "team-a", "token not-a-token"))[:2] == (401, None)
    assert (await ask(auth_endpoint, "team-a\n", f"token {alice.token}"))[:2] == (403, None)


async def test_behind_the_gateway(auth_endpoint, people, gateway, upstream):
    alice, bob = people
    replica = upstream("members")
    gw = await gateway([Route("team.localhost", "team-a", (Split(Backend("members", (replica.address,)), 100),))],
                       auth_address=f"127.0.0.1:{auth_endpoint}")

    async def call(authorization: str | None) -> tuple[int, str]:
        headers = {"Host": "team.localhost", **({"Authorization": authorization} if authorization else {})}
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{gw.port}/x", headers=headers) as resp:
            return resp.status, await resp.text()

    assert (await call(None))[0] == 401
    assert (await call(f"token {bob.token}"))[0] == 403
    status, text = await call(f"token {alice.token}")
    assert (status, text.split()[0]) == (200, "members")
    async with aiohttp.ClientSession() as session, session.get(replica.url + "/_stats") as resp:
        seen = await resp.json()
    assert seen["requests"] == 1 and seen["user"] == alice.name and seen["authorization"] is None
