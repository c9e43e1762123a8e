"""The engine interface: one processor per engine behind one interface (Elyra-style).

The control plane hands an engine a :class:`RunSpec` (a frozen snapshot of the
pipeline and the templates it uses) and learns about progress through
:class:`RunEvent` callbacks, which it persists. Engines: ``local`` (processes on
this machine) and ``kubernetes`` (Argo Workflows). Engines import the domain;
the domain never imports engines.
"""

from __future__ import annotations

import abc
import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from traitlets import MetaHasTraits, TraitType
from traitlets.config import LoggingConfigurable

from ..domain.pipelines import Pipeline
from ..domain.quotas import Capacity
from ..domain.templates import JobTemplate

# ---------------------------------------------------------------- statuses

PENDING = "pending"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
SKIPPED = "skipped"
CANCELLED = "cancelled"
UPSTREAM_FAILED = "upstream-failed"

TASK_STATUSES = (PENDING, RUNNING, SUCCEEDED, FAILED, SKIPPED, CANCELLED, UPSTREAM_FAILED)
RUN_STATUSES = (PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED)
TASK_FINAL = frozenset({SUCCEEDED, FAILED, SKIPPED, CANCELLED, UPSTREAM_FAILED})
RUN_FINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})

TRIGGERS = ("manual", "schedule", "rerun", "rerun-failed", "debug", "oneoff", "trial")  # trial: an experiment's


def utcnow() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------- what is submitted


@dataclass
class RunSpec:
    """Everything an engine needs to execute one run; a snapshot, so editing the
    pipeline while it runs changes nothing.

    ``only_tasks``: when set, run just these tasks (debug run of one task, or the
    failed part of a re-run); tasks outside it take status and outputs from
    ``reuse`` (task name -> previous :class:`TaskState`) or are skipped.
    """

    run_id: str
    pipeline: Pipeline
    templates: dict[str, JobTemplate]  # task name -> resolved template
    creator: str
    runner: str
    project: str = "public"
    namespace: str = "pipeline"
    trigger: str = "manual"
    only_tasks: set[str] | None = None
    reuse: dict[str, TaskState] = field(default_factory=dict)
    schedule_time: datetime | None = None  # the cron tick, for scheduled runs
    extra_env: dict[str, str] = field(default_factory=dict)  # e.g. project env; below KFJ_* and above global env
    started_at: datetime | None = None  # when the run was created: the time its {{datetime...}} variables see
    cluster_name: str = ""  # {{cluster_name}}: the engine the run's project runs on
    # variables every task gets that are credentials (an experiment trial's channel URL):
    # never stored with the run (the control plane derives them again after a restart),
    # put in the process environment locally and in a Secret of the run on Kubernetes
    secret_env: dict[str, str] = field(default_factory=dict)


@dataclass
class TaskState:
    name: str
    status: str = PENDING
    attempts: int = 0
    exit_code: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    message: str = ""
    outputs: dict[str, str] = field(default_factory=dict)  # output name -> value ('path' -> output dir)
    log_path: str | None = None
    pid: int | None = None  # local engine: process-group leader of the current attempt
    external_id: str | None = None  # kubernetes engine: pod / workflow node name
    peak_cpu: float | None = None  # cores, highest sample seen over attempts that succeeded
    peak_memory: int | None = None  # bytes

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "status": self.status,
            "attempts": self.attempts,
            "exit_code": self.exit_code,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "message": self.message,
            "outputs": dict(self.outputs),
            "log_path": self.log_path,
            "pid": self.pid,
            "external_id": self.external_id,
            "peak_cpu": self.peak_cpu,
            "peak_memory": self.peak_memory,
        }

    @classmethod
    def from_dict(cls, data: dict) -> TaskState:
        def dt(v):
            return datetime.fromisoformat(v) if v else None

        return cls(
            name=data["name"],
            status=data.get("status", PENDING),
            attempts=data.get("attempts", 0),
            exit_code=data.get("exit_code"),
            started_at=dt(data.get("started_at")),
            finished_at=dt(data.get("finished_at")),
            message=data.get("message", ""),
            outputs=dict(data.get("outputs") or {}),
            log_path=data.get("log_path"),
            pid=data.get("pid"),
            external_id=data.get("external_id"),
            peak_cpu=data.get("peak_cpu"),
            peak_memory=data.get("peak_memory"),
        )


@dataclass
class RunState:
    run_id: str
    status: str = PENDING
    started_at: datetime | None = None
    finished_at: datetime | None = None
    message: str = ""
    tasks: dict[str, TaskState] = field(default_factory=dict)
    engine_data: dict = field(default_factory=dict)  # what the engine needs to re-attach (pids, workflow name)

    def to_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "message": self.message,
            "tasks": {k: v.to_dict() for k, v in self.tasks.items()},
            "engine_data": dict(self.engine_data),
        }


@dataclass
class RunEvent:
    """A change the control plane persists. ``task`` is None for run-level changes."""

    run_id: str
    kind: str  # "run" | "task"
    run: RunState
    task: TaskState | None = None


EventListener = Callable[[RunEvent], Awaitable[None] | None]


class EngineError(Exception):
    """An engine could not do what was asked (unknown run, already finished...)."""


class UnknownRun(EngineError):
    pass


# ---------------------------------------------------------------- the interface


