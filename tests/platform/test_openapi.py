"""The control plane's OpenAPI document: public, complete, valid.

Needs ``openapi-spec-validator`` (test extra).
"""

from __future__ import annotations

import json
import re

import pytest
import requests

pytestmark = pytest.mark.hub

API = "/services/cubelab/api/v1"


@pytest.fixture(scope="module")
def document(platform) -> dict:
    resp = requests.get(f"{platform.url}{API}/openapi.json", timeout=30)  # anonymous: no token, no cookie
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    return resp.json()


def app_routes() -> list[tuple[str, type, dict]]:
    """The routes the running app serves: ROUTES of every listed resource module."""
    from cubelab_hub.controlplane import handlers

    return handlers.collect()[0]


def test_openapi_document_is_served_anonymously(platform, document):
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"]
    assert document["servers"][0]["url"] == API
    # other API resources are not anonymous
    assert requests.get(f"{platform.url}{API}/projects", timeout=30).status_code == 401


def test_every_route_and_method_is_documented(document):
    from cubelab_hub.controlplane.openapi import implemented_methods

    routes = app_routes()
    assert routes, "no routes found"
    paths = document["paths"]
    missing = []
    for pattern, handler, kwargs in routes:
        if getattr(handler, "undocumented", False):
            assert kwargs["openapi_path"] == "/openapi.json", f"only the document itself may be undocumented, not {pattern}"
            continue
        path = kwargs["openapi_path"]
        methods = implemented_methods(handler)
        assert methods, f"{handler.__name__} implements no method"
        for method in methods:
            if method not in paths.get(path, {}):
                missing.append(f"{method.upper()} {path} ({handler.__module__}.{handler.__name__})")
    assert not missing, "undocumented: " + ", ".join(missing)


def test_no_documented_operation_without_a_handler(document):
    from cubelab_hub.controlplane.openapi import implemented_methods

    served = {}
    for _pattern, handler, kwargs in app_routes():
        served.setdefault(kwargs["openapi_path"], set()).update(implemented_methods(handler))
    for path, item in document["paths"].items():
        assert path in served, f"documented path {path} is not served"
        for method in item:
            if method in ("get", "post", "put", "patch", "delete"):
                assert method in served[path], f"{method.upper()} {path} is documented but not implemented"


def test_path_parameters_are_declared(document):
    for path, item in document["paths"].items():
        names = set(re.findall(r"\{(\w+)\}", path))
        for method, operation in item.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "path"}
            assert declared == names, f"{method.upper()} {path}: path parameters {sorted(declared)} != {sorted(names)}"


def test_document_matches_the_running_app(document):
    """The served document is the one the app builds from its handlers."""
    from cubelab_hub.controlplane import handlers
    from cubelab_hub.controlplane.openapi import build_document

    routes, schemas = handlers.collect()
    built = build_document(routes, schemas, API)
    assert built["paths"] == document["paths"]
    assert built["components"] == document["components"]


def test_document_validates_against_the_openapi_schema(document):
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

    validate(document)  # raises OpenAPIValidationError naming the offending part
    # and the validator does look: a broken copy is refused
    broken = json.loads(json.dumps(document))
    next(iter(broken["paths"].values()))["get"]["responses"] = "none"
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_every_schema_reference_resolves(document):
    names = set(document["components"]["schemas"])
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(document)))
    assert refs, "no references at all"
    assert refs <= names, f"dangling: {sorted(refs - names)}"


def test_command_line_prints_the_served_document(document, tmp_path):
    """``python -m cubelab_hub.controlplane.openapi`` needs no server and no
    database, and prints what the running control plane serves."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTERHUB_", "CUBELAB_DATA_DIR"))}
    out = subprocess.run([sys.executable, "-m", "cubelab_hub.controlplane.openapi"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == document
    assert list(tmp_path.iterdir()) == [], "the command wrote files"


def test_the_task_schema_describes_every_field_a_task_is_written_with():
    from cubelab_hub.controlplane.handlers.pipelines import SCHEMAS
    from cubelab_hub.domain.pipelines import RetryBackoff, Task

    task = Task("t", "python", extra_args=["--lr=0.1"], retry_backoff=RetryBackoff())
    written = set(task.to_dict()) | {"position"}
    described = set(SCHEMAS["Pipeline"]["properties"]["tasks"]["items"]["properties"])
    assert written - described == set()
    assert SCHEMAS["Pipeline"]["properties"]["tasks"]["items"]["properties"]["extra_args"]["items"] == {"type": "string"}
