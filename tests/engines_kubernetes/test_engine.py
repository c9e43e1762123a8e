"""The engine end to end over HTTP: kubernetes-asyncio against the fake API
server, with :class:`ArgoSim` writing workflow status as Argo's controller would."""

from __future__ import annotations

import asyncio

import pytest
from kubernetes_asyncio import client as k8s

from cubelab_hub.domain.pipelines import Pipeline, Task
from cubelab_hub.engines.base import (
    CANCELLED,
    FAILED,
    PENDING,
    RUNNING,
    SKIPPED,
    SUCCEEDED,
    UPSTREAM_FAILED,
    EngineError,
    RunSpec,
    RunState,
    UnknownRun,
)
from cubelab_hub.engines.kubernetes.client import ArgoClient
from cubelab_hub.engines.kubernetes.compile import compile_workflow
from cubelab_hub.engines.kubernetes.engine import KubernetesEngine
from cubelab_hub.engines.kubernetes.security import secure_for_runner
from cubelab_hub.kube.objects import user_id

from .argo_sim import ArgoSim
from .specs import BUILTIN, DIAMOND_CONFIG, DIAMOND_PROJECT, diamond_spec

NS = "team-a"


def _engine(argo, tmp_path, **kw) -> KubernetesEngine:
    return KubernetesEngine(
        argo,
        cluster_config=DIAMOND_CONFIG,
        project_settings=lambda name: DIAMOND_PROJECT if name == "team-a" else None,
        logs_dir=tmp_path / "logs",
        retry_delay=0.05,
        cancel_wait=5,
        **kw,
    )


@pytest.fixture
async def engine(argo, tmp_path):
    eng = _engine(argo, tmp_path)
    events = []
    eng.add_listener(lambda e: events.append((e.kind, e.task.name if e.task else None, (e.task or e.run).status)))
    eng.events = events
    try:
        yield eng
    finally:
        await eng.close()


async def until(predicate, timeout: float = 5.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)


def _statuses(state: RunState) -> dict:
    return {name: ts.status for name, ts in state.tasks.items()}


async def test_submit_creates_the_compiled_workflow(engine, apiserver):
    spec = diamond_spec()
    state = await engine.submit(spec)
    assert state.status == PENDING
    assert state.engine_data == {"cluster": "default", "namespace": NS, "workflow": "diamond-run-0042"}
    stored = apiserver.cluster.workflows[(NS, "diamond-run-0042")]
    # the compiled workflow, its task pods restricted and running as the run's user
    expected = secure_for_runner(compile_workflow(spec, DIAMOND_PROJECT, DIAMOND_CONFIG), spec.runner)
    assert stored["spec"] == expected["spec"]
    assert stored["spec"]["securityContext"]["runAsUser"] == user_id(spec.runner)
    assert stored["metadata"]["labels"] == expected["metadata"]["labels"]
    with pytest.raises(EngineError):
        await engine.submit(spec)  # the same run twice while it runs


