"""Pipeline schedules and their records (the scheduler that ticks them is
:mod:`cubelab_hub.controlplane.services.scheduler`)."""

from __future__ import annotations

from sqlalchemy import select

from ...domain.errors import FieldError
from ...domain.schedules import next_ticks, schedule_from_dict
from ..models.pipelines import PipelineRow, ScheduleRecordRow
from ..store import record_view, row_to_pipeline, schedule_view, store_pipeline, utcnow
from .base import op, route
from .pipelines import ID_PARAM, PipelineBase

TAGS = ["schedules"]


class ScheduleHandler(PipelineBase):
    openapi = {
        "get": op("A pipeline's schedule settings with the next 5 tick times", tags=TAGS, returns="ScheduleView", params=[ID_PARAM]),
        "put": op("Replace a pipeline's schedule settings (cron with ranges/lists/steps, timezone, start_time, backfill, "
                  "depends_on_past, max_active_runs, expired_limit)", tags=TAGS, body="Schedule", returns="ScheduleView", params=[ID_PARAM]),
    }

    async def get(self, pipeline_id):
        self.send(await self.db.run(lambda session: schedule_view(self.load(session, pipeline_id), utcnow())))

    async def put(self, pipeline_id):
        settings = schedule_from_dict(self.json_body())

        def replace(session) -> dict:
            row = self.load(session, pipeline_id, "pipeline:edit")
            pipeline = row_to_pipeline(row)
            pipeline.schedule = settings
            store_pipeline(row, pipeline)
            session.flush()
            return schedule_view(row, utcnow())

        self.send(await self.db.run(replace))


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
                view.update(schedule_view(row, utcnow()))
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
