"""Engines named by what they do, for tests of what drives engines (the run
service, the scheduler) without processes or a cluster, as JupyterHub's
``mocking.py`` names its spawners.

Each implements :class:`cubelab_hub.engines.base.Engine` in full: it reports
every change to listeners and watchers, answers ``status``, ``watch``,
``wait``, ``logs``, ``cancel`` and ``reattach``. Each records what it was asked
(``submitted``, ``cancelled``, ``reattached``) so a test can check the caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from cubelab_hub.domain.pipelines import topological_order
from cubelab_hub.engines.base import (
    CANCELLED,
    FAILED,
    PENDING,
    RUN_FINAL,
    RUNNING,
    SKIPPED,
    SUCCEEDED,
    TASK_FINAL,
    UPSTREAM_FAILED,
    Engine,
    EngineError,
    RunSpec,
    RunState,
    TaskState,
    utcnow,
)


@dataclass
class _Run:
    spec: RunSpec
    state: RunState
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    subscribers: list[asyncio.Queue] = field(default_factory=list)


class _RecordingEngine(Engine):
    """What the named engines share: runs kept in memory, each played by
    :meth:`_play` in a task of the event loop (``submit`` returns at once)."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__()
        if name:
            self.name = name
        self.submitted: list[RunSpec] = []
        self.cancelled: list[str] = []
        self.reattached: list[str] = []
        self._players: set[asyncio.Task] = set()

    async def submit(self, spec: RunSpec) -> RunState:
        if spec.run_id in self._runs and not self._runs[spec.run_id].finished.is_set():
            raise EngineError(f"run {spec.run_id} is already running")
        state = RunState(run_id=spec.run_id, status=PENDING, tasks={t.name: TaskState(name=t.name) for t in spec.pipeline.tasks})
        run = _Run(spec, state)
        self._runs[spec.run_id] = run
        self.submitted.append(spec)
        self._start(run)
        return state

    async def reattach(self, spec: RunSpec, saved: RunState) -> RunState:
        run = _Run(spec, saved)
        self._runs[spec.run_id] = run
        self.reattached.append(spec.run_id)
        self._start(run)
        return saved

    def _start(self, run: _Run) -> None:
        player = asyncio.get_running_loop().create_task(self._play(run))
        self._players.add(player)
        player.add_done_callback(self._players.discard)

    async def _play(self, run: _Run) -> None:
        raise NotImplementedError

    async def settled(self) -> None:
        """Until every run submitted so far has been played as far as it goes
        (a hanging run: until its tasks run)."""
        while self._players:
            await asyncio.gather(*list(self._players))

    async def _set_task(self, run: _Run, name: str, status: str, **changes) -> None:
        ts = run.state.tasks[name]
        ts.status = status
        for key, value in changes.items():
            setattr(ts, key, value)
        if status == RUNNING:
            ts.started_at, ts.attempts = utcnow(), ts.attempts + 1
        if status in TASK_FINAL:
            ts.finished_at = utcnow()
        await self._publish(run, ts)

    async def _finish(self, run: _Run, status: str, message: str = "") -> None:
        run.state.status, run.state.message, run.state.finished_at = status, message, utcnow()
        await self._publish(run, None)
        self._end_watches(run)

    async def cancel(self, run_id: str, reason: str = "cancelled by user") -> RunState:
        run = self._get(run_id)
        self.cancelled.append(run_id)
        if run.state.status in RUN_FINAL:
            return run.state
        for name, ts in run.state.tasks.items():
            if ts.status not in TASK_FINAL:
                await self._set_task(run, name, CANCELLED, message=reason)
        await self._finish(run, CANCELLED, reason)
        return run.state

    async def logs(self, run_id: str, task: str, follow: bool = False) -> AsyncIterator[bytes]:
        run = self._get(run_id)
        if task not in run.state.tasks:
            raise EngineError(f"run {run_id} has no task '{task}'")
        if follow:
            while run.state.tasks[task].status not in TASK_FINAL:
                await asyncio.sleep(0.01)
        yield f"{task}: {run.state.tasks[task].status}\n".encode()

    async def close(self) -> None:
        for player in list(self._players):
            player.cancel()


