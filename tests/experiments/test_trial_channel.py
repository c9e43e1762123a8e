"""NNI's HTTP command channel, served by the control plane's handler over real
HTTP to real trial processes running NNI's unchanged SDK.

The experiment service behind the channel is a small in-test backend that
records what it is told (the handler only knows the TrialChannelBackend
protocol); the tornado application is the handler's own route list.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from tornado import web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from cubelab_hub.controlplane.handlers import trial_channel as channel_handlers
from cubelab_hub.controlplane.services.trial_channel import KEY_FILE, TrialChannel

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hpo"
PREFIX = "/services/cubelab/api/v1"


class RecordingBackend:
    """Trials and their parameter records; records every metric and request."""

    def __init__(self):
        self.records: dict[str, dict] = {}
        self.closed: set[str] = set()
        self.metrics: list[tuple] = []

    def add(self, trial_id: str, parameter_id: int, parameters: dict) -> None:
        self.records[trial_id] = {"parameter_id": parameter_id, "parameter_source": "algorithm", "parameters": parameters, "parameter_index": 0}

    async def trial_parameters(self, trial_id: str) -> dict | None:
        return None if trial_id in self.closed else self.records.get(trial_id)

    async def record_metric(self, trial_id, kind, sequence, value, raw) -> None:
        self.metrics.append((trial_id, kind, sequence, value, raw))

    async def trial_closed(self, trial_id: str) -> bool:
        return trial_id in self.closed


class Server(SimpleNamespace):
    def url(self, trial_id: str) -> str:
        return f"{self.base}/trial-channel/{trial_id}"

    def auth(self, trial_id: str, token: str | None = None) -> tuple[str, str]:
        return (trial_id, token if token is not None else self.channel.trial_token(trial_id))

    def call(self, method: str, trial_id: str, auth=None, **kw) -> requests.Response:
        # requests blocks: off the loop that serves it
        return asyncio.to_thread(requests.request, method, self.url(trial_id), auth=auth, timeout=30, **kw)


@pytest.fixture
async def server(tmp_path, monkeypatch):
    monkeypatch.setattr(channel_handlers.TrialChannelHandler, "poll_seconds", 0.3)
    backend = RecordingBackend()
    channel = TrialChannel(tmp_path / "state" / KEY_FILE)
    app = SimpleNamespace(trial_channel=channel, experiments=backend)
    routes = [(PREFIX + pattern, handler, kwargs) for pattern, handler, kwargs in channel_handlers.ROUTES]
    # the control plane's own settings: XSRF on, which the channel must not need
    web_app = web.Application(routes, cubelab=app, xsrf_cookies=True, cookie_secret="x")
    sockets = bind_sockets(0, "127.0.0.1")
    http = HTTPServer(web_app)
    http.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    yield Server(base=f"http://127.0.0.1:{port}{PREFIX}", channel=channel, backend=backend, tmp=tmp_path)
    http.stop()
    await http.close_all_connections()


async def run_trial(server: Server, trial_id: str, script: str = "nni_trial.py", argv=(), env_trial: str | None = None) -> tuple[int, str, str]:
    """A real trial process with the environment the platform gives trials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NNI_")}
    env.update(server.channel.trial_env(server.base.rsplit(PREFIX, 1)[0] + PREFIX, 7, env_trial or trial_id, 1,
                                        output_dir=str(server.tmp / "out" / trial_id)))
    proc = await asyncio.create_subprocess_exec(sys.executable, str(FIXTURES / script), *argv, env=env, cwd=server.tmp,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode, out.decode(), err.decode()


def received(stdout: str) -> dict:
    return json.loads(next(line for line in stdout.splitlines() if line.startswith("RECEIVED "))[len("RECEIVED "):])


async def test_an_unchanged_nni_trial_gets_its_parameters_and_reports_its_metrics(server):
    server.backend.add("trial-aaaaaaaaaaaa", 4, {"x": 0.25, "opt": "sgd", "net": {"_name": "cnn", "k": 3}})
    server.backend.add("trial-bbbbbbbbbbbb", 5, {"x": 0.9, "opt": "adam"})
    code, out, err = await run_trial(server, "trial-aaaaaaaaaaaa", argv=["--x=0.25", "--opt=sgd"])
    assert code == 0, err
    assert received(out) == {"parameters": {"x": 0.25, "opt": "sgd", "net": {"_name": "cnn", "k": 3}}, "argv": ["--x=0.25", "--opt=sgd"]}
    score = 1 - abs(0.25 - 0.7)
    assert server.backend.metrics == [
        ("trial-aaaaaaaaaaaa", "intermediate", 0, round(score / 3, 6), round(score / 3, 6)),
        ("trial-aaaaaaaaaaaa", "intermediate", 1, round(score * 2 / 3, 6), round(score * 2 / 3, 6)),
        ("trial-aaaaaaaaaaaa", "intermediate", 2, round(score, 6), round(score, 6)),
        ("trial-aaaaaaaaaaaa", "final", 0, None, {"default": round(score, 6), "loss": round(1 - score, 6)}),  # the objective picks
    ]
    # the SDK's own log went to the trial's output directory, its stdout stayed the task's
    assert (server.tmp / "out" / "trial-aaaaaaaaaaaa" / "trial.log").is_file()


async def test_a_closed_channel_gives_the_sdk_no_parameters(server):
    server.backend.add("trial-cccccccccccc", 1, {"x": 0.5})
    server.backend.closed.add("trial-cccccccccccc")
    code, out, err = await run_trial(server, "trial-cccccccccccc", script="nni_trial.py")
    assert received(out)["parameters"] is None and code != 0  # get_next_parameter() returned None
    assert server.backend.metrics == []
    assert (await server.call("GET", "trial-cccccccccccc", server.auth("trial-cccccccccccc"))).status_code == 410
    assert (await server.call("PUT", "trial-cccccccccccc", server.auth("trial-cccccccccccc"), json={"type": "request_parameter"})).status_code == 410


def _metric(trial_id: str, parameter_id, value="0.5", type_="PERIODICAL", sequence=0) -> dict:
    return {"type": "metric", "metric": json.dumps({"parameter_id": parameter_id, "trial_job_id": trial_id, "type": type_, "sequence": sequence, "value": value})}


async def test_a_trial_cannot_read_or_write_another_trials_channel(server):
    server.backend.add("trial-aaaaaaaaaaaa", 1, {"x": 0.1})
    server.backend.add("trial-bbbbbbbbbbbb", 2, {"x": 0.2})
    own_token = server.channel.trial_token("trial-aaaaaaaaaaaa")
    attempts = [
        ("trial-bbbbbbbbbbbb", ("trial-aaaaaaaaaaaa", own_token)),  # its own credentials on another's channel
        ("trial-bbbbbbbbbbbb", ("trial-bbbbbbbbbbbb", own_token)),  # its token as the other trial
        ("trial-bbbbbbbbbbbb", None),  # no credentials
        ("trial-bbbbbbbbbbbb", ("trial-bbbbbbbbbbbb", "")),
        ("trial-zzzzzzzzzzzz", ("trial-aaaaaaaaaaaa", own_token)),  # a trial that does not exist
    ]
    answers = []
    for target, auth in attempts:
        for method, kw in (("GET", {}), ("PUT", {"json": _metric(target, 2)}), ("PUT", {"data": b"not json"})):
            r = await server.call(method, target, auth, **kw)
            answers.append((r.status_code, r.text))
    assert {a for a in answers} == {(404, '{"error": "not_found", "message": "no such trial channel", "field": null}')}
    for header in ("Basic !!!", "token " + own_token, "Bearer " + own_token, "Basic " + base64.b64encode(b"no-colon").decode()):
        r = await asyncio.to_thread(requests.get, server.url("trial-aaaaaaaaaaaa"), headers={"Authorization": header}, timeout=30)
        assert r.status_code == 404
    assert server.backend.metrics == []
    # the rightful trial is served
    r = await server.call("GET", "trial-bbbbbbbbbbbb", server.auth("trial-bbbbbbbbbbbb"))
    assert r.status_code == 200 and json.loads(r.json()["parameter"])["parameters"] == {"x": 0.2}


async def test_a_trial_reports_for_its_own_parameter_id_only(server):
    server.backend.add("trial-aaaaaaaaaaaa", 1, {"x": 0.1})
    auth = server.auth("trial-aaaaaaaaaaaa")
    cases = [
        (_metric("trial-aaaaaaaaaaaa", 2), "metric.parameter_id"),
        (_metric("trial-aaaaaaaaaaaa", True), "metric.parameter_id"),
        (_metric("trial-bbbbbbbbbbbb", 1), "metric.trial_job_id"),
        (_metric("trial-aaaaaaaaaaaa", 1, type_="SOMETIMES"), "metric.type"),
        (_metric("trial-aaaaaaaaaaaa", 1, sequence=-1), "metric.sequence"),
        (_metric("trial-aaaaaaaaaaaa", 1, value="{oops"), "metric.value"),
        ({"type": "metric", "metric": "[1]"}, "metric"),
        ({"type": "metric"}, "metric"),
        ({"type": "shutdown"}, "type"),
    ]
    for body, field in cases:
        r = await server.call("PUT", "trial-aaaaaaaaaaaa", auth, json=body)
        assert r.status_code == 400 and r.json()["field"] == field, (body, r.text)
        assert r.json()["accepted"]
    r = await server.call("PUT", "trial-aaaaaaaaaaaa", auth, data=b"[1, 2]")
    assert r.status_code == 400 and "JSON object" in r.json()["message"]
    assert server.backend.metrics == []
    r = await server.call("PUT", "trial-aaaaaaaaaaaa", auth, json=_metric("trial-aaaaaaaaaaaa", 1, value='{"default": 0.75, "loss": 0.1}', type_="FINAL"))
    assert r.status_code == 204
    assert server.backend.metrics == [("trial-aaaaaaaaaaaa", "final", 0, None, {"default": 0.75, "loss": 0.1})]


async def test_only_plain_numbers_come_with_a_value_and_every_metric_is_kept_raw(server):
    server.backend.add("trial-aaaaaaaaaaaa", 1, {})
    auth = server.auth("trial-aaaaaaaaaaaa")
    for value in ('"high"', '{"accuracy": 0.9}', "NaN", "true", '{"__ndarray__": 0.5, "dtype": "float32", "shape": []}', "7"):
        assert (await server.call("PUT", "trial-aaaaaaaaaaaa", auth, json=_metric("trial-aaaaaaaaaaaa", 1, value=value))).status_code == 204
    values = [(m[3], m[4]) for m in server.backend.metrics]
    assert values[:2] == [(None, "high"), (None, {"accuracy": 0.9})]
    assert values[2][0] is None and values[3] == (None, True) and values[4][0] == 0.5 and values[5] == (7.0, 7)


async def test_a_get_before_parameters_exist_times_out_with_408(server):
    r = await server.call("GET", "trial-dddddddddddd", server.auth("trial-dddddddddddd"))
    assert r.status_code == 408
    server.backend.add("trial-dddddddddddd", 3, {"x": 1})

    async def later():
        await asyncio.sleep(0.1)
        server.backend.add("trial-eeeeeeeeeeee", 9, {"x": 2})

    task = asyncio.create_task(later())
    r = await server.call("GET", "trial-eeeeeeeeeeee", server.auth("trial-eeeeeeeeeeee"))  # the long poll sees it arrive
    await task
    assert r.status_code == 200 and json.loads(r.json()["parameter"])["parameter_id"] == 9


def test_the_key_is_made_once_private_and_kept(tmp_path):
    path = tmp_path / "data" / KEY_FILE
    first = TrialChannel(path)
    token = first.trial_token("trial-aaaaaaaaaaaa")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(path.read_bytes()) == 32
    assert [p.name for p in path.parent.iterdir()] == [KEY_FILE]  # no temporary file left behind
    again = TrialChannel(path)  # a restarted control plane: the same tokens
    assert again.trial_token("trial-aaaaaaaaaaaa") == token and again.check_token("trial-aaaaaaaaaaaa", token)
    assert token != again.trial_token("trial-bbbbbbbbbbbb") and len(token) == 64
    assert not again.check_token("trial-bbbbbbbbbbbb", token) and not again.check_token("trial-aaaaaaaaaaaa", "é" + token[1:])
    other = TrialChannel(tmp_path / "elsewhere" / KEY_FILE)  # another platform: other tokens
    assert other.trial_token("trial-aaaaaaaaaaaa") != token
    path.write_bytes(b"short")
    with pytest.raises(RuntimeError, match="not a 32-byte trial channel key"):
        TrialChannel(path).trial_token("x")


def test_trial_env_is_what_nnis_trial_keeper_sets(tmp_path):
    channel = TrialChannel(tmp_path / KEY_FILE)
    env = channel.trial_env("http://10.0.0.5:10101/services/cubelab/api/v1/", 12, "trial-0123456789ab", 4, output_dir="/out", code_dir="/ws")
    token = channel.trial_token("trial-0123456789ab")
    assert env == {
        "NNI_PLATFORM": "cubelab",
        "NNI_EXP_ID": "12",
        "NNI_TRIAL_JOB_ID": "trial-0123456789ab",
        "NNI_TRIAL_SEQ_ID": "4",
        "NNI_TRIAL_COMMAND_CHANNEL": f"http://trial-0123456789ab:{token}@10.0.0.5:10101/services/cubelab/api/v1/trial-channel/trial-0123456789ab",
        "NNI_OUTPUT_DIR": "/out",
        "NNI_SYS_DIR": "/out",
        "NNI_CODE_DIR": "/ws",
    }
    assert channel.channel_url("http://[::1]:8/api", "t").startswith(f"http://t:{channel.trial_token('t')}@[::1]:8/api/trial-channel/t")
    with pytest.raises(ValueError, match="http://"):
        channel.channel_url("https://cp.example/api", "t")  # NNI's SDK speaks plain HTTP only
