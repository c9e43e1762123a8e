"""The caller: who they are and where they are a member."""

from __future__ import annotations

from .base import APIHandler, op, route


class MeHandler(APIHandler):
    openapi = {"get": op("The calling user, their admin flag and project roles", tags=["me"], returns="Me", errors=(401,))}

    async def get(self):
        self.send({
            "name": self.actor.name,
            "admin": self.actor.admin,
            "projects": [{"name": name, "role": role} for name, role in sorted(self.actor.projects.items())],
        })


SCHEMAS = {
    "Me": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "admin": {"type": "boolean"},
            "projects": {"type": "array", "items": {"$ref": "#/components/schemas/Member"}},
        },
    }
}

ROUTES = [route("/me", MeHandler)]
