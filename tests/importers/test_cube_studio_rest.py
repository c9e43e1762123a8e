"""Cube Studio files through the REST API of a real CubeLab: a template file
entry by entry, a pipeline file with its demos, a demo copied into one's own
project, and an imported pipeline run end to end on the local engine."""

from __future__ import annotations

import copy

import pytest
from pipelines.cp import World

from .cube_fixtures import pipelines_file, templates_file

pytestmark = pytest.mark.hub


@pytest.fixture(scope="module")
def cp(platform, admin):
    world = World(platform, admin)
    r = world.call("admin", "POST", "/templates/import", {"format": "cube-studio", "content": templates_file("2026")})
    assert r.status_code == 201, r.text
    world.template_import = r.json()
    return world


def test_a_template_file_imports_entry_by_entry_with_a_report(cp):
    answer = cp.template_import
    statuses = {e["entry"]: e["status"] for e in answer["entries"]}
    assert len(statuses) == 98 and set(statuses.values()) <= {"imported", "renamed"}
    assert statuses["python"] == "renamed" and statuses["logical"] == "renamed"
    assert cp.call("creator", "GET", "/templates/python/Release").json()["builtin"] is True  # the built-in stays
    custom = cp.call("creator", "GET", "/templates/customize/Release").json()
    assert custom["display_name"] == "自定义镜像" and "images" in custom["args"]["任务"]
    # importing again: each entry refused for its name, nothing half-written
    r = cp.call("admin", "POST", "/templates/import", {"format": "cube-studio", "content": {"自定义镜像": templates_file("2026")["自定义镜像"]}})
    assert r.status_code == 400 and r.json()["field"] == "content.自定义镜像.name" and "already exists" in r.json()["message"]


def test_pipelines_import_with_their_report_and_a_demo_is_copied_in_one_call(cp):
    r = cp.call("creator", "POST", "/pipelines/import", {"format": "cube-studio", "document": pipelines_file("2026"), "project": "public"})
    assert r.status_code == 201, r.text
    entries = {e["entry"]: e for e in r.json()["entries"]}
    assert {k: e["status"] for k, e in entries.items()} == dict.fromkeys(("yolov8", "ml", "deepseek", "electric-bicycle"), "imported")
    assert entries["ml"]["demo"] is True
    ml = next(p for p in r.json()["pipelines"] if p["name"] == "ml")
    assert ml["parameter"]["demo"] == "true" and len(ml["edges"]) == 6
    listed = cp.call("dev", "GET", "/pipelines").json()
    rows = listed["pipelines"] if isinstance(listed, dict) else listed
    assert next(p for p in rows if p["id"] == ml["id"])["demo"] is True
    # a second import into the same project: each entry refused, naming it
    again = cp.call("creator", "POST", "/pipelines/import", {"format": "cube-studio", "document": {"ml": pipelines_file("2026")["ml"]}, "project": "public"})
    assert again.status_code == 201 and again.json()["entries"][0]["status"] == "refused"
    assert again.json()["entries"][0]["errors"][0]["field"] == "ml.pipeline.name"
    # copy the demo into the dev's own project: one call
    copied = cp.call("creator", "POST", f"/pipelines/{ml['id']}/copy", {"project": cp.project})
    assert copied.status_code == 201, copied.text
    body = copied.json()
    assert body["project"] == cp.project and body["creator"] == cp.name("creator") and "demo" not in body["parameter"]
    assert [t["name"] for t in body["tasks"]] == [t["name"] for t in ml["tasks"]]
    assert cp.call("outsider", "POST", f"/pipelines/{body['id']}/copy", {"project": "public"}).status_code == 404
    assert cp.call("ops", "POST", f"/pipelines/{ml['id']}/copy", {"project": cp.project}).status_code == 403
    bad = cp.call("creator", "POST", "/pipelines/import", {"format": "airflow", "document": {}, "project": "public"})
    assert bad.status_code == 400 and bad.json()["field"] == "format"


def test_an_imported_pipeline_runs_end_to_end_on_the_local_engine(cp):
    entry = copy.deepcopy(pipelines_file("2026")["yolov8"])
    entry["pipeline"]["name"] = "yolov8-local"
    entry["pipeline"]["global_env"] = "DAY={{datetime.datetime.now().strftime('%Y%m%d')}}"
    download = entry["tasks"][0]
    assert download["job_templete"] == "自定义镜像"
    # the custom-image template's command, run with bash -c: the one task a machine without images can run
    download["args"]["command"] = "echo creator={{creator}} runner={{runner}} day=$DAY && echo done > $KFJ_TASK_OUTPUT_DIR/done"
    download["volume_mount"] = ""
    for task in entry["tasks"][1:]:
        task["skip"] = True
    r = cp.call("creator", "POST", "/pipelines/import", {"format": "cube-studio", "document": entry, "project": cp.project})
    assert r.status_code == 201, r.text
    pipeline = r.json()["pipelines"][0]
    run = cp.call("ops", "POST", f"/pipelines/{pipeline['id']}/runs")
    assert run.status_code == 201, run.text
    done = cp.wait_run("dev", run.json()["id"], timeout=90)
    assert done["status"] == "succeeded", done
    log = cp.call("dev", "GET", f"/runs/{done['id']}/tasks/download-data/logs").text
    assert f"creator={cp.name('creator')} runner={cp.name('ops')} day=2" in log
