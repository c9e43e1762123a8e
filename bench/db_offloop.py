"""How much database work stalls the control plane's event loop, three ways.

    python bench/db_offloop.py [--url URL] [--seconds 5] [--clients 20]

Seeds 10,000 pipelines and 2,000 runs (3 tasks each) through the control
plane's models, then for each mode runs, on one asyncio loop, ``--clients``
coroutines doing a typical read (a run with its tasks, as ``GET /runs/{id}``)
over and over while one coroutine reads every pipeline (a big list), and a
probe that wakes every 10 ms (a trivial handler such as ``/me``): its lateness
is the loop's latency. Modes:

- ``loop``: synchronous SQLAlchemy on the loop (what handlers did before);
- ``pool``: ``Database.run``, a bounded worker-thread pool (``--pool`` threads);
- ``async``: SQLAlchemy's asyncio extension (aiosqlite for SQLite, psycopg's
  async connection for PostgreSQL), when the driver is installed.

Prints p50/p99/max of the probe's lateness and of the typical read, and how many
reads of each kind finished. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "hub"))

from sqlalchemy import insert, select  # noqa: E402

from cubelab_hub.controlplane.db import Database  # noqa: E402
from cubelab_hub.controlplane.models.pipelines import PipelineRow, RunRow, TaskRunRow  # noqa: E402
from cubelab_hub.controlplane.store import pipeline_summary, run_view, utcnow  # noqa: E402

PIPELINES, RUNS = 10_000, 2_000


def seed(db: Database) -> list[str]:
    now = utcnow()
    body = {"name": "p", "project": "big", "description": "", "tasks": [{"name": t, "template": "shell"} for t in "abc"],
            "edges": [["a", "b"], ["b", "c"]]}
    with db.session() as s:
        s.execute(insert(PipelineRow), [{"name": f"p{i:05d}", "project": "big", "creator": "alice", "body": body,
                                         "schedule_enabled": False, "created_at": now, "updated_at": now} for i in range(PIPELINES)])
        ids = s.scalars(select(PipelineRow.id).limit(RUNS)).all()
        runs = [f"run-{i:012x}" for i in range(RUNS)]
        s.execute(insert(RunRow), [{"id": r, "pipeline_id": pid, "project": "big", "trigger": "manual", "runner": "alice",
                                    "engine": "local", "status": "succeeded", "message": "", "spec": {"pipeline": body},
                                    "engine_data": {}, "created_at": now} for r, pid in zip(runs, ids, strict=True)])
        s.execute(insert(TaskRunRow), [{"run_id": r, "name": t, "status": "succeeded", "attempts": 1, "message": "",
                                        "outputs": {}} for r in runs for t in "abc"])
    return runs


def typical(session, run_id):
    return run_view(session, session.get(RunRow, run_id))


def big(session):
    return [pipeline_summary(r, None) for r in session.scalars(select(PipelineRow)).all()]


async def measure(mode: str, db: Database, runs: list[str], seconds: float, clients: int, async_url: str | None = None,
                  pool: int = 8) -> dict:
    stop = time.monotonic() + seconds
    lateness, reads, bigs = [], [], [0]

    async def probe():
        while time.monotonic() < stop:
            t = time.monotonic()
            await asyncio.sleep(0.01)
            lateness.append(time.monotonic() - t - 0.01)

    if mode == "loop":
        async def call(fn, *args):
            with db.session() as s:
                return fn(s, *args)
    elif mode == "pool":
        call = db.run
    else:
        from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

        async_engine = create_async_engine(async_url, **({} if async_url.startswith("sqlite") else {"pool_size": pool}))

        async def call(fn, *args):
            async with AsyncSession(async_engine) as s:
                if fn is typical:
                    run = await s.get(RunRow, args[0])
                    tasks = (await s.scalars(select(TaskRunRow).where(TaskRunRow.run_id == run.id))).all()
                    return {"id": run.id, "tasks": [t.name for t in tasks]}
                return [pipeline_summary(r, None) for r in (await s.scalars(select(PipelineRow))).all()]

    async def reader():
        while time.monotonic() < stop:
            t = time.monotonic()
            await call(typical, random.choice(runs))
            reads.append(time.monotonic() - t)

    async def big_reader():
        while time.monotonic() < stop:
            await call(big)
            bigs[0] += 1

    await asyncio.gather(probe(), big_reader(), *(reader() for _ in range(clients)))
    if mode == "async":
        await async_engine.dispose()
    return {"mode": mode, "probe": lateness, "reads": reads, "bigs": bigs[0]}


def pct(values, q):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="SQLAlchemy URL of an empty database (default: a temporary SQLite file)")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--pool", type=int, default=8)
    args = parser.parse_args()
    tmp = None if args.url else tempfile.mkdtemp(prefix="cubelab-bench-")
    url = args.url or f"sqlite:///{tmp}/bench.sqlite"
    try:
        run(args, url)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def run(args, url: str) -> None:
    db = Database(url, pool_size=args.pool)
    db.upgrade()
    runs = seed(db)
    async_url = url.replace("sqlite:", "sqlite+aiosqlite:", 1) if url.startswith("sqlite:") else url
    try:
        __import__("aiosqlite" if url.startswith("sqlite") else "psycopg")
    except ImportError as exc:
        print(f"(async mode skipped: {exc})")
        async_url = None
    print(f"{url.split('?')[0]}: {PIPELINES} pipelines, {RUNS} runs; {args.clients} clients + 1 big reader, {args.seconds:.0f}s per mode")
    print(f"{'mode':6} {'loop p50':>9} {'loop p99':>9} {'loop max':>9} {'read p50':>9} {'read p99':>9} {'reads':>7} {'big':>5}  (ms)")
    for mode in ("loop", "pool", "async"):
        if mode == "async" and async_url is None:
            continue
        r = asyncio.run(measure(mode, db, runs, args.seconds, args.clients, async_url, args.pool))
        print(f"{mode:6} {pct(r['probe'], .5):9.1f} {pct(r['probe'], .99):9.1f} {max(r['probe'] or [0]) * 1000:9.1f} "
              f"{pct(r['reads'], .5):9.1f} {pct(r['reads'], .99):9.1f} {len(r['reads']):7d} {r['bigs']:5d}")
    db.close()


if __name__ == "__main__":
    main()
