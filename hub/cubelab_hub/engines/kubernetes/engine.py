"""The Kubernetes engine: pipeline runs as Argo Workflows.

``submit`` compiles the run (:mod:`.compile`, pure) and creates the Workflow;
a driver task per run watches it (:mod:`.client`) and turns each status change
into task and run events (:mod:`.status`, pure). ``cancel`` is Argo's terminate
(``spec.shutdown: Terminate``: running pods stop, nothing new starts). Logs are
read from each attempt's pod (container ``main``) and, when ``logs_dir`` is set,
copied there as each attempt ends, so they outlive pod garbage collection.

Scheduled runs: the control plane's scheduler, not Argo CronWorkflows. One
scheduler for both engines keeps the schedule records (``comed`` / ``created`` /
``skipped`` with the reason), ``depends_on_past``, ``expired_limit`` and
``max_active_runs`` identical whichever engine runs the pipeline; a
CronWorkflow can express none of the records, ``depends_on_past`` or
``expired_limit`` (its ``concurrencyPolicy`` and ``startingDeadlineSeconds`` are
coarser), and it would fire runs the control plane only learns about
afterwards. A scheduled tick therefore reaches this engine as an ordinary
:meth:`submit` with ``trigger="schedule"`` and ``schedule_time``, so no
CronWorkflow compiler exists.

What the cluster needs:

- Argo Workflows >= 3.5 (``podGC.deleteDelayDuration``; the schema checks use
  hera's models of Argo 4.0.5), its controller watching the projects' namespaces.
- The control plane's credentials: ``workflows.argoproj.io`` create, get, list,
  watch, patch, delete; ``pods`` list; ``pods/log`` get; ``metrics.k8s.io``
  ``pods`` get; ``secrets`` create, patch, list, delete (the run's Secret and
  the project's registry pull Secrets, written before the Workflow and listed
  in its ``imagePullSecrets``: ``pull_secrets``), in those namespaces.
- In each namespace, the workflow service account (``ClusterConfig.service_account``,
  default ``pipeline``) with Argo's executor role.
- An artifact repository only for pipelines that pass a directory downstream
  (``{{tasks.T.outputs.path}}`` or a ``path``-type output); values travel as
  parameters.

Task pods run as the run's user: the user who started it, or the pipeline's
owner for a scheduled run, with a uid and gid hashed from that name (the same
as the user's notebook pods) under the "restricted" Pod Security Standard
(``task_security``; :mod:`.security`).

Differences from the local engine, by nature of the platform: a task's timeout
applies to each attempt (the pod's ``activeDeadlineSeconds``), not to all
attempts together; a reference to an output of a skipped task, or to the
directory of a task reused from an earlier run, fails the run before it starts
rather than when the task would start. Peak CPU and memory (for resource
auto-tuning) come from metrics-server's ``metrics.k8s.io`` (``pods`` get), sampled
every ``sample_interval`` seconds; without metrics-server they stay unknown.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import aiohttp
from traitlets import Any, Dict, Float, Integer, Tuple, Unicode, default, validate

from ...domain.errors import Conflict, FieldError
from ...domain.projects import ProjectSettings
from ...kube.client import KubernetesApiError
from ...kube.clusters import ClusterAccess, Clusters, cluster_access, connect
from ...kube.objects import DEFAULT_ID_RANGE, RESTRICTED, check_id_range, check_security_policy
from ..base import (
    CANCELLED,
    FAILED,
    PENDING,
    RUN_FINAL,
    RUNNING,
    TASK_FINAL,
    Engine,
    EngineError,
    PathTrait,
    RunSpec,
    RunState,
    TaskState,
    UnknownRun,
    data_dir_of,
    utcnow,
)
from .client import ArgoClient, WorkflowExists
from .compile import (
    ANNOTATION_RUN,
    API_VERSION,
    LABEL_RUN,
    LABEL_TASK,
    ClusterConfig,
    compile_workflow,
    label_value,
    run_env_secret,
    run_namespace,
    workflow_name,
)
from .security import secure_for_runner
from .status import Attempt, _time, attempts, main_usage, run_status, task_states

log = logging.getLogger(__name__)

NODE_NAME_ANNOTATION = "workflows.argoproj.io/node-name"
ProjectResolver = Callable[[str], "ProjectSettings | Awaitable[ProjectSettings] | None"]
# (client, project, namespace) -> names of the project's registry pull Secrets, written into the namespace
PullSecretWriter = Callable[[ArgoClient, str, str], Awaitable[list[str]]]


@dataclass
class _Run:
    spec: RunSpec
    state: RunState
    namespace: str
    workflow: str
    client: ArgoClient
    cancelled: bool = False
    cancel_reason: str = ""
    attempts: dict[str, list[Attempt]] = field(default_factory=dict)
    lost_logs: set[str] = field(default_factory=set)  # attempt nodes whose pod was gone before a copy
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    subscribers: list[asyncio.Queue] = field(default_factory=list)
    driver: asyncio.Task | None = None
    sampler: asyncio.Task | None = None


class KubernetesEngine(Engine):
    name = "kubernetes"

    clusters = Dict(
        help="Clusters runs go to: name -> {'kubeconfig': path, 'context': name} ({} = in-cluster or the "
        "default kubeconfig). A project's 'cluster' setting picks one. Default: the control plane's 'clusters'.",
    ).tag(config=True)

    default_cluster = Unicode(
        help="The cluster of projects without a 'cluster' setting. Default: the first of 'clusters'.",
    ).tag(config=True)

    service_account = Unicode(
        help="Service account of pipeline pods (needs Argo's executor role). "
        "Default: the control plane's 'kubernetes_service_account', else 'pipeline'.",
    ).tag(config=True)

    logs_dir = PathTrait(
        None,
        allow_none=True,
        help="Where each finished attempt's log is copied, so it outlives the pod. Default: <data_dir>/k8s-logs "
        "when built by the control plane; none (logs only from pods) otherwise.",
    ).tag(config=True)

    retry_delay = Float(2.0, help="Seconds before watching a workflow again after the API failed.").tag(config=True)
    cancel_wait = Float(30.0, help="Seconds a cancel waits for Argo to stop the workflow's pods.").tag(config=True)
    sample_interval = Float(
        15.0,
        allow_none=True,
        help="Seconds between samples of running pods' CPU and memory from metrics-server; 0: no sampling.",
    ).tag(config=True)

    # defaults from the control plane that builds the engine (its parent)

    task_security = Any(
        RESTRICTED,
        help="Security context of task pods: 'restricted' (the default: runAsNonRoot as the run's user, "
        "uid = gid hashed from the user name into user_id_range, the same as their notebook pods; no privilege "
        "escalation; all capabilities dropped; seccomp RuntimeDefault — the 'restricted' Pod Security Standard), "
        "'none', or explicit {'pod': {...}, 'container': {...}} securityContexts.",
    ).tag(config=True)

    user_id_range = Tuple(
        Integer(),
        Integer(),
        default_value=DEFAULT_ID_RANGE,
        help="(first id, how many ids) that users' uids/gids are hashed into; must match CubeKubeSpawner.user_id_range.",
    ).tag(config=True)

    @validate("task_security")
    def _check_task_security(self, proposal):
        check_security_policy(proposal.value, "task_security")
        return proposal.value

    @validate("user_id_range")
    def _check_user_id_range(self, proposal):
        return check_id_range(proposal.value)

    @default("clusters")
    def _clusters_default(self):
        platform = getattr(self.parent, "clusters", None)
        if isinstance(platform, Clusters):  # the platform's one clusters setting
            return {name: dict(platform.clusters.get(name) or {}) for name in platform.names()}
        return dict(platform or {"default": {}})

    @default("default_cluster")
    def _default_cluster_default(self):
        platform = getattr(self.parent, "clusters", None)
        if isinstance(platform, Clusters):
            return platform.default
        return next(iter(self.clusters), "default")

    @default("service_account")
    def _service_account_default(self):
        return getattr(self.parent, "kubernetes_service_account", None) or "pipeline"

    @default("logs_dir")
    def _logs_dir_default(self):
        return data_dir_of(self.parent) / "k8s-logs" if self.parent is not None else None

    def __init__(
        self,
        clients: ArgoClient | Mapping[str, ArgoClient | ClusterAccess] | None = None,
        *,
        cluster_config: ClusterConfig | None = None,
        project_settings: ProjectResolver | None = None,
        pull_secrets: PullSecretWriter | None = None,
        **kwargs,
    ) -> None:
        """``clients``: connected clients or access settings per cluster name (tests,
        tools); None: from the ``clusters`` setting, connected on first use.
        ``pull_secrets``: writes a project's registry pull Secrets into a
        namespace and names them; default: the control plane's (its parent's
        ``pull_secrets.write``)."""
        super().__init__(**kwargs)
        if clients is None:
            clients = {name: cluster_access(name, value) for name, value in self.clusters.items()}
        elif isinstance(clients, ArgoClient):
            clients = {self.default_cluster: clients}
        self._access = dict(clients)
        self._clients = {name: c for name, c in self._access.items() if isinstance(c, ArgoClient)}
        self._owned: list[ArgoClient] = []  # clients this engine opened (and closes)
        self.cluster_config = cluster_config or ClusterConfig(service_account=self.service_account)
        # project name -> its settings; the control plane's reader of hub groups by default
        self.project_settings = project_settings or getattr(self.parent, "project_settings", None)
        self._pull_secrets = pull_secrets
        self._runs: dict[str, _Run] = {}

    @property
    def pull_secrets(self) -> PullSecretWriter | None:
        # the control plane makes its writer after its engines: looked up when first needed
        if self._pull_secrets is None:
            self._pull_secrets = getattr(getattr(self.parent, "pull_secrets", None), "write", None)
        return self._pull_secrets

    # ------------------------------------------------------------ interface

    async def submit(self, spec: RunSpec) -> RunState:
        if spec.run_id in self._runs and not self._runs[spec.run_id].finished.is_set():
            raise EngineError(f"run {spec.run_id} is already running")
        state = RunState(run_id=spec.run_id, status=PENDING, started_at=utcnow(), tasks={t.name: TaskState(name=t.name) for t in spec.pipeline.tasks})
        project = await self._project(spec.project)
        cluster = project.cluster or self.default_cluster
        try:
            client = await self._client(cluster)
        except EngineError as exc:
            client = None
            problem = str(exc)
        run = _Run(spec, state, run_namespace(spec, project), workflow_name(spec), client)  # type: ignore[arg-type]
        state.engine_data = {"cluster": cluster, "namespace": run.namespace, "workflow": run.workflow}
        self._runs[spec.run_id] = run
        if client is None:
            await self._fail_unstarted(run, None, problem)
            return run.state
        config = self.cluster_config
        if self.pull_secrets is not None:
            # the Secrets exist before the workflow whose pods (tasks, trials) list them
            try:
                names = await self.pull_secrets(client, spec.project, run.namespace)
            except Exception as exc:  # noqa: BLE001 - the run fails saying so, without the API server's message
                if isinstance(exc, Conflict):  # the writer's own message, safe to show
                    message = str(exc)
                else:
                    why = f"{exc.status} {exc.reason}" if isinstance(exc, KubernetesApiError) else type(exc).__name__
                    message = f"could not write the registries' pull Secrets into namespace {run.namespace}: {why}"
                await self._fail_unstarted(run, None, message)
                return run.state
            config = replace(config, image_pull_secrets=tuple(dict.fromkeys([*config.image_pull_secrets, *names])))
        try:
            body = secure_for_runner(compile_workflow(spec, project, config), spec.runner, self.task_security, self.user_id_range)
        except FieldError as exc:
            await self._fail_unstarted(run, exc.field, f"cannot run on kubernetes: {exc}")
            return run.state
        secret = run_env_secret(spec, project)
        try:
            # the pods read the run's credentials from it: it exists before they do
            if secret is not None:
                await run.client.create_secret(run.namespace, secret)
            created = await run.client.create_workflow(run.namespace, body)
        except WorkflowExists:
            # A submit repeated after a crash: the workflow is this run's if it says so.
            try:
                existing = await run.client.get_workflow(run.namespace, run.workflow)
            except (KubernetesApiError, aiohttp.ClientError) as exc:
                await self._fail_unstarted(run, None, f"could not read the existing workflow: {exc}")
                return run.state
            if existing is None or (existing["metadata"].get("annotations") or {}).get(ANNOTATION_RUN) != spec.run_id:
                await self._fail_unstarted(run, None, f"workflow {run.namespace}/{run.workflow} exists and belongs to another run")
                return run.state
            created = existing
        except (KubernetesApiError, aiohttp.ClientError) as exc:
            if secret is not None:
                await self._delete_secret(run, secret)
            await self._fail_unstarted(run, None, f"could not create the workflow: {exc}")
            return run.state
        if secret is not None:
            await self._own_secret(run, secret, created)
        await self._publish(run, None)
        self._start(run)
        return run.state

    async def _own_secret(self, run: _Run, secret: dict, workflow: dict) -> None:
        """The workflow owns the run's Secret: deleting the workflow (by hand, or
        Argo's TTL) deletes it too."""
        meta = workflow.get("metadata") or {}
        owner = {"apiVersion": API_VERSION, "kind": "Workflow", "name": meta.get("name", run.workflow), "uid": meta.get("uid")}
        try:
            await run.client.patch_secret(run.namespace, secret["metadata"]["name"], {"metadata": {"ownerReferences": [owner]}})
        except (KubernetesApiError, aiohttp.ClientError) as exc:
            self.log.warning("secret %s/%s of run %s: could not set its owner: %s", run.namespace, secret["metadata"]["name"], run.spec.run_id, exc)

    async def _delete_secret(self, run: _Run, secret: dict) -> None:
        try:
            await run.client.delete_secret(run.namespace, secret["metadata"]["name"])
        except (KubernetesApiError, aiohttp.ClientError) as exc:
            self.log.warning("secret %s/%s of run %s could not be deleted: %s", run.namespace, secret["metadata"]["name"], run.spec.run_id, exc)

    async def reattach(self, spec: RunSpec, saved: RunState) -> RunState:
        if saved.status in RUN_FINAL:
            return saved
        data = saved.engine_data or {}
        project = await self._project(spec.project)
        # no engine data: the control plane stopped between submit and saving it;
        # the name is deterministic, so the workflow can still be found
        cluster = data.get("cluster") or project.cluster or self.default_cluster
        namespace = data.get("namespace") or run_namespace(spec, project)
        try:
            client = await self._client(cluster)
        except EngineError as exc:
            client, problem = None, str(exc)
        run = _Run(spec, saved, namespace, data.get("workflow") or workflow_name(spec), client)  # type: ignore[arg-type]
        saved.engine_data = {"cluster": cluster, "namespace": run.namespace, "workflow": run.workflow}
        for task in spec.pipeline.tasks:
            saved.tasks.setdefault(task.name, TaskState(name=task.name))
        self._runs[spec.run_id] = run
        if client is None:
            await self._finish_without_workflow(run, f"cannot follow the run: {problem}")
            return run.state
        self._start(run)
        return run.state

    async def _stop(self, run: _Run) -> None:
        try:
            found = await run.client.terminate_workflow(run.namespace, run.workflow)
        except (KubernetesApiError, aiohttp.ClientError) as exc:
            raise EngineError(f"could not stop workflow {run.namespace}/{run.workflow}: {exc}") from None
        if found is None:
            await self._finish_without_workflow(run, "the workflow was already gone")
        try:
            # Argo stops the pods; the driver sees the workflow end.
            await asyncio.wait_for(run.finished.wait(), self.cancel_wait)
        except TimeoutError:
            pass

    async def logs(self, run_id: str, task: str, follow: bool = False) -> AsyncIterator[bytes]:
        """Every attempt in order (a header line before each retry): from the
        copy in ``logs_dir`` when the attempt has ended and was copied, else from
        its pod, following the running one when asked."""
        run = self._runs.get(run_id)
        if run is None:
            # A run from before a restart that was not re-attached: what was copied.
            copied = self._attempt_files(run_id, task)
            if not copied:
                raise UnknownRun(run_id)
            for index, total, path in copied:
                yield self._header(index, total - 1) + path.read_bytes()
            return
        if task not in run.state.tasks:
            raise EngineError(f"run {run_id} has no task '{task}'")
        retries = run.spec.pipeline.task(task).retries
        sent = 0
        while True:
            for attempt in run.attempts.get(task, [])[sent:]:
                yield self._header(attempt.index, retries)
                async for chunk in self._attempt_log(run, task, attempt, follow and not attempt.final):
                    yield chunk
                sent += 1
            if not follow:
                return
            changed = run.changed  # taken before the check, so no change slips between
            done = run.state.tasks[task].status in TASK_FINAL or run.finished.is_set()
            if len(run.attempts.get(task, [])) == sent:
                if done:
                    return
                try:
                    await asyncio.wait_for(changed.wait(), 5)
                except TimeoutError:
                    pass

    async def close(self) -> None:
        """Stop watching; the workflows go on and a new engine can re-attach.
        The API client stays open (it may be shared); ``client.close()`` ends it."""
        drivers = [task for run in self._runs.values() for task in (run.driver, run.sampler) if task and not task.done()]
        for driver in drivers:
            driver.cancel()
        await asyncio.gather(*drivers, return_exceptions=True)  # their watch streams are released
        self._runs.clear()
        for client in self._owned:
            await client.close()
        self._owned.clear()
        self._clients = {name: c for name, c in self._access.items() if isinstance(c, ArgoClient)}

    @property
    def client(self) -> ArgoClient:
        """The default cluster's client (once connected)."""
        return self._clients[self.default_cluster]

    async def _client(self, cluster: str) -> ArgoClient:
        if cluster in self._clients:
            return self._clients[cluster]
        access = self._access.get(cluster)
        if access is None:
            raise EngineError(f"cluster '{cluster}' is not configured for the kubernetes engine (configured: {', '.join(sorted(self._access)) or 'none'})")
        try:
            api_client = await connect(access)
        except Exception as exc:  # a bad kubeconfig names its own problem
            raise EngineError(f"cannot connect to cluster '{cluster}': {exc}") from None
        client = ArgoClient(api_client)
        self._clients[cluster] = client
        self._owned.append(client)
        return client

    # ------------------------------------------------------------ driving a run

    async def _project(self, name: str) -> ProjectSettings:
        if self.project_settings is None:
            return ProjectSettings()
        result = self.project_settings(name)
        if hasattr(result, "__await__"):
            result = await result
        return result or ProjectSettings()

    def _start(self, run: _Run) -> None:
        run.driver = asyncio.create_task(self._drive(run))
        if self.sample_interval:
            run.sampler = asyncio.create_task(self._sample(run))

    async def _sample(self, run: _Run) -> None:
        """Peak CPU (cores) and memory of each running task's ``main`` container,
        from metrics-server: the input of resource auto-tuning, as on the local
        engine. Without metrics-server the peaks stay unknown."""
        selector = f"{LABEL_RUN}={label_value(run.spec.run_id)}"
        while not run.finished.is_set():
            try:
                await asyncio.wait_for(run.finished.wait(), self.sample_interval)
                return
            except TimeoutError:
                pass
            running = {name for name, ts in run.state.tasks.items() if ts.status == RUNNING}
            if not running:
                continue
            try:
                for pod in await run.client.list_pods(run.namespace, selector):
                    task = (pod["metadata"].get("labels") or {}).get(LABEL_TASK)
                    if task not in running or (pod.get("status") or {}).get("phase") != "Running":
                        continue
                    usage = main_usage(await run.client.pod_metrics(run.namespace, pod["metadata"]["name"]))
                    if usage is None:
                        continue
                    ts = run.state.tasks[task]
                    ts.peak_cpu = max(ts.peak_cpu or 0.0, usage[0])
                    ts.peak_memory = max(ts.peak_memory or 0, usage[1])
            except (TimeoutError, KubernetesApiError, aiohttp.ClientError) as exc:
                log.debug("sampling %s: %s", run.spec.run_id, exc)

    async def _drive(self, run: _Run) -> None:
        delay = self.retry_delay
        try:
            while not run.finished.is_set():
                try:
                    seen = False
                    async for event in run.client.watch_workflow(run.namespace, run.workflow):
                        seen = True
                        delay = self.retry_delay
                        if event.type == "DELETED":
                            await self._apply(run, event.object)
                            if not run.finished.is_set():
                                await self._finish_without_workflow(run, "the workflow was deleted before it ended")
                            break
                        await self._apply(run, event.object)
                        if run.finished.is_set():
                            break
                    if not seen and not run.finished.is_set():
                        await self._finish_without_workflow(run, f"workflow {run.namespace}/{run.workflow} no longer exists; its end was not seen")
                except (TimeoutError, KubernetesApiError, aiohttp.ClientError, ValueError) as exc:
                    # the API server is away: keep the run as it is and try again
                    log.warning("watching %s/%s: %s; retrying in %.0fs", run.namespace, run.workflow, exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30.0)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must not leave the run 'running' forever
            log.exception("driving run %s", run.spec.run_id)
            await self._finish_without_workflow(run, f"engine error: {exc!r}")

    async def _apply(self, run: _Run, workflow: dict) -> None:
        """Turn one observed workflow into events for what changed."""
        spec = run.spec
        for task in spec.pipeline.tasks:
            run.attempts[task.name] = attempts(workflow, task.name)
        new_states = task_states(spec, workflow, run.cancelled)
        for name, new in new_states.items():
            if self.logs_dir is not None:
                await self._copy_finished_logs(run, name)
            old = run.state.tasks.get(name)
            merged = self._merged(old, new)
            if old is None or merged.to_dict() != old.to_dict():
                run.state.tasks[name] = merged
                await self._publish(run, merged)
        status, message = run_status(workflow, run.cancelled)
        if status == CANCELLED:
            message = run.cancel_reason  # not Argo's "Stopped with strategy 'Terminate'"
        changed = (status, message) != (run.state.status, run.state.message)
        run.state.status, run.state.message = status, message
        started = _time((workflow.get("status") or {}).get("startedAt"))
        if started is not None and run.state.started_at is None:
            run.state.started_at = started
        if status in RUN_FINAL:
            run.state.finished_at = run.state.finished_at or _time((workflow.get("status") or {}).get("finishedAt")) or utcnow()
        if changed:
            await self._publish(run, None)
        self._notify(run)
        if status in RUN_FINAL:
            self._end(run)

    @staticmethod
    def _merged(old: TaskState | None, new: TaskState) -> TaskState:
        # what only this engine knows (the copied log) survives a status refresh
        if old is not None:
            new.log_path = old.log_path or new.log_path
            new.peak_cpu, new.peak_memory = old.peak_cpu, old.peak_memory
        return new

    @staticmethod
    def _notify(run: _Run) -> None:
        # a fresh event per change: each log follower waits on the one it saw
        run.changed.set()
        run.changed = asyncio.Event()

    def _end(self, run: _Run) -> None:
        if run.finished.is_set():
            return
        self._end_watches(run)
        self._notify(run)

    async def _finish_without_workflow(self, run: _Run, reason: str) -> None:
        status = CANCELLED if run.cancelled else FAILED
        for ts in run.state.tasks.values():
            if ts.status not in TASK_FINAL:
                ts.status = status
                ts.message = run.cancel_reason if run.cancelled else reason
                ts.finished_at = utcnow()
                await self._publish(run, ts)
        run.state.status = status
        run.state.message = run.cancel_reason if run.cancelled else reason
        run.state.finished_at = utcnow()
        await self._publish(run, None)
        self._end(run)

    async def _fail_unstarted(self, run: _Run, field_name: str | None, message: str) -> None:
        """The run could not start: the task the error names fails, the rest are cancelled."""
        culprit = None
        if field_name:
            match = re.match(r"^tasks\.([^.]+)", field_name)
            culprit = match.group(1) if match else None
        now = utcnow()
        for name, ts in run.state.tasks.items():
            ts.status = FAILED if name == culprit else CANCELLED
            ts.message = message if name == culprit else "not started: the run could not start"
            ts.finished_at = now
        run.state.status = FAILED
        run.state.message = message
        run.state.finished_at = now
        for ts in run.state.tasks.values():
            await self._publish(run, ts)
        await self._publish(run, None)
        self._end(run)

    # ------------------------------------------------------------ logs

    def _task_dir(self, run_id: str, task: str) -> Path | None:
        if self.logs_dir is None:
            return None
        return self.logs_dir / label_value(run_id) / task

    @staticmethod
    def _copy_name(index: int, retries: int) -> str:
        # the attempt count travels in the name, so a copy read without the run's
        # spec (after a restart) still says 'attempt 2 of 3'
        return f"attempt-{index}-of-{retries + 1}.log"

    def _attempt_files(self, run_id: str, task: str) -> list[tuple[int, int, Path]]:
        folder = self._task_dir(run_id, task)
        if folder is None or not folder.is_dir():
            return []
        found = []
        for path in folder.glob("attempt-*-of-*.log"):
            match = re.match(r"^attempt-(\d+)-of-(\d+)\.log$", path.name)
            if match:
                found.append((int(match.group(1)), int(match.group(2)), path))
        return sorted(found)

    @staticmethod
    def _header(index: int, retries: int | None) -> bytes:
        if index == 0:
            return b""
        of = f" of {retries + 1}" if retries is not None else ""
        return f"\n[cubelab] attempt {index + 1}{of}\n".encode()

    async def _pod_for(self, run: _Run, task: str, attempt: Attempt) -> str | None:
        selector = f"{LABEL_RUN}={label_value(run.spec.run_id)},{LABEL_TASK}={task}"
        pods = await run.client.list_pods(run.namespace, selector)
        for pod in pods:
            if (pod["metadata"].get("annotations") or {}).get(NODE_NAME_ANNOTATION) == attempt.node:
                return pod["metadata"]["name"]
        return None

    async def _attempt_log(self, run: _Run, task: str, attempt: Attempt, follow: bool) -> AsyncIterator[bytes]:
        folder = self._task_dir(run.spec.run_id, task)
        copy = folder / self._copy_name(attempt.index, run.spec.pipeline.task(task).retries) if folder else None
        while True:
            if copy is not None and copy.exists():
                yield copy.read_bytes()
                return
            changed = run.changed
            try:
                pod = await self._pod_for(run, task, attempt)
                if pod is None and not follow:
                    yield f"[cubelab] the pod of attempt {attempt.index + 1} is gone; its log was not kept\n".encode()
                    return
                if pod is not None:
                    async for line in run.client.pod_log(run.namespace, pod, follow=follow):
                        yield line.encode()
                    return
            except KubernetesApiError as exc:
                # 400 'waiting to start': the container has no log yet
                if exc.status != 400 or "waiting to start" not in exc.message:
                    yield f"[cubelab] could not read the log of attempt {attempt.index + 1}: {exc}\n".encode()
                    return
                if not follow:
                    return
            # following an attempt whose pod is not there or not started yet
            current = {a.index: a for a in run.attempts.get(task, [])}.get(attempt.index, attempt)
            if current.final or run.finished.is_set():
                follow = False
                continue
            try:
                await asyncio.wait_for(changed.wait(), 1)
            except TimeoutError:
                pass

    async def _copy_finished_logs(self, run: _Run, task: str) -> None:
        """Keep each ended attempt's log (pods are garbage-collected later)."""
        folder = self._task_dir(run.spec.run_id, task)
        assert folder is not None
        retries = run.spec.pipeline.task(task).retries
        for attempt in run.attempts.get(task, []):
            copy = folder / self._copy_name(attempt.index, retries)
            if not attempt.final or attempt.node in run.lost_logs or copy.exists():
                continue
            try:
                pod = await self._pod_for(run, task, attempt)
                if pod is None:
                    run.lost_logs.add(attempt.node)  # not asked again on every event
                    continue
                chunks = [line async for line in run.client.pod_log(run.namespace, pod)]
            except (KubernetesApiError, aiohttp.ClientError) as exc:
                log.warning("copying the log of %s attempt %d: %s", task, attempt.index, exc)
                continue
            folder.mkdir(parents=True, exist_ok=True)
            partial = copy.with_suffix(".part")
            partial.write_bytes("".join(chunks).encode())
            partial.replace(copy)  # whole or absent: a crash never leaves half a copy
            ts = run.state.tasks.get(task)
            if ts is not None:
                ts.log_path = str(folder)


def engine_for_clusters(clusters: Clusters | Mapping[str, dict | None], *, default_cluster: str = "default", **options) -> KubernetesEngine:
    """The engine for the platform's clusters (:class:`cubelab_hub.kube.clusters.Clusters`,
    or its ``clusters`` value as a dict, ``default_cluster`` naming the default).
    Connections open on first use, so this needs no event loop.
    ``options`` go to :class:`KubernetesEngine` (cluster_config, project_settings, logs_dir...)."""
    if not isinstance(clusters, Clusters):
        clusters = Clusters(default=default_cluster, clusters=dict(clusters))
    access = {name: clusters.access(name) for name in clusters.names()}
    return KubernetesEngine(access, default_cluster=clusters.default, **options)
