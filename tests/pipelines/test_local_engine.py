"""The local engine end to end with real processes: fan-out, fan-in, retries,
skip, timeout, outputs downstream, KFJ_* env, parallelism, cancel of whole
process trees, log following, partial runs, and re-attach after a crash."""

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from cubelab_hub.domain.pipelines import pipeline_from_dict, validate
from cubelab_hub.domain.templates import TemplateCatalog, builtin_templates, template_from_dict
from cubelab_hub.engines.base import RunSpec, RunState, TaskState
from cubelab_hub.engines.local import LocalEngine

HERE = Path(__file__).parent

# a container-kind template whose command is a real program: it prints its argv and
# KFJ_* env as JSON and writes its declared output through the outputPath flag
ECHO = template_from_dict({
    "name": "echo-args", "image": "python:3.11",
    "command": [sys.executable, "-c",
                "import json,os,sys; a=sys.argv[1:]; print(json.dumps({'argv': a, 'env': {k: v for k, v in os.environ.items() "
                "if k.startswith(('KFJ_', 'USERNAME', 'MY_', 'NVIDIA'))}}));"
                "o=a[a.index('--result')+1] if '--result' in a else None; o and open(o,'w').write('42\\n')"],
    "args": {"g": {"--epochs": {"type": "int", "default": 1}, "--verbose": {"type": "bool", "default": False},
                   "--layers": {"type": "list", "default": "[]"}, "--name": {"type": "str", "default": ""},
                   "--model": {"type": "str", "default": ""}}},
    "outputs": [{"name": "result", "flag": "--result"}],
    "env": "MY_TEMPLATE_ENV=from-template",
})


def catalog():
    return TemplateCatalog(builtin_templates() + [ECHO])


# the shortest back-off between attempts, so tests of retries stay quick
QUICK = {"delay": "1s", "factor": 1, "max_delay": "1s"}


def sh(name, cmd, **kw):
    return {"name": name, "template": "shell", "args": {"--command": cmd}, **kw}


def make_spec(body, run_id="r1", **kw) -> RunSpec:
    body.setdefault("name", "demo")
    cat = catalog()
    pipeline = pipeline_from_dict(body)
    errors = [d for d in validate(pipeline, cat) if d.severity == "error"]
    assert errors == [], errors
    return RunSpec(run_id=run_id, pipeline=pipeline, templates={t.name: cat.get(t.template) for t in pipeline.tasks},
                   creator="alice", runner="bob", project="proj", **kw)


@pytest.fixture
def engine(tmp_path):
    eng = LocalEngine(tmp_path / "runs", workspace_for=lambda u: tmp_path / "ws" / u, kill_grace=1, sample_interval=0.1)
    yield eng


async def run(engine, spec, timeout=30) -> RunState:
    await engine.submit(spec)
    return await asyncio.wait_for(engine.wait(spec.run_id), timeout)


def log_of(engine, run_id, task) -> str:
    return (engine.runs_dir / run_id / "tasks" / task / "log.txt").read_text()


