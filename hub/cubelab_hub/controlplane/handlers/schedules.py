"""Pipeline schedules and schedule records, and the scheduler that ticks them.

Every due cron tick becomes a record: ``comed``, then ``created`` when its run
starts, or ``skipped`` with the reason (expired, depends_on_past, invalid
pipeline). Scheduled runs count only against the pipeline's ``max_active_runs``;
manual runs never block or cancel them, nor the reverse. The clock is a
parameter of :meth:`Scheduler.run_pass` so tests drive it.

Scheduled runs on the Kubernetes engine also go through this scheduler (not Argo
CronWorkflows): one implementation of backfill, expiry, depends_on_past and
records for both engines.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

from sqlalchemy import func, select

from ...domain.errors import FieldError, FieldErrors
from ...domain.schedules import decide_start, due_ticks, next_ticks, schedule_from_dict
from ..models.pipelines import PipelineRow, RunRow, ScheduleRecordRow, aware
from .base import op, route
from .pipelines import ID_PARAM, PipelineBase, row_to_pipeline, store_pipeline
from .runs import InvalidPipeline, RunManager

TAGS = ["schedules"]
ACTIVE = ("pending", "running")
log = logging.getLogger("cubelab.scheduler")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def record_view(r: ScheduleRecordRow) -> dict:
    return {"id": r.id, "pipeline_id": r.pipeline_id, "tick": aware(r.tick).isoformat(), "status": r.status, "reason": r.reason,
            "run_id": r.run_id, "created_at": aware(r.created_at).isoformat() if r.created_at else None}


class Scheduler:
    def __init__(self, database, runs: RunManager, interval: float = 10.0, is_admin=None):
        self.db = database
        self.runs = runs
        self.interval = interval
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
        self._record_ticks(now)
        with self.db.session() as session:
            ids = session.scalars(select(ScheduleRecordRow.pipeline_id).where(ScheduleRecordRow.status == "comed").distinct()).all()
        for pipeline_id in ids:
            await self._start_due(pipeline_id)

    def _record_ticks(self, now: datetime) -> None:
        """Phase 1, one transaction: new ticks become records; last_tick moves on."""
        with self.db.session() as session:
            for row in session.scalars(select(PipelineRow).where(PipelineRow.schedule_enabled.is_(True))).all():
                try:
                    settings = row_to_pipeline(row).schedule
                except FieldErrors:
                    continue
                plan = due_ticks(settings, aware(row.last_tick), now, aware(row.schedule_enabled_at))
                # stored in UTC: SQLite keeps no offset, and the schedule's zone only shapes the ticks
                plan.expired = [t.astimezone(timezone.utc) for t in plan.expired]
                plan.run = [t.astimezone(timezone.utc) for t in plan.run]
                ticks = plan.expired + plan.run
                if not ticks:
                    continue
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

    async def _start_due(self, pipeline_id: int) -> None:
        """Phase 2: start comed records in tick order while the rules allow."""
        while True:
            with self.db.session() as session:
                prow = session.get(PipelineRow, pipeline_id)
                if prow is None:
                    return
                record = session.scalars(select(ScheduleRecordRow).where(ScheduleRecordRow.pipeline_id == pipeline_id,
                                         ScheduleRecordRow.status == "comed").order_by(ScheduleRecordRow.tick).limit(1)).first()
                if record is None:
                    return
                if not prow.schedule_enabled:
                    record.status, record.reason = "skipped", "schedule was turned off before the run started"
                    continue
                settings = row_to_pipeline(prow).schedule
                active = session.scalar(select(func.count()).select_from(RunRow).where(
                    RunRow.pipeline_id == pipeline_id, RunRow.trigger == "schedule", RunRow.status.in_(ACTIVE)))
                previous = session.scalars(select(ScheduleRecordRow).where(
                    ScheduleRecordRow.pipeline_id == pipeline_id, ScheduleRecordRow.tick < record.tick,
                    ScheduleRecordRow.run_id.is_not(None)).order_by(ScheduleRecordRow.tick.desc()).limit(1)).first()
                prev_status = None
                if previous is not None:
                    prev_run = session.get(RunRow, previous.run_id)
                    prev_status = prev_run.status if prev_run else None
                decision = decide_start(settings, active, prev_status)
                record_id, tick, creator = record.id, aware(record.tick), prow.creator
                if decision.action == "skip":
                    record.status, record.reason = "skipped", decision.reason
                    continue
                if decision.action == "wait":
                    if record.reason != decision.reason:
                        record.reason = decision.reason
                    return
            admin = bool(await self._is_admin(creator)) if self._is_admin else False
            status, reason, run_id = "created", "", None
            try:
                run_id = await self.runs.create_run(pipeline_id, creator, admin, trigger="schedule", schedule_time=tick)
            except InvalidPipeline as exc:
                status, reason = "skipped", str(exc)
            except Exception as exc:  # the record says why; the loop goes on with other pipelines
                log.exception("scheduled run of pipeline %s failed to start", pipeline_id)
                status, reason = "skipped", f"could not start: {exc}"
            with self.db.session() as session:
                record = session.get(ScheduleRecordRow, record_id)
                record.status, record.reason, record.run_id = status, reason, run_id


class ScheduleHandler(PipelineBase):
    openapi = {
        "get": op("A pipeline's schedule settings with the next 5 tick times", tags=TAGS, returns="ScheduleView", params=[ID_PARAM]),
        "put": op("Replace a pipeline's schedule settings (cron with ranges/lists/steps, timezone, start_time, backfill, "
                  "depends_on_past, max_active_runs, expired_limit)", tags=TAGS, body="Schedule", returns="ScheduleView", params=[ID_PARAM]),
    }

    def schedule_view(self, row: PipelineRow) -> dict:
        settings = row_to_pipeline(row).schedule
        data = settings.to_dict()
        data["next"] = [t.isoformat() for t in next_ticks(settings, utcnow(), 5)] if settings.cron else []
        data["last_tick"] = aware(row.last_tick).isoformat() if row.last_tick else None
        return data

    async def get(self, pipeline_id):
        with self.db.session() as session:
            self.send(self.schedule_view(self.load(session, pipeline_id)))

    async def put(self, pipeline_id):
        settings = schedule_from_dict(self.json_body())
        with self.db.session() as session:
            row = self.load(session, pipeline_id, "pipeline:edit")
            pipeline = row_to_pipeline(row)
            pipeline.schedule = settings
            store_pipeline(row, pipeline)
            session.flush()
            self.send(self.schedule_view(row))


class RecordsHandler(PipelineBase):
    openapi = {"get": op("Schedule records of a pipeline, newest tick first", tags=TAGS, returns="ScheduleRecordList", params=[ID_PARAM,
               {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "default": 100}}])}

    async def get(self, pipeline_id):
        limit = self.get_argument("limit", "100")
        limit = int(limit) if limit.isdigit() and 1 <= int(limit) <= 1000 else 100
        with self.db.session() as session:
            row = self.load(session, pipeline_id)
            records = session.scalars(select(ScheduleRecordRow).where(ScheduleRecordRow.pipeline_id == row.id)
                                      .order_by(ScheduleRecordRow.tick.desc()).limit(limit)).all()
            self.send({"records": [record_view(r) for r in records]})


class ScheduleListHandler(PipelineBase):
    openapi = {"get": op("Enabled schedules of the caller's projects", tags=TAGS, returns="ScheduleList")}

    async def get(self):
        with self.db.session() as session:
            rows = session.scalars(select(PipelineRow).where(PipelineRow.schedule_enabled.is_(True)).order_by(PipelineRow.id)).all()
            items = []
            for row in rows:
                if not self.allowed("pipeline:read", row.project):
                    continue
                view = {"pipeline_id": row.id, "pipeline_name": row.name, "project": row.project}
                view.update(ScheduleHandler.schedule_view(self, row))
                items.append(view)
        self.send({"schedules": items})


class PreviewHandler(PipelineBase):
    openapi = {"post": op("Check schedule settings without saving them and preview the next tick times (for editors)",
                          tags=TAGS, body="SchedulePreviewRequest", returns="SchedulePreview")}

    async def post(self):
        body = self.json_body()
        count = body.pop("count", 5)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 50:
            raise FieldError("count", f"{count!r} is not a number from 1 to 50", "1..50")
        body.setdefault("enabled", True)
        settings = schedule_from_dict(body)
        after = settings.start_time if settings.start_time and settings.start_time > utcnow() else utcnow()
        self.send({"next": [t.isoformat() for t in next_ticks(settings, after, count)], "timezone": settings.timezone})


def setup(app) -> None:
    async def is_admin(name: str) -> bool:
        user = await app.hub_client.get_user(name)
        return bool(user and user.get("admin"))

    app.pipeline_scheduler = Scheduler(app.database, app.pipeline_runs, interval=app.scheduler_interval, is_admin=is_admin)
    app.background_tasks.append(app.pipeline_scheduler.loop)


SCHEMAS = {
    "ScheduleView": {"allOf": [{"$ref": "#/components/schemas/Schedule"}, {"type": "object", "properties": {
        "next": {"type": "array", "items": {"type": "string", "format": "date-time"}}, "last_tick": {"type": ["string", "null"]}}}]},
    "ScheduleRecord": {"type": "object", "properties": {
        "id": {"type": "integer"}, "pipeline_id": {"type": "integer"}, "tick": {"type": "string", "format": "date-time"},
        "status": {"type": "string", "enum": ["comed", "created", "skipped"]}, "reason": {"type": "string"}, "run_id": {"type": ["string", "null"]}}},
    "ScheduleRecordList": {"type": "object", "properties": {"records": {"type": "array", "items": {"$ref": "#/components/schemas/ScheduleRecord"}}}},
    "ScheduleList": {"type": "object", "properties": {"schedules": {"type": "array", "items": {"type": "object"}}}},
    "SchedulePreviewRequest": {"allOf": [{"$ref": "#/components/schemas/Schedule"}, {"type": "object", "properties": {
        "count": {"type": "integer", "minimum": 1, "maximum": 50, "default": 5}}}]},
    "SchedulePreview": {"type": "object", "properties": {"next": {"type": "array", "items": {"type": "string", "format": "date-time"}},
                                                         "timezone": {"type": "string"}}},
}

ROUTES = [
    route("/schedules", ScheduleListHandler),
    route("/schedules/preview", PreviewHandler),
    route("/pipelines/{pipeline_id}/schedule", ScheduleHandler),
    route("/pipelines/{pipeline_id}/schedule/records", RecordsHandler),
]