async def test_a_whole_run_fan_out_fan_in_retry_skip(engine, apiserver):
    spec = diamond_spec()
    await engine.submit(spec)
    sim = ArgoSim(apiserver.cluster, NS, "diamond-run-0042")
    watched = []

    async def watch():
        async for event in engine.watch(spec.run_id):
            watched.append(event)

    watcher = asyncio.create_task(watch())
    sim.task("prep", "Running")
    await until(lambda: engine._runs[spec.run_id].state.tasks["prep"].status == RUNNING)
    assert (await engine.status(spec.run_id)).status == RUNNING
    sim.task("prep", "Succeeded", exit_code=0, outputs={"rows_out": "42"})
    sim.task("train-a", "Running", attempt=0)
    sim.task("train-b", "Running")
    sim.task("train-a", "Failed", attempt=0, exit_code=3, message="Error (exit code 3)")
    sim.task("train-a", "Running", attempt=1)
    await until(lambda: engine._runs[spec.run_id].state.tasks["train-a"].attempts == 2)
    assert engine._runs[spec.run_id].state.tasks["train-a"].status == RUNNING
    sim.task("train-a", "Succeeded", attempt=1, exit_code=0, outputs={"model": "s3://m/1"})
    sim.task("train-b", "Succeeded", exit_code=0)
    sim.mark("join", "Succeeded", type_="Suspend")
    sim.mark("report", "Skipped", message="when 'false' evaluated false")
    sim.task("publish", "Succeeded", exit_code=0)
    sim.finish("Succeeded")
    await asyncio.wait_for(watcher, 5)
    state = await engine.status(spec.run_id)
    assert state.status == SUCCEEDED
    assert _statuses(state) == {"prep": SUCCEEDED, "train-a": SUCCEEDED, "train-b": SUCCEEDED, "join": SUCCEEDED, "report": SKIPPED, "publish": SUCCEEDED}
    assert state.tasks["prep"].outputs == {"rows_out": "42"}
    assert state.tasks["train-a"].attempts == 2 and state.tasks["train-a"].exit_code == 0
    assert state.tasks["train-a"].outputs == {"model": "s3://m/1"}
    assert state.tasks["report"].message == "skipped (task set to skip)"
    assert state.finished_at is not None and state.tasks["prep"].started_at is not None
    assert watched[-1].kind == "run" and watched[-1].run.status == SUCCEEDED
    # listeners saw every task start before it finished, and the run end last
    assert engine.events.index(("task", "prep", RUNNING)) < engine.events.index(("task", "prep", SUCCEEDED))
    assert engine.events[-1] == ("run", None, SUCCEEDED)
    assert [e for e in engine.events if e[0] == "run"][-2:] == [("run", None, RUNNING), ("run", None, SUCCEEDED)]


async def test_failure_upstream_failed_and_other_branch_goes_on(engine, apiserver):
    spec = diamond_spec()
    await engine.submit(spec)
    sim = ArgoSim(apiserver.cluster, NS, "diamond-run-0042")
    sim.task("prep", "Succeeded", exit_code=0)
    sim.task("train-b", "Succeeded", exit_code=0)
    for attempt in range(3):
        sim.task("train-a", "Failed", attempt=attempt, exit_code=1, message="Error (exit code 1)")
    sim.retry_failed("train-a")
    sim.mark("join", "Omitted", type_="Skipped", message="omitted: depends condition not met")
    sim.finish("Failed", "child 'diamond-run-0042-1002' failed")
    state = await asyncio.wait_for(engine.wait(spec.run_id), 5)
    assert state.status == FAILED
    statuses = _statuses(state)
    assert statuses["train-a"] == FAILED and statuses["train-b"] == SUCCEEDED
    assert statuses["join"] == UPSTREAM_FAILED
    assert state.tasks["join"].message == "upstream train-a failed"
    # never reached: report and publish are behind the failure
    assert statuses["report"] == UPSTREAM_FAILED and statuses["publish"] == UPSTREAM_FAILED
    assert state.tasks["train-a"].attempts == 3 and state.tasks["train-a"].exit_code == 1
    assert state.tasks["train-a"].message == "Error (exit code 1)"


async def test_timeout_message(engine, apiserver):
    spec = diamond_spec()
    spec.pipeline.task("train-a").retries = 0
    await engine.submit(spec)
    sim = ArgoSim(apiserver.cluster, NS, "diamond-run-0042")
    sim.task("prep", "Succeeded", exit_code=0)
    sim.task("train-a", "Failed", message="Pod was active on the node longer than the specified deadline")
    sim.finish("Failed")
    state = await asyncio.wait_for(engine.wait(spec.run_id), 5)
    assert state.tasks["train-a"].message.startswith("timed out after 3600s")