async def test_dag_end_to_end(engine):
    events = []
    engine.add_listener(lambda e: events.append((e.kind, e.task.name if e.task else None, e.task.status if e.task else e.run.status)))
    body = {
        "env": "MY_GLOBAL=g1",
        "tasks": [
            sh("prep", "echo prepared > $KFJ_TASK_OUTPUT_DIR/msg; echo prep-stdout; echo prep-stderr >&2"),
            # fan-out
            {"name": "train", "template": "echo-args", "args": {"--epochs": 3, "--verbose": True, "--layers": [64, 32],
                                                               "--name": "{{tasks.prep.outputs.msg}}", "--model": "{{tasks.prep.outputs.path}}"}},
            sh("flaky", "n=$(cat $KFJ_TASK_WORK_DIR/count 2>/dev/null || echo 0); echo $((n+1)) > $KFJ_TASK_WORK_DIR/count; "
                        "echo attempt $((n+1)); [ $n -ge 2 ]", retries=2, retry_backoff=QUICK),
            sh("broken", "echo going down; exit 7", retries=1, retry_backoff=QUICK),
            sh("slow", "sleep 30", timeout=1),
            sh("skipped", "echo never", skip=True),
            # fan-in
            {"name": "join", "template": "logical"},
            sh("after-join", "cat $KFJ_UPSTREAM_PREP_OUTPUT_DIR/msg; echo result={{tasks.train.outputs.result}}"),
            sh("after-broken", "echo never"),
            sh("after-slow", "echo never"),
            sh("after-after", "echo never"),
        ],
        "edges": [["prep", "train"], ["prep", "flaky"], ["prep", "broken"], ["prep", "slow"], ["train", "join"], ["flaky", "join"],
                  ["skipped", "join"], ["join", "after-join"], ["prep", "after-join"], ["train", "after-join"], ["broken", "after-broken"],
                  ["slow", "after-slow"], ["after-broken", "after-after"]],
    }
    t0 = time.monotonic()
    state = await run(engine, make_spec(body))
    assert time.monotonic() - t0 < 15
    tasks = state.tasks
    status = {n: t.status for n, t in tasks.items()}
    assert status == {
        "prep": "succeeded", "train": "succeeded", "flaky": "succeeded", "broken": "failed", "slow": "failed", "skipped": "skipped",
        "join": "succeeded", "after-join": "succeeded", "after-broken": "upstream-failed", "after-slow": "upstream-failed",
        "after-after": "upstream-failed",
    }
    assert state.status == "failed" and "broken" in state.message and "slow" in state.message
    assert tasks["flaky"].attempts == 3 and tasks["flaky"].exit_code == 0
    assert tasks["broken"].attempts == 2 and tasks["broken"].exit_code == 7 and tasks["broken"].message == "exit code 7"
    assert tasks["slow"].attempts == 1 and "timed out after 1s" in tasks["slow"].message
    assert tasks["after-broken"].message == "upstream broken failed" and tasks["after-broken"].attempts == 0
    for name in ("prep", "train", "broken"):
        assert tasks[name].started_at <= tasks[name].finished_at
    # logs: stdout and stderr, all attempts
    assert "prep-stdout" in log_of(engine, "r1", "prep") and "prep-stderr" in log_of(engine, "r1", "prep")
    flaky_log = log_of(engine, "r1", "flaky")
    assert "attempt 1" in flaky_log and "attempt 3" in flaky_log and "[cubelab] attempt 3 of 3" in flaky_log
    # arguments as --name value, a true bool as a bare flag, lists as JSON, references resolved
    train = json.loads(log_of(engine, "r1", "train").splitlines()[0])
    out_dir = tasks["prep"].outputs["path"]
    result_path = str(Path(tasks["train"].outputs["path"]) / "result")
    assert train["argv"] == ["--epochs", "3", "--verbose", "--layers", "[64,32]", "--name", "prepared", "--model", out_dir, "--result", result_path]
    env = train["env"]
    assert env["KFJ_RUN_ID"] == "r1" and env["KFJ_TASK_NAME"] == "train" and env["KFJ_CREATOR"] == "alice" and env["KFJ_RUNNER"] == "bob"
    assert env["USERNAME"] == "bob" and env["KFJ_PIPELINE_NAME"] == "demo" and env["KFJ_TASK_PROJECT_NAME"] == "proj"
    assert env["KFJ_TASK_RESOURCE_CPU"] == "1" and env["KFJ_TASK_RESOURCE_MEMORY"] == "2G" and env["KFJ_TASK_RESOURCE_GPU"] == "0"
    assert env["NVIDIA_VISIBLE_DEVICES"] == "none" and env["KFJ_TASK_IMAGES"] == "python:3.11"
    assert env["MY_GLOBAL"] == "g1" and env["MY_TEMPLATE_ENV"] == "from-template"
    assert env["KFJ_UPSTREAM_PREP_OUTPUT_DIR"] == out_dir
    assert tasks["train"].outputs["result"] == "42"
    after = log_of(engine, "r1", "after-join")
    assert "prepared" in after and "result=42" in after
    # every task reported running before its final status; the run ended last
    assert events[-1] == ("run", None, "failed")
    assert ("task", "prep", "running") in events and events.index(("task", "prep", "running")) < events.index(("task", "prep", "succeeded"))


async def test_control_plane_secrets_do_not_reach_tasks(engine, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "secret-token")
    state = await run(engine, make_spec({"tasks": [sh("a", "env")]}))
    assert state.status == "succeeded"
    assert "secret-token" not in log_of(engine, "r1", "a") and "PATH=" in log_of(engine, "r1", "a")


async def test_parallelism_limits_concurrency(engine):
    cmd = "echo start $(date +%s.%N) >> ../../../times; sleep 0.4; echo end $(date +%s.%N) >> ../../../times"
    spec = make_spec({"parallelism": 2, "tasks": [sh(f"t{i}", cmd) for i in range(5)]})
    state = await run(engine, spec)
    assert state.status == "succeeded"
    events = []
    for line in (engine.runs_dir / "r1" / "times").read_text().split("\n"):
        if line:
            kind, t = line.split()
            events.append((float(t), 1 if kind == "start" else -1))
    running = peak = 0
    for _, delta in sorted(events, key=lambda e: (e[0], e[1])):
        running += delta
        peak = max(peak, running)
    assert peak == 2


