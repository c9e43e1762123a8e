"""The control plane under load at scale, next to the hub's own API.

    python bench/api_load.py [--pipelines 10000] [--runs 100000] [--clients 50] [--duration 60] [--db-url URL]

Seeds ``--pipelines`` pipelines and ``--runs`` runs (one task run each) into a
fresh platform's control-plane database through the control plane's own storage
code (its migrations, models and ``store_pipeline``), starts the real platform
(``tests/support/platform.py``'s ``Platform``: hub, proxy, control plane on
127.0.0.1), registers ``--clients`` users, each with its own token, and has them
call, round-robin for ``--duration`` seconds:

- the first page of ``GET /pipelines`` and of ``GET /runs`` (the control plane),
- ``GET /me`` (the control plane, trivial),
- ``GET /hub/api/users`` (the hub's own API, the reference; listing users needs
  the hub's ``list:users`` scope, so these calls carry the admin's token).

Prints per endpoint the errors (status >= 400 or no answer), p50 and p99, each
as a ratio to the hub's ``/hub/api/users`` p99 in the same run, and the control
plane's peak resident memory. A benchmark, not a test: nothing leaves 127.0.0.1,
and the platform and its data are removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [str(ROOT / part) for part in ("hub", "spawner", "server_ext")]
sys.path[:0] = [*SOURCES, str(ROOT / "tests")]
# the hub, the control plane and user servers it starts run this checkout's code too
os.environ["PYTHONPATH"] = os.pathsep.join([*SOURCES, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))])

import aiohttp  # noqa: E402
import psutil  # noqa: E402
import requests  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402
from support.platform import Platform, register  # noqa: E402

from cubelab_hub.controlplane.db import Database  # noqa: E402
from cubelab_hub.controlplane.models.pipelines import PipelineRow, RunRow, TaskRunRow  # noqa: E402
from cubelab_hub.controlplane.services.templates import ensure_builtin_templates  # noqa: E402
from cubelab_hub.controlplane.store import store_pipeline, utcnow  # noqa: E402
from cubelab_hub.domain.pipelines import pipeline_from_dict  # noqa: E402

PROJECT = "public"  # every account is a member: every client sees every pipeline
ENDPOINTS = {
    "/pipelines": "/services/cubelab/api/v1/pipelines",
    "/runs": "/services/cubelab/api/v1/runs",
    "/me": "/services/cubelab/api/v1/me",
    "hub /hub/api/users": "/hub/api/users",
}
BATCH = 5_000


def seed(url: str, pipelines: int, runs: int) -> None:
    db = Database(url)
    db.upgrade()
    ensure_builtin_templates(db)
    started = time.monotonic()
    for first in range(0, pipelines, BATCH):
        with db.session() as s:
            for i in range(first, min(pipelines, first + BATCH)):
                body = {"name": f"p{i:06d}", "project": PROJECT,
                        "tasks": [{"name": "a", "template": "shell", "args": {"--command": "echo a"}},
                                  {"name": "b", "template": "shell", "args": {"--command": "echo b"}}],
                        "edges": [["a", "b"]]}
                row = PipelineRow(name=body["name"], project=PROJECT, creator="admin", body={}, schedule_enabled=False)
                store_pipeline(row, pipeline_from_dict(body))
                s.add(row)
    with db.session() as s:
        ids = s.scalars(select(PipelineRow.id)).all()
    now = utcnow()
    # one run a minute back in time, newest first, so "the latest run" of each pipeline is one row
    for first in range(0, runs, BATCH):
        chunk = range(first, min(runs, first + BATCH))
        with db.session() as s:
            s.execute(insert(RunRow), [
                {"id": f"run-{i:012x}", "pipeline_id": ids[i % len(ids)], "project": PROJECT, "trigger": "manual",
                 "runner": "admin", "engine": "local", "status": "succeeded", "message": "",
                 "spec": {"pipeline": {"name": f"p{i % len(ids):06d}", "tasks": [{"name": "a"}]}}, "engine_data": {},
                 "created_at": now - timedelta(minutes=i), "started_at": now - timedelta(minutes=i),
                 "finished_at": now - timedelta(minutes=i)} for i in chunk])
            s.execute(insert(TaskRunRow), [
                {"run_id": f"run-{i:012x}", "name": "a", "status": "succeeded", "attempts": 1, "exit_code": 0,
                 "message": "", "outputs": {}} for i in chunk])
    db.close()
    print(f"seeded {pipelines} pipelines and {runs} runs in {time.monotonic() - started:.1f}s")


def control_plane_process(platform: Platform) -> psutil.Process | None:
    for pid in platform.descendants():
        try:
            proc = psutil.Process(pid)
            if "cubelab_hub.controlplane" in " ".join(proc.cmdline()):
                return proc
        except psutil.NoSuchProcess:
            continue
    return None


class PeakRSS(threading.Thread):
    def __init__(self, proc: psutil.Process | None):
        super().__init__(daemon=True)
        self.proc, self.peak, self.stopped = proc, 0, threading.Event()

    def run(self) -> None:
        while self.proc is not None and not self.stopped.wait(0.25):
            try:
                self.peak = max(self.peak, self.proc.memory_info().rss)
            except psutil.NoSuchProcess:
                return


async def load(base: str, tokens: list[str], hub_token: str, duration: float) -> dict[str, dict]:
    results = {name: {"times": [], "errors": 0, "statuses": {}} for name in ENDPOINTS}
    stop = time.monotonic() + duration
    timeout = aiohttp.ClientTimeout(total=120)

    async def client(n: int, token: str) -> None:
        names = itertools.cycle(list(ENDPOINTS)[n % 4:] + list(ENDPOINTS)[:n % 4])
        async with aiohttp.ClientSession(timeout=timeout, headers={"Authorization": f"token {token}"}) as session:
            while time.monotonic() < stop:
                name = next(names)
                started = time.monotonic()
                headers = {"Authorization": f"token {hub_token}"} if name.startswith("hub ") else None
                try:
                    async with session.get(base + ENDPOINTS[name], headers=headers) as resp:
                        await resp.read()
                        status = resp.status
                except (TimeoutError, aiohttp.ClientError) as exc:
                    status = type(exc).__name__
                results[name]["times"].append(time.monotonic() - started)
                if not isinstance(status, int) or status >= 400:
                    results[name]["errors"] += 1
                    results[name]["statuses"][status] = results[name]["statuses"].get(status, 0) + 1

    await asyncio.gather(*(client(n, t) for n, t in enumerate(tokens)))
    return results


def quantile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pipelines", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60, help="seconds of load (at most 600)")
    parser.add_argument("--keep", action="store_true", help="keep the data directory and the platform's log")
    parser.add_argument("--db-url", help="the control plane's database (an empty one); default SQLite in the data directory")
    args = parser.parse_args()
    # stopped from outside (a CI time limit): still stop the platform and remove its data
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="cubelab-api-load-"))
    try:
        run(args, tmp)
    finally:
        if args.keep:
            print(f"data and platform log kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def run(args, tmp: Path) -> None:
    duration = min(max(args.duration, 1), 600)
    data = tmp / "data"
    data.mkdir()
    url = args.db_url or f"sqlite:///{data / 'controlplane.sqlite'}"
    seed(url, args.pipelines, args.runs)
    extra = ["--controlplane", f"db_url={args.db_url}"] if args.db_url else []
    platform = Platform(data, extra_args=extra, log_path=tmp / "platform.log")
    try:
        started = time.monotonic()
        platform.start(timeout=180)
        print(f"platform ready in {time.monotonic() - started:.1f}s at {platform.url}")
        tokens = [register(platform, f"load{n:03d}").token for n in range(args.clients)]
        hub_token = register(platform, platform.admin, platform.admin_password).token
        try:
            first = requests.get(platform.url + ENDPOINTS["/pipelines"], headers={"Authorization": f"token {tokens[0]}"}, timeout=120)
        except requests.Timeout:
            print("first page of /pipelines: no answer within 120s")
        else:
            seen = len(first.json().get("pipelines", []))
            print(f"first page of /pipelines: HTTP {first.status_code}, {seen} pipelines, {len(first.content)} bytes")
            if args.pipelines and not seen:
                raise SystemExit("the control plane does not see the seeded pipelines: is it on the seeded database?")
        rss = PeakRSS(control_plane_process(platform))
        rss.start()
        print(f"{args.clients} clients for {duration:.0f}s ...")
        results = asyncio.run(load(platform.url, tokens, hub_token, duration))
        rss.stopped.set()
        rss.join()
    finally:
        platform.stop()
    reference = quantile(results["hub /hub/api/users"]["times"], 0.99)
    print(f"\n{'endpoint':22} {'requests':>8} {'errors':>6} {'p50 s':>8} {'p99 s':>8} {'p50/hub p99':>11} {'p99/hub p99':>11}")
    for name, r in results.items():
        p50, p99 = quantile(r["times"], 0.5), quantile(r["times"], 0.99)
        print(f"{name:22} {len(r['times']):8d} {r['errors']:6d} {p50:8.3f} {p99:8.3f} {p50 / reference:11.2f} {p99 / reference:11.2f}"
              + (f"  {r['statuses']}" if r["statuses"] else ""))
    print(f"\ncontrol plane peak RSS: {rss.peak / 2**20:.0f} MiB ({args.pipelines} pipelines, {args.runs} runs)")


if __name__ == "__main__":
    main()
