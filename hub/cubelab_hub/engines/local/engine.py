"""The local engine: a run's DAG as processes on this machine.

Each task is one coroutine that waits for its upstreams, then runs its attempts
as asyncio subprocesses (argv lists, never a shell parsing user strings), at most
``parallelism`` at once per run. Each process starts its own session, so cancel
and timeouts stop the whole process tree with ``killpg``; output goes straight
to a log file (not a pipe), so a task survives a control-plane restart and the
restarted engine re-attaches to it.

Who a task runs as: when the platform runs as root (``UnixAccounts`` enabled,
handed down by ``cubelab up`` in ``CUBELAB_UNIX_*``), every task runs as the
Unix account of the run's *runner* (``RunSpec.runner``): the user who started
it, or for a scheduled run the pipeline's owner, on whose behalf the scheduler
starts it. Its groups are that account's own and the run's project's, with
``no_new_privs`` and no capabilities. The engine's bookkeeping stays the
platform's: the run directories are traversable but not listable (0711), each
log is the platform's (0600) and reaches the task only as its open stdout, and
only the task's work and output directories are the user's (0700), so a task
reads its own outputs and its upstreams' (same run, same account), never
another run's logs or another user's outputs. Memory and CPU limits are cgroups
the task is put in before it drops to its account; a task killed at its memory
limit says so in its log.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
from traitlets import Float, Integer, Unicode, default

from ...domain.errors import FieldError
from ...domain.formats import parse_cpu, parse_memory
from ...domain.pipelines import Task
from ...domain.quotas import Capacity
from ...domain.templates import JobTemplate
from ...machine import machine_capacity
from ...platform.cgroups import make_cpu_cgroup, make_memory_cgroup, oom_killed, own_cgroup, remove_cgroup
from ...platform.unix import UnixAccountError, UnixAccounts
from ..base import (
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
    PathTrait,
    RunSpec,
    RunState,
    TaskState,
    data_dir_of,
    utcnow,
)
from ..launch import effective_resources
from .commands import TaskPaths, TaskSetupError, build_launch
from .processes import Child, RunAs, kill_group, proc_id, sample_tree

OK_UPSTREAM = frozenset({SUCCEEDED, SKIPPED})


@dataclass
class _Run:
    spec: RunSpec
    state: RunState
    dir: Path
    sem: asyncio.Semaphore
    done: dict[str, asyncio.Event] = field(default_factory=dict)  # set once a task is final and released
    # dependency counting: a task wakes once, when its last upstream is final (or on cancel)
    ready: dict[str, asyncio.Future] = field(default_factory=dict)
    remaining: dict[str, int] = field(default_factory=dict)
    downstream: dict[str, list[str]] = field(default_factory=dict)
    procs: dict[str, int] = field(default_factory=dict)  # task -> process-group id of the running attempt
    killed: dict[str, str] = field(default_factory=dict)  # task -> why we killed it ("timeout" | "cancel")
    cancelled: bool = False
    cancel_reason: str = ""
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    subscribers: list[asyncio.Queue] = field(default_factory=list)
    driver: asyncio.Task | None = None
    samples: dict[str, tuple[float, float]] = field(default_factory=dict)  # task -> (wall, cpu seconds)


class LocalEngine(Engine):
    name = "local"
    stops_with_control_plane = True

    runs_dir = PathTrait(
        help="Directory of local runs: each task's log, working and output directories, and what a "
        "restarted control plane needs to re-attach to running tasks. Default: <data_dir>/runs.",
    ).tag(config=True)

    @default("runs_dir")
    def _runs_dir_default(self):
        return data_dir_of(self.parent) / "runs"

    workspaces_dir = PathTrait(
        help="Users' workspaces: python scripts and notebooks of user U's tasks are found in "
        "<workspaces_dir>/U, and must stay inside it. Default: <data_dir>/workspaces.",
    ).tag(config=True)

    @default("workspaces_dir")
    def _workspaces_dir_default(self):
        if getattr(self.parent, "data_dir", None):
            return data_dir_of(self.parent) / "workspaces"
        return self.runs_dir.parent / "workspace"

    default_parallelism = Integer(
        0,
        help="Tasks of one run that execute at once when the pipeline sets no parallelism; 0: the number of CPUs.",
    ).tag(config=True)

    kill_grace = Float(
        5.0,
        help="Seconds a cancelled or timed-out task's processes get between SIGTERM and SIGKILL.",
    ).tag(config=True)

    sample_interval = Float(
        0.5,
        help="Seconds between samples of running tasks' CPU and memory (the peaks feed resource proposals).",
    ).tag(config=True)

    python = Unicode(
        "",
        help="Interpreter of python and notebook tasks; empty: the control plane's own.",
    ).tag(config=True)

    nvidia_smi = Unicode(
        "nvidia-smi",
        help="The nvidia-smi executable that lists this machine's GPUs (a task asking for more cards than it lists is refused).",
    ).tag(config=True)

    _capacity: Capacity | None = None

    def capacity(self) -> Capacity:
        """This machine's cores, memory and GPUs, read once (they do not change
        while the control plane runs)."""
        if self._capacity is None:
            self._capacity = machine_capacity(self.nvidia_smi)
        return self._capacity

    def __init__(self, runs_dir: str | os.PathLike | None = None, workspace_for: Callable[[str], Path] | None = None,
                 unix: UnixAccounts | None | str = "environment", **kwargs) -> None:
        """``unix``: the accounts tasks run as; by default the platform's settings
        from the environment (``cubelab up`` sets them), none elsewhere."""
        if runs_dir is not None:
            kwargs["runs_dir"] = runs_dir
        for name in ("default_parallelism", "python"):
            if kwargs.get(name) is None:
                kwargs.pop(name, None)
        super().__init__(**kwargs)
        if unix == "environment":
            unix = UnixAccounts() if os.environ.get("CUBELAB_UNIX_ENABLED") == "1" else None
        self.unix: UnixAccounts | None = unix if unix is not None and unix.enabled else None
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        if self.unix:
            os.chmod(self.runs_dir, 0o711)
        # where a user's files are; a function so a deployment can map users elsewhere
        self.workspace_for = workspace_for or (lambda user: self.workspaces_dir / user)
        self._runs: dict[str, _Run] = {}
        self._sampler: asyncio.Task | None = None

    # ------------------------------------------------------------ interface

    async def submit(self, spec: RunSpec) -> RunState:
        if spec.run_id in self._runs and not self._runs[spec.run_id].finished.is_set():
            raise EngineError(f"run {spec.run_id} is already running")
        state = RunState(run_id=spec.run_id, status=PENDING, tasks={t.name: TaskState(name=t.name) for t in spec.pipeline.tasks})
        return await self._start(spec, state)

    async def reattach(self, spec: RunSpec, saved: RunState) -> RunState:
        if saved.status in RUN_FINAL:
            return saved
        held = self._runs.get(spec.run_id)
        if held is not None and not held.finished.is_set():
            return held.state  # already driven by this engine: re-attaching twice must not start it twice
        for task in spec.pipeline.tasks:
            saved.tasks.setdefault(task.name, TaskState(name=task.name))
        return await self._start(spec, saved, reattaching=True)

    async def _stop(self, run: _Run) -> None:
        self._wake_all(run)  # tasks waiting for upstreams mark themselves cancelled
        await asyncio.gather(*(self._kill_group(pgid) for pgid in self._mark_killed(run, "cancel")))
        await run.finished.wait()

    async def logs(self, run_id: str, task: str, follow: bool = False) -> AsyncIterator[bytes]:
        run = self._runs.get(run_id)
        log_path = self.runs_dir / run_id / "tasks" / task / "log.txt"
        if run is not None and task not in run.state.tasks:
            raise EngineError(f"run {run_id} has no task '{task}'")
        pos = 0
        while True:
            chunk = b""
            if log_path.exists():
                with open(log_path, "rb") as fh:
                    fh.seek(pos)
                    chunk = fh.read(256 * 1024)
            if chunk:
                pos += len(chunk)
                yield chunk
                continue
            if not follow or run is None:
                return
            ts = run.state.tasks.get(task)
            if ts is not None and ts.status in TASK_FINAL and task not in run.procs:
                # one last read: the process may have written just before exiting
                if log_path.exists() and log_path.stat().st_size > pos:
                    continue
                return
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        """Stop tracking; processes keep running and a new engine can re-attach."""
        if self._sampler:
            self._sampler.cancel()
        for run in self._runs.values():
            if run.driver and not run.driver.done():
                run.driver.cancel()
        self._runs.clear()

    # ------------------------------------------------------------ driving a run

    async def _start(self, spec: RunSpec, state: RunState, reattaching: bool = False) -> RunState:
        parallelism = spec.pipeline.parallelism or self.default_parallelism or os.cpu_count() or 1
        run_dir = self.runs_dir / spec.run_id
        (run_dir / "tasks").mkdir(parents=True, exist_ok=True)
        if self.unix:  # tasks pass through to their own directories; nobody lists them
            os.chmod(run_dir, 0o711)
            os.chmod(run_dir / "tasks", 0o711)
        run = _Run(spec=spec, state=state, dir=run_dir, sem=asyncio.Semaphore(parallelism))
        run.done = {t.name: asyncio.Event() for t in spec.pipeline.tasks}
        loop = asyncio.get_running_loop()
        run.downstream = {t.name: [] for t in spec.pipeline.tasks}
        for task in spec.pipeline.tasks:
            ups = set(spec.pipeline.upstream(task.name))
            run.remaining[task.name] = len(ups)
            run.ready[task.name] = loop.create_future()
            for up in ups:
                run.downstream[up].append(task.name)
        for name, count in run.remaining.items():
            if count == 0:
                run.ready[name].set_result(None)
        self._runs[spec.run_id] = run
        if state.status == PENDING:
            state.status = RUNNING
            state.started_at = utcnow()
        state.engine_data = {"engine": self.name, "run_dir": str(run_dir)}
        await self._publish(run, None)
        run.driver = asyncio.create_task(self._drive(run, reattaching))
        if self._sampler is None or self._sampler.done():
            self._sampler = asyncio.create_task(self._sample_loop())
        return state

    async def _drive(self, run: _Run, reattaching: bool) -> None:
        await asyncio.gather(*(self._guarded(run, t, reattaching) for t in run.spec.pipeline.tasks))
        statuses = {ts.status for ts in run.state.tasks.values()}
        if run.cancelled:
            run.state.status = CANCELLED
            run.state.message = run.state.message or run.cancel_reason
        elif statuses & {FAILED, UPSTREAM_FAILED, CANCELLED}:
            run.state.status = FAILED
            failed = [n for n, ts in run.state.tasks.items() if ts.status == FAILED]
            run.state.message = run.state.message or ("failed tasks: " + ", ".join(failed) if failed else "tasks did not complete")
        else:
            run.state.status = SUCCEEDED
        run.state.finished_at = utcnow()
        await self._publish(run, None)
        self._end_watches(run)

    @staticmethod
    def _mark_killed(run: _Run, why: str) -> list[int]:
        for name in run.procs:
            run.killed[name] = why
        return list(run.procs.values())

    @staticmethod
    def _release(run: _Run, name: str) -> None:
        """``name`` is final: wake the downstream tasks it was the last upstream of."""
        if run.done[name].is_set():
            return
        run.done[name].set()
        for down in run.downstream[name]:
            run.remaining[down] -= 1
            if run.remaining[down] == 0 and not run.ready[down].done():
                run.ready[down].set_result(None)

    @staticmethod
    def _wake_all(run: _Run) -> None:
        for fut in run.ready.values():
            if not fut.done():
                fut.set_result(None)

    async def _finish(self, run: _Run, ts: TaskState, status: str, message: str = "", exit_code: int | None = None) -> None:
        ts.status = status
        if message:
            ts.message = message
        if exit_code is not None:
            ts.exit_code = exit_code
        ts.finished_at = ts.finished_at or utcnow()
        ts.pid = None
        await self._publish(run, ts)
        self._release(run, ts.name)

    async def _guarded(self, run: _Run, task: Task, reattaching: bool) -> None:
        try:
            await self._task_main(run, task, reattaching)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must not leave the task 'running' forever
            ts = run.state.tasks[task.name]
            pgid = run.procs.get(task.name)
            if pgid:
                await self._kill_group(pgid)
            await self._finish(run, ts, FAILED, f"engine error: {exc!r}")

    async def _task_main(self, run: _Run, task: Task, reattaching: bool) -> None:
        spec = run.spec
        ts = run.state.tasks[task.name]
        if ts.status in TASK_FINAL:
            self._release(run, task.name)
            return
        upstream = spec.pipeline.upstream(task.name)
        await run.ready[task.name]
        if run.cancelled and ts.status != RUNNING:
            await self._finish(run, ts, CANCELLED, run.cancel_reason)
            return
        bad = [u for u in upstream if run.state.tasks[u].status not in OK_UPSTREAM]
        if bad and ts.status != RUNNING:
            await self._finish(run, ts, UPSTREAM_FAILED, "upstream " + ", ".join(f"{u} {run.state.tasks[u].status}" for u in bad))
            return
        if spec.only_tasks is not None and task.name not in spec.only_tasks:
            prev = spec.reuse.get(task.name)
            if prev is not None and prev.status == SUCCEEDED:
                ts.status, ts.outputs, ts.exit_code = SUCCEEDED, dict(prev.outputs), prev.exit_code
                ts.started_at, ts.finished_at, ts.attempts = prev.started_at, prev.finished_at, prev.attempts
                ts.log_path = prev.log_path
                if prev.log_path and Path(prev.log_path).exists():
                    # the earlier attempt's log stays readable under this run (a link, not a copy)
                    paths = TaskPaths.for_task(run.dir, task.name)
                    os.makedirs(paths.root, exist_ok=True)
                    if not paths.log.exists():
                        os.symlink(prev.log_path, paths.log)
                await self._finish(run, ts, SUCCEEDED, "reused from an earlier run")
            else:
                await self._finish(run, ts, SKIPPED, "not part of this run")
            return
        if task.skip:
            paths = TaskPaths.for_task(run.dir, task.name)
            paths.out.mkdir(parents=True, exist_ok=True)
            ts.outputs = {"path": str(paths.out)}
            await self._finish(run, ts, SKIPPED, "skipped (task set to skip)")
            return
        template = spec.templates.get(task.name)
        if template is None:
            await self._finish(run, ts, FAILED, f"template '{task.template}' was not resolved for this run")
            return
        await self._run_attempts(run, task, template, ts, reattaching)

    async def _run_attempts(self, run: _Run, task: Task, template: JobTemplate, ts: TaskState, reattaching: bool = False) -> None:
        spec = run.spec
        paths = TaskPaths.for_task(run.dir, task.name)
        max_attempts = task.retries + 1
        if reattaching:
            _recover_from_disk(ts, paths)
        # re-attach: an attempt that was running when the control plane went away
        if ts.status == RUNNING and ts.attempts:
            rc, why = await self._adopt(run, task, ts, paths)
            if rc == 0:
                await self._succeed(run, ts, template, paths, rc)
                return
            if run.cancelled:
                await self._finish(run, ts, CANCELLED, run.cancel_reason, exit_code=rc)
                return
            ts.message = why
            ts.exit_code = rc
            if ts.attempts >= max_attempts:
                await self._finish(run, ts, FAILED, why, exit_code=rc)
                return
        os.makedirs(paths.work, exist_ok=True)
        os.makedirs(paths.out, exist_ok=True)
        ts.log_path = str(paths.log)
        ts.outputs = {"path": str(paths.out)}
        workspace = Path(self.workspace_for(spec.runner))
        run_as = None
        if self.unix:
            try:
                run_as = await asyncio.get_running_loop().run_in_executor(None, self._prepare_account, spec, paths, workspace)
            except (UnixAccountError, OSError, ValueError) as exc:
                with open(paths.log, "ab") as fh:
                    fh.write(f"[cubelab] task could not start: the Unix account of {spec.runner}: {exc}\n".encode())
                await self._finish(run, ts, FAILED, f"could not start: the Unix account of {spec.runner}: {exc}")
                return
        try:
            argv, env = build_launch(spec, task, template, paths, run.state.tasks, workspace, **({"python": self.python} if self.python else {}))
            if run_as:
                env.update({"HOME": str(workspace), "USER": run_as.name, "LOGNAME": run_as.name})
                _give_task_files(paths, run_as)
        except TaskSetupError as exc:
            with open(paths.log, "ab") as fh:
                fh.write(f"[cubelab] task could not start: {exc}\n".encode())
            await self._finish(run, ts, FAILED, f"could not start: {exc}")
            return
        if argv is None:  # logical: nothing to run
            ts.started_at = ts.started_at or utcnow()
            await self._finish(run, ts, SUCCEEDED, exit_code=0)
            return
        while ts.attempts < max_attempts:
            if ts.attempts:
                await self._back_off(run, task, ts, paths)
            if run.cancelled:
                await self._finish(run, ts, CANCELLED, run.cancel_reason)
                return
            async with run.sem:
                if run.cancelled:
                    await self._finish(run, ts, CANCELLED, run.cancel_reason)
                    return
                rc, why = await self._attempt(run, task, ts, paths, argv, env, run_as, template)
            if rc == 0:
                await self._succeed(run, ts, template, paths, rc)
                return
            if run.cancelled or run.killed.get(task.name) == "cancel":
                await self._finish(run, ts, CANCELLED, run.cancel_reason or "cancelled", exit_code=rc)
                return
            ts.exit_code = rc
            ts.message = why
        await self._finish(run, ts, FAILED, ts.message, exit_code=ts.exit_code)

    async def _back_off(self, run: _Run, task: Task, ts: TaskState, paths: TaskPaths) -> None:
        """Wait before the next attempt as the task's ``retry_backoff`` says, outside
        the run's concurrency slot, saying in the log and the task's message when
        it starts; a cancel ends the wait at once (within a fraction of a second)."""
        attempt = ts.attempts + 1
        wait = task.backoff.wait_before(attempt)
        starts = datetime.now(UTC) + timedelta(seconds=wait)
        note = f"attempt {attempt} of {task.retries + 1} starts at {starts:%H:%M:%S} UTC (in {wait} s)"
        with open(paths.log, "ab") as log:
            log.write(f"\n[cubelab] {note}\n".encode())
        why = ts.message
        ts.message = f"{why}; {note}" if why else note
        await self._publish(run, ts)  # attempt failed; another follows
        ts.message = why
        deadline = time.monotonic() + wait
        while not run.cancelled and (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(left, 0.2))

    async def _succeed(self, run: _Run, ts: TaskState, template: JobTemplate, paths: TaskPaths, rc: int) -> None:
        outputs = {"path": str(paths.out)}
        for out in template.outputs:
            file = paths.out / out.name
            if out.type.lower() == "path":
                outputs[out.name] = str(file)
            elif file.is_file() and file.stat().st_size <= 4096:
                outputs[out.name] = file.read_text(errors="replace").rstrip("\n")
            elif file.is_file():
                outputs[out.name] = f"file {file} ({file.stat().st_size} bytes)"
        ts.outputs = outputs
        ts.message = ""
        await self._finish(run, ts, SUCCEEDED, exit_code=rc)

    def shared_dir(self, runner: str, name: str) -> str | None:
        """Under the runner's workspace (their home when tasks run as their own
        account): theirs to write, and the platform creates nothing in it."""
        parts = Path(name).parts
        if not parts or Path(name).is_absolute() or ".." in parts:
            raise ValueError(f"shared_dir: {name!r} is not a relative path")
        return str(Path(self.workspace_for(runner)) / ".cubelab" / name)

    def _prepare_account(self, spec: RunSpec, paths: TaskPaths, workspace: Path) -> RunAs:
        """The runner's account (created on first need) in the project's group;
        the task's work and output directories become theirs."""
        entry = self.unix.ensure_account(spec.runner, workspace)
        project_gid = self.unix.add_member(spec.project, spec.runner)
        os.chmod(paths.root, 0o711)
        # the log is the platform's, whatever the umask: the task gets it as its open stdout only
        os.close(os.open(paths.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        os.chmod(paths.log, 0o600)
        for directory in (paths.work, paths.out):
            os.chown(directory, entry.pw_uid, entry.pw_gid)
            os.chmod(directory, 0o700)
        return RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid, [entry.pw_gid, project_gid])

    def _task_cgroups(self, run: _Run, task: Task, template: JobTemplate, attempt: int) -> tuple[Path | None, Path | None, str]:
        """Memory and CPU cgroups of one attempt, and the memory limit as written."""
        try:
            cpu, memory, _ = effective_resources(task, template)
            mem_limit = parse_memory(memory).limit if memory else 0
            cpu_limit = float(parse_cpu(cpu).limit) if cpu else 0.0
        except FieldError:
            return None, None, ""
        name = _cgroup_name(run.spec.run_id, task.name, attempt)
        mem_group = make_memory_cgroup(name, mem_limit) if mem_limit else None
        cpu_group = make_cpu_cgroup(name, cpu_limit) if cpu_limit else None
        return mem_group, cpu_group, memory

    async def _attempt(
        self, run: _Run, task: Task, ts: TaskState, paths: TaskPaths, argv: list[str], env: dict[str, str],
        run_as: RunAs | None = None, template: JobTemplate | None = None,
    ) -> tuple[int, str]:
        ts.attempts += 1
        attempt = ts.attempts
        exit_file = paths.exit_file(attempt)
        groups = self._task_cgroups(run, task, template, attempt) if template is not None else (None, None, "")
        mem_group, cpu_group, memory = groups
        if run_as:
            # the wrapper, running as the user, writes the exit status here
            with open(exit_file, "w"):
                pass
            os.chown(exit_file, run_as.uid, run_as.gid)
        cgroups = [g for g in (mem_group, cpu_group) if g]
        with open(paths.log, "ab") as log:
            if attempt > 1:
                log.write(f"\n[cubelab] attempt {attempt} of {task.retries + 1}\n".encode())
                log.flush()
            try:
                proc = Child.spawn(argv, exit_file, log, str(paths.work), env, cgroups, run_as)
            except (OSError, subprocess.SubprocessError) as exc:
                log.write(f"[cubelab] could not start process: {exc}\n".encode())
                for group in (mem_group, cpu_group):
                    if group:
                        remove_cgroup(group, attempts=1)
                return 127, f"could not start process: {exc}"
        run.procs[task.name] = proc.pid
        external_id = proc_id(proc.pid) or f"{proc.pid}:gone"
        # on disk before anything else: a control plane that dies before its database
        # hears of this attempt still finds (and adopts) the process after a restart
        _write_small(paths.root / f"proc-{attempt}", external_id)
        run.killed.pop(task.name, None)
        ts.pid = proc.pid
        ts.external_id = external_id if not external_id.endswith(":gone") else None
        ts.status = RUNNING
        ts.started_at = ts.started_at or utcnow()
        ts.exit_code = None
        await self._publish(run, ts)
        if run.cancelled and task.name not in run.killed:  # cancel arrived while we were starting
            run.killed[task.name] = "cancel"
            await self._kill_group(proc.pid)
        try:
            # the timeout is per attempt, as Argo's activeDeadlineSeconds is per pod
            rc = await asyncio.wait_for(proc.wait(), task.timeout or None)
        except TimeoutError:
            run.killed[task.name] = "timeout"
            await self._kill_group(proc.pid)
            rc = await proc.wait()
        finally:
            run.procs.pop(task.name, None)
        why = self._why(run, task, rc)
        if mem_group is not None:
            if rc != 0 and oom_killed(mem_group):
                why = f"stopped at its memory limit ({memory}): the kernel killed it for using more"
                with open(paths.log, "ab") as log:
                    log.write(f"\n[cubelab] {why}\n".encode())
        # emptied groups go once the kernel lets go of them, which can take a moment
        # after the last process is reaped: retried in a thread, not on the event loop
        loop = asyncio.get_running_loop()
        for group in (mem_group, cpu_group):
            if group is not None:
                loop.run_in_executor(None, remove_cgroup, group)
        return rc, why

    def _why(self, run: _Run, task: Task, rc: int) -> str:
        killed = run.killed.get(task.name)
        if killed == "timeout":
            return f"timed out after {task.timeout}s"
        if killed == "cancel":
            return run.cancel_reason or "cancelled"
        if rc < 0:
            return f"killed by signal {-rc}"
        return f"exit code {rc}"

    async def _adopt(self, run: _Run, task: Task, ts: TaskState, paths: TaskPaths) -> tuple[int, str]:
        """Follow a process started by an earlier control plane until it ends."""
        exit_file = paths.exit_file(ts.attempts)
        pid = ts.pid
        alive = pid is not None and ts.external_id is not None and ts.external_id == proc_id(pid)
        if alive:
            run.procs[task.name] = pid
            try:
                attempt_started = psutil.Process(pid).create_time()
            except psutil.Error:
                attempt_started = time.time()
            try:
                while ts.external_id == proc_id(pid):
                    if task.timeout and time.time() - attempt_started > task.timeout and task.name not in run.killed:
                        run.killed[task.name] = "timeout"
                        await self._kill_group(pid)
                    await asyncio.sleep(0.2)
            finally:
                run.procs.pop(task.name, None)
        code = _read_exit(exit_file)
        if code is None:
            await asyncio.sleep(0.05)  # the wrapper writes the file as the process ends
            code = _read_exit(exit_file)
        # the attempt's cgroups, made by the engine before the restart
        name = _cgroup_name(run.spec.run_id, task.name, ts.attempts)
        for controller in ("memory", "cpu"):
            parent = own_cgroup(controller)
            group = parent / name if parent is not None else None
            if group is not None and group.is_dir():
                if controller == "memory" and code != 0 and oom_killed(group):
                    remove_cgroup(group)
                    return code if code is not None else -signal.SIGKILL, "stopped at its memory limit: the kernel killed it for using more"
                remove_cgroup(group)
        if code is not None:
            return code, self._why(run, task, code) if code else ""
        if run.killed.get(task.name):
            return -signal.SIGKILL, self._why(run, task, -9)
        return -1, "the task's process was lost while the control plane restarted (no exit status recorded)"

    # ------------------------------------------------------------ processes

    async def _kill_group(self, pgid: int) -> None:
        await kill_group(pgid, self.kill_grace)

    async def _sample_loop(self) -> None:
        """Peak CPU (cores) and memory (RSS) of each running task's process tree,
        the input of resource auto-tuning."""
        while True:
            await asyncio.sleep(self.sample_interval)
            active = [r for r in self._runs.values() if r.procs]
            if not active and all(r.finished.is_set() for r in self._runs.values()):
                return
            for run in active:
                for name, pid in list(run.procs.items()):
                    ts = run.state.tasks[name]
                    sample = sample_tree(pid)
                    if sample is None:
                        continue
                    cpu_seconds, rss, started = sample
                    now = time.time()
                    # the first sample of an attempt measures from the process's start
                    prev = run.samples.get(name)
                    if prev is None or prev[0] < started:
                        prev = (started, 0.0)
                    run.samples[name] = (now, cpu_seconds)
                    if now > prev[0]:
                        cores = max(0.0, (cpu_seconds - prev[1]) / (now - prev[0]))
                        ts.peak_cpu = max(ts.peak_cpu or 0.0, round(cores, 3))
                    ts.peak_memory = max(ts.peak_memory or 0, rss)


def _cgroup_name(run_id: str, task: str, attempt: int) -> str:
    return "cubelab-task-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{run_id}-{task}-{attempt}")


