"""``%cubelab services`` and ``%cubelab deploy``: the rows and the deploy body
(pure), then the magics in a real IPython kernel against a real platform: a
service from a command deployed and running, listed with its replicas and
host, changed and rolled by a second deploy, and wrong input named."""

from __future__ import annotations

import os
import shlex
import sys

import pytest
from magics.test_magics import Kernel
from support.platform import register, start_server

from cubelab_server.magics.services import deploy_body, service_rows, serving_type_for, split_text

# one line (a line magic's argument): a static server on the port the platform gives the replica
SERVER = ("import os, http.server as h; "
          "h.ThreadingHTTPServer(('127.0.0.1', int(os.environ['PORT'])), h.SimpleHTTPRequestHandler).serve_forever()")


# ---------------------------------------------------------------- pure


def test_deploy_body_of_a_command_service_keeps_only_the_options_given():
    body = deploy_body("web", "p", command="python3 app.py", replicas=2, port="8080")
    assert body == {"project": "p", "kind": "internal", "name": "web", "command": "python3 app.py",
                    "min_replicas": 2, "max_replicas": 2, "ports": "8080"}


def test_deploy_body_of_a_model_is_an_inference_service_named_after_the_model():
    body = deploy_body("iris", "p", model="models/iris.joblib")
    assert body == {"project": "p", "kind": "inference", "model_name": "iris", "model_path": "models/iris.joblib",
                    "serving_type": "sklearn", "model_version": "v1"}
    assert deploy_body("m", "p", model="m.bin", serving_type="custom", model_version="v2")["serving_type"] == "custom"


def test_deploy_body_refuses_both_or_neither_and_an_unknown_model_suffix():
    with pytest.raises(ValueError, match="either --command"):
        deploy_body("x", "p", command="a", model="b.onnx")
    with pytest.raises(ValueError, match="either --command"):
        deploy_body("x", "p")
    with pytest.raises(ValueError, match="--serving-type"):
        deploy_body("x", "p", model="weights.bin")


def test_serving_type_by_suffix():
    assert [serving_type_for(p) for p in ("a.joblib", "a.PKL", "a.json", "a.ubj", "a.onnx", "a.txt")] == [
        "sklearn", "sklearn", "xgboost", "xgboost", "onnx", None]


def test_rows_show_healthy_of_desired_replicas_and_the_split_at_a_glance():
    service = {"id": 3, "name": "main", "project": "p", "status": "running", "host": "main.localhost", "owner": "u",
               "desired_replicas": 2, "replicas": [{"status": "healthy"}, {"status": "starting"}],
               "canary": "b:30%,c:20%", "mirror": "shadow:10%"}
    (row,) = service_rows([service])
    assert row["replicas"] == "1/2" and row["host"] == "main.localhost" and row["kind"] == "internal"
    assert row["split"] == "main 50% · b 30% · c 20%; mirror shadow 10%"
    assert split_text({"name": "x", "canary": "", "mirror": ""}) == ""
    assert service_rows([{**service, "desired_replicas": 0, "replicas": []}])[0]["replicas"] == "0"


# ---------------------------------------------------------------- in a kernel


@pytest.fixture(scope="module")
def kernel(platform, request):
    user = register(platform, "deployer")
    start_server(user)
    k = Kernel({
        "JUPYTERHUB_SERVICE_URL": f"{platform.url}/user/{user.name}/",
        "JUPYTERHUB_API_TOKEN": user.token,
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
    })
    request.addfinalizer(k.stop)
    assert k.run("%load_ext cubelab")["error"] is None
    k.user = user
    return k


def _command(version: str) -> str:
    return f"VERSION={version} {shlex.quote(sys.executable)} -c {shlex.quote(SERVER)}"


@pytest.mark.hub
def test_deploy_a_command_wait_until_running_then_list_it(kernel):
    line = (f"%cubelab deploy magic-web --project public --command {shlex.quote(_command('one'))} "
            "--port 8080 --health 8080:/ --cpu 0.5 --memory 256M --wait")
    out = kernel.run(line)
    assert out["error"] is None, out["error"]
    assert "Service 'magic-web' created in project 'public' and deployed" in out["stdout"]
    html = out["data"][-1]["text/html"]
    assert "magic-web: running" in html and "1/1" in html and "magic-web.localhost" in html

    listed = kernel.run("%cubelab services --project public --search magic-web")
    assert listed["error"] is None, listed["error"]
    table = listed["data"][-1]["text/html"]
    assert "magic-web" in table and "running" in table and "1/1" in table

    # the same name again changes the service and rolls it to the change
    again = kernel.run(f"%cubelab deploy magic-web --project public --command {shlex.quote(_command('two'))} --wait")
    assert again["error"] is None, again["error"]
    assert "'magic-web' changed" in again["stdout"]
    service = kernel.user.api("GET", "/services", params={"project": "public", "q": "magic-web"}).json()["services"][0]
    assert "VERSION=two" in " ".join(service["command"]) and service["generation"] == 2


@pytest.mark.hub
def test_deploy_errors_name_the_field_and_the_usage(kernel):
    bad = kernel.run("%cubelab deploy magic-bad --project public --command 'sleep 1' --replicas 0 --memory lots")
    assert bad["error"], bad
    assert "min_replicas" in bad["error"] and "memory" in bad["error"] and "accepted" in bad["error"]
    both = kernel.run("%cubelab deploy x --project public --command a --model b.onnx")
    assert both["error"] and "either --command" in both["error"]
    no_project = kernel.run("%cubelab deploy x --command a")
    assert no_project["error"] and "--project" in no_project["error"]
    elsewhere = kernel.run("%cubelab deploy x --project not-mine --command a")
    assert elsewhere["error"] and "not-mine" in elsewhere["error"]
    assert kernel.user.api("GET", "/services", params={"q": "magic-bad"}).json()["services"] == []