class InstantEngine(_RecordingEngine):
    """Every task succeeds at once, in dependency order; tasks outside
    ``only_tasks`` take their reused state or are skipped, as on the real engines.
    Tasks named in ``failing`` fail (exit code 1) and their downstream tasks
    become upstream-failed; the run then fails."""

    name = "instant"

    def __init__(self, name: str | None = None, failing: set[str] = frozenset()) -> None:
        super().__init__(name)
        self.failing = set(failing)

    async def _play(self, run: _Run) -> None:
        spec = run.spec
        run.state.status, run.state.started_at = RUNNING, utcnow()
        await self._publish(run, None)
        blocked: set[str] = set()
        for name in topological_order(spec.pipeline):
            if run.state.tasks[name].status in TASK_FINAL:
                continue  # finished before a re-attach
            if spec.only_tasks is not None and name not in spec.only_tasks:
                reused = spec.reuse.get(name)
                if reused is not None:
                    await self._set_task(run, name, reused.status, outputs=dict(reused.outputs), message="reused")
                else:
                    await self._set_task(run, name, SKIPPED, message="not part of this run")
                continue
            if name in blocked:
                await self._set_task(run, name, UPSTREAM_FAILED, message="an upstream task failed")
                continue
            await self._set_task(run, name, RUNNING)
            if self.fails(name):
                await self._set_task(run, name, FAILED, exit_code=1, message="failed on purpose")
                blocked |= spec.pipeline.descendants(name)
            else:
                await self._set_task(run, name, SUCCEEDED, exit_code=0)
        failed = any(ts.status in (FAILED, UPSTREAM_FAILED) for ts in run.state.tasks.values())
        await self._finish(run, FAILED if failed else SUCCEEDED, "a task failed" if failed else "")

    def fails(self, task: str) -> bool:
        return task in self.failing


class FailingEngine(InstantEngine):
    """Every task fails at once (exit code 1): the first ones fail, the rest
    become upstream-failed."""

    name = "failing"

    def fails(self, task: str) -> bool:
        return True


class HangingEngine(_RecordingEngine):
    """Tasks start and never end: the run stays running until it is cancelled.
    Like local processes, its runs stop with the control plane."""

    name = "hanging"
    stops_with_control_plane = True

    async def _play(self, run: _Run) -> None:
        run.state.status, run.state.started_at = RUNNING, utcnow()
        await self._publish(run, None)
        for name, ts in run.state.tasks.items():
            if ts.status == PENDING:
                await self._set_task(run, name, RUNNING)


class RefusingEngine(_RecordingEngine):
    """Refuses every run at submission (as a cluster that cannot be reached)."""

    name = "refusing"

    async def submit(self, spec: RunSpec) -> RunState:
        self.submitted.append(spec)
        raise EngineError("refused on purpose")

    async def _play(self, run: _Run) -> None:
        await self._finish(run, FAILED, "refused on purpose")


class ManualEngine(_RecordingEngine):
    """Tasks start and run until the test ends them: ``end(run_id, status)``
    finishes every running task (and the run) with that status; ``write(run_id,
    text)`` adds to every task's log, which ``logs(follow=True)`` streams as it
    grows until the task ends."""

    name = "manual"

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.texts: dict[str, bytearray] = {}
        self._changed: dict[str, asyncio.Event] = {}

    def _changed_event(self, run_id: str) -> asyncio.Event:
        return self._changed.setdefault(run_id, asyncio.Event())

    async def _play(self, run: _Run) -> None:
        run.state.status, run.state.started_at = RUNNING, utcnow()
        await self._publish(run, None)
        for name, ts in run.state.tasks.items():
            if ts.status == PENDING:
                await self._set_task(run, name, RUNNING)

    def running(self) -> list[str]:
        """Ids of the runs not final yet, in submission order."""
        return [spec.run_id for spec in self.submitted
                if spec.run_id in self._runs and self._runs[spec.run_id].state.status not in RUN_FINAL]

    def write(self, run_id: str, text: str) -> None:
        self.texts.setdefault(run_id, bytearray()).extend(text.encode())
        self._changed_event(run_id).set()

    async def end(self, run_id: str, status: str = SUCCEEDED, message: str = "") -> None:
        await self.settled()
        run = self._get(run_id)
        for name, ts in run.state.tasks.items():
            if ts.status not in TASK_FINAL:
                await self._set_task(run, name, status, exit_code=0 if status == SUCCEEDED else 1, message=message)
        await self._finish(run, status, message)
        self._changed_event(run_id).set()

    async def cancel(self, run_id: str, reason: str = "cancelled by user") -> RunState:
        state = await super().cancel(run_id, reason)
        self._changed_event(run_id).set()
        return state

    async def logs(self, run_id: str, task: str, follow: bool = False) -> AsyncIterator[bytes]:
        run = self._get(run_id)
        if task not in run.state.tasks:
            raise EngineError(f"run {run_id} has no task '{task}'")
        sent = 0
        while True:
            changed = self._changed_event(run_id)
            changed.clear()
            done = run.state.tasks[task].status in TASK_FINAL  # looked at first: no text written before the end is missed
            text = bytes(self.texts.get(run_id, b""))
            if len(text) > sent:
                yield text[sent:]
                sent = len(text)
            if not follow or done:
                return
            await changed.wait()