async def test_cancel_terminates_the_workflow(engine, apiserver):
    spec = diamond_spec()
    await engine.submit(spec)
    cluster = apiserver.cluster
    sim = ArgoSim(cluster, NS, "diamond-run-0042")
    sim.task("prep", "Running")
    await until(lambda: engine._runs[spec.run_id].state.tasks["prep"].status == RUNNING)

    async def controller():
        # Argo: on shutdown=Terminate, running pods are stopped and the workflow fails
        await until(lambda: cluster.workflows[(NS, "diamond-run-0042")]["spec"].get("shutdown") == "Terminate")
        sim.task("prep", "Failed", message="workflow shutdown with strategy:  Terminate")
        sim.finish("Failed", "Stopped with strategy 'Terminate'")

    acting = asyncio.create_task(controller())
    state = await engine.cancel(spec.run_id, "stopped by alice")
    await acting
    assert state.status == CANCELLED and state.message == "stopped by alice"
    assert set(_statuses(state).values()) == {CANCELLED}
    patches = [r for r in cluster.requests if r["method"] == "PATCH"]
    assert len(patches) == 1 and patches[0]["content_type"] == "application/merge-patch+json"
    # idempotent on a finished run
    assert (await engine.cancel(spec.run_id)).status == CANCELLED
    assert len([r for r in cluster.requests if r["method"] == "PATCH"]) == 1


async def test_cancel_when_the_workflow_is_gone(engine, apiserver):
    spec = diamond_spec()
    await engine.submit(spec)
    apiserver.cluster.workflows.pop((NS, "diamond-run-0042"))  # gone without an event
    state = await engine.cancel(spec.run_id)
    assert state.status == CANCELLED
    assert set(_statuses(state).values()) == {CANCELLED}


async def test_workflow_deleted_mid_run_fails_the_run(engine, apiserver):
    spec = diamond_spec()
    await engine.submit(spec)
    sim = ArgoSim(apiserver.cluster, NS, "diamond-run-0042")
    sim.task("prep", "Succeeded", exit_code=0)
    await until(lambda: engine._runs[spec.run_id].state.tasks["prep"].status == SUCCEEDED)
    apiserver.cluster.delete_workflow(NS, "diamond-run-0042")
    state = await asyncio.wait_for(engine.wait(spec.run_id), 5)
    assert state.status == FAILED and "deleted" in state.message
    assert state.tasks["prep"].status == SUCCEEDED
    assert state.tasks["train-a"].status == FAILED


async def test_compile_error_fails_the_run_without_a_workflow(engine, apiserver):
    spec = diamond_spec()
    spec.pipeline.task("train-b").cpu = "lots"
    state = await engine.submit(spec)
    assert state.status == FAILED and "tasks.train-b.cpu" in state.message
    assert state.tasks["train-b"].status == FAILED
    assert state.tasks["prep"].status == CANCELLED
    assert apiserver.cluster.workflows == {}
    assert [e async for e in engine.watch(spec.run_id)] == []  # already over


async def test_unreachable_api_server_fails_the_submit(tmp_path):
    configuration = k8s.Configuration()
    configuration.host = "http://127.0.0.1:9"  # discard port: nothing listens
    argo = ArgoClient(k8s.ApiClient(configuration))
    try:
        eng = _engine(argo, tmp_path)
        state = await eng.submit(diamond_spec())
        assert state.status == FAILED and "could not create the workflow" in state.message
    finally:
        await argo.close()


async def test_resubmit_after_a_crash_adopts_the_same_workflow(argo, apiserver, tmp_path):
    spec = diamond_spec()
    first = _engine(argo, tmp_path)
    await first.submit(spec)
    await first.close()
    second = _engine(argo, tmp_path)
    try:
        state = await second.submit(spec)
        assert state.status == PENDING
        assert len(apiserver.cluster.workflows) == 1
        # a different run whose name collides is not adopted
        other = diamond_spec()
        other.run_id = "run-0042"
        apiserver.cluster.workflows[(NS, "diamond-run-0042")]["metadata"]["annotations"]["cubelab.io/run-id"] = "someone-else"
        third = _engine(argo, tmp_path)
        refused = await third.submit(other)
        assert refused.status == FAILED and "belongs to another run" in refused.message
        await third.close()
    finally:
        await second.close()