async def test_cancel_kills_whole_process_trees(engine):
    # a task whose child starts a grandchild that even leaves the session
    cmd = "sleep 60 & setsid sleep 61 & echo started; wait"
    spec = make_spec({"tasks": [sh("a", cmd), sh("b", cmd), sh("later", "echo never")], "edges": [["a", "later"]]})
    await engine.submit(spec)
    for _ in range(100):
        st = await engine.status("r1")
        if all(st.tasks[n].status == "running" for n in "ab") and "started" in log_of(engine, "r1", "a") and "started" in log_of(engine, "r1", "b"):
            break
        await asyncio.sleep(0.05)
    sleepers = [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] in (["sleep", "60"], ["sleep", "61"])]
    ours = [p for p in sleepers if p.ppid() == 1 or any(a.pid in {st.tasks["a"].pid, st.tasks["b"].pid} for a in p.parents())]
    assert len(ours) >= 2
    t0 = time.monotonic()
    state = await asyncio.wait_for(engine.cancel("r1"), 10)
    assert time.monotonic() - t0 < 5
    assert state.status == "cancelled"
    assert {n: t.status for n, t in state.tasks.items()} == {"a": "cancelled", "b": "cancelled", "later": "cancelled"}
    await asyncio.sleep(0.2)
    assert not [p for p in ours if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


async def test_follow_log_streams_while_running(engine):
    spec = make_spec({"tasks": [sh("a", "for i in 1 2 3; do echo line$i; sleep 0.3; done")]})
    await engine.submit(spec)
    chunks = []
    async for chunk in engine.logs("r1", "a", follow=True):
        chunks.append(((await engine.status("r1")).tasks["a"].status, chunk))
    text = b"".join(c for _, c in chunks).decode()
    assert text == "line1\nline2\nline3\n"
    assert chunks[0] == ("running", b"line1\n")  # the first line arrived while the task still ran
    assert (await engine.status("r1")).tasks["a"].status == "succeeded"


async def test_partial_runs_reuse_outputs(engine, tmp_path):
    body = {"tasks": [sh("a", "echo A > $KFJ_TASK_OUTPUT_DIR/v; echo wrote-a"), sh("b", "cat {{tasks.a.outputs.path}}/v"), sh("c", "echo c")],
            "edges": [["a", "b"]]}
    first = await run(engine, make_spec(dict(body), "r1"))
    assert first.status == "succeeded"
    # debug only 'b': 'a' is reused, 'c' is not part of the run
    spec = make_spec(dict(body), "r2", only_tasks={"b"}, reuse={"a": first.tasks["a"]})
    second = await run(engine, spec)
    assert second.status == "succeeded"
    assert second.tasks["a"].status == "succeeded" and second.tasks["a"].message == "reused from an earlier run"
    assert second.tasks["c"].status == "skipped" and second.tasks["b"].attempts == 1
    assert log_of(engine, "r2", "b") == "A\n"
    assert log_of(engine, "r2", "a") == "wrote-a\n"  # the reused task's log is the earlier one
    assert (engine.runs_dir / "r2" / "tasks" / "a" / "log.txt").resolve() == (engine.runs_dir / "r1" / "tasks" / "a" / "log.txt").resolve()


async def test_bad_reference_fails_the_task_with_reason(engine):
    spec = make_spec({"tasks": [sh("a", "true"), sh("b", "echo {{tasks.a.outputs.missing}}")], "edges": [["a", "b"]]})
    state = await run(engine, spec)
    assert state.tasks["b"].status == "failed"
    assert "did not write output 'missing'" in state.tasks["b"].message


async def test_python_and_notebook_builtins(engine, tmp_path):
    ws = tmp_path / "ws" / "bob"
    (ws / "jobs").mkdir(parents=True)
    (ws / "jobs" / "hello.py").write_text("import sys; print('script', sys.argv[1:])")
    nb = {"cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "x = 1", "outputs": [], "execution_count": None},
                    {"cell_type": "code", "metadata": {}, "source": "print('x is', x)", "outputs": [], "execution_count": None}],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}
    (ws / "nb.ipynb").write_text(json.dumps(nb))
    spec = make_spec({"tasks": [
        {"name": "code", "template": "python", "args": {"--code": "print('code ran')"}},
        {"name": "script", "template": "python", "args": {"--script": "jobs/hello.py", "--args": "a 'b c'"}},
        {"name": "escape", "template": "python", "args": {"--script": "../../etc/passwd"}},
        {"name": "nb", "template": "notebook", "args": {"--notebook": "nb.ipynb", "--parameters": {"x": 5}}},
    ]})
    state = await run(engine, spec, timeout=90)
    assert log_of(engine, "r1", "code") == "code ran\n"
    assert log_of(engine, "r1", "script") == "script ['a', 'b c']\n"
    assert state.tasks["escape"].status == "failed" and "outside the workspace" in state.tasks["escape"].message
    assert state.tasks["nb"].status == "succeeded", log_of(engine, "r1", "nb")
    executed = json.loads((Path(state.tasks["nb"].outputs["path"]) / "nb.ipynb").read_text())
    assert "x is 5" in json.dumps(executed["cells"])


