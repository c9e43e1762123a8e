"""Serves the OpenAPI document (no authentication: it holds no data)."""

from __future__ import annotations

from .base import APIHandler, route


class OpenAPIHandler(APIHandler):
    anonymous = True
    undocumented = True

    def check_xsrf_cookie(self):
        return

    async def get(self):
        self.send(self.app.openapi_document)


ROUTES = [route("/openapi.json", OpenAPIHandler)]