async def test_reattach_after_restart_follows_the_run_to_its_end(argo, apiserver, tmp_path):
    spec = diamond_spec()
    first = _engine(argo, tmp_path)
    state = await first.submit(spec)
    sim = ArgoSim(apiserver.cluster, NS, "diamond-run-0042")
    sim.task("prep", "Running")
    await until(lambda: state.tasks["prep"].status == RUNNING)
    # what the control plane persisted: status and the engine's re-attach data
    saved = RunState(run_id=state.run_id, status=state.status, engine_data=dict(state.engine_data), tasks={})
    await first.close()  # the control plane goes away; the workflow goes on
    sim.task("prep", "Succeeded", exit_code=0)

    second = _engine(argo, tmp_path)
    try:
        restored = await second.reattach(spec, saved)
        await until(lambda: restored.tasks["prep"].status == SUCCEEDED)
        for task in ("train-a", "train-b", "publish"):
            sim.task(task, "Succeeded", attempt=0 if task == "train-a" else None, exit_code=0)
        sim.mark("join", "Succeeded", type_="Suspend")
        sim.mark("report", "Skipped")
        sim.finish("Succeeded")
        final = await asyncio.wait_for(second.wait(spec.run_id), 5)
        assert final.status == SUCCEEDED
    finally:
        await second.close()


async def test_reattach_when_the_workflow_is_gone_marks_it_failed(argo, tmp_path):
    spec = diamond_spec()
    eng = _engine(argo, tmp_path)
    try:
        saved = RunState(run_id=spec.run_id, status=RUNNING, engine_data={"namespace": NS, "workflow": "diamond-run-0042"})
        await eng.reattach(spec, saved)
        state = await asyncio.wait_for(eng.wait(spec.run_id), 5)
        assert state.status == FAILED and "no longer exists" in state.message
        assert set(_statuses(state).values()) == {FAILED}
        done = RunState(run_id="old", status=SUCCEEDED)
        assert await eng.reattach(spec, done) is done
    finally:
        await eng.close()


async def test_unknown_run(engine):
    with pytest.raises(UnknownRun):
        await engine.status("nope")
    with pytest.raises(UnknownRun):
        await engine.cancel("nope")


# ---------------------------------------------------------------- logs


def _small_spec(retries: int = 1) -> RunSpec:
    pipeline = Pipeline(name="logs", project="public", tasks=[Task("a", "shell", args={"--command": "echo hi"}, retries=retries)])
    return RunSpec(run_id="r9", pipeline=pipeline, templates={"a": BUILTIN["shell"]}, creator="u", runner="u", namespace=NS)


async def test_logs_follow_across_retries_and_outlive_the_pods(engine, apiserver, tmp_path):
    cluster = apiserver.cluster
    spec = _small_spec(retries=1)
    await engine.submit(spec)
    sim = ArgoSim(cluster, NS, "logs-r9")
    sim.task("a", "Running", attempt=0)
    first_pod = sim.pod_name("a", 0)
    cluster.write_log(NS, first_pod, "main", "try one\n")
    cluster.write_log(NS, first_pod, "wait", "argo executor noise\n")
    await until(lambda: engine._runs["r9"].attempts.get("a"))
    got: list[bytes] = []

    async def follow():
        async for chunk in engine.logs("r9", "a", follow=True):
            got.append(chunk)

    follower = asyncio.create_task(follow())
    await until(lambda: b"".join(got) == b"try one\n")
    cluster.write_log(NS, first_pod, "main", "boom\n")
    cluster.end_log(NS, first_pod, "main")
    sim.task("a", "Failed", attempt=0, exit_code=1, message="Error (exit code 1)")
    sim.task("a", "Pending", attempt=1)
    await asyncio.sleep(0.2)
    second_pod = sim.pod_name("a", 1)
    sim.task("a", "Running", attempt=1)
    cluster.write_log(NS, second_pod, "main", "try two\n")
    await until(lambda: b"try two" in b"".join(got))
    cluster.end_log(NS, second_pod, "main")
    sim.task("a", "Succeeded", attempt=1, exit_code=0)
    sim.finish("Succeeded")
    await asyncio.wait_for(follower, 5)
    expected = b"try one\nboom\n\n[cubelab] attempt 2 of 2\ntry two\n"
    assert b"".join(got) == expected
    await engine.wait("r9")
    state = await engine.status("r9")
    assert state.tasks["a"].log_path is not None

    # pods garbage-collected: the copies remain
    cluster.pods.clear()
    assert b"".join([c async for c in engine.logs("r9", "a")]) == expected
    # and after a restart, without re-attaching
    fresh = _engine(engine.client, tmp_path)
    assert b"".join([c async for c in fresh.logs("r9", "a")]) == expected
    with pytest.raises(UnknownRun):
        [c async for c in fresh.logs("r-unknown", "a")]


