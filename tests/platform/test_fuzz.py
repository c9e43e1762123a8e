"""A bounded schemathesis run against a real CubeLab, from its own OpenAPI document.

Every documented operation gets a few generated requests (valid and invalid
inputs), once with an ordinary member's token and once with an admin's. A
request fails the test when the answer is a 5xx, a status the document does not
list for that operation, or a body or content type that does not match it. Path
parameters are drawn partly from rows seeded first (a project with a member, a
pipeline, a finished run), so the generated requests reach real handlers past
the 404 for an unknown id.

Deterministic: Hypothesis derandomized, no example database. Bounded: a fixed
number of examples per operation and mode, and a time cap per caller; what the
cap leaves out is printed.
"""

from __future__ import annotations

import copy
import os
import time

import pytest
import requests
from support.platform import register

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is in the 'test' extra (pip install -e '.[test]')")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.errors import FailureGroup  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.hub

API = "/services/cubelab/api/v1"
EXAMPLES = int(os.environ.get("CUBELAB_FUZZ_EXAMPLES", "10"))
TIME_CAP = float(os.environ.get("CUBELAB_FUZZ_SECONDS", "240"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def seeded(platform, admin):
    """A project with an ordinary member, a pipeline in it and a finished run."""
    member = register(platform, f"fz{os.getpid() % 10000}")
    project = f"fuzz{os.getpid() % 10000}"
    r = admin.api("POST", "/projects", json={"name": project, "description": "fuzzed"})
    assert r.status_code == 201, r.text
    r = admin.api("POST", f"/projects/{project}/members", json={"name": member.name, "role": "dev"})
    assert r.status_code == 201, r.text
    body = {"name": "fuzzed", "project": project, "tasks": [{"name": "a", "template": "shell", "args": {"--command": "echo hi"}}]}
    r = admin.api("POST", "/pipelines", json=body)
    assert r.status_code == 201, r.text
    pipeline_id = r.json()["id"]
    r = admin.api("POST", f"/pipelines/{pipeline_id}/runs")
    assert r.status_code == 201, r.text
    run_id = r.json()["id"]
    deadline = time.monotonic() + 60
    while admin.api("GET", f"/runs/{run_id}").json()["status"] not in ("succeeded", "failed", "cancelled"):
        assert time.monotonic() < deadline, "the seeded run did not finish"
        time.sleep(0.3)
    return {
        "member": member,
        "params": {
            # not 'public': an admin's generated settings there would reach every later test's servers
            "project": [project],
            "member": [member.name, admin.name],
            "pipeline_id": [pipeline_id],
            "run_id": [run_id],
            "task": ["a"],
            "user": [member.name],
        },
    }


def seeded_document(platform, params: dict) -> dict:
    """The served document, with each seeded path parameter drawn from the seeded
    values or from its documented schema (only what the fuzzer generates changes)."""
    resp = requests.get(f"{platform.url}{API}/openapi.json", timeout=30)
    assert resp.status_code == 200
    document = copy.deepcopy(resp.json())
    for item in document["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                values = params.get(parameter["name"]) if parameter.get("in") == "path" else None
                if values:
                    parameter["schema"] = {"anyOf": [{"enum": values}, parameter["schema"]]}
    return document


class Fuzzer:
    """Sends generated requests with one caller's token and collects the findings."""

    def __init__(self, base_url: str, token: str):
        self.base_url = base_url
        self.headers = {"Authorization": f"token {token}"}
        self.session = requests.Session()
        self.deadline = time.monotonic() + TIME_CAP
        self.failures: list[str] = []
        self.skipped: list[str] = []
        self.sent = 0

    def run(self, schema) -> None:
        operations = sorted((result.ok() for result in schema.get_all_operations()), key=lambda o: (o.path, o.method))
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                label = f"{operation.method.upper()} {operation.path} ({mode.value})"
                if time.monotonic() > self.deadline:
                    self.skipped.append(label)
                    continue
                self.operation(operation, mode, label)

    def operation(self, operation, mode: GenerationMode, label: str) -> None:
        seen: set[str] = set()

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        def check(case):
            if time.monotonic() > self.deadline:
                return
            # the caller's token on every request: the document's security scheme would
            # otherwise have some requests sent without it (401s that test nothing)
            case.headers = {**(case.headers or {}), **self.headers}
            try:
                response = case.call(base_url=self.base_url, session=self.session, timeout=60)
            except requests.RequestException as exc:
                self.failures.append(f"{label}: no answer: {exc}\n{case.as_curl_command(headers={})}")
                return
            self.sent += 1
            try:
                case.validate_response(response, checks=CHECKS, transport_kwargs={"base_url": self.base_url})
            except FailureGroup as exc:  # collected, so one run reports every finding
                key = f"{response.status_code} " + "; ".join(sorted(type(f).__name__ for f in exc.exceptions))
                if key not in seen:
                    seen.add(key)
                    text = str(exc).split("Reproduce with:")[0].strip()
                    self.failures.append(f"{label}:\n{text}\n{case.as_curl_command(headers={})}")

        try:
            check()
        except Unsatisfiable:  # nothing invalid to generate for this operation (negative mode)
            pass


@pytest.mark.parametrize("caller", ["member", "admin"])
def test_fuzz_finds_no_server_error_and_no_undocumented_answer(platform, admin, seeded, caller):
    token = seeded["member"].token if caller == "member" else admin.token
    document = seeded_document(platform, seeded["params"])
    # an admin's generated requests may close registration or change the run-time settings
    # (expiry, role limits, the default quota): leave them as they were for later tests
    registration = admin.api("GET", "/settings/registration").json()
    runtime = admin.api("GET", "/admin/settings").json()
    fuzzer = Fuzzer(f"{platform.url}{API}", token)
    try:
        fuzzer.run(schemathesis.openapi.from_dict(document))
    finally:
        admin.api("PUT", "/settings/registration", json={"open": registration["open"]})
        restored = admin.api("PATCH", "/admin/settings", json={key: runtime[key] for key in ("server_expiry", "role_limits", "default_project_quota")})
        assert restored.status_code == 200, restored.text
    print(f"fuzz as {caller}: {fuzzer.sent} requests; left out by the time cap: {fuzzer.skipped or 'none'}")
    assert fuzzer.sent > 0
    assert not fuzzer.failures, f"{len(fuzzer.failures)} finding(s) as {caller}:\n\n" + "\n\n".join(fuzzer.failures)
