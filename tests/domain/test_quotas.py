"""Task resources against an engine's capacity and a project's quota (pure)."""

from decimal import Decimal

import pytest

from cubelab_hub.domain.pipelines import Pipeline, Task
from cubelab_hub.domain.projects import Quota
from cubelab_hub.domain.quotas import (
    Capacity,
    Usage,
    build_quota_errors,
    check_capacity,
    check_quota,
    run_demands,
    usage_document,
    usage_from_document,
    usage_of_options,
)
from cubelab_hub.domain.templates import template_from_dict

SHELL = template_from_dict({"name": "shell", "image": "x", "command": ["bash", "-c"]})
PINNED = template_from_dict({"name": "pinned", "image": "x", "command": ["true"], "env": "TASK_RESOURCE_GPU=2\nTASK_RESOURCE_CPU=0.5"})
LOGICAL = template_from_dict({"name": "join", "kind": "logical", "image": "", "command": []})
MACHINE = Capacity(cpu=Decimal(2), memory=8 * 2**30, gpu=0)


def demands(*tasks, templates=None, only=None):
    pipeline = Pipeline("p", tasks=list(tasks))
    templates = templates or {}
    return run_demands(pipeline, {t.name: templates.get(t.name, SHELL) for t in tasks}, only)


def test_a_task_asking_more_gpus_than_the_machine_has_is_an_error_on_that_task():
    (diag,) = check_capacity(demands(Task("ok", "shell"), Task("train", "shell", gpu="8")), MACHINE)
    assert (diag.severity, diag.task, diag.field) == ("error", "train", "gpu")
    assert diag.message == "gpu: '8' asks for 8 GPU card(s) but this machine has 0 (accepted: 0 (this machine has no GPU))"


def test_cpu_and_memory_requests_beyond_the_machine_are_errors_but_limits_are_caps():
    diags = check_capacity(demands(Task("big", "shell", cpu="3", memory="9G"), Task("capped", "shell", cpu="1~64", memory="1G~1T")), MACHINE)
    assert [(d.task, d.field) for d in diags] == [("big", "cpu"), ("big", "memory")]
    assert "'3' asks for 3 cores but this machine has 2" in diags[0].message
    assert "'9G' asks for 9G but this machine has 8G" in diags[1].message


def test_unknown_capacity_checks_nothing_and_template_overrides_count():
    assert check_capacity(demands(Task("t", "shell", gpu="8")), None) == []
    (diag,) = check_capacity(demands(Task("t", "pinned", gpu="0"), templates={"t": PINNED}), MACHINE)
    assert diag.field == "gpu" and "'2' asks for 2" in diag.message


def test_skipped_logical_and_unselected_tasks_ask_for_nothing():
    found = demands(Task("s", "shell", gpu="5", skip=True), Task("j", "join", gpu="5"), Task("x", "shell", gpu="5"), Task("y", "shell", gpu="1"),
                    templates={"j": LOGICAL}, only={"s", "j", "y"})
    assert [d.task for d in found] == ["y"]
    assert found[0].usage == Usage(Decimal(1), 2 * 2**30, 1)  # the defaults: 1 core, 2G


def test_quota_refusal_names_project_quota_use_and_the_task():
    quota = Quota(gpu=2)
    (diag,) = check_quota("vision", quota, Usage(gpu=2), demands(Task("prep", "shell"), Task("train", "shell", gpu="1")))
    assert (diag.task, diag.field) == ("train", "gpu")
    assert diag.message.startswith(
        "gpu: project 'vision' has a GPU quota of 2; 2 are in use by running servers and tasks; this run's task 'train' asks for 1"
    )
    assert diag.message.endswith("(accepted: at most 0 card(s) now)")
    # each task on its own: two one-card tasks fit a quota of one card with nothing in use
    assert check_quota("vision", Quota(gpu=1), Usage(), demands(Task("a", "shell", gpu="1"), Task("b", "shell", gpu="1"))) == []


def test_quota_counts_limits_of_cpu_and_memory():
    quota = Quota(cpu=Decimal(4), memory=8 * 2**30)
    diags = check_quota("vision", quota, Usage(Decimal("2.5"), 6 * 2**30, 0), demands(Task("t", "shell", cpu="1~2", memory="1G~4G")))
    assert [d.field for d in diags] == ["cpu", "memory"]
    assert "CPU quota of 4 cores; 2.5 are in use by running servers and tasks; this run's task 't' asks for up to 2" in diags[0].message
    assert "memory quota of 8G; 6G are in use by running servers and tasks; this run's task 't' asks for up to 4G" in diags[1].message
    assert check_quota("vision", quota, Usage(), demands(Task("t", "shell", cpu="1~2", memory="1G~4G"))) == []


def test_usage_of_server_options_and_the_published_document_round_trip():
    assert usage_of_options({"cpu": "1~2", "memory": "1G~4G", "gpu": "1(V100)"}) == Usage(Decimal(2), 4 * 2**30, 1)
    assert usage_of_options({"cpu": "lots"}) == Usage() and usage_of_options(None) == Usage()
    by_project = {"vision": Usage(Decimal("1.5"), 2**30, 1), "idle": Usage()}
    document = usage_document(by_project)
    assert list(document["projects"]) == ["vision"]
    assert usage_from_document(document) == {"vision": by_project["vision"]}
    for bad in ({}, {"format": "x"}, {"format": document["format"], "projects": []},
                {"format": document["format"], "projects": {"v": {"cpu": "-1"}}}):
        with pytest.raises(ValueError):
            usage_from_document(bad)


def test_a_build_is_checked_against_what_the_project_holds_beside_its_builds():
    quota = Quota(cpu=Decimal(4), memory=8 * 2**30)
    in_use = Usage(Decimal(3), 6 * 2**30, 0)
    assert build_quota_errors("ml", quota, in_use, Decimal(1), 2 * 2**30) == []
    errors = build_quota_errors("ml", quota, in_use, Decimal(2), 3 * 2**30)
    assert [e.field for e in errors] == ["cpu", "memory"]
    assert "project 'ml' has a CPU quota of 4 cores; 3 are in use" in str(errors[0]) and "this build asks for up to 2" in str(errors[0])
    assert errors[0].accepted == "at most 1 cores now" and errors[1].accepted == "at most 2G now"
    # no quota, or only a GPU quota: builds hold no card
    assert build_quota_errors("ml", Quota(gpu=0), in_use, Decimal(64), 2**40) == []
