"""Image builds on this machine with buildah: queued, run, cancelled, recorded.

- **One storage per project** (``<builds_dir>/storage/<project>``): buildah's
  image store and so its layer cache. ``--layers`` keeps every finished step
  there, so a rebuild of the same image (after a small change, or after the
  platform restarted) reuses the steps whose parent and instruction did not
  change, and the log ends with what was reused. An image built here is used
  by a later ``FROM`` of the same project from that storage; other projects
  never see it.
- **One build at a time per project**: a project's storage is written by one
  buildah at a time, so leftovers of a stopped build (``buildah rm --all``)
  are that build's only. Others wait, ``queued``.
- **Limits**: buildah runs as root (its vfs driver and chroot isolation need
  it; docs/builds.md says why and what keeps a Dockerfile off the host) in
  CPU and memory cgroups of the build's limits, made before it starts
  (:mod:`cubelab_hub.engines.local.processes`), with a timeout.
- **Inputs**: the context folder and a Dockerfile path are resolved on disk
  inside the requesting user's workspace (a link pointing out of it is
  refused); the Dockerfile is copied into the build's private folder.
- **Restarts** ("continuous build"): a control plane that crashed leaves
  buildah running; the next one re-attaches to it (pid plus start time) and
  learns its exit status from the wrapper's exit file. A clean stop stops
  buildah (the platform is going down); the next start runs the build again,
  and the steps it had finished come from the layer cache. Either way the
  build's ``restarts`` and its log say what happened and what was reused;
  nothing stays ``running`` once its buildah is gone.
- **Quota**: a running build holds its CPU and memory limits in its
  project's quota (:meth:`BuildManager.in_use_by_project`, a usage source of
  the runs' manager); a build the quota cannot hold beside the project's
  servers, tasks and services is refused when it is asked for
  (:func:`~cubelab_hub.domain.quotas.build_quota_errors`).
- **Cancel** stops buildah's process group (SIGTERM, then SIGKILL after
  ``kill_grace``), removes its working containers; nothing is published
  unless the build succeeded (:meth:`BuildManager.publish`).
- **Log**: buildah's output, line by line, in ``<builds_dir>/logs/<id>.log``
  (the platform's, 0600), read by the REST API while it grows.
- **On Kubernetes**: a project whose work runs there (its ``engine`` setting,
  as for services) has its builds run by the
  :class:`~.build_backends.KubernetesBuildBackend` instead; rows, logs and
  the API stay here. Its Job runs on when the control plane stops and is
  followed again at the next start (or the build starts again if it is gone).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import delete, select
from traitlets import Float, Unicode
from traitlets.config import LoggingConfigurable

from ...domain.builds import (
    FINISHED,
    MAX_DOCKERFILE_BYTES,
    BuildahPaths,
    BuildOutput,
    BuildRequest,
    build_request_from_dict,
    buildah_build_argv,
    buildah_inspect_argv,
    buildah_push_argv,
    buildah_rm_all_argv,
    image_facts,
    registry_auth_file,
    unreachable_base_message,
)
from ...domain.errors import Conflict, FieldError, FieldErrors, NotFound
from ...domain.paging import ListFilters, decode_cursor, page_from
from ...domain.projects import Quota
from ...domain.quotas import Usage, build_quota_errors
from ...engines.local.processes import Child, kill_group, proc_id
from ...platform.cgroups import make_cpu_cgroup, make_memory_cgroup, oom_killed, own_cgroup, remove_cgroup
from ..models.builds import BuildRow
from ..models.pipelines import aware
from .build_backends import KubernetesBuildBackend, PreparedBuild
from .lists import _key_value, _keyset, _name_contains, _time_range, _visible
from .service_backends import KUBERNETES
from .services import QuotaExceeded

log = logging.getLogger("cubelab.builds")

BUILD_KEY = (datetime, int)
# what buildah needs of the control plane's environment; nothing else of it (tokens) reaches the build
_ENV_KEYS = ("PATH", "LANG", "LC_ALL", "TZ")
# files of a build's work folder: buildah's exit status (written by the wrapper, read
# after a restart), the build's cgroup name, and the mark a clean stop leaves
EXIT_FILE, CGROUP_FILE, INTERRUPTED_FILE = "exit", "cgroup", "interrupted"
BUILD_HEADER = "[cubelab] building "
REATTACHED = "re-attached after the control plane restarted (buildah kept running)"
REATTACHED_JOB = "re-attached after the control plane restarted (its Job kept running)"


class BuildFinished(Conflict):
    code = "build_finished"


class BuildManager(LoggingConfigurable):
    """Builds: their rows, their buildah processes and their logs."""

    buildah = Unicode("buildah", help="The buildah program (Debian's package 'buildah'; 1.28 or later).").tag(config=True)
    registry = Unicode(
        "127.0.0.1:5000",
        help="The registry host of built images: a build of image I with tag T in project P is <registry>/P/I:T. "
        "The platform's local registry by default.",
    ).tag(config=True)
    builds_dir = Unicode("", help="Where builds keep their storage (the layer cache), logs and work files. Default: <data_dir>/builds.").tag(config=True)
    kill_grace = Float(1.0, help="Seconds a cancelled build gets between SIGTERM and SIGKILL.").tag(config=True)

    def __init__(self, database, data_dir: str | os.PathLike, *, workspace_for: Callable[[str], Path] | None = None,
                 archives: Callable[[], list[str]] | None = None, push_to: str | None = None,
                 credential: Callable[[str], tuple[str, str]] | None = None, kubernetes: KubernetesBuildBackend | None = None,
                 project_settings: Callable[[str], Any] | None = None, default_engine: str = "local",
                 project_quota: Callable[[str], Any] | None = None, others_in_use: Callable[[str], Any] | None = None,
                 on_usage_changed: Callable[[], None] | None = None, keep_on_shutdown: bool = False, **kwargs):
        """``workspace_for``: user -> their workspace folder; ``archives``: the
        references of images admins imported from OCI archives (offered when a
        base image is out of reach; may be a coroutine); ``push_to``: the platform's local registry
        (host:port on loopback), where succeeded builds are pushed with
        ``credential(project)``, the platform's service credential of the project;
        ``kubernetes``: where the builds of projects on Kubernetes run, chosen
        by ``project_settings(project)`` (may be a coroutine) and ``default_engine``;
        ``project_quota(project)`` -> its :class:`Quota` and ``others_in_use(project)``
        -> the :class:`Usage` of its servers, tasks and services (both may be
        coroutines): a build is refused when its limits do not fit beside them;
        ``on_usage_changed()``: what running builds hold changed;
        ``keep_on_shutdown``: a clean stop leaves buildah running, to be
        re-attached at the next start (the control plane's ``keep_runs_on_shutdown``)."""
        super().__init__(**kwargs)
        if push_to:
            self.registry = push_to
        self.push_to = push_to or None
        self.credential = credential
        self.db = database
        self.data_dir = Path(data_dir)
        self.workspace_for = workspace_for or (lambda user: self.data_dir / "workspaces" / user)
        self.archives = archives or (lambda: [])
        self.root = Path(self.builds_dir) if self.builds_dir else self.data_dir / "builds"
        for sub in ("", "logs", "work", "storage"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: dict[int, asyncio.Task] = {}
        self._cancelled: set[int] = set()
        self.kubernetes = kubernetes
        self.project_settings = project_settings
        self.default_engine = default_engine
        self._remote: set[int] = set()
        self.project_quota = project_quota
        self.others_in_use = others_in_use
        self.on_usage_changed = on_usage_changed
        self.keep_on_shutdown = keep_on_shutdown
        # build id -> buildah's wrapper (its process group), also for a build re-attached after a restart
        self._pids: dict[int, int] = {}
        # build id -> (project, what it holds) while it runs
        self._holds: dict[int, tuple[str, Usage]] = {}
        # set by a clean stop: builds stopped now start again at the next start
        self._stopping = False
        # builds waiting for their project's turn
        self._waiting: set[int] = set()

    async def on_kubernetes(self, project: str) -> bool:
        """Whether the project's builds run on Kubernetes: where its runs and services do."""
        if self.kubernetes is None or self.project_settings is None:
            return False
        settings = self.project_settings(project)
        settings = await settings if asyncio.iscoroutine(settings) else settings
        return ((settings and settings.engine) or self.default_engine) == KUBERNETES

    # ------------------------------------------------------------ paths

    def log_path(self, build_id: int) -> Path:
        return self.root / "logs" / f"{build_id}.log"

    def paths(self, project: str, build_id: int, context: str) -> BuildahPaths:
        storage = self.root / "storage" / project
        work = self.root / "work" / str(build_id)
        return BuildahPaths(root=str(storage / "root"), runroot=str(storage / "run"), dockerfile=str(work / "Dockerfile"),
                            context=context, iidfile=str(work / "image-id"))

    def active_builds(self) -> list[tuple[int, bool]]:
        """Builds queued or running in this control plane: (id, run on Kubernetes)."""
        return [(build_id, build_id in self._remote) for build_id in self._tasks]

    def is_active(self, build_id: int) -> bool:
        return build_id in self._tasks

    # ------------------------------------------------------------ requests

    def parse(self, body: Any) -> BuildRequest:
        return build_request_from_dict(body)

    def resolve_inputs(self, request: BuildRequest, user: str) -> tuple[Path, str | None]:
        """The context folder on disk and the Dockerfile's text of a path, both
        inside ``user``'s workspace (a link out of it is refused)."""
        workspace = Path(self.workspace_for(user))
        if request.context == "." and not workspace.exists() and request.dockerfile is not None:
            workspace.mkdir(parents=True, exist_ok=True)
        base = os.path.realpath(workspace)

        def inside(relative: str, field_name: str) -> Path:
            real = os.path.realpath(os.path.join(base, relative))
            if real != base and not real.startswith(base + os.sep):
                raise FieldError(field_name, f"'{relative}' leads out of your workspace through a link", "a path inside your workspace")
            return Path(real)

        context = inside(request.context, "context")
        if not context.is_dir():
            raise FieldError("context", f"'{request.context}' is not a folder of your workspace", "a folder of your workspace")
        text = None
        if request.dockerfile_path is not None:
            path = inside(request.dockerfile_path, "dockerfile_path")
            if not path.is_file():
                raise FieldError("dockerfile_path", f"'{request.dockerfile_path}' is not a file of your workspace",
                                 "the path of a Dockerfile in your workspace")
            if path.stat().st_size > MAX_DOCKERFILE_BYTES:
                raise FieldError("dockerfile_path", f"'{request.dockerfile_path}' is longer than 256K", "a Dockerfile up to 256K")
            text = path.read_text(encoding="utf-8", errors="replace")
        return context, text

    async def create(self, request: BuildRequest, actor: str) -> int:
        """Check the inputs, store the build (queued) and start it."""
        loop = asyncio.get_running_loop()
        context, text = await loop.run_in_executor(None, self.resolve_inputs, request, actor)
        dockerfile = request.dockerfile if request.dockerfile is not None else text
        await self._check_quota(request)
        prepared = await self.kubernetes.prepare(request, context) if await self.on_kubernetes(request.project) else None
        registry = prepared.registry if prepared is not None else self.registry

        def insert(session) -> int:
            row = BuildRow(project=request.project, image=request.image, creator=actor, body=request.to_dict(), status="queued",
                           message="", cache="", refs=request.references(registry), created_at=datetime.now(UTC))
            session.add(row)
            session.flush()
            return row.id

        build_id = await self.db.run(insert)
        if prepared is not None:
            self._remote.add(build_id)
            self._tasks[build_id] = asyncio.create_task(self._run_remote(build_id, request, prepared, dockerfile))
        else:
            self._tasks[build_id] = asyncio.create_task(
                self._run(build_id, request.project, lambda: self._build(build_id, request, str(context), dockerfile)))
        return build_id

    # ------------------------------------------------------------ quota

    async def _check_quota(self, request: BuildRequest) -> None:
        """Refuse a build whose limits the project's quota cannot hold now."""
        if self.project_quota is None:
            return
        quota = await _maybe_await(self.project_quota(request.project)) or Quota()
        if quota.cpu is None and quota.memory is None:
            return
        in_use = await _maybe_await(self.others_in_use(request.project)) if self.others_in_use is not None else Usage()
        errors = build_quota_errors(request.project, quota, in_use or Usage(), request.cpu, request.memory)
        if errors:
            raise QuotaExceeded(f"the project's quota cannot hold this build: {errors[0]}", errors[0].field,
                                errors=[e.to_dict() for e in errors])

    def in_use_by_project(self) -> dict[str, Usage]:
        """What running builds hold (their CPU and memory limits), per project."""
        used: dict[str, Usage] = {}
        for project, usage in list(self._holds.values()):
            used[project] = used.get(project, Usage()) + usage
        return used

    def _hold(self, build_id: int, request: BuildRequest) -> None:
        self._holds[build_id] = (request.project, Usage(request.cpu, request.memory, 0))
        self._usage_changed()

    def _release(self, build_id: int) -> None:
        if self._holds.pop(build_id, None) is not None:
            self._usage_changed()

    def _usage_changed(self) -> None:
        if self.on_usage_changed is not None:
            try:
                self.on_usage_changed()
            except Exception:
                log.exception("publishing what builds hold failed")

    # ------------------------------------------------------------ rows

    def view(self, row: BuildRow) -> dict:
        data = dict(row.body)
        data.update(id=row.id, creator=row.creator, status=row.status, message=row.message, image_id=row.image_id, digest=row.digest,
                    size=row.size, cache=row.cache, references=list(row.refs or []), duration=row.duration,
                    restarts=list(row.restarts or []),
                    started_at=aware(row.started_at).isoformat() if row.started_at else None,
                    finished_at=aware(row.finished_at).isoformat() if row.finished_at else None,
                    created_at=aware(row.created_at).isoformat() if row.created_at else None)
        return data

    def list(self, session, projects: Collection[str] | None, filters: ListFilters, limit: int, cursor: str | None) -> dict:
        """Builds of the visible projects, newest first."""
        after = decode_cursor("builds", cursor, BUILD_KEY, filters)
        query = select(BuildRow)
        if filters.q:
            query = query.where(_name_contains(BuildRow.image, filters.q))
        if filters.status:
            query = query.where(BuildRow.status == filters.status)
        if filters.creator:
            query = query.where(BuildRow.creator == filters.creator)
        query = _time_range(query, BuildRow.created_at, filters)
        rows = _keyset(session, query, (BuildRow.created_at, BuildRow.id), after, limit, descending=True,
                       projects=_visible(projects, filters), project_column=BuildRow.project)
        page = page_from(rows, limit, "builds", lambda r: (_key_value(r.created_at), r.id), filters)
        return {"builds": [self.view(r) for r in page.items], "next_cursor": page.next_cursor}

    def built_images(self, session, project: str) -> list[str]:
        """References of the project's images built here (newest first)."""
        refs: list[str] = []
        query = select(BuildRow.refs).where(BuildRow.project == project, BuildRow.status == "succeeded").order_by(BuildRow.id.desc()).limit(50)
        for row_refs in session.scalars(query):
            refs.extend(r for r in row_refs or [] if r not in refs)
        return refs[:20]

    async def _update(self, build_id: int, **values) -> None:
        def store(session):
            row = session.get(BuildRow, build_id)
            if row is not None:
                for key, value in values.items():
                    setattr(row, key, value)

        await self.db.run(store)

    # ------------------------------------------------------------ running

    def _lock(self, project: str) -> asyncio.Lock:
        return self._locks.setdefault(project, asyncio.Lock())

    def _env(self, work: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k in _ENV_KEYS}
        env.setdefault("PATH", os.defpath)
        # buildah's temporary files (blobs on their way into the store) go with the build's folder
        env.update(HOME=str(work), TMPDIR=str(work), BUILDAH_ISOLATION="chroot")
        return env

    async def _run(self, build_id: int, project: str, job: Callable[[], Any]) -> None:
        """Run ``job`` (a build, or the following of one re-attached) in the project's turn."""
        path = self.log_path(build_id)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        self._waiting.add(build_id)
        try:
            async with self._lock(project):
                self._waiting.discard(build_id)
                if self._stopping:
                    return  # left queued: the next start runs it
                if build_id in self._cancelled:
                    await self._finish(build_id, "cancelled", "cancelled before it started", started=None)
                    return
                await job()
        except Exception as exc:  # a bug must not leave the build "running" forever
            log.exception("build %s failed", build_id)
            await self._finish(build_id, "failed", f"internal error: {exc}", started=None)
        finally:
            self._waiting.discard(build_id)
            self._tasks.pop(build_id, None)
            self._pids.pop(build_id, None)
            self._release(build_id)
            self._cancelled.discard(build_id)

    async def _run_remote(self, build_id: int, request: BuildRequest, prepared: PreparedBuild, dockerfile: str, note: str = "") -> None:
        path = self.log_path(build_id)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        started = time.monotonic()
        try:
            status, message, digest = await self.kubernetes.run(
                build_id, request, prepared, dockerfile, path,
                on_started=lambda: self._started_remote(build_id, request))
            message = _with_note(message, note)
            self._log(build_id, f"[cubelab] {message}\n")
            await self._finish(build_id, status, message, started=started, digest=digest)
        except Exception as exc:  # a bug or an unreachable cluster must not leave the build "running" forever
            log.exception("build %s failed", build_id)
            await self._finish(build_id, "failed", f"could not run the build on Kubernetes: {exc}", started=started)
        finally:
            self._tasks.pop(build_id, None)
            self._remote.discard(build_id)
            self._release(build_id)
            self._cancelled.discard(build_id)

    async def _resume_remote(self, row: dict, request: BuildRequest) -> None:
        """A build on Kubernetes an earlier control plane left: its Job is
        followed again, or, when it is gone, the build starts again (BuildKit's
        cache in the registry keeps the steps that were exported)."""
        build_id = row["id"]
        registry = (row["refs"] or [""])[0].split("/", 1)[0]
        since = row["started_at"].timestamp() if row["started_at"] else time.time()
        started = time.monotonic() - max(time.time() - since, 0)

        async def found() -> None:
            self._hold(build_id, request)
            await self._record_restart(build_id, "re-attached", "the control plane restarted while the build's Job ran on Kubernetes; "
                                                                "it was followed again")
            self._log(build_id, "[cubelab] the control plane restarted; following the build's Job on Kubernetes again\n")

        handed_over = False  # to _run_remote, which ends the build's bookkeeping itself
        try:
            try:
                outcome = await self.kubernetes.reattach(build_id, request, registry, self.log_path(build_id), on_found=found)
            except Exception as exc:  # an unreachable cluster must not leave the build "running" forever
                log.exception("build %s: following its Job again failed", build_id)
                outcome = "failed", f"could not follow the build on Kubernetes after the control plane restarted: {exc}", None
            if outcome is not None:
                status, message, digest = outcome
                message = _with_note(message, REATTACHED_JOB)
                self._log(build_id, f"[cubelab] {message}\n")
                await self._finish(build_id, status, message, started=started, digest=digest)
                return
            try:
                context, text = await asyncio.get_running_loop().run_in_executor(None, self.resolve_inputs, request, row["creator"])
                prepared = await self.kubernetes.prepare(request, context)
            except (FieldError, Conflict) as exc:
                await self._finish(build_id, "failed", f"could not start again after the control plane restarted: {exc}", started=None)
                return
            handed_over = True
        finally:
            self._release(build_id)
            if not handed_over:
                self._tasks.pop(build_id, None)
                self._remote.discard(build_id)
                self._cancelled.discard(build_id)
        if row["status"] == "running":
            await self._record_restart(build_id, "restarted", "the control plane restarted and the build's Job was gone; "
                                                              "the build started again")
        self._log(build_id, "[cubelab] the control plane restarted and the build's Job is gone: it starts again\n")
        await self._run_remote(build_id, request, prepared, request.dockerfile if request.dockerfile is not None else text,
                               note="restarted after the control plane restarted" if row["status"] == "running" else "")

    async def _started_remote(self, build_id: int, request: BuildRequest) -> None:
        self._hold(build_id, request)
        await self._update(build_id, status="running", started_at=datetime.now(UTC))

    async def _build(self, build_id: int, request: BuildRequest, context: str, dockerfile: str, restarted: bool = False) -> None:
        """Start buildah and follow it. ``restarted``: an attempt stopped by a
        restart of the control plane ran before; this one gets the whole
        timeout again (the platform may have been down for long) and its
        duration is its own."""
        loop = asyncio.get_running_loop()
        paths = self.paths(request.project, build_id, context)
        work = Path(paths.dockerfile).parent
        work.mkdir(parents=True, exist_ok=True)
        os.chmod(work, 0o700)
        for leftover in (EXIT_FILE, INTERRUPTED_FILE):
            (work / leftover).unlink(missing_ok=True)
        Path(paths.dockerfile).write_text(dockerfile, encoding="utf-8")
        for folder in (paths.root, paths.runroot):
            Path(folder).mkdir(parents=True, exist_ok=True)
        if restarted:
            # the stopped attempt's working containers; its finished steps stay in the cache
            await loop.run_in_executor(None, self._remove_leftovers, paths)
        name = f"cubelab-build-{build_id}-{int(time.time() * 1000)}"
        groups = [make_memory_cgroup(name, request.memory), make_cpu_cgroup(name, float(request.cpu))]
        (work / CGROUP_FILE).write_text(name)
        argv = buildah_build_argv(request, self.registry, paths, self.buildah)
        started = time.monotonic()
        with open(self.log_path(build_id), "ab") as out:
            # BUILD_HEADER: what follows is one buildah run (see _read_output)
            out.write(f"{BUILD_HEADER}{', '.join(request.references(self.registry))} (cpu {request.cpu}, memory limit "
                      f"{request.to_dict()['memory']}, timeout {request.to_dict()['timeout']})\n".encode())
            out.flush()
            try:
                child = Child.spawn(argv, work / EXIT_FILE, out, str(work), self._env(work), [g for g in groups if g])
            except (OSError, subprocess.SubprocessError) as exc:
                await loop.run_in_executor(None, _drop_cgroups, groups)
                await self._finish(build_id, "failed", f"could not start buildah: {exc}", started=started)
                return
        self._pids[build_id] = child.pid
        self._hold(build_id, request)
        await self._update(build_id, status="running", started_at=datetime.now(UTC), external_id=proc_id(child.pid))
        await self._complete(build_id, request, paths, groups, child.pid, child.wait, started, request.timeout,
                             "restarted" if restarted else None)

    async def _reattach(self, build_id: int, request: BuildRequest, pid: int, external: str | None, since: float) -> None:
        """Follow a buildah started by an earlier control plane (or learn how it
        ended from its exit file), then finish the build as usual."""
        paths = self.paths(request.project, build_id, "")
        work = Path(paths.dockerfile).parent
        exit_file = work / EXIT_FILE

        async def exited() -> int:
            while external and proc_id(pid) == external:
                await asyncio.sleep(0.2)
            code = _read_exit(exit_file)
            if code is None:
                await asyncio.sleep(0.1)  # the wrapper writes the file as buildah ends
                code = _read_exit(exit_file)
            return code if code is not None else -1

        if external:
            try:  # the timeout counts from buildah's own start
                since = psutil.Process(pid).create_time()
            except psutil.Error:
                pass
        self._pids[build_id] = pid
        self._hold(build_id, request)
        self._log(build_id, f"[cubelab] the control plane restarted; re-attached to this build's buildah (process {pid})\n")
        elapsed = max(time.time() - since, 0)
        await self._complete(build_id, request, paths, _build_cgroups(_read_text(work / CGROUP_FILE).strip()), pid, exited,
                             time.monotonic() - elapsed, max(request.timeout - elapsed, 1.0), "re-attached")

    async def _complete(self, build_id: int, request: BuildRequest, paths: BuildahPaths, groups: list, pid: int,
                        wait: Callable[[], Any], started: float, timeout: float, resumed: str | None) -> None:
        """Wait for buildah's end (within ``timeout``), then publish or record
        why not. ``resumed``: "re-attached" or "restarted" after a restart."""
        loop = asyncio.get_running_loop()
        timed_out = False
        try:
            code = await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            timed_out = True
            await kill_group(pid, self.kill_grace)
            code = await wait()
        oom = any(g is not None and oom_killed(g) for g in groups[:1])
        await loop.run_in_executor(None, _drop_cgroups, groups)
        self._release(build_id)
        work = Path(paths.dockerfile).parent
        if self._stopping and build_id not in self._cancelled:
            # a clean stop: the row stays "running" with the mark, and the next start builds again from the cache
            await loop.run_in_executor(None, self._remove_leftovers, paths)
            self._log(build_id, "[cubelab] the control plane is stopping: buildah was stopped; the build starts again, "
                                "from the layer cache, when the control plane is back\n")
            return
        output = await loop.run_in_executor(None, _read_output, self.log_path(build_id))
        summary = output.cache_summary()
        note = ""
        if resumed == "restarted":
            note = f"restarted after the control plane restarted; reused {len(output.cached)} cached layers"
        elif resumed == "re-attached":
            note = REATTACHED
        if code == 0 and build_id not in self._cancelled:
            image_id = (await loop.run_in_executor(None, _read_text, Path(paths.iidfile))).strip() or None
            digest, size = await loop.run_in_executor(None, self._inspect, paths, image_id) if image_id else (None, None)
            pushed, message, pushed_digest = await self.publish(build_id, request, paths, image_id)
            message = _with_note(message, note)
            self._log(build_id, f"[cubelab] {summary}\n[cubelab] {message}\n")
            await self._finish(build_id, "succeeded" if pushed else "failed", message, started=started, image_id=image_id,
                               digest=pushed_digest or digest, size=size, cache=summary)
        else:
            # nothing half-made stays behind: working containers of the stopped build go
            await loop.run_in_executor(None, self._remove_leftovers, paths)
            if build_id in self._cancelled:
                status, message = "cancelled", "cancelled; nothing was published"
            elif timed_out:
                status, message = "failed", f"stopped after the timeout of {request.to_dict()['timeout']}"
            elif oom:
                status, message = "failed", f"killed at its memory limit of {request.to_dict()['memory']}"
            elif output.unreachable:
                image, registry, why = output.unreachable
                local = await self.db.run(self.built_images, request.project)
                archives = self.archives()
                if inspect.isawaitable(archives):
                    archives = await archives
                status, message = "failed", unreachable_base_message(image, registry, why, self.registry, request.project, local,
                                                                     archives)
            elif code == -1 and resumed == "re-attached":
                status, message = "failed", "buildah ended while the control plane restarted, without an exit status; start the build again"
            else:
                status, message = "failed", f"buildah exited with code {code}; see the log"
            message = _with_note(message, note)
            self._log(build_id, f"[cubelab] {summary}\n[cubelab] {message}\n")
            await self._finish(build_id, status, message, started=started, cache=summary)
        await loop.run_in_executor(None, shutil.rmtree, work, True)

    async def publish(self, build_id: int, request: BuildRequest, paths: BuildahPaths, image_id: str | None
                      ) -> tuple[bool, str, str | None]:
        """Make a succeeded build's image available under its references: it is
        tagged in the project's storage (later builds of the project find it
        there) and, with a local registry, pushed there with the project's
        service credential (in an auth file of the build's private folder).
        Only a succeeded build gets here, so nothing is pushed half-built.
        (pushed or kept, the message, the pushed manifest's digest)."""
        refs = request.references(self.registry)
        if not self.push_to or self.credential is None or not image_id:
            return True, f"built {', '.join(refs)} (image {image_id[:12] if image_id else '?'}), kept in the project's build storage", None
        work = Path(paths.dockerfile).parent
        authfile, digestfile = work / "auth.json", work / "digest"
        user, password = self.credential(request.project)
        fd = os.open(authfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(registry_auth_file(self.push_to, user, password))
        digest = None
        try:
            for ref in refs:
                # the registry listens on loopback without TLS; the token service authenticates the push
                argv = buildah_push_argv(self.buildah, paths, image_id, ref, str(authfile), str(digestfile), tls_verify=False)
                with open(self.log_path(build_id), "ab") as out:
                    out.write(f"[cubelab] pushing {ref}\n".encode())
                    out.flush()
                    proc = await asyncio.create_subprocess_exec(*argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                                env=self._env(work))
                    code = await proc.wait()
                if code != 0:
                    return False, f"built image {image_id[:12]}, but pushing {ref} failed (buildah push exited with {code}); see the log", None
                digest = digest or _read_text(digestfile).strip() or None
        finally:
            authfile.unlink(missing_ok=True)
        return True, f"built and pushed {', '.join(refs)}", digest

    def _inspect(self, paths: BuildahPaths, image_id: str) -> tuple[str | None, int | None]:
        try:
            done = subprocess.run(buildah_inspect_argv(self.buildah, paths, image_id), capture_output=True, text=True, timeout=60,
                                  env=self._env(Path(paths.dockerfile).parent))
        except (OSError, subprocess.SubprocessError):
            return None, None
        return image_facts(done.stdout) if done.returncode == 0 else (None, None)

    def _remove_leftovers(self, paths: BuildahPaths) -> None:
        try:
            subprocess.run(buildah_rm_all_argv(self.buildah, paths), capture_output=True, timeout=60,
                           env=self._env(Path(paths.dockerfile).parent))
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("could not remove a stopped build's working containers in %s: %s", paths.root, exc)

    def _log(self, build_id: int, text: str) -> None:
        with open(self.log_path(build_id), "ab") as out:
            out.write(text.encode())

    async def _finish(self, build_id: int, status: str, message: str, *, started: float | None, **values) -> None:
        duration = round(time.monotonic() - started, 3) if started is not None else None
        await self._update(build_id, status=status, message=message, duration=duration, finished_at=datetime.now(UTC), external_id=None,
                           **values)
        log.info("build %s %s: %s", build_id, status, message.splitlines()[0] if message else "")

    # ------------------------------------------------------------ cancel, restart, shutdown

    async def cancel(self, build_id: int) -> None:
        """Stop a queued or running build; returns once it has stopped (buildah
        leaves within a fraction of a second of SIGTERM)."""
        task = self._tasks.get(build_id)
        if task is None:
            status = await self.db.run(lambda s: (s.get(BuildRow, build_id) or BuildRow(status="failed")).status)
            if status not in FINISHED:
                await self._finish(build_id, "cancelled", "cancelled", started=None)
                return
            raise BuildFinished(f"build {build_id} has already finished ({status}); there is nothing to cancel")
        self._cancelled.add(build_id)
        if build_id in self._waiting:
            # queued behind another build of the project: nothing of it runs yet
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await self._finish(build_id, "cancelled", "cancelled before it started", started=None)
            return
        if build_id in self._remote:
            await self.kubernetes.cancel(build_id)
        pid = self._pids.get(build_id)
        if pid is not None:
            await kill_group(pid, self.kill_grace)
        await asyncio.wait({task}, timeout=30)

    async def start(self) -> None:
        """Builds an earlier control plane left queued or running go on: a
        buildah still running (or one that ended with its exit status recorded)
        is re-attached; a build whose buildah was stopped starts again, its
        finished steps from the layer cache; queued builds wait their turn again.
        A build on Kubernetes has its Job followed again, or starts again when
        the Job is gone."""

        def pending(session) -> list[dict]:
            rows = session.scalars(select(BuildRow).where(BuildRow.status.in_(("queued", "running"))).order_by(BuildRow.id))
            return [{"id": r.id, "project": r.project, "creator": r.creator, "body": dict(r.body), "status": r.status,
                     "external_id": r.external_id, "started_at": aware(r.started_at) if r.started_at else None,
                     "refs": list(r.refs or [])} for r in rows]

        for row in await self.db.run(pending):
            try:
                await self._resume(row)
            except Exception as exc:  # one build's trouble must not stop the others, nor leave it running
                log.exception("build %s could not go on after the restart", row["id"])
                await self._finish(row["id"], "failed", f"could not go on after the control plane restarted: {exc}", started=None)

    async def _resume(self, row: dict) -> None:
        build_id, project = row["id"], row["project"]
        try:
            request = build_request_from_dict(row["body"])
        except (FieldError, FieldErrors) as exc:
            await self._finish(build_id, "failed", f"could not go on after the control plane restarted: {exc}", started=None)
            return
        try:
            remote = await self.on_kubernetes(project)
        except Exception:  # the hub is not answering yet: the build was made where the platform's default engine runs
            remote = self.default_engine == KUBERNETES and self.kubernetes is not None
        if remote:
            self._remote.add(build_id)
            self._tasks[build_id] = asyncio.create_task(self._resume_remote(row, request))
            return
        work = self.root / "work" / str(build_id)
        external = row["external_id"]
        pid = int(external.split(":", 1)[0]) if external else None
        alive = pid is not None and proc_id(pid) == external
        recorded = (work / EXIT_FILE).exists() and not (work / INTERRUPTED_FILE).exists()
        since = row["started_at"].timestamp() if row["started_at"] else time.time()
        if row["status"] == "running" and pid is not None and (alive or recorded):
            await self._record_restart(build_id, "re-attached", "the control plane restarted while buildah ran; it was re-attached")
            self._tasks[build_id] = asyncio.create_task(
                self._run(build_id, project, lambda: self._reattach(build_id, request, pid, external if alive else None, since)))
            log.info("build %s re-attached to buildah (process %s)", build_id, pid)
            return
        # the Dockerfile as the build first read it (a path's text may have changed since)
        dockerfile = request.dockerfile
        if dockerfile is None:
            dockerfile = _read_text(work / "Dockerfile") or None
        loop = asyncio.get_running_loop()
        try:
            context, text = await loop.run_in_executor(None, self.resolve_inputs, request, row["creator"])
        except FieldError as exc:
            await self._finish(build_id, "failed", f"could not start again after the control plane restarted: {exc}", started=None)
            return
        dockerfile = dockerfile if dockerfile is not None else text
        if row["status"] == "running":
            await self._record_restart(build_id, "restarted", "the control plane restarted and buildah had stopped; "
                                                              "the build started again from the layer cache")
            self._log(build_id, "[cubelab] the control plane restarted; this build's buildah had stopped, so it starts again: "
                                "the steps it finished come from the layer cache\n")
            job = lambda: self._build(build_id, request, str(context), dockerfile, restarted=True)  # noqa: E731
        else:
            await self._update(build_id, external_id=None)
            job = lambda: self._build(build_id, request, str(context), dockerfile)  # noqa: E731
        self._tasks[build_id] = asyncio.create_task(self._run(build_id, project, job))
        log.info("build %s %s after the restart", build_id, "started again" if row["status"] == "running" else "queued again")

    async def _record_restart(self, build_id: int, how: str, reason: str) -> None:
        def store(session):
            row = session.get(BuildRow, build_id)
            if row is not None:
                row.restarts = [*(row.restarts or []), {"at": datetime.now(UTC).isoformat(), "how": how, "reason": reason}]

        await self.db.run(store)

    async def shutdown(self) -> None:
        """Builds on this machine stop (the platform is going down) and start
        again at the next start, or, with ``keep_on_shutdown``, go on to be
        re-attached; builds on Kubernetes go on in their cluster, followed
        again at the next start."""
        self._stopping = True
        waiting = []
        for build_id, task in list(self._tasks.items()):
            waiting.append(task)
            try:
                if build_id in self._remote:
                    task.cancel()  # stop following it; the Job runs on in the cluster and the next start follows it again
                    continue
                pid = self._pids.get(build_id)
                if self.keep_on_shutdown:
                    task.cancel()  # stop following it; buildah goes on and the next start re-attaches
                    continue
                if pid is not None:
                    mark = self.root / "work" / str(build_id) / INTERRUPTED_FILE
                    mark.touch()
                    await kill_group(pid, self.kill_grace)
            except Exception:
                log.exception("could not stop build %s at shutdown", build_id)
        if waiting:
            await asyncio.wait(waiting, timeout=30)
        if self.kubernetes is not None:
            await self.kubernetes.close()

    async def delete_project(self, project: str) -> None:
        """A deleted project's builds stop and go, with its storage and logs."""
        ids = await self.db.run(lambda s: list(s.scalars(select(BuildRow.id).where(BuildRow.project == project))))
        for build_id in ids:
            if build_id in self._tasks:
                await self.cancel(build_id)
        await self.db.run(lambda s: s.execute(delete(BuildRow).where(BuildRow.project == project)))
        for build_id in ids:
            self.log_path(build_id).unlink(missing_ok=True)
        await asyncio.get_running_loop().run_in_executor(None, shutil.rmtree, self.root / "storage" / project, True)

    def load(self, session, build_id: int) -> BuildRow:
        row = session.get(BuildRow, build_id)
        if row is None:
            raise NotFound.of("build", str(build_id))
        return row


async def _maybe_await(value):
    return await value if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future) else value


def _with_note(message: str, note: str) -> str:
    if not note:
        return message
    return f"{message}\n({note})" if "\n" in message else f"{message} ({note})"


def _build_cgroups(name: str) -> list:
    """The cgroups an earlier control plane made for a build (memory first)."""
    groups = []
    for controller in ("memory", "cpu"):
        parent = own_cgroup(controller)
        group = parent / name if parent is not None and name else None
        groups.append(group if group is not None and group.is_dir() else None)
    return groups


def _read_exit(path: Path) -> int | None:
    text = _read_text(path).strip()
    return int(text) if text.lstrip("-").isdigit() else None


def _drop_cgroups(groups) -> None:
    for group in groups:
        if group is not None:
            remove_cgroup(group)


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _read_output(path: Path) -> BuildOutput:
    """What the log's last buildah run said (a build started again after a
    restart has its earlier attempt above it)."""
    output = BuildOutput()
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith(BUILD_HEADER):
                    output = BuildOutput()
                output.feed(line)
    except OSError:
        pass
    return output
