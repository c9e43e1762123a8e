"""The local engine running tasks as their runner's Unix account (as root, as CI
runs): real accounts of a test prefix, real processes, real cgroups."""

from __future__ import annotations

import asyncio
import os
import pwd
import stat
import sys
from pathlib import Path

import pytest

from cubelab_hub.domain.pipelines import pipeline_from_dict
from cubelab_hub.domain.templates import TemplateCatalog, builtin_templates
from cubelab_hub.engines.base import RunSpec
from cubelab_hub.engines.local import LocalEngine
from cubelab_hub.platform.cgroups import make_memory_cgroup, remove_cgroup
from cubelab_hub.platform.unix import UnixAccounts

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from support.platform import make_traversable, remove_unix_accounts, unix_prefix  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creating accounts needs root (CI runs as root)")

PROBE = (
    "import json, os, sys\n"
    "def probe(path):\n"
    "    try:\n"
    "        os.listdir(path) if os.path.isdir(path) else open(path, 'rb').read(1)\n"
    "        return 'ok'\n"
    "    except PermissionError:\n"
    "        return 'denied'\n"
    "print('PROBE ' + json.dumps({'uid': os.getuid(), 'euid': os.geteuid(), 'groups': sorted(os.getgroups()),\n"
    "    'nnp': [l.split()[1] for l in open('/proc/self/status') if l.startswith('NoNewPrivs')][0],\n"
    "    'capeff': [l.split()[1] for l in open('/proc/self/status') if l.startswith('CapEff')][0],\n"
    "    'paths': {p: probe(p) for p in sys.argv[1:]}}))\n"
)


@pytest.fixture
def unix():
    prefix = unix_prefix()
    accounts = UnixAccounts(prefix=prefix, enabled=True)
    yield accounts
    remove_unix_accounts(prefix)


@pytest.fixture
def base(tmp_path):
    make_traversable(tmp_path / "x")
    return tmp_path


def spec(tasks, run_id, runner, project="proj", edges=()):
    catalog = TemplateCatalog(builtin_templates())
    pipeline = pipeline_from_dict({"name": "iso", "tasks": tasks, "edges": [list(e) for e in edges]})
    return RunSpec(run_id=run_id, pipeline=pipeline, templates={t.name: catalog.get(t.template) for t in pipeline.tasks},
                   creator=runner, runner=runner, project=project)


async def run(engine, run_spec, timeout=60):
    await engine.submit(run_spec)
    return await asyncio.wait_for(engine.wait(run_spec.run_id), timeout)


def probe_result(log: str) -> dict:
    import json

    line = next(line for line in log.splitlines() if line.startswith("PROBE "))
    return json.loads(line[len("PROBE "):])


def py(name, code_args, **kw):
    return {"name": name, "template": "shell", "args": {"--command": code_args}, **kw}


async def test_tasks_run_as_the_runner_and_reach_only_their_own_run(unix, base):
    secret = base / "platform-secret"
    secret.write_text("s3cret\n")
    os.chmod(secret, 0o600)
    engine = LocalEngine(base / "runs", workspace_for=lambda u: base / "workspaces" / u, unix=unix, kill_grace=1)
    probe_file = base / "probe.py"
    probe_file.write_text(PROBE)
    os.chmod(probe_file, 0o644)

    # another user's run in another project: its log and outputs
    other = await run(engine, spec([py("write", "echo other-secret > $KFJ_TASK_OUTPUT_DIR/out; echo other-log")], "r-other", "mallory", "theirs"))
    assert other.status == "succeeded", other.tasks["write"]
    other_log = engine.runs_dir / "r-other" / "tasks" / "write" / "log.txt"
    other_out = engine.runs_dir / "r-other" / "tasks" / "write" / "out" / "out"

    tasks = [
        py("up", "echo upstream-data > $KFJ_TASK_OUTPUT_DIR/msg"),
        py("probe", f"cat $KFJ_UPSTREAM_UP_OUTPUT_DIR/msg; cat /proc/self/fd/1 >/dev/null && echo own-log-readable; "
                    f"{sys.executable} {probe_file} {secret} {engine.runs_dir} {other_log} {other_out} {base / 'workspaces' / 'mallory'} "
                    f"$HOME $KFJ_TASK_OUTPUT_DIR"),
    ]
    state = await run(engine, spec(tasks, "r-mine", "alice", "proj", edges=[("up", "probe")]))
    log = (engine.runs_dir / "r-mine" / "tasks" / "probe" / "log.txt").read_text()
    assert state.status == "succeeded", (state.tasks["probe"], log)
    assert "upstream-data" in log and "own-log-readable" in log
    result = probe_result(log)
    alice = pwd.getpwnam(unix.account_name("alice"))
    assert result["uid"] == result["euid"] == alice.pw_uid != 0
    assert sorted(result["groups"]) == sorted({alice.pw_gid, unix.group_id("proj")})
    assert result["nnp"] == "1" and int(result["capeff"], 16) == 0
    paths = result["paths"]
    assert paths[str(secret)] == "denied"
    assert paths[str(engine.runs_dir)] == "denied"  # the platform's bookkeeping: not listable
    assert paths[str(other_log)] == "denied" and paths[str(other_out)] == "denied"
    assert paths[str(base / "workspaces" / "mallory")] == "denied"
    assert list(paths.values())[-2:] == ["ok", "ok"]  # their own home and output directory
    # the engine's bookkeeping stays the platform's
    log_stat = (engine.runs_dir / "r-mine" / "tasks" / "probe" / "log.txt").stat()
    assert log_stat.st_uid == 0 and stat.S_IMODE(log_stat.st_mode) & 0o077 == 0
    home = (base / "workspaces" / "alice").stat()
    assert home.st_uid == alice.pw_uid and stat.S_IMODE(home.st_mode) == 0o700
    assert unix.account_name("alice") in __import__("grp").getgrnam(unix.group_name("proj")).gr_mem


async def test_memory_hungry_task_is_stopped_at_its_limit_and_says_why(unix, base):
    probe = make_memory_cgroup("cubelab-probe-iso", 1 << 30)
    if probe is None:
        pytest.skip("no memory cgroup can be created on this machine")
    remove_cgroup(probe)
    engine = LocalEngine(base / "runs", workspace_for=lambda u: base / "workspaces" / u, unix=unix, kill_grace=1)
    hog = {"name": "hog", "template": "python", "memory": "64M",
           "args": {"--code": "x = []\nwhile True: x.append(bytearray(8 << 20))"}}
    state = await run(engine, spec([hog], "r-hog", "alice"))
    task = state.tasks["hog"]
    log = (engine.runs_dir / "r-hog" / "tasks" / "hog" / "log.txt").read_text()
    assert task.status == "failed"
    assert "stopped at its memory limit (64M)" in task.message
    assert "[cubelab] stopped at its memory limit (64M)" in log
