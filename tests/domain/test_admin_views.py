"""The admin overview's arithmetic (pure): filters, totals per project and
user, a project's use per kind, a user's activity, the running view's cursor."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from cubelab_hub.domain.admin_views import (
    KINDS,
    RunningItem,
    matching,
    parse_kind,
    parse_running_filters,
    project_use,
    quota_json,
    split_id,
    totals,
    usage_json,
    user_activity,
)
from cubelab_hub.domain.errors import FieldError
from cubelab_hub.domain.paging import decode_cursor, page_in_memory
from cubelab_hub.domain.projects import Quota
from cubelab_hub.domain.quotas import Usage

G = 2**30


def item(kind, id_, project, user, cpu="0", memory=0, gpu=0, **kw):
    return RunningItem(kind=kind, id=id_, name=id_, project=project, user=user, status="running",
                       use=Usage(Decimal(cpu), memory, gpu), **kw)


ITEMS = [
    item("server", "ann", "vision", "ann", "2", 4 * G),
    item("server", "bob:gpu", None, "bob", "1", G, 1),  # a server of no project
    item("task", "run-1:train", "vision", "bob", "1.5", 2 * G, 1, run_id="run-1"),
    item("task", "run-1:eval", "vision", "bob", "0.5", G, run_id="run-1"),
    item("trial", "trial-a", "nlp", "ann", "1", G, run_id="run-9", experiment_id=7),
    item("service", "3", "vision", "ann", "2", 2 * G),
    item("build", "5", "nlp", "cyd", "4", 8 * G),
]


def test_a_project_use_is_the_sum_of_its_kinds_and_each_kind_is_reported():
    result = project_use(ITEMS, "vision")
    assert result["by_kind"] == {
        "servers": {"cpu": 2, "memory": 4 * G, "gpu": 0},
        "tasks": {"cpu": 2, "memory": 3 * G, "gpu": 1},
        "trials": {"cpu": 0, "memory": 0, "gpu": 0},
        "services": {"cpu": 2, "memory": 2 * G, "gpu": 0},
        "builds": {"cpu": 0, "memory": 0, "gpu": 0},
    }
    assert result["use"] == {"cpu": 6, "memory": 9 * G, "gpu": 1}
    # a project with nothing running holds zero of every kind
    assert project_use(ITEMS, "idle") == {"use": {"cpu": 0, "memory": 0, "gpu": 0},
                                          "by_kind": {k: {"cpu": 0, "memory": 0, "gpu": 0}
                                                      for k in ("servers", "tasks", "trials", "services", "builds")}}


def test_totals_count_and_sum_per_project_and_per_user_and_a_server_of_no_project_counts_for_its_user_only():
    result = totals(ITEMS)
    assert result["by_project"] == {
        "nlp": {"count": 2, "cpu": 5, "memory": 9 * G, "gpu": 0},
        "vision": {"count": 4, "cpu": 6, "memory": 9 * G, "gpu": 1},
    }
    assert result["by_user"] == {
        "ann": {"count": 3, "cpu": 5, "memory": 7 * G, "gpu": 0},
        "bob": {"count": 3, "cpu": 3, "memory": 4 * G, "gpu": 2},
        "cyd": {"count": 1, "cpu": 4, "memory": 8 * G, "gpu": 0},
    }
    assert sum(t["count"] for t in result["by_user"].values()) == len(ITEMS)
    assert totals([]) == {"by_project": {}, "by_user": {}}


def test_fractional_cores_are_numbers():
    assert usage_json(Usage(Decimal("0.25"), 5, 0)) == {"cpu": 0.25, "memory": 5, "gpu": 0}
    assert usage_json(Usage(Decimal("2.0"), 0, 0))["cpu"] == 2 and isinstance(usage_json(Usage(Decimal("2.0")))["cpu"], int)


def test_filters_by_kind_project_and_user_in_list_order():
    assert [i.id for i in matching(ITEMS, kind="task")] == ["run-1:eval", "run-1:train"]
    assert [i.id for i in matching(ITEMS, project="vision", user="ann")] == ["ann", "3"]
    assert [i.id for i in matching(ITEMS, project="nlp", kind="build")] == ["5"]
    assert matching(ITEMS, user="nobody") == []
    # items of no project come first (sorted as ""), then by project, kind, id
    assert [i.id for i in matching(ITEMS)][:1] == ["bob:gpu"]


def test_the_running_view_pages_with_cursors_bound_to_its_filters():
    wanted = parse_running_filters(None, "vision", None)
    found = matching(ITEMS, wanted.kind, wanted.project, wanted.user)
    first = page_in_memory(found, 2, None, wanted.list_name(), RunningItem.sort_key, wanted.list_filters())
    assert [i.id for i in first.items] == ["ann", "3"] and first.next_cursor
    after = decode_cursor(wanted.list_name(), first.next_cursor, (str, str, str), wanted.list_filters())
    second = page_in_memory(found, 2, after, wanted.list_name(), RunningItem.sort_key, wanted.list_filters())
    assert [i.id for i in second.items] == ["run-1:eval", "run-1:train"] and second.next_cursor is None
    other = parse_running_filters("task", "vision", None)
    with pytest.raises(FieldError) as err:
        decode_cursor(other.list_name(), first.next_cursor, (str, str, str), other.list_filters())
    assert err.value.field == "cursor"
    other = parse_running_filters(None, "vision", "ann")
    with pytest.raises(FieldError):
        decode_cursor(other.list_name(), first.next_cursor, (str, str, str), other.list_filters())


def test_filters_are_checked_and_named():
    assert parse_kind(None) is None and parse_kind("") is None
    assert [parse_kind(k) for k in KINDS] == list(KINDS)
    with pytest.raises(FieldError) as err:
        parse_kind("pod")
    assert err.value.field == "kind" and "server" in err.value.accepted
    with pytest.raises(FieldError) as err:
        parse_running_filters(None, None, "u" * 256)
    assert err.value.field == "user"
    with pytest.raises(FieldError) as err:
        parse_running_filters(None, "p" * 256, None)
    assert err.value.field == "project"
    assert parse_running_filters("", "", "") == parse_running_filters(None, None, None)


def test_user_activity_counts_servers_runs_experiments_services_and_sums_use():
    activity = user_activity(ITEMS, active_runs={"run-1": "bob", "run-2": "bob", "run-9": "ann", "run-3": "dee"},
                             active_experiments={7: "ann", 8: "ann"})
    bob = activity["bob"]
    # run-1 (two running tasks) and run-2 (waiting): two runs
    assert (bob.servers, bob.runs_active, bob.experiments_active, bob.services) == (1, 2, 0, 0)
    assert bob.use == Usage(Decimal(3), 4 * G, 2)
    ann = activity["ann"]
    # run-9 is a trial's run: it counts as the experiment's, not as a run
    assert (ann.servers, ann.runs_active, ann.experiments_active, ann.services) == (1, 0, 2, 1)
    assert ann.to_dict()["use"] == {"cpu": 5, "memory": 7 * G, "gpu": 0}
    assert activity["dee"].runs_active == 1 and activity["dee"].use == Usage()
    assert activity["cyd"].to_dict() == {"servers": 0, "runs_active": 0, "experiments_active": 0, "services": 0,
                                         "use": {"cpu": 4, "memory": 8 * G, "gpu": 0}}


def test_items_and_quotas_as_the_api_answers_them():
    started = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    doc = RunningItem("task", "run-1:train", "pipe / train", "vision", "bob", "running", started,
                      Usage(Decimal("1.5"), G, 1), "local", run_id="run-1").to_dict()
    assert doc == {"kind": "task", "id": "run-1:train", "name": "pipe / train", "project": "vision", "user": "bob",
                   "status": "running", "started": "2026-12-04T12:00:00+00:00",
                   "use": {"cpu": 1.5, "memory": G, "gpu": 1}, "cluster": "local"}
    assert quota_json(Quota()) is None
    assert quota_json(Quota(cpu=Decimal("8"), gpu=2)) == {"cpu": 8, "memory": None, "gpu": 2}
    assert split_id("ann") == ("ann", None) and split_id("ann:gpu") == ("ann", "gpu")
    assert split_id("run-1:a:b") == ("run-1", "a:b")
