"""The paged lists of the database's resources: pipelines, runs, templates,
schedules and schedule records.

Each list is keyset-paginated over a composite index (``0004_list_indexes``):
the cursor holds the last row's sort key, the query continues strictly after
it in index order and reads ``limit + 1`` rows (the extra one only says that
another page follows). Visibility is part of the query: a caller who is not an
admin reads only the rows of their own projects, one indexed range per project,
merged here, so neither the rows of other projects nor the whole table are
ever read.

Every function takes a session first (they run through ``Database.run`` off
the event loop) and returns the JSON view of one page.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime

from sqlalchemy import func, select, tuple_
from sqlalchemy.sql import Select

from ...domain.paging import ListFilters, decode_cursor, page_from
from ..models.experiments import ExperimentRow
from ..models.pipelines import PipelineRow, RunRow, ScheduleRecordRow, TemplateRow, aware
from ..store import pipeline_summary, record_view, run_view, schedule_view, template_view, utcnow
from .pipelines import latest_runs

RUN_STATUSES = ("pending", "running", "succeeded", "failed", "cancelled")
RECORD_STATUSES = ("comed", "created", "skipped")

# list kind -> the types of its sort key, as the cursor carries it
PIPELINE_KEY = (str, str, int)
RUN_KEY = (datetime, str)
TEMPLATE_KEY = (int, str, str, str)
RECORD_KEY = (datetime, int)
EXPERIMENT_KEY = (datetime, int)


def _key_value(value):
    # SQLite hands back naive datetimes; a cursor and a merge compare aware ones
    return aware(value) if isinstance(value, datetime) else value


def _keyset(session, query: Select, columns: Sequence, after: tuple | None, limit: int, descending: bool = False,
            projects: Collection[str] | None = None, project_column=None) -> list:
    """Up to ``limit + 1`` rows of ``query`` after the key ``after`` in the order of
    ``columns`` (all ascending, or all descending).

    ``projects``: None for every row (admins); otherwise only rows whose
    ``project_column`` is one of them, read as one index range per project.
    """
    key = tuple_(*columns)
    if after is not None:
        query = query.where(key < tuple_(*after) if descending else key > tuple_(*after))
    query = query.order_by(*[c.desc() if descending else c.asc() for c in columns]).limit(limit + 1)
    if projects is None:
        return list(session.scalars(query).all())

    def sort_key(row) -> tuple:
        return tuple(_key_value(getattr(row, c.key)) for c in columns)

    rows: list = []
    leading = columns[0] is project_column
    for project in sorted(projects):
        if leading and after is not None and project < after[0]:
            continue  # a project the cursor has already passed
        rows.extend(session.scalars(query.where(project_column == project)).all())
        if leading and len(rows) > limit:
            break  # the list is ordered by project first: later projects come after this page
    rows.sort(key=sort_key, reverse=descending)
    return rows[: limit + 1]


def _time_range(query: Select, column, filters: ListFilters) -> Select:
    if filters.since is not None:
        query = query.where(column >= filters.since)
    if filters.until is not None:
        query = query.where(column < filters.until)
    return query


def _name_contains(column, text: str):
    # LIKE's own wildcards in the search text are matched literally
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return func.lower(column).like(f"%{escaped}%", escape="\\")


def _visible(projects: Collection[str] | None, filters: ListFilters) -> Collection[str] | None:
    """The projects a query reads: the filter's one (if the caller may see it), or all of the caller's."""
    if filters.project is None:
        return projects
    if projects is None or filters.project in projects:
        return [filters.project]
    return []


def _page(rows: list, limit: int, kind: str, key: Callable, filters: ListFilters, view: Callable) -> tuple[list, str | None]:
    page = page_from(rows, limit, kind, lambda r: tuple(_key_value(v) for v in key(r)), filters)
    return [view(r) for r in page.items], page.next_cursor


# ---------------------------------------------------------------- pipelines


def list_pipelines(session, projects: Collection[str] | None, filters: ListFilters, limit: int, cursor: str | None) -> dict:
    """Pipelines by project, name and id, each with its latest run."""
    after = decode_cursor("pipelines", cursor, PIPELINE_KEY, filters)
    query = select(PipelineRow)
    if filters.q:
        query = query.where(_name_contains(PipelineRow.name, filters.q))
    if filters.creator:
        query = query.where(PipelineRow.creator == filters.creator)
    query = _time_range(query, PipelineRow.created_at, filters)
    visible = _visible(projects, filters)
    rows = _keyset(session, query, (PipelineRow.project, PipelineRow.name, PipelineRow.id), after, limit,
                   projects=visible, project_column=PipelineRow.project)
    # the latest runs of this page's pipelines only: a bounded IN, whatever the table holds
    latest = latest_runs(session, [r.id for r in rows[:limit]]) if rows else {}
    items, next_cursor = _page(rows, limit, "pipelines", lambda r: (r.project, r.name, r.id), filters,
                               lambda r: pipeline_summary(r, latest.get(r.id)))
    return {"pipelines": items, "next_cursor": next_cursor}


def list_schedules(session, projects: Collection[str] | None, filters: ListFilters, limit: int, cursor: str | None) -> dict:
    """Pipelines with an enabled schedule, by project, name and id, with their next ticks."""
    after = decode_cursor("schedules", cursor, PIPELINE_KEY, filters)
    query = select(PipelineRow).where(PipelineRow.schedule_enabled.is_(True))
    if filters.q:
        query = query.where(_name_contains(PipelineRow.name, filters.q))
    if filters.creator:
        query = query.where(PipelineRow.creator == filters.creator)
    rows = _keyset(session, query, (PipelineRow.project, PipelineRow.name, PipelineRow.id), after, limit,
                   projects=_visible(projects, filters), project_column=PipelineRow.project)
    now = utcnow()

    def view(row: PipelineRow) -> dict:
        data = {"pipeline_id": row.id, "pipeline_name": row.name, "project": row.project}
        data.update(schedule_view(row, now))
        return data

    items, next_cursor = _page(rows, limit, "schedules", lambda r: (r.project, r.name, r.id), filters, view)
    return {"schedules": items, "next_cursor": next_cursor}


# ---------------------------------------------------------------- runs


def _run_filters(query: Select, filters: ListFilters) -> Select:
    if filters.status:
        query = query.where(RunRow.status == filters.status)
    if filters.creator:
        query = query.where(RunRow.runner == filters.creator)
    return _time_range(query, RunRow.created_at, filters)


def list_runs(session, projects: Collection[str] | None, filters: ListFilters, limit: int, cursor: str | None,
              trigger: str | None = None) -> dict:
    """Runs of the visible projects, newest first. An experiment's trials are
    runs too, listed only when ``trigger`` asks for them ("trial"): they belong
    to their experiment's view, and would crowd every other run out."""
    # the trigger is part of which list a cursor continues
    kind = "runs" if trigger is None else f"runs:{trigger}"
    after = decode_cursor(kind, cursor, RUN_KEY, filters)
    query = _run_filters(select(RunRow), filters)
    query = query.where(RunRow.trigger == trigger) if trigger is not None else query.where(RunRow.trigger != "trial")
    rows = _keyset(session, query, (RunRow.created_at, RunRow.id), after, limit, descending=True,
                   projects=_visible(projects, filters), project_column=RunRow.project)
    items, next_cursor = _page(rows, limit, kind, lambda r: (r.created_at, r.id), filters,
                               lambda r: run_view(session, r, with_tasks=False))
    return {"runs": items, "next_cursor": next_cursor}