class PathTrait(TraitType):
    """A filesystem path setting: given as text (command line, config file) or a
    path, held as a :class:`~pathlib.Path`."""

    info_text = "a filesystem path"

    def validate(self, obj, value):
        if isinstance(value, (str, os.PathLike)):
            return Path(value)
        self.error(obj, value)


def data_dir_of(parent) -> Path:
    """The control plane's data directory, where engines keep their files by default."""
    return Path(getattr(parent, "data_dir", None) or os.environ.get("CUBELAB_DATA_DIR") or "cubelab-data")


class _EngineMeta(MetaHasTraits, abc.ABCMeta):
    """Engines are configurable (traitlets) and abstract at once."""


class Engine(LoggingConfigurable, metaclass=_EngineMeta):
    """One engine. All methods are coroutines or async iterators; the control plane
    calls them from its event loop.

    Engines are found through the entry-point group ``cubelab.engines``
    (:mod:`.registry`) and built by the control plane with its configuration
    (``config=..., parent=control_plane``), so each engine's settings are
    traitlets with help strings, set as ``--LocalEngine.runs_dir=...``."""

    name: str = "base"
    # True when a run cannot go on without the control plane supervising it (local
    # processes): a clean shutdown then stops its runs. Cluster engines leave theirs
    # running and re-attach on start.
    stops_with_control_plane: bool = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._listeners: list[EventListener] = []
        # the runs this engine drives: run id -> an object with .spec, .state,
        # .finished (an asyncio.Event) and .subscribers (the queues of watch())
        self._runs: dict = {}

    def add_listener(self, listener: EventListener) -> None:
        """``listener(event)`` is called (and awaited if it returns an awaitable)
        after every run or task status change, in order per run."""
        self._listeners.append(listener)

    async def _emit(self, event: RunEvent) -> None:
        for listener in self._listeners:
            result = listener(event)
            if result is not None and hasattr(result, "__await__"):
                await result

    def capacity(self) -> Capacity | None:
        """The most one task can ever get on this engine (cores, memory, GPU
        cards), checked before a run is accepted; None: unknown or unbounded
        (a cluster's scheduler decides). Cheap: called for every run created."""
        return None

    def shared_dir(self, runner: str, name: str) -> str | None:
        """A directory, as ``runner``'s tasks see it, that every task ``runner``
        starts on this engine can write and later tasks read (``name``: a relative
        path naming its use, e.g. ``experiments/3/checkpoints``). Tasks create it;
        the engine only names it. None: this engine has none to offer (pods share
        nothing unless a volume is mounted in each)."""
        return None

    @abc.abstractmethod
    async def submit(self, spec: RunSpec) -> RunState:
        """Start a run; returns at once with its initial state (tasks pending)."""

    async def cancel(self, run_id: str, reason: str = "cancelled by user") -> RunState:
        """Stop a run: every running task's whole process tree / pod stops; pending
        tasks become cancelled. Idempotent on finished runs."""
        run = self._get(run_id)
        if run.finished.is_set():
            return run.state
        run.cancelled = True
        run.cancel_reason = reason
        await self._stop(run)
        return run.state

    async def _stop(self, run) -> None:
        """What :meth:`cancel` does on this engine once the run is marked cancelled."""
        raise NotImplementedError

    def _get(self, run_id: str):
        try:
            return self._runs[run_id]
        except KeyError:
            raise UnknownRun(f"run {run_id} is not known to the {self.name} engine") from None

    async def status(self, run_id: str) -> RunState:
        """The current state; raises :class:`UnknownRun` for runs this engine does not hold."""
        return self._get(run_id).state

    async def watch(self, run_id: str) -> AsyncIterator[RunEvent]:
        """Events of one run until it finishes (then the iterator ends)."""
        run = self._get(run_id)
        if run.finished.is_set():
            return
        queue: asyncio.Queue = asyncio.Queue()
        run.subscribers.append(queue)
        try:
            while True:
                event = await queue.get()
                if event is None:
                    return
                yield event
        finally:
            if queue in run.subscribers:
                run.subscribers.remove(queue)

    async def _publish(self, run, ts: TaskState | None) -> None:
        """Tell listeners and watchers about a change of the run (``ts`` None) or a task."""
        event = RunEvent(run_id=run.spec.run_id, kind="task" if ts else "run", run=run.state, task=ts)
        await self._emit(event)
        for queue in run.subscribers:
            queue.put_nowait(event)

    @staticmethod
    def _end_watches(run) -> None:
        """The run is final: every watch() ends."""
        run.finished.set()
        for queue in run.subscribers:
            queue.put_nowait(None)

    @abc.abstractmethod
    def logs(self, run_id: str, task: str, follow: bool = False) -> AsyncIterator[bytes]:
        """A task's log (all attempts); with ``follow`` keep yielding until the task ends."""

    @abc.abstractmethod
    async def reattach(self, spec: RunSpec, saved: RunState) -> RunState:
        """After a control-plane restart: adopt a run that was in flight from its
        saved state. Either the engine resumes tracking it, or it marks it (and its
        unfinished tasks) failed with a reason — never left running forever."""

    async def wait(self, run_id: str) -> RunState:
        """Until the run is final."""
        async for _ in self.watch(run_id):
            pass
        return await self.status(run_id)

    async def close(self) -> None:
        """Release resources on shutdown without killing runs that can be re-attached."""