async def test_peaks_are_sampled(engine):
    code = "import time; b = bytearray(80 * 2**20); t = time.time()\nwhile time.time() - t < 0.8: pass"
    state = await run(engine, make_spec({"tasks": [{"name": "burn", "template": "python", "args": {"--code": code}}]}))
    burn = state.tasks["burn"]
    assert burn.peak_memory > 80 * 2**20
    assert burn.peak_cpu > 0.1  # a busy loop; other work on a shared machine may take part of the core


def _wait_for(predicate, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _start_host(tmp_path, body):
    spec = make_spec(body, "crash-run")
    data = {"run_id": spec.run_id, "pipeline": spec.pipeline.to_dict(), "templates": {k: v.to_dict() for k, v in spec.templates.items()}}
    spec_path, state_path = tmp_path / "spec.json", tmp_path / "state.json"
    spec_path.write_text(json.dumps(data))
    proc = subprocess.Popen([sys.executable, str(HERE / "engine_host.py"), str(tmp_path / "runs"), str(state_path), str(spec_path)])
    return spec, proc, state_path


def _saved(state_path) -> RunState:
    data = json.loads(state_path.read_text())
    return RunState(run_id=data["run_id"], status=data["status"], tasks={k: TaskState.from_dict(v) for k, v in data["tasks"].items()},
                    engine_data=data["engine_data"])


async def test_restart_reattaches_running_tasks(tmp_path):
    body = {"tasks": [sh("long", "sleep 1.5; echo finished > $KFJ_TASK_OUTPUT_DIR/v"), sh("next", "cat {{tasks.long.outputs.path}}/v")],
            "edges": [["long", "next"]]}
    spec, proc, state_path = _start_host(tmp_path, body)
    _wait_for(lambda: state_path.exists() and json.loads(state_path.read_text())["tasks"]["long"]["status"] == "running")
    proc.send_signal(signal.SIGKILL)  # a crash: no clean-up code runs
    proc.wait()
    saved = _saved(state_path)
    pid = saved.tasks["long"].pid
    assert psutil.pid_exists(pid)  # the task outlived its control plane
    engine = LocalEngine(tmp_path / "runs", kill_grace=1)
    await engine.reattach(spec, saved)
    state = await asyncio.wait_for(engine.wait("crash-run"), 20)
    assert state.status == "succeeded"
    assert state.tasks["long"].exit_code == 0 and state.tasks["long"].attempts == 1
    assert (tmp_path / "runs" / "crash-run" / "tasks" / "next" / "log.txt").read_text() == "finished\n"


async def test_restart_fails_tasks_that_vanished_with_a_reason(tmp_path):
    body = {"tasks": [sh("long", "sleep 30"), sh("next", "echo never")], "edges": [["long", "next"]]}
    spec, proc, state_path = _start_host(tmp_path, body)
    _wait_for(lambda: state_path.exists() and json.loads(state_path.read_text())["tasks"]["long"]["status"] == "running")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = _saved(state_path)
    os.killpg(saved.tasks["long"].pid, signal.SIGKILL)  # the task dies too, leaving no exit status
    _wait_for(lambda: not psutil.pid_exists(saved.tasks["long"].pid) or psutil.Process(saved.tasks["long"].pid).status() == psutil.STATUS_ZOMBIE)
    engine = LocalEngine(tmp_path / "runs", kill_grace=1)
    await engine.reattach(spec, saved)
    state = await asyncio.wait_for(engine.wait("crash-run"), 20)
    assert state.status == "failed"
    assert state.tasks["long"].status == "failed" and "lost while the control plane restarted" in state.tasks["long"].message
    assert state.tasks["next"].status == "upstream-failed"


async def test_upstream_outputs_never_become_shell_text(engine, tmp_path):
    marker = tmp_path / "pwned"
    spec = make_spec({"tasks": [
        sh("a", f"printf '%s' '$(touch {marker}); x' > $KFJ_TASK_OUTPUT_DIR/v"),
        sh("b", "echo got:{{tasks.a.outputs.v}}"),
    ], "edges": [["a", "b"]]})
    state = await run(engine, spec)
    assert state.status == "succeeded"
    assert log_of(engine, "r1", "b") == f"got:$(touch {marker}); x\n"
    assert not marker.exists()


async def test_timeout_applies_to_each_attempt(engine):
    # each attempt sleeps 0.8s against a 1s timeout: a total budget would kill the second
    cmd = "n=$(cat ../count 2>/dev/null || echo 0); echo $((n+1)) > ../count; sleep 0.8; [ $n -ge 1 ]"
    state = await run(engine, make_spec({"tasks": [sh("a", cmd, timeout=1, retries=1, retry_backoff=QUICK)]}))
    assert state.tasks["a"].status == "succeeded" and state.tasks["a"].attempts == 2


async def test_retries_back_off_and_the_log_says_when_the_next_attempt_starts(engine):
    events = []
    engine.add_listener(lambda e: e.task and e.task.name == "a" and events.append((e.task.status, e.task.message)))
    cmd = "date +%s.%N >> ../starts; exit 3"
    backoff = {"delay": "1s", "factor": 2, "max_delay": "3s"}
    state = await run(engine, make_spec({"tasks": [sh("a", cmd, retries=3, retry_backoff=backoff)]}))
    assert state.tasks["a"].status == "failed" and state.tasks["a"].attempts == 4 and state.tasks["a"].message == "exit code 3"
    starts = [float(t) for t in (engine.runs_dir / "r1" / "tasks" / "a" / "starts").read_text().split()]
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    # 1 s, then 2 s, then 2 * 2 = 4 s capped at 3 s (what the processes saw, not what was logged)
    assert [round(g) for g in gaps] == [1, 2, 3], gaps
    log = log_of(engine, "r1", "a")
    notes = re.findall(r"\[cubelab\] attempt (\d) of 4 starts at (\d\d:\d\d:\d\d) UTC \(in (\d+) s\)", log)
    assert [(n, w) for n, _, w in notes] == [("2", "1"), ("3", "2"), ("4", "3")], log
    # the task's message says it too while it waits
    assert any("exit code 3; attempt 2 of 4 starts at" in m for _, m in events), events


async def test_cancel_ends_a_back_off_wait(engine):
    spec = make_spec({"tasks": [sh("a", "exit 1", retries=2, retry_backoff={"delay": "1h", "max_delay": "1h"})]})
    await engine.submit(spec)
    log = engine.runs_dir / "r1" / "tasks" / "a" / "log.txt"
    for _ in range(100):
        if log.exists() and "starts at" in log.read_text():
            break
        await asyncio.sleep(0.05)
    t0 = time.monotonic()
    await engine.cancel("r1")
    state = await asyncio.wait_for(engine.wait("r1"), 10)
    assert state.tasks["a"].status == "cancelled" and state.tasks["a"].attempts == 1
    assert time.monotonic() - t0 < 5


async def test_restart_adopts_a_process_the_saved_state_never_heard_of(tmp_path):
    body = {"tasks": [sh("long", "echo started; sleep 1.5; echo finished > $KFJ_TASK_OUTPUT_DIR/v")]}
    spec, proc, state_path = _start_host(tmp_path, body)
    _wait_for(lambda: state_path.exists() and json.loads(state_path.read_text())["tasks"]["long"]["status"] == "running")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = _saved(state_path)
    pid = saved.tasks["long"].pid
    # as if the crash came between starting the process and storing that it started
    saved.tasks["long"] = TaskState(name="long")
    engine = LocalEngine(tmp_path / "runs", kill_grace=1)
    await engine.reattach(spec, saved)
    state = await asyncio.wait_for(engine.wait("crash-run"), 20)
    long = state.tasks["long"]
    assert state.status == "succeeded" and long.attempts == 1 and long.exit_code == 0
    assert long.pid is None and pid is not None
    assert (tmp_path / "runs" / "crash-run" / "tasks" / "long" / "log.txt").read_text() == "started\n"  # not started twice
