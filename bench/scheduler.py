"""Time of one cron scheduler pass, with many schedules.

Schedules are every-minute cron schedules of one-task pipelines, seeded through
the control plane's own storage code (``store_pipeline``) into a migrated SQLite
database. Each pass is timed directly on :class:`Scheduler`, with the real
:class:`RunManager` in front of ``InstantEngine`` (tests/support/engines.py: runs
succeed at once, no processes), so the figure is the scheduler's and the run
service's own work. Cases:

- 1,000 and 10,000 schedules, none due (the pass right after the last tick);
- 1,000 schedules due (every one gets a run created in that pass).

The previous algorithm (compute ticks of every enabled schedule, each pass) is
kept here as ``WalkingScheduler`` and timed in the same run for comparison.

    .venv/bin/python bench/scheduler.py [--repeat 5] [--sizes 1000,10000] [--due 1000] [--no-walk]

Prints, per case: median and spread (min-max) of the pass time over the repetitions.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "hub"))
sys.path.insert(0, str(ROOT / "tests"))

from sqlalchemy import select  # noqa: E402
from support.engines import InstantEngine  # noqa: E402

from cubelab_hub.controlplane.db import Database  # noqa: E402
from cubelab_hub.controlplane.models.pipelines import PipelineRow, RunRow, ScheduleRecordRow, aware  # noqa: E402
from cubelab_hub.controlplane.services.runs import RunManager  # noqa: E402
from cubelab_hub.controlplane.services.scheduler import Scheduler  # noqa: E402
from cubelab_hub.controlplane.services.templates import ensure_builtin_templates  # noqa: E402
from cubelab_hub.controlplane.store import row_to_pipeline, store_pipeline  # noqa: E402
from cubelab_hub.domain.errors import FieldErrors  # noqa: E402
from cubelab_hub.domain.pipelines import pipeline_from_dict  # noqa: E402
from cubelab_hub.domain.schedules import due_ticks  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)
BASELINE = "issue's measured baseline of the previous algorithm (run creation stubbed): 9.2 s at 1,000 and 63 s at 10,000 per pass"


class WalkingScheduler(Scheduler):
    """The previous phase 1: every enabled schedule's ticks computed on every pass."""

    async def _record_ticks(self, now: datetime) -> None:
        with self.db.session() as session:
            for row in session.scalars(select(PipelineRow).where(PipelineRow.schedule_enabled.is_(True))).all():
                try:
                    settings = row_to_pipeline(row).schedule
                except FieldErrors:
                    continue
                plan = due_ticks(settings, aware(row.last_tick), now, aware(row.schedule_enabled_at))
                ticks = [t.astimezone(UTC) for t in plan.expired + plan.run]
                if not ticks:
                    continue
                existing = {aware(t) for t in session.scalars(select(ScheduleRecordRow.tick).where(
                    ScheduleRecordRow.pipeline_id == row.id, ScheduleRecordRow.tick.in_(ticks))).all()}
                for tick in plan.run:
                    if tick not in existing:
                        session.add(ScheduleRecordRow(pipeline_id=row.id, tick=tick.astimezone(UTC), status="comed", reason=""))
                row.last_tick = max(ticks)


def seed(db: Database, count: int) -> None:
    with db.session() as session:
        for i in range(count):
            body = {"name": f"p{i}", "project": "bench", "tasks": [{"name": "a", "template": "shell", "args": {"--command": "true"}}],
                    "schedule": {"enabled": True, "cron": "* * * * *"}}
            row = PipelineRow(name=f"p{i}", project="bench", creator="alice", body={}, schedule_enabled=False)
            store_pipeline(row, pipeline_from_dict(body))
            row.schedule_enabled_at = T0
            session.add(row)


def world(directory: Path, count: int, kind, case: str):
    db = Database(f"sqlite:///{directory / f'{case}-{kind.__name__}-{count}.sqlite'}")
    db.upgrade()
    ensure_builtin_templates(db)
    engine = InstantEngine("local")
    manager = RunManager(db, engines={"local": engine})
    engine.add_listener(manager.on_event)
    seed(db, count)
    return db, manager, kind(db, manager)


async def settle(db: Database, manager: RunManager) -> None:
    """Runs of the previous minute finish, so max_active_runs does not hold the next."""
    for _ in range(500):
        manager.flush()
        with db.session() as session:
            if not session.scalar(select(RunRow.id).where(RunRow.status.in_(("pending", "running"))).limit(1)):
                return
        await asyncio.sleep(0.01)


async def case_none_due(directory: Path, count: int, kind, repeat: int) -> list[float]:
    db, manager, scheduler = world(directory, count, kind, "idle")
    await scheduler.run_pass(T0 + timedelta(seconds=30))  # plans every schedule once (nothing due yet)
    times = []
    for i in range(repeat):
        now = T0 + timedelta(seconds=31 + i)  # still before the first tick at 00:01
        start = time.perf_counter()
        await scheduler.run_pass(now)
        times.append(time.perf_counter() - start)
    return times


async def case_due(directory: Path, count: int, kind, repeat: int) -> list[float]:
    db, manager, scheduler = world(directory, count, kind, "due")
    await scheduler.run_pass(T0 + timedelta(seconds=30))
    times = []
    for minute in range(1, repeat + 1):
        await settle(db, manager)
        now = T0 + timedelta(minutes=minute, seconds=1)
        start = time.perf_counter()
        await scheduler.run_pass(now)
        times.append(time.perf_counter() - start)
        with db.session() as session:
            created = len(session.scalars(select(ScheduleRecordRow.id).where(
                ScheduleRecordRow.tick == (T0 + timedelta(minutes=minute)), ScheduleRecordRow.status == "created")).all())
        assert created == count, f"minute {minute}: {created} of {count} runs created"
    await settle(db, manager)
    return times


def report(label: str, times: list[float]) -> None:
    ms = [t * 1000 for t in times]
    print(f"  {label:<44} median {statistics.median(ms):9.1f} ms   spread {min(ms):.1f}-{max(ms):.1f} ms   (n={len(ms)})", flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sizes", default="1000,10000", help="schedule counts for the none-due case")
    parser.add_argument("--due", type=int, default=1000, help="schedule count for the all-due case (0: skip)")
    parser.add_argument("--no-walk", action="store_true", help="skip the previous algorithm (slow at 10,000)")
    args = parser.parse_args()
    kinds = [Scheduler] + ([] if args.no_walk else [WalkingScheduler])
    with tempfile.TemporaryDirectory(prefix="cubelab-bench-sched-") as tmp:
        directory = Path(tmp)
        for count in (int(n) for n in args.sizes.split(",") if n):
            print(f"{count} every-minute schedules, none due:", flush=True)
            for kind in kinds:
                report(kind.__name__, await case_none_due(directory, count, kind, args.repeat))
        if args.due:
            print(f"{args.due} every-minute schedules, all due (all runs created in the pass):", flush=True)
            for kind in kinds:
                report(kind.__name__, await case_due(directory, args.due, kind, args.repeat))
    print(f"(for reference: the {BASELINE})")


if __name__ == "__main__":
    asyncio.run(main())
