"""The OpenAPI document, assembled from the handlers' own ``openapi`` entries."""

from __future__ import annotations

from tornado.web import RequestHandler

API_VERSION = "v1"
METHODS = ("get", "post", "put", "patch", "delete")


def implemented_methods(handler: type) -> list[str]:
    """HTTP methods a handler class really implements (not tornado's 405 stub)."""
    return [m for m in METHODS if getattr(handler, m) is not RequestHandler.__dict__[m]]


def build_document(routes: list[tuple], schemas: dict, server_url: str) -> dict:
    paths: dict[str, dict] = {}
    for _pattern, handler, kwargs in routes:
        path = kwargs.get("openapi_path")
        if not path or getattr(handler, "undocumented", False):
            continue
        item = paths.setdefault(path, {})
        for method in implemented_methods(handler):
            if method in handler.openapi:
                item[method] = handler.openapi[method]
    error = {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "description": "a short code: invalid, unauthorized, forbidden, not_found, conflict"},
            "message": {"type": "string", "description": "what went wrong, naming the bad part and the accepted forms"},
            "field": {"type": ["string", "null"], "description": "the request field at fault, if any"},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "CubeLab control plane", "version": API_VERSION},
        "servers": [{"url": server_url}],
        "components": {
            "schemas": {"Error": error, **schemas},
            "securitySchemes": {"token": {"type": "apiKey", "in": "header", "name": "Authorization", "description": "'token <JupyterHub API token>'"}},
        },
        "security": [{"token": []}],
        "paths": paths,
    }
