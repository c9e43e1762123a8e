"""Usage over time: what pipeline tasks, trials, notebook servers and services'
replicas held, per UTC day, per project and per user.

- A task's (or trial's) hours are recorded when the engine reports its end:
  its run's snapshot says what it held (its limits, as quotas count them) and
  who ran it.
- Servers and replicas are only known while they run (the hub and the replica
  supervisor keep current state), so a pass every ``interval`` seconds records
  each one seen as an open session, and closes the ones gone since, at the
  time they were last seen.
- Closed work is cut into days (``usage_days``, each piece once) and added to
  the day's sums per project and per user (``usage_totals``) in the same
  transaction; a request reads the sums of its day range (days x keys rows,
  not one per piece of work) and adds the sessions still open, which are as
  many as what runs now.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from sqlalchemy import select

from ...domain.quotas import Usage, run_demands, usage_of_options
from ...domain.usage_days import DEFAULT_TOP, Interval, day_keys, keep_top, pieces_of, series
from ...engines.base import TASK_FINAL
from ...storage import insert_once, upsert, upsert_add
from ..models.admin import UsageDayRow, UsageSessionRow, UsageTotalRow
from ..models.pipelines import RunRow, TaskRunRow, aware

log = logging.getLogger("cubelab.usage")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _active(server: dict) -> bool:
    return bool(server.get("ready") or server.get("pending")) and not server.get("stopped")


def _hub_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return aware(datetime.fromisoformat(text.replace("Z", "+00:00")))


def _add_pieces(session, ref: str, interval: Interval, now: datetime) -> None:
    for piece in pieces_of(interval, now):
        # the unique (ref, day): an end reported twice is counted once (the first report)
        if not insert_once(session, UsageDayRow.__table__, {
                "day": piece.day, "kind": piece.kind, "ref": ref, "project": piece.project, "user": piece.user,
                "cpu_seconds": piece.cpu_seconds, "gpu_seconds": piece.gpu_seconds}, keys=("ref", "day")):
            continue
        # the day's sums, in the same transaction: a request reads them, not the pieces
        for dimension, key in (("project", piece.project), ("user", piece.user)):
            upsert_add(session, UsageTotalRow.__table__, {
                "dimension": dimension, "day": piece.day, "key": key,
                "cpu_seconds": piece.cpu_seconds, "gpu_seconds": piece.gpu_seconds},
                keys=("dimension", "day", "key"), add=("cpu_seconds", "gpu_seconds"))


def usage_totals_query(by: str, first_day: str):
    """Seconds per (project or user, day) from ``first_day`` on: one range of
    the kept sums' index, days x keys rows however many pieces of work were
    recorded (bench/admin.py shows its plan)."""
    return (select(UsageTotalRow.key, UsageTotalRow.day, UsageTotalRow.cpu_seconds, UsageTotalRow.gpu_seconds)
            .where(UsageTotalRow.dimension == by, UsageTotalRow.day >= first_day))


class UsageHistory:
    """``runs``: the RunManager (engines' events, its run snapshots, what runs now);
    ``replicas``: () -> the services' replicas running now (may be None)."""

    def __init__(self, database, hub_client, runs, replicas=None, interval: float = 60.0):
        self.db = database
        self.hub = hub_client
        self.runs = runs
        self.replicas = replicas
        self.interval = interval
        self._tasks: set[asyncio.Task] = set()
        for engine in runs.engines.values():
            engine.add_listener(self.on_event)

    # ------------------------------------------------------------ what runs now

    async def running(self) -> list[dict]:
        """Everything that holds resources now, as the control plane knows it:
        notebook servers (the hub), running tasks and trials, services' replicas."""
        found: list[dict] = []
        for user in await self.hub.list_active_users():
            for name, server in (user.get("servers") or {}).items():
                if not _active(server):
                    continue
                options = server.get("user_options") or {}
                found.append(self._holder("server", f"{user['name']}/{name}", options.get("project") or "", user["name"],
                                          usage_of_options(options), _hub_time(server.get("started"))))
        tasks = self.runs.running_tasks()
        if tasks:
            ids = sorted({run_id for run_id, _, _, _ in tasks})
            owners = await self.db.run(lambda s: {r.id: (r.runner, r.trigger) for r in s.execute(
                select(RunRow.id, RunRow.runner, RunRow.trigger).where(RunRow.id.in_(ids)))})
            for run_id, project, task, used in tasks:
                runner, trigger = owners.get(run_id, ("", "manual"))
                found.append(self._holder("trial" if trigger == "trial" else "task", f"{run_id}/{task}", project, runner, used, None))
        for replica in (self.replicas() if self.replicas else []):
            service = replica.service
            used = Usage(service.cpu.limit, service.memory.limit, service.gpu.count)
            found.append(self._holder("service", f"{service.name}/{replica.index}", service.project, service.owner, used,
                                      aware(replica.started_at)))
        return found

    @staticmethod
    def _holder(kind: str, ident: str, project: str, user: str, used: Usage, started: datetime | None) -> dict:
        return {"kind": kind, "id": ident, "project": project or None, "user": user, "cpu": float(used.cpu),
                "memory": int(used.memory), "gpu": int(used.gpu), "started": started}

    # ------------------------------------------------------------ tasks and trials

    def on_event(self, event) -> None:
        """An engine's event: a task that ended after running is recorded."""
        task = event.task
        if event.kind != "task" or task is None or task.status not in TASK_FINAL or not task.started_at or not task.finished_at:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        job = loop.create_task(self._record_task(event.run_id, task.name, task.started_at, task.finished_at))
        self._tasks.add(job)
        job.add_done_callback(self._tasks.discard)

    async def _record_task(self, run_id: str, name: str, started: datetime, finished: datetime) -> None:
        try:
            await self.db.run(self._write_task, run_id, name, aware(started), aware(finished))
        except Exception:
            log.exception("recording the usage of task %s of run %s failed", name, run_id)

    def _write_task(self, session, run_id: str, name: str, started: datetime, finished: datetime) -> None:
        run = session.get(RunRow, run_id)
        if run is None:
            return
        spec = self.runs.spec_from_json(run.id, run.spec, run.project, run.trigger, run.schedule_time)
        demand = next((d for d in run_demands(spec.pipeline, spec.templates) if d.task == name), None)
        if demand is None:
            return  # a logical task holds nothing
        kind = "trial" if run.trigger == "trial" else "task"
        interval = Interval(kind, run.project, run.runner, float(demand.usage.cpu), float(demand.usage.gpu), started, finished)
        _add_pieces(session, f"{kind}:{run_id}/{name}@{started.isoformat()}", interval, finished)

    async def settle(self) -> None:
        """Wait for the task records under way (tests, shutdown)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ------------------------------------------------------------ servers and replicas

    async def observe(self, now: datetime | None = None) -> None:
        """One pass: open a session for each server and replica running now, close the others."""
        now = now or utcnow()
        seen = [h for h in await self.running() if h["kind"] in ("server", "service") and h["started"] is not None]
        await self.db.run(self._write_sessions, seen, now)

    def _write_sessions(self, session, seen: list[dict], now: datetime) -> None:
        refs = set()
        for holder in seen:
            ref = f"{holder['id']}@{holder['started'].isoformat()}"
            refs.add((holder["kind"], ref))
            upsert(session, UsageSessionRow.__table__, {
                "kind": holder["kind"], "ref": ref, "project": holder["project"] or "", "user": holder["user"],
                "cpu": holder["cpu"], "gpu": float(holder["gpu"]), "started_at": holder["started"], "last_seen": now,
                "ended_at": None}, keys=("kind", "ref"))
        for row in session.scalars(select(UsageSessionRow).where(UsageSessionRow.ended_at.is_(None))).all():
            if (row.kind, row.ref) in refs:
                continue
            # gone since the last pass: it ended at some time after it was last seen
            row.ended_at = aware(row.last_seen)
            interval = Interval(row.kind, row.project, row.user, row.cpu, row.gpu, aware(row.started_at), row.ended_at)
            _add_pieces(session, f"{row.kind}:{row.ref}", interval, row.ended_at)

    async def loop(self) -> None:
        while True:
            try:
                await self.observe()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("usage pass failed")
            await asyncio.sleep(self.interval)

    # ------------------------------------------------------------ reading

    async def usage(self, days: int, by: str, now: datetime | None = None, top: int = DEFAULT_TOP, q: str = "") -> dict:
        """Hours per day of the ``top`` projects or users (``by``) whose name
        contains ``q``, the other matching ones summed in ``others``."""
        now = now or utcnow()
        keys = day_keys(now.date(), days)

        def read(session):
            totals = {(key, day): (float(cpu or 0), float(gpu or 0)) for key, day, cpu, gpu in session.execute(
                usage_totals_query(by, keys[0]))}
            open_rows = [Interval(r.kind, r.project, r.user, r.cpu, r.gpu, aware(r.started_at))
                         for r in session.scalars(select(UsageSessionRow).where(UsageSessionRow.ended_at.is_(None)))]
            return totals, open_rows

        totals, open_rows = await self.db.run(read)
        since = datetime.fromisoformat(keys[0]).replace(tzinfo=UTC)
        extra = [piece for interval in open_rows for piece in pieces_of(interval, now) if piece.day >= keys[0]]
        # running tasks count from when they started, as the finished ones do
        for holder in await self._running_tasks_since(since):
            extra.extend(pieces_of(holder, now))
        found = [one for one in series(keys, totals, extra, by) if q in one["key"]]
        kept, others = keep_top(found, top)
        return {"days": keys, "series": kept, "others": others}

    async def _running_tasks_since(self, since: datetime) -> list[Interval]:
        tasks = self.runs.running_tasks()
        if not tasks:
            return []
        ids = sorted({run_id for run_id, _, _, _ in tasks})

        def read(session):
            rows = session.execute(select(TaskRunRow.run_id, TaskRunRow.name, TaskRunRow.started_at, RunRow.runner, RunRow.trigger)
                                   .join(RunRow, RunRow.id == TaskRunRow.run_id).where(TaskRunRow.run_id.in_(ids)))
            return {(r[0], r[1]): (aware(r[2]), r[3], r[4]) for r in rows}

        known = await self.db.run(read)
        result = []
        for run_id, project, task, used in tasks:
            started, runner, trigger = known.get((run_id, task), (None, "", "manual"))
            if started is None:
                continue
            result.append(Interval("trial" if trigger == "trial" else "task", project, runner, float(used.cpu), float(used.gpu),
                                   max(started, since)))
        return result

