"""The cron scheduler: every due tick of an enabled schedule becomes a record.

Records go ``comed``, then ``created`` when the run starts, or ``skipped`` with
the reason (expired, depends_on_past, invalid pipeline). Scheduled runs count
only against the pipeline's ``max_active_runs``; manual runs never block or
cancel them, nor the reverse. The clock is a parameter of
:meth:`Scheduler.run_pass` so tests drive it.

Scheduled runs on the Kubernetes engine also go through this scheduler (not Argo
CronWorkflows): one implementation of backfill, expiry, depends_on_past and
records for both engines.

A pass is two phases. Phase 1 reads only the schedules whose ``next_fire_at`` has
come (an index range read; NULL means "just saved, plan it now"), turns their
due ticks into records and moves ``last_tick`` and ``next_fire_at`` on. Phase 2
starts the waiting (``comed``) records. Both work a batch at a time, one
transaction per batch, and yield to the event loop between batches.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from sqlalchemy import func, select

from ...domain.errors import FieldErrors
from ...domain.schedules import decide_start, due_ticks, next_fire_time, schedule_from_dict
from ..models.pipelines import PipelineRow, RunRow, ScheduleRecordRow, aware
from .runs import InvalidPipeline, RunManager
from .templates import load_catalog

ACTIVE = ("pending", "running")
log = logging.getLogger("cubelab.scheduler")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Scheduler:
    """The cron loop. A pass costs one indexed query when nothing is due: each
    schedule keeps its next fire time (``PipelineRow.next_fire_at``), advanced
    when it fires, so schedules with nothing due are not read at all. Work found
    is handled ``batch_size`` schedules (or starts) at a time, one transaction
    per batch, yielding to the event loop in between so the API stays responsive.
    """

    def __init__(self, database, runs: RunManager, interval: float = 10.0, is_admin=None, batch_size: int = 200):
        self.db = database
        self.runs = runs
        self.interval = interval
        self.batch_size = batch_size
        self._is_admin = is_admin  # async name -> bool (the creator's admin flag, for validation)

    async def loop(self) -> None:
        while True:
            try:
                await self.run_pass(utcnow())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler pass failed")
            await asyncio.sleep(self.interval)

    async def run_pass(self, now: datetime) -> None:
        await self._record_ticks(now)
        ids = await self.db.run(lambda session: session.scalars(
            select(ScheduleRecordRow.pipeline_id).where(ScheduleRecordRow.status == "comed")
            .distinct().order_by(ScheduleRecordRow.pipeline_id)).all())
        admins: dict[str, bool] = {}  # the creators' admin flags, asked once per pass
        for first in range(0, len(ids), self.batch_size):
            await self._start_batch(ids[first:first + self.batch_size], admins)
            await asyncio.sleep(0)

    async def _record_ticks(self, now: datetime) -> None:
        """Phase 1: due ticks become records, ``last_tick`` and ``next_fire_at``
        move on; one transaction per batch of due schedules."""
        now = now.astimezone(UTC)
        enabled = PipelineRow.schedule_enabled.is_(True)

        def due(session) -> list[int]:
            # two range reads of ix_pipelines_schedule_next_fire, in proportion to the work due
            found = session.scalars(select(PipelineRow.id).where(enabled, PipelineRow.next_fire_at.is_(None))).all()
            return found + session.scalars(select(PipelineRow.id).where(enabled, PipelineRow.next_fire_at <= now)).all()

        def record(session, batch: list[int]) -> None:
            with session.no_autoflush:
                # no flush per schedule: its look-up of existing records never needs this batch's new ones
                for row in session.scalars(select(PipelineRow).where(PipelineRow.id.in_(batch))).all():
                    self._record_row(session, row, now)

        ids = await self.db.run(due)
        for first in range(0, len(ids), self.batch_size):
            await self.db.run(record, ids[first:first + self.batch_size])

    @staticmethod
    def _record_row(session, row: PipelineRow, now: datetime) -> None:
        try:
            # the schedule alone: the rest of the pipeline is checked when its run is created
            settings = schedule_from_dict((row.body or {}).get("schedule"))
        except FieldErrors:
            return  # stored before a rule existed: left as it is, looked at again next pass
        plan = due_ticks(settings, aware(row.last_tick), now, aware(row.schedule_enabled_at))
        # stored in UTC: SQLite keeps no offset, and the schedule's zone only shapes the ticks
        plan.expired = [t.astimezone(UTC) for t in plan.expired]
        plan.run = [t.astimezone(UTC) for t in plan.run]
        ticks = plan.expired + plan.run
        if ticks:
            existing: set[datetime] = set()
            if row.last_tick is None:
                # re-enabled (with backfill): records of an earlier enabled period may exist;
                # otherwise every record's tick is at or before last_tick, and these are after it
                existing = {aware(t) for t in session.scalars(select(ScheduleRecordRow.tick).where(
                    ScheduleRecordRow.pipeline_id == row.id, ScheduleRecordRow.tick.in_(ticks))).all()}
            for tick in plan.expired:
                if tick not in existing:
                    session.add(ScheduleRecordRow(pipeline_id=row.id, tick=tick, status="skipped",
                                                  reason=f"expired: more than expired_limit={settings.expired_limit} ticks were due"))
            for tick in plan.run:
                if tick not in existing:
                    session.add(ScheduleRecordRow(pipeline_id=row.id, tick=tick, status="comed", reason=""))
            row.last_tick = max(ticks)
        # the rest of a truncated catch-up lies in the past, so the next pass takes it up
        row.next_fire_at = plan.next_tick if plan.next_tick is not None else \
            next_fire_time(settings, aware(row.last_tick), aware(row.schedule_enabled_at), now)

    async def _start_batch(self, pipeline_ids, admins: dict[str, bool]) -> None:
        """Phase 2 for a batch of pipelines: decide in one transaction, create the
        runs, then write every record's outcome in one transaction."""
        starts: list[tuple[int, int, datetime, str]] = []  # record id, pipeline id, tick, creator

        def decide(session) -> None:
            # what the decisions need, a few queries for the whole batch
            pipelines = {p.id: p for p in session.scalars(select(PipelineRow).where(PipelineRow.id.in_(pipeline_ids)))}
            waiting: dict[int, list[ScheduleRecordRow]] = {}
            for record in session.scalars(select(ScheduleRecordRow).where(ScheduleRecordRow.pipeline_id.in_(pipeline_ids),
                                          ScheduleRecordRow.status == "comed").order_by(ScheduleRecordRow.tick)):
                waiting.setdefault(record.pipeline_id, []).append(record)
            active = dict(session.execute(select(RunRow.pipeline_id, func.count()).where(
                RunRow.pipeline_id.in_(pipeline_ids), RunRow.trigger == "schedule", RunRow.status.in_(ACTIVE))
                .group_by(RunRow.pipeline_id)).all())
            for pipeline_id in pipeline_ids:
                prow, records = pipelines.get(pipeline_id), waiting.get(pipeline_id)
                if prow is not None and records:
                    self._decide(session, prow, records, active.get(pipeline_id, 0), starts)

        await self.db.run(decide)
        outcomes: dict[int, tuple[str, str, str | None]] = {}
        # the templates once per batch, not once per run
        catalog = await self.db.run(load_catalog) if starts else None
        for record_id, pipeline_id, tick, creator in starts:
            if creator not in admins:
                admins[creator] = bool(await self._is_admin(creator)) if self._is_admin else False
            status, reason, run_id = "created", "", None
            try:
                run_id = await self.runs.create_run(pipeline_id, creator, admins[creator], trigger="schedule", schedule_time=tick,
                                                    catalog=catalog)
            except InvalidPipeline as exc:
                status, reason = "skipped", str(exc)
            except Exception as exc:  # the record says why; the pass goes on with other pipelines
                log.exception("scheduled run of pipeline %s failed to start", pipeline_id)
                status, reason = "skipped", f"could not start: {exc}"
            outcomes[record_id] = (status, reason, run_id)
        if outcomes:
            def write(session) -> None:
                for record in session.scalars(select(ScheduleRecordRow).where(ScheduleRecordRow.id.in_(list(outcomes)))):
                    record.status, record.reason, record.run_id = outcomes[record.id]

            await self.db.run(write)

    @staticmethod
    def _decide(session, prow: PipelineRow, records: list[ScheduleRecordRow], active: int, starts: list) -> None:
        """Walk a pipeline's comed records in tick order while the rules allow:
        skipped ones are marked, the first that must wait stops the walk, and
        each that may start is appended to ``starts`` (and counted as active,
        so the next record is judged as if its run had already been created)."""
        if not prow.schedule_enabled:
            for record in records:
                record.status, record.reason = "skipped", "schedule was turned off before the run started"
            return
        try:
            settings = schedule_from_dict((prow.body or {}).get("schedule"))
        except FieldErrors as exc:
            for record in records:
                record.status, record.reason = "skipped", f"the schedule is invalid: {exc}"
            return
        prev_status = None
        if settings.depends_on_past:
            previous = session.scalars(select(ScheduleRecordRow).where(
                ScheduleRecordRow.pipeline_id == prow.id, ScheduleRecordRow.tick < records[0].tick,
                ScheduleRecordRow.run_id.is_not(None)).order_by(ScheduleRecordRow.tick.desc()).limit(1)).first()
            if previous is not None:
                prev_run = session.get(RunRow, previous.run_id)
                prev_status = prev_run.status if prev_run else None
        for record in records:
            decision = decide_start(settings, active, prev_status)
            if decision.action == "skip":
                record.status, record.reason = "skipped", decision.reason
                continue
            if decision.action == "wait":
                if record.reason != decision.reason:
                    record.reason = decision.reason
                return
            starts.append((record.id, prow.id, aware(record.tick), prow.creator))
            active, prev_status = active + 1, "pending"
