"""The list queries against a real SQLite database with 10,000 pipelines and
their runs, seeded through the control plane's own store code: a page reads an
index range, not the table, takes milliseconds, and walking the pages returns
every visible row exactly once, in order, even while rows are added."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from cubelab_hub.controlplane.db import Database
from cubelab_hub.controlplane.models.pipelines import PipelineRow, RunRow
from cubelab_hub.controlplane.services import lists
from cubelab_hub.controlplane.store import store_pipeline
from cubelab_hub.domain.errors import FieldError
from cubelab_hub.domain.paging import ListFilters
from cubelab_hub.domain.pipelines import pipeline_from_dict

N = 10_000
T0 = datetime(2026, 1, 1, tzinfo=UTC)
TABLES = ("pipelines", "pipeline_runs", "job_templates", "pipeline_schedule_records", "pipeline_task_runs")


def pipeline_row(project: str, name: str) -> PipelineRow:
    row = PipelineRow(name=name, project=project, creator="alice", body={}, schedule_enabled=False)
    store_pipeline(row, pipeline_from_dict({"name": name, "project": project,
                                            "tasks": [{"name": "a", "template": "shell", "args": {"--command": "true"}}]}))
    return row


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('lists') / 'cp.sqlite'}")
    database.upgrade()
    with database.session() as s:
        rows = [pipeline_row("big", f"p{i:05d}") for i in range(N)]
        rows += [pipeline_row("other", f"o{i:03d}") for i in range(30)]
        s.add_all(rows)
        s.flush()
        ids = [r.id for r in rows]
        s.execute(insert(RunRow), [
            {"id": f"run-{i:06d}", "pipeline_id": ids[i % len(ids)], "project": "big" if i % len(ids) < N else "other",
             "trigger": "manual", "runner": "alice", "engine": "local", "status": "succeeded" if i % 3 else "failed",
             "message": "", "spec": {"pipeline": {"name": "x"}}, "engine_data": {}, "created_at": T0 + timedelta(seconds=i)}
            for i in range(2 * N)])
    return database


def captured_plans(db, fn, *args) -> tuple[list[str], float]:
    """The query plans of every SELECT ``fn`` runs, and how long it took."""
    from sqlalchemy import event

    statements: list[tuple[str, tuple]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        start = time.perf_counter()
        with db.session() as s:
            fn(s, *args)
        elapsed = time.perf_counter() - start
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    plans = []
    with db.engine.connect() as conn:
        for statement, parameters in statements:
            plans.append("\n".join(r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()))
    return plans, elapsed


def assert_indexed(plans: list[str], index: str) -> None:
    assert any(index in p for p in plans), plans
    for p in plans:
        for line in p.splitlines():
            # a full scan names a table without an index ("SCAN pipelines"); a scan of
            # the page's own materialized subquery is bounded by the page
            words = line.split()
            assert not (words[:1] == ["SCAN"] and words[1] in TABLES and "INDEX" not in line), p
        assert "USE TEMP B-TREE FOR ORDER BY" not in p, p


def test_the_first_page_of_a_big_project_reads_an_index_range_in_milliseconds(db):
    plans, elapsed = captured_plans(db, lists.list_pipelines, {"big", "other"}, ListFilters(project="big"), 50, None)
    assert_indexed(plans, "ix_pipelines_project_name_id")
    assert elapsed < 0.25, elapsed
    # warm: the page itself, measured again
    start = time.perf_counter()
    with db.session() as s:
        page = lists.list_pipelines(s, {"big", "other"}, ListFilters(project="big"), 50, None)
    assert time.perf_counter() - start < 0.1
    assert [p["name"] for p in page["pipelines"]] == [f"p{i:05d}" for i in range(50)]
    assert page["pipelines"][0]["last_run"]["id"] == "run-010030"  # the newer of its two runs
    assert page["next_cursor"]


def test_every_list_query_uses_its_index(db):
    with db.session() as s:
        pid = s.query(PipelineRow.id).filter(PipelineRow.name == "p00007").scalar()
    cases = [
        (lists.list_pipelines, (None, ListFilters(), 50, None), "ix_pipelines_project_name_id"),
        (lists.list_pipelines, ({"big", "other"}, ListFilters(), 50, None), "ix_pipelines_project_name_id"),
        (lists.list_runs, ({"big"}, ListFilters(), 50, None), "ix_pipeline_runs_project_created"),
        (lists.list_runs, (None, ListFilters(), 50, None), "ix_pipeline_runs_created_id"),
        (lists.list_runs, (None, ListFilters(status="failed"), 50, None), "ix_pipeline_runs_status_created"),
        (lists.list_pipeline_runs, (pid, ListFilters(), 50, None), "ix_pipeline_runs_pipeline_created"),
    ]
    for fn, args, index in cases:
        plans, elapsed = captured_plans(db, fn, *args)
        assert_indexed(plans, index)
        assert elapsed < 0.25, (fn.__name__, elapsed)


def test_a_deep_page_is_as_cheap_as_the_first(db):
    cursor = None
    with db.session() as s:
        for _ in range(3):
            cursor = lists.list_runs(s, {"big"}, ListFilters(), 500, cursor)["next_cursor"]
    plans, elapsed = captured_plans(db, lists.list_runs, {"big"}, ListFilters(), 50, cursor)
    assert_indexed(plans, "ix_pipeline_runs_project_created")
    assert elapsed < 0.25


def test_walking_all_pages_returns_each_visible_row_once_in_order_while_rows_are_added(db, tmp_path):
    small = Database(f"sqlite:///{tmp_path / 'walk.sqlite'}")
    small.upgrade()
    with small.session() as s:
        s.add_all([pipeline_row(p, f"n{i:03d}") for p in ("a", "b", "hidden") for i in range(0, 120, 2)])
    seen, cursor, added = [], None, 0
    while True:
        with small.session() as s:
            page = lists.list_pipelines(s, {"a", "b"}, ListFilters(), 7, cursor)
        seen.extend((p["project"], p["name"]) for p in page["pipelines"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        with small.session() as s:  # one row before the cursor, one after it, one in a hidden project
            s.add_all([pipeline_row("a", f"n{added:03d}x"), pipeline_row("b", f"n{110 - added:03d}y"), pipeline_row("hidden", f"z{added}")])
        added += 1
    assert len(seen) == len(set(seen))
    assert seen == sorted(seen)
    assert all(project in ("a", "b") for project, _ in seen)
    original = {(p, f"n{i:03d}") for p in ("a", "b") for i in range(0, 120, 2)}
    assert original <= set(seen)


def test_runs_newest_first_across_projects_with_filters(db):
    seen, cursor = [], None
    filters = ListFilters(status="failed", since=T0 + timedelta(seconds=100), until=T0 + timedelta(seconds=400))
    while True:
        with db.session() as s:
            page = lists.list_runs(s, {"big", "other"}, filters, 17, cursor)
        seen.extend(page["runs"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    expected = [f"run-{i:06d}" for i in range(399, 99, -1) if i % 3 == 0]
    assert [r["id"] for r in seen] == expected


def test_a_cursor_of_other_filters_is_a_field_error(db):
    with db.session() as s:
        cursor = lists.list_runs(s, None, ListFilters(status="failed"), 5, None)["next_cursor"]
        with pytest.raises(FieldError) as err:
            lists.list_runs(s, None, ListFilters(status="succeeded"), 5, cursor)
        assert err.value.field == "cursor"
        with pytest.raises(FieldError):
            lists.list_pipelines(s, None, ListFilters(status="failed"), 5, cursor)


def test_the_index_migration_goes_down_and_up_again(tmp_path):
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect

    from cubelab_hub.controlplane.db import MIGRATIONS, upgrade

    url = f"sqlite:///{tmp_path / 'm.sqlite'}"
    upgrade(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)

    def indexes() -> set[str]:
        database = Database(url)
        names = {ix["name"] for table in ("pipelines", "pipeline_runs", "job_templates") for ix in inspect(database.engine).get_indexes(table)}
        database.engine.dispose()
        return names

    assert {"ix_pipelines_project_name_id", "ix_pipeline_runs_project_created", "ix_job_templates_listing"} <= indexes()
    command.downgrade(cfg, "0003")
    assert not {n for n in indexes() if n.endswith(("_name_id", "_created", "_created_id", "_listing"))}
    upgrade(url)
    assert "ix_pipeline_runs_pipeline_created" in indexes()
