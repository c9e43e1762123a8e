"""Argo status -> CubeLab states, on hand-written status documents."""

from __future__ import annotations

from cubelab_hub.domain.pipelines import Pipeline, Task
from cubelab_hub.engines.base import CANCELLED, FAILED, PENDING, RUNNING, SUCCEEDED, UPSTREAM_FAILED, RunSpec
from cubelab_hub.engines.kubernetes.status import attempts, run_status, task_states

from .specs import BUILTIN, rerun_spec


def _spec() -> RunSpec:
    tasks = [Task("a", "shell", args={"--command": "true"}, retries=2), Task("b", "shell", args={"--command": "true"})]
    pipeline = Pipeline(name="p", tasks=tasks, edges=[("a", "b")])
    return RunSpec(run_id="r", pipeline=pipeline, templates={"a": BUILTIN["shell"], "b": BUILTIN["shell"]}, creator="u", runner="u")


def _wf(phase: str, nodes: list[dict], message: str = "") -> dict:
    status = {"phase": phase, "nodes": {n["name"]: {"id": n["name"], **n} for n in nodes}}
    if message:
        status["message"] = message
    return {"metadata": {"name": "p-r"}, "status": status}


def test_run_status():
    assert run_status({"metadata": {"name": "x"}}, False) == (PENDING, "")
    assert run_status(_wf("Running", []), False) == (RUNNING, "")
    assert run_status(_wf("Succeeded", []), False) == (SUCCEEDED, "")
    assert run_status(_wf("Error", [], "boom"), False) == (FAILED, "boom")
    assert run_status(_wf("Failed", [], "Stopped with strategy 'Terminate'"), True)[0] == CANCELLED


def test_retry_node_with_only_a_pending_pod_is_pending():
    wf = _wf("Running", [{"name": "p-r.a", "type": "Retry", "phase": "Running"}, {"name": "p-r.a(0)", "type": "Pod", "phase": "Pending"}])
    states = task_states(_spec(), wf, False)
    assert states["a"].status == PENDING and states["a"].attempts == 0
    assert states["b"].status == PENDING


def test_attempts_are_ordered_by_index_not_by_position():
    wf = _wf(
        "Running",
        [
            {"name": "p-r.a(10)", "type": "Pod", "phase": "Running"},
            {"name": "p-r.a", "type": "Retry", "phase": "Running"},
            {"name": "p-r.a(2)", "type": "Pod", "phase": "Failed"},
            {"name": "p-r.ab", "type": "Pod", "phase": "Running"},  # another task whose name starts alike
        ],
    )
    assert [a.index for a in attempts(wf, "a")] == [2, 10]
    assert [a.node for a in attempts(wf, "ab")] == ["p-r.ab"]


def test_errored_workflow_without_nodes_fails_every_task_with_its_message():
    states = task_states(_spec(), _wf("Error", [], "invalid spec: templates.task-a: bad"), False)
    assert states["a"].status == FAILED and "invalid spec" in states["a"].message
    assert states["b"].status == UPSTREAM_FAILED and states["b"].message == "upstream a failed"


def test_error_phase_node_and_pending_at_the_end():
    wf = _wf(
        "Failed",
        [
            {"name": "p-r.a", "type": "Retry", "phase": "Error"},
            {"name": "p-r.a(0)", "type": "Pod", "phase": "Error", "message": "pod deleted", "outputs": {"exitCode": "137"}},
            {"name": "p-r.b", "type": "Pod", "phase": "Pending"},
        ],
    )
    states = task_states(_spec(), wf, False)
    assert states["a"].status == FAILED and states["a"].message == "pod deleted" and states["a"].exit_code == 137
    assert states["b"].status == FAILED  # a task cannot stay pending in a finished run
    cancelled = task_states(_spec(), wf, True)
    assert cancelled["a"].status == CANCELLED and cancelled["b"].status == CANCELLED


def test_reused_task_reports_the_earlier_result():
    spec = rerun_spec()
    wf = {"metadata": {"name": "rerun-run-0043"}, "status": {"phase": "Running", "nodes": {"x": {"name": "rerun-run-0043.prep", "type": "Skipped", "phase": "Skipped"}}}}
    states = task_states(spec, wf, False)
    assert states["prep"].status == SUCCEEDED and states["prep"].outputs == {"rows_out": "42"}
    assert states["prep"].message == "reused from an earlier run"


def test_quantities_of_metrics_server():
    from decimal import Decimal

    import pytest

    from cubelab_hub.engines.kubernetes.status import main_usage, parse_quantity

    assert parse_quantity("250m") == Decimal("0.25")
    assert parse_quantity("123456789n") == Decimal("0.123456789")
    assert parse_quantity("512Mi") == 512 * 2**20
    assert parse_quantity("2G") == 2 * 10**9
    assert parse_quantity("1e3") == 1000
    with pytest.raises(ValueError):
        parse_quantity("12 cores")
    assert main_usage({"containers": [{"name": "main", "usage": {"cpu": "1", "memory": "1Ki"}}]}) == (1.0, 1024)
    assert main_usage({"containers": [{"name": "wait", "usage": {"cpu": "1", "memory": "1Ki"}}]}) is None
    assert main_usage(None) is None