def _give_task_files(paths: TaskPaths, run_as: RunAs) -> None:
    """Files written for the task to run (the code of a ``python --code`` task)
    become the user's; the bookkeeping beside them (log, exit and pid files) does not."""
    for entry in paths.root.iterdir():
        if entry.is_symlink() or not entry.is_file():
            continue
        if entry == paths.log or entry.name.startswith(("exit-", "proc-")):
            continue
        os.chown(entry, run_as.uid, run_as.gid)


def _write_small(path: Path, text: str) -> None:
    with open(path, "w") as fh:
        fh.write(text)


def _recover_from_disk(ts: TaskState, paths: TaskPaths) -> None:
    """Attempts the saved state never heard of (the control plane died between
    starting a process and storing that): take the newest from its proc-N file."""
    attempts = sorted(int(p.name[5:]) for p in paths.root.glob("proc-*") if p.name[5:].isdigit())
    if not attempts or attempts[-1] < ts.attempts or (attempts[-1] == ts.attempts and ts.status == RUNNING):
        return
    last = attempts[-1]
    proc_file = paths.root / f"proc-{last}"
    text = proc_file.read_text().strip()
    pid_text = text.split(":", 1)[0]
    ts.attempts = last
    ts.pid = int(pid_text) if pid_text.isdigit() else None
    ts.external_id = None if text.endswith(":gone") else text
    ts.status = RUNNING
    ts.log_path = str(paths.log)
    ts.outputs = {"path": str(paths.out)}
    if ts.started_at is None:
        ts.started_at = datetime.fromtimestamp(proc_file.stat().st_mtime, UTC)


def _read_exit(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.lstrip("-").isdigit() else None
