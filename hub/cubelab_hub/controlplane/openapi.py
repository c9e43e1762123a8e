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
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "header", "name": "Authorization", "description": "'token <JupyterHub API token>'"},
                "trial": {"type": "http", "scheme": "basic", "description": "an experiment trial: its trial id and its token (the trial channel only)"},
            },
        },
        "security": [{"token": []}],
        "paths": paths,
    }


def default_document(service_prefix: str = "/services/cubelab/") -> dict:
    """The document the control plane serves under ``service_prefix``, built from
    the handler modules alone (no server, no database)."""
    from . import handlers
    from .app import API_PREFIX

    routes, schemas = handlers.collect()
    return build_document(routes, schemas, service_prefix.rstrip("/") + "/" + API_PREFIX)


def main(argv: list[str] | None = None) -> None:
    import argparse
    import json
    import os

    parser = argparse.ArgumentParser(
        prog="python -m cubelab_hub.controlplane.openapi",
        description="Print the control plane's OpenAPI document (JSON) to stdout.",
    )
    parser.add_argument("--service-prefix", default=os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/cubelab/"),
                        help="the service's URL prefix, as in the served document's 'servers' (default: %(default)s)")
    args = parser.parse_args(argv)
    print(json.dumps(default_document(args.service_prefix), indent=2, sort_keys=False))


if __name__ == "__main__":
    main()