async def test_logs_without_follow_and_a_pod_not_started(engine, apiserver):
    cluster = apiserver.cluster
    spec = _small_spec(retries=0)
    await engine.submit(spec)
    sim = ArgoSim(cluster, NS, "logs-r9")
    sim.task("a", "Running")
    cluster.write_log(NS, sim.pod_name("a"), "main", "so far\n")
    await until(lambda: engine._runs["r9"].attempts.get("a"))
    assert b"".join([c async for c in engine.logs("r9", "a")]) == b"so far\n"
    with pytest.raises(EngineError):
        [c async for c in engine.logs("r9", "nope")]


async def test_reattach_without_engine_data_finds_the_workflow_by_its_name(argo, apiserver, tmp_path):
    # the control plane stopped between submit and saving the engine's data
    spec = diamond_spec()
    spec.namespace = "pipeline"  # the project's namespace (team-a) is where it went
    first = _engine(argo, tmp_path)
    await first.submit(spec)
    await first.close()
    assert (NS, "diamond-run-0042") in apiserver.cluster.workflows
    second = _engine(argo, tmp_path)
    try:
        restored = await second.reattach(spec, RunState(run_id=spec.run_id, status=PENDING))
        assert restored.engine_data == {"cluster": "default", "namespace": NS, "workflow": "diamond-run-0042"}
        ArgoSim(apiserver.cluster, NS, "diamond-run-0042").finish("Failed", "stopped")
        assert (await asyncio.wait_for(second.wait(spec.run_id), 5)).status == FAILED
    finally:
        await second.close()


async def test_engine_for_the_control_planes_clusters_setting(apiserver, tmp_path):
    from cubelab_hub.domain.projects import settings_from_properties
    from cubelab_hub.engines.kubernetes import engine_for_clusters

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: fake\n"
        f"clusters: [{{name: fake, cluster: {{server: '{apiserver.url}'}}}}]\n"
        "users: [{name: u, user: {token: not-a-real-token}}]\n"
        "contexts: [{name: fake, context: {cluster: fake, user: u}}]\n"
    )
    projects = {
        "team-a": settings_from_properties({"namespace": "team-a"}),
        "gpu-team": settings_from_properties({"namespace": "team-g", "cluster": "gpu"}),
        "lost": settings_from_properties({"cluster": "elsewhere"}),
    }
    eng = engine_for_clusters(
        {"default": {"host": apiserver.url}, "gpu": {"kubeconfig": str(kubeconfig), "context": "fake"}},
        project_settings=projects.get,
        logs_dir=tmp_path / "l",
    )
    try:
        first = diamond_spec(run_id="run-1")
        assert (await eng.submit(first)).engine_data["cluster"] == "default"
        second = diamond_spec(run_id="run-2")
        second.project = "gpu-team"
        state = await eng.submit(second)
        assert state.status == PENDING and state.engine_data == {"cluster": "gpu", "namespace": "team-g", "workflow": "diamond-run-2"}
        assert ("team-g", "diamond-run-2") in apiserver.cluster.workflows
        third = diamond_spec(run_id="run-3")
        third.project = "lost"
        refused = await eng.submit(third)
        assert refused.status == FAILED and "cluster 'elsewhere' is not configured" in refused.message
        with pytest.raises(ValueError):
            engine_for_clusters({"x": {"kubeconfg": "typo"}})
    finally:
        await eng.close()