def list_pipeline_runs(session, pipeline_id: int, filters: ListFilters, limit: int, cursor: str | None) -> dict:
    """Runs of one pipeline (the caller may read it), newest first."""
    after = decode_cursor(f"pipeline-runs:{pipeline_id}", cursor, RUN_KEY, filters)
    query = _run_filters(select(RunRow).where(RunRow.pipeline_id == pipeline_id), filters)
    rows = _keyset(session, query, (RunRow.created_at, RunRow.id), after, limit, descending=True)
    items, next_cursor = _page(rows, limit, f"pipeline-runs:{pipeline_id}", lambda r: (r.created_at, r.id), filters,
                               lambda r: run_view(session, r, with_tasks=False))
    return {"runs": items, "next_cursor": next_cursor}


def list_records(session, pipeline_id: int, filters: ListFilters, limit: int, cursor: str | None) -> dict:
    """Schedule records of one pipeline (the caller may read it), newest tick first."""
    kind = f"records:{pipeline_id}"
    after = decode_cursor(kind, cursor, RECORD_KEY, filters)
    query = select(ScheduleRecordRow).where(ScheduleRecordRow.pipeline_id == pipeline_id)
    if filters.status:
        query = query.where(ScheduleRecordRow.status == filters.status)
    query = _time_range(query, ScheduleRecordRow.tick, filters)
    rows = _keyset(session, query, (ScheduleRecordRow.tick, ScheduleRecordRow.id), after, limit, descending=True)
    items, next_cursor = _page(rows, limit, kind, lambda r: (r.tick, r.id), filters, record_view)
    return {"records": items, "next_cursor": next_cursor}


