"""Pipeline schedules and their records (the scheduler that ticks them is
:mod:`cubelab_hub.controlplane.services.scheduler`)."""

from __future__ import annotations

from ...domain.errors import FieldError
from ...domain.schedules import next_ticks, schedule_from_dict
from ..services.lists import RECORD_STATUSES, list_records, list_schedules
from ..store import row_to_pipeline, schedule_view, store_pipeline, utcnow
from .base import op, route
from .listing import ListArguments, list_params, list_schema
from .pipelines import ID_PARAM, PipelineBase

TAGS = ["schedules"]
SCHEDULE_FILTERS = ("project", "q", "creator")
RECORD_FILTERS = ("status", "since", "until")


class ScheduleHandler(PipelineBase):
    openapi = {
        "get": op("A pipeline's schedule settings with the next 5 tick times", tags=TAGS, returns="ScheduleView", params=[ID_PARAM]),
        "put": op("Replace a pipeline's schedule settings (cron with ranges/lists/steps, timezone, start_time, backfill, "
                  "depends_on_past, max_active_runs, expired_limit)", tags=TAGS, body="Schedule", returns="ScheduleView", params=[ID_PARAM]),
    }

    async def get(self, pipeline_id):
        self.send(await self.db.run(lambda session: schedule_view(self.load(session, pipeline_id), utcnow())))

    async def put(self, pipeline_id):
        # who may edit it is known before the body is looked at: 404/403 first
        await self.db.run(lambda session: self.load(session, pipeline_id, "pipeline:edit"))
        settings = schedule_from_dict(self.json_body())

        def replace(session) -> dict:
            row = self.load(session, pipeline_id, "pipeline:edit")
            pipeline = row_to_pipeline(row)
            pipeline.schedule = settings
            store_pipeline(row, pipeline)
            session.flush()
            return schedule_view(row, utcnow())

        self.send(await self.db.run(replace))


class RecordsHandler(ListArguments, PipelineBase):
    openapi = {"get": op("Schedule records of a pipeline, newest tick first; paged (since/until on the tick)", tags=TAGS,
                         returns="ScheduleRecordList", params=[ID_PARAM, *list_params(*RECORD_FILTERS, statuses=RECORD_STATUSES)])}

    async def get(self, pipeline_id):
        def page(session):
            pid = self.load(session, pipeline_id).id  # 404 before the query string is read
            limit, cursor, filters = self.page_arguments(RECORD_FILTERS, RECORD_STATUSES)
            return list_records(session, pid, filters, limit, cursor)

        self.send(await self.db.run(page))


class ScheduleListHandler(ListArguments, PipelineBase):
    openapi = {"get": op("Enabled schedules of the caller's projects (all for admins), by project, pipeline name and id; paged",
                         tags=TAGS, returns="ScheduleList", params=list_params(*SCHEDULE_FILTERS))}

    async def get(self):
        limit, cursor, filters = self.page_arguments(SCHEDULE_FILTERS)
        self.send(await self.db.run(list_schedules, self.visible_projects(), filters, limit, cursor))


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
    "ScheduleRecordList": list_schema("records", {"$ref": "#/components/schemas/ScheduleRecord"}),
    "ScheduleList": list_schema("schedules", {"type": "object"}),
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