async def test_peak_cpu_and_memory_from_metrics_server(argo, apiserver, tmp_path):
    cluster = apiserver.cluster
    eng = _engine(argo, tmp_path, sample_interval=0.05)
    final_events = []
    eng.add_listener(lambda e: final_events.append((e.task.peak_cpu, e.task.peak_memory)) if e.task and e.task.status == SUCCEEDED else None)
    try:
        spec = _small_spec(retries=0)
        await eng.submit(spec)
        sim = ArgoSim(cluster, NS, "logs-r9")
        sim.task("a", "Running")
        pod = sim.pod_name("a")
        cluster.metrics[(NS, pod)] = {"wait": {"cpu": "3", "memory": "9Gi"}, "main": {"cpu": "1500m", "memory": "512Mi"}}
        await until(lambda: eng._runs["r9"].state.tasks["a"].peak_cpu == 1.5)
        cluster.metrics[(NS, pod)] = {"main": {"cpu": "250000000n", "memory": "1Gi"}}
        await until(lambda: eng._runs["r9"].state.tasks["a"].peak_memory == 2**30)
        sim.task("a", "Succeeded", exit_code=0)
        sim.finish("Succeeded")
        state = await asyncio.wait_for(eng.wait("r9"), 5)
        # the highest of each, the main container only (not Argo's wait container)
        assert (state.tasks["a"].peak_cpu, state.tasks["a"].peak_memory) == (1.5, 2**30)
        assert final_events == [(1.5, 2**30)]  # the success event carries them to the control plane
    finally:
        await eng.close()


async def test_cancel_that_comes_too_late_leaves_a_success(engine, apiserver):
    spec = diamond_spec()
    await engine.submit(spec)
    cluster = apiserver.cluster
    sim = ArgoSim(cluster, NS, "diamond-run-0042")

    async def controller():
        # the workflow ends on its own just as the cancel arrives; Argo ignores the shutdown
        await until(lambda: cluster.workflows[(NS, "diamond-run-0042")]["spec"].get("shutdown") == "Terminate")
        for task in ("prep", "train-b", "publish"):
            sim.task(task, "Succeeded", exit_code=0)
        sim.task("train-a", "Succeeded", attempt=0, exit_code=0)
        sim.mark("join", "Succeeded", type_="Suspend")
        sim.mark("report", "Skipped")
        sim.finish("Succeeded")

    acting = asyncio.create_task(controller())
    state = await engine.cancel(spec.run_id)
    await acting
    assert state.status == SUCCEEDED and state.message == ""
    assert set(_statuses(state).values()) == {SUCCEEDED, SKIPPED}


async def test_secret_env_goes_into_a_secret_made_before_the_workflow_and_deleted_with_it(engine, apiserver):
    import json

    spec = diamond_spec()
    spec.secret_env = {"API_TOKEN": "s3cret-value"}
    await engine.submit(spec)
    cluster = apiserver.cluster
    workflow = cluster.workflows[(NS, "diamond-run-0042")]
    secret = cluster.secrets[(NS, "diamond-run-0042-env")]
    assert secret["stringData"] == {"API_TOKEN": "s3cret-value"}
    # made before the workflow, so no pod starts without it; then owned by the workflow
    posts = [r["path"] for r in cluster.requests if r["method"] == "POST"]
    assert posts == [f"/api/v1/namespaces/{NS}/secrets", f"/apis/argoproj.io/v1alpha1/namespaces/{NS}/workflows"]
    assert secret["metadata"]["ownerReferences"] == [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
                                                      "name": "diamond-run-0042", "uid": workflow["metadata"]["uid"]}]
    # every task reads the value from the Secret; the workflow holds none of it
    assert "s3cret-value" not in json.dumps(workflow)
    containers = [t["container"] for t in workflow["spec"]["templates"] if "container" in t]
    assert containers and all({"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "diamond-run-0042-env", "key": "API_TOKEN"}}}
                              in c["env"] for c in containers)
    cluster.delete_workflow(NS, "diamond-run-0042")
    assert (NS, "diamond-run-0042-env") not in cluster.secrets


async def test_runs_without_secret_env_make_no_secret(engine, apiserver):
    await engine.submit(diamond_spec())
    assert apiserver.cluster.secrets == {}