# ---------------------------------------------------------------- templates


def list_templates(session, include_alpha: bool, category: str | None, filters: ListFilters, limit: int,
                   cursor: str | None, include_retired: bool = False) -> dict:
    """Job templates in palette order: category index, category, name, version.
    Retired versions are left out (the palette's list) unless ``include_retired``
    (the admin page's)."""
    # the category (and whether retired ones count) is part of what the cursor continues, like the other filters
    scope = ListFilters(project=category, q=filters.q, status="retired" if include_retired else None)
    after = decode_cursor("templates", cursor, TEMPLATE_KEY, scope)
    query = select(TemplateRow)
    if not include_alpha:
        query = query.where(TemplateRow.version == "Release")
    if not include_retired:
        query = query.where(TemplateRow.retired.is_(False))
    if category is not None:
        query = query.where(TemplateRow.category == category)
    if filters.q:
        query = query.where(_name_contains(TemplateRow.name, filters.q))
    columns = (TemplateRow.category_index, TemplateRow.category, TemplateRow.name, TemplateRow.version)
    rows = _keyset(session, query, columns, after, limit)
    items, next_cursor = _page(rows, limit, "templates", lambda r: (r.category_index, r.category, r.name, r.version), scope,
                               template_view)
    return {"templates": items, "next_cursor": next_cursor}


# ---------------------------------------------------------------- experiments


def list_experiments(session, projects: Collection[str] | None, filters: ListFilters, limit: int, cursor: str | None,
                     views: Callable) -> dict:
    """Experiments of the visible projects, newest first; ``views(session, rows)``
    shapes a page (progress and best trial read for that page only)."""
    after = decode_cursor("experiments", cursor, EXPERIMENT_KEY, filters)
    query = select(ExperimentRow)
    if filters.q:
        query = query.where(_name_contains(ExperimentRow.name, filters.q))
    if filters.status:
        query = query.where(ExperimentRow.status == filters.status)
    if filters.creator:
        query = query.where(ExperimentRow.creator == filters.creator)
    query = _time_range(query, ExperimentRow.created_at, filters)
    rows = _keyset(session, query, (ExperimentRow.created_at, ExperimentRow.id), after, limit, descending=True,
                   projects=_visible(projects, filters), project_column=ExperimentRow.project)
    page = page_from(rows, limit, "experiments", lambda r: (_key_value(r.created_at), r.id), filters)
    return {"experiments": views(session, page.items), "next_cursor": page.next_cursor}
