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
- **Cancel** stops buildah's process group (SIGTERM, then SIGKILL after
  ``kill_grace``), removes its working containers; nothing is published
  unless the build succeeded (:meth:`BuildManager.publish`).
- **Log**: buildah's output, line by line, in ``<builds_dir>/logs/<id>.log``
  (the platform's, 0600), read by the REST API while it grows.
- **On Kubernetes**: a project whose work runs there (its ``engine`` setting,
  as for services) has its builds run by the
  :class:`~.build_backends.KubernetesBuildBackend` instead; rows, logs and
  the API stay here.
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
from ...domain.errors import Conflict, FieldError, NotFound
from ...domain.paging import ListFilters, decode_cursor, page_from
from ...engines.local.processes import Child, kill_group, proc_id
from ...platform.cgroups import make_cpu_cgroup, make_memory_cgroup, oom_killed, remove_cgroup
from ..models.builds import BuildRow
from ..models.pipelines import aware
from .build_backends import KubernetesBuildBackend, PreparedBuild
from .lists import _key_value, _keyset, _name_contains, _time_range, _visible
from .service_backends import KUBERNETES

log = logging.getLogger("cubelab.builds")

BUILD_KEY = (datetime, int)
# what buildah needs of the control plane's environment; nothing else of it (tokens) reaches the build
_ENV_KEYS = ("PATH", "LANG", "LC_ALL", "TZ")


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
                 project_settings: Callable[[str], Any] | None = None, default_engine: str = "local", **kwargs):
        """``workspace_for``: user -> their workspace folder; ``archives``: the
        references of images admins imported from OCI archives (offered when a
        base image is out of reach; may be a coroutine); ``push_to``: the platform's local registry
        (host:port on loopback), where succeeded builds are pushed with
        ``credential(project)``, the platform's service credential of the project;
        ``kubernetes``: where the builds of projects on Kubernetes run, chosen
        by ``project_settings(project)`` (may be a coroutine) and ``default_engine``."""
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
        self._children: dict[int, Child] = {}
        self._cancelled: set[int] = set()
        self.kubernetes = kubernetes
        self.project_settings = project_settings
        self.default_engine = default_engine
        self._remote: set[int] = set()

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
            self._tasks[build_id] = asyncio.create_task(self._run(build_id, request, str(context), dockerfile))
        return build_id

    # ------------------------------------------------------------ rows

    def view(self, row: BuildRow) -> dict:
        data = dict(row.body)
        data.update(id=row.id, creator=row.creator, status=row.status, message=row.message, image_id=row.image_id, digest=row.digest,
                    size=row.size, cache=row.cache, references=list(row.refs or []), duration=row.duration,
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

    async def _run(self, build_id: int, request: BuildRequest, context: str, dockerfile: str) -> None:
        path = self.log_path(build_id)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        try:
            async with self._lock(request.project):
                if build_id in self._cancelled:
                    await self._finish(build_id, "cancelled", "cancelled before it started", started=None)
                    return
                await self._build(build_id, request, context, dockerfile)
        except Exception as exc:  # a bug must not leave the build "running" forever
            log.exception("build %s failed", build_id)
            await self._finish(build_id, "failed", f"internal error: {exc}", started=None)
        finally:
            self._tasks.pop(build_id, None)
            self._children.pop(build_id, None)
            self._cancelled.discard(build_id)

    async def _run_remote(self, build_id: int, request: BuildRequest, prepared: PreparedBuild, dockerfile: str) -> None:
        path = self.log_path(build_id)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        started = time.monotonic()
        try:
            status, message, digest = await self.kubernetes.run(
                build_id, request, prepared, dockerfile, path,
                on_started=lambda: self._update(build_id, status="running", started_at=datetime.now(UTC)))
            self._log(build_id, f"[cubelab] {message}\n")
            await self._finish(build_id, status, message, started=started, digest=digest)
        except Exception as exc:  # a bug or an unreachable cluster must not leave the build "running" forever
            log.exception("build %s failed", build_id)
            await self._finish(build_id, "failed", f"could not run the build on Kubernetes: {exc}", started=started)
        finally:
            self._tasks.pop(build_id, None)
            self._remote.discard(build_id)
            self._cancelled.discard(build_id)

    async def _build(self, build_id: int, request: BuildRequest, context: str, dockerfile: str) -> None:
        loop = asyncio.get_running_loop()
        paths = self.paths(request.project, build_id, context)
        work = Path(paths.dockerfile).parent
        work.mkdir(parents=True, exist_ok=True)
        os.chmod(work, 0o700)
        Path(paths.dockerfile).write_text(dockerfile, encoding="utf-8")
        for folder in (paths.root, paths.runroot):
            Path(folder).mkdir(parents=True, exist_ok=True)
        name = f"cubelab-build-{build_id}-{int(time.time() * 1000)}"
        groups = [make_memory_cgroup(name, request.memory), make_cpu_cgroup(name, float(request.cpu))]
        argv = buildah_build_argv(request, self.registry, paths, self.buildah)
        started = time.monotonic()
        with open(self.log_path(build_id), "ab") as out:
            out.write(f"[cubelab] building {', '.join(request.references(self.registry))} (cpu {request.cpu}, memory limit "
                      f"{request.to_dict()['memory']}, timeout {request.to_dict()['timeout']})\n".encode())
            out.flush()
            try:
                child = Child.spawn(argv, work / "exit", out, str(work), self._env(work), [g for g in groups if g])
            except (OSError, subprocess.SubprocessError) as exc:
                await loop.run_in_executor(None, _drop_cgroups, groups)
                await self._finish(build_id, "failed", f"could not start buildah: {exc}", started=started)
                return
        self._children[build_id] = child
        await self._update(build_id, status="running", started_at=datetime.now(UTC), external_id=proc_id(child.pid))
        timed_out = False
        try:
            code = await asyncio.wait_for(child.wait(), request.timeout)
        except TimeoutError:
            timed_out = True
            await kill_group(child.pid, self.kill_grace)
            code = await child.wait()
        oom = any(g is not None and oom_killed(g) for g in groups[:1])
        await loop.run_in_executor(None, _drop_cgroups, groups)
        output = await loop.run_in_executor(None, _read_output, self.log_path(build_id))
        summary = output.cache_summary()
        if code == 0 and build_id not in self._cancelled:
            image_id = (await loop.run_in_executor(None, _read_text, Path(paths.iidfile))).strip() or None
            digest, size = await loop.run_in_executor(None, self._inspect, paths, image_id) if image_id else (None, None)
            pushed, message, pushed_digest = await self.publish(build_id, request, paths, image_id)
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
            else:
                status, message = "failed", f"buildah exited with code {code}; see the log"
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
        if build_id in self._remote:
            await self.kubernetes.cancel(build_id)
        child = self._children.get(build_id)
        if child is not None:
            await kill_group(child.pid, self.kill_grace)
        await asyncio.wait({task}, timeout=30)

    async def start(self) -> None:
        """Builds a stopped control plane left running or queued are failed, their buildah stopped."""

        def leftovers(session) -> list[tuple[int, str | None]]:
            rows = list(session.scalars(select(BuildRow).where(BuildRow.status.in_(("queued", "running")))))
            found = [(r.id, r.external_id) for r in rows]
            for r in rows:
                r.status, r.message, r.external_id = "failed", "the control plane stopped during the build", None
                r.finished_at = datetime.now(UTC)
            return found

        for build_id, external in await self.db.run(leftovers):
            if external:
                pid = int(external.split(":", 1)[0])
                if proc_id(pid) == external:
                    await kill_group(pid, self.kill_grace)
            log.info("build %s marked failed: the control plane stopped during it", build_id)

    async def shutdown(self) -> None:
        for build_id in list(self._tasks):
            try:
                await self.cancel(build_id)
            except Exception:
                log.exception("could not cancel build %s at shutdown", build_id)
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
    output = BuildOutput()
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                output.feed(line)
    except OSError:
        pass
    return output
