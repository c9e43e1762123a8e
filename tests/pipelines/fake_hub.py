"""A stand-in for JupyterHub's REST API at the HTTP boundary, for the control
plane's pipeline tests: users, tokens, groups with properties. Run as a process:
``python fake_hub.py PORT STATE.json`` (the state file is re-read on every
request, so a test changes membership by rewriting it)."""

from __future__ import annotations

import asyncio
import json
import sys

from tornado import web

SERVICE_TOKEN = "service-token-for-tests"


class Base(web.RequestHandler):
    def state(self) -> dict:
        with open(self.settings["state_path"]) as fh:
            return json.load(fh)

    def token(self) -> str:
        auth = self.request.headers.get("Authorization", "")
        return auth.split(" ", 1)[1] if " " in auth else ""

    def user_model(self, state: dict, name: str) -> dict:
        user = state["users"][name]
        groups = [g for g, body in state["groups"].items() if name in body.get("users", [])]
        return {"name": name, "kind": "user", "admin": bool(user.get("admin")), "groups": groups,
                "scopes": ["access:services!service=cubelab"], "servers": {}}

    def group_model(self, state: dict, name: str) -> dict:
        body = state["groups"][name]
        return {"name": name, "kind": "group", "users": body.get("users", []), "properties": body.get("properties", {}), "roles": []}

    def require_service(self) -> None:
        if self.token() != SERVICE_TOKEN:
            raise web.HTTPError(403)


class WhoAmI(Base):
    def get(self):
        state = self.state()
        name = state["tokens"].get(self.token())
        if name is None or name not in state["users"]:
            raise web.HTTPError(403)
        self.finish(self.user_model(state, name))


class User(Base):
    def get(self, name):
        self.require_service()
        state = self.state()
        if name not in state["users"]:
            raise web.HTTPError(404)
        self.finish(self.user_model(state, name))


class Groups(Base):
    def get(self):
        self.require_service()
        state = self.state()
        self.finish(json.dumps([self.group_model(state, g) for g in state["groups"]]))


class Group(Base):
    def get(self, name):
        self.require_service()
        state = self.state()
        if name not in state["groups"]:
            raise web.HTTPError(404)
        self.finish(self.group_model(state, name))


async def main(port: int, state_path: str) -> None:
    app = web.Application([
        (r"/hub/api/user", WhoAmI),
        (r"/hub/api/users/([^/]+)", User),
        (r"/hub/api/groups", Groups),
        (r"/hub/api/groups/([^/]+)", Group),
    ], state_path=state_path)
    app.listen(port, "127.0.0.1")
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
