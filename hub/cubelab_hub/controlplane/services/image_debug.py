"""Run one command inside an image of a project's build storage, as the
requesting user, its output streamed (:mod:`cubelab_hub.domain.image_debug`).

- **Where**: a working container of the image (``buildah from --pull=never``)
  in the project's build storage: images built or imported here only.
- **As whom**: with Unix accounts (``cubelab up`` as root), the command runs as
  the requester's account (``buildah run --user <uid>:<gid>``), so it may read
  what the image lets everyone read and write only what it lets them write;
  without them, as the image's own user, and the output says so.
- **Limits**: buildah runs through the local engine's wrapper in a memory and a
  CPU cgroup of the request's limits (as builds do), with a timeout; the
  command is stopped when the client goes away.
- **One writer**: the project's build lock is held from ``from`` to ``rm``, so
  a build's clean-up (``buildah rm --all``) never removes a container in use;
  a debug command therefore waits for (and holds up) the project's builds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from ...domain.builds import BuildahPaths
from ...domain.errors import FieldError
from ...domain.image_debug import (
    IMAGE_REF_ACCEPTED,
    DebugRequest,
    buildah_from_argv,
    buildah_rm_argv,
    buildah_run_argv,
    debug_request_from_dict,
)
from ...engines.local.processes import Child, kill_group
from ...platform.cgroups import make_cpu_cgroup, make_memory_cgroup, oom_killed, remove_cgroup
from ...platform.unix import UnixAccounts

log = logging.getLogger("cubelab.builds")


class DebugSession:
    """A working container, ready to run the request's command once."""

    def __init__(self, debugger: ImageDebugger, request: DebugRequest, paths: BuildahPaths, container: str, work: Path,
                 ids: tuple[int, int] | None):
        self.debugger, self.request, self.paths, self.container, self.work, self.ids = debugger, request, paths, container, work, ids

    async def stream(self, write: Callable[[bytes], Awaitable[None]]) -> int | None:
        """Run the command, ``write`` its output as it comes; its exit code (None: stopped)."""
        builds = self.debugger.builds
        loop = asyncio.get_running_loop()
        uid, gid = self.ids if self.ids else (None, None)
        argv = buildah_run_argv(builds.buildah, self.paths, self.container, uid, gid, self.request.command)
        name = f"cubelab-debug-{self.container}"
        groups = [make_memory_cgroup(name, self.request.memory), make_cpu_cgroup(name, float(self.request.cpu))]
        if self.ids is None:
            await write(b"[cubelab] no Unix accounts on this platform: the command runs as the image's own user\n")
        read_fd, write_fd = os.pipe()
        try:
            child = Child.spawn(argv, self.work / "exit", write_fd, str(self.work), builds._env(self.work), [g for g in groups if g])
        except (OSError, subprocess.SubprocessError) as exc:
            os.close(read_fd)
            os.close(write_fd)
            await loop.run_in_executor(None, _drop, groups)
            await write(f"[cubelab] could not start buildah: {exc}\n".encode())
            return None
        os.close(write_fd)  # the child holds the only writing end: end of file when it (and its children) exit
        reader = asyncio.StreamReader(limit=2**20)
        transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", 0))
        deadline = loop.time() + self.request.timeout
        code: int | None = None
        why = ""
        try:
            while True:
                try:
                    chunk = await asyncio.wait_for(reader.read(64 * 1024), max(0.0, deadline - loop.time()))
                except TimeoutError:
                    why = f"stopped after the timeout of {self.request.to_dict()['timeout']}"
                    break
                if not chunk:
                    break
                await write(chunk)
        except BaseException:  # the client went away (a failed write, or the handler cancelled this): stop the command too
            why = "stopped: the client went away"
            raise
        finally:
            if why:
                await kill_group(child.pid, builds.kill_grace)
            transport.close()
            code = await child.wait()
            oom = any(g is not None and oom_killed(g) for g in groups[:1])
            await loop.run_in_executor(None, _drop, groups)
        if oom:
            why = f"killed at its memory limit of {self.request.to_dict()['memory']}"
        await write((f"[cubelab] {why}\n" if why else f"[cubelab] exited with code {code}\n").encode())
        return None if why else code


class ImageDebugger:
    def __init__(self, builds, unix: UnixAccounts | None | str = "environment"):
        """``builds``: the :class:`~.builds.BuildManager` (storage, lock, buildah, environment)."""
        self.builds = builds
        if unix == "environment":
            unix = UnixAccounts() if os.environ.get("CUBELAB_UNIX_ENABLED") == "1" else None
        self.unix = unix if unix is not None and unix.enabled else None

    def parse(self, body) -> DebugRequest:
        return debug_request_from_dict(body, self.builds.registry)

    async def _ids(self, user: str, project: str) -> tuple[int, int] | None:
        if self.unix is None:
            return None
        loop = asyncio.get_running_loop()
        entry = await loop.run_in_executor(None, self.unix.ensure_account, user, Path(self.builds.workspace_for(user)))
        # the account's own group: an admin outside the project is not made a member of its group
        return entry.pw_uid, entry.pw_gid

    @contextlib.asynccontextmanager
    async def open(self, request: DebugRequest, actor: str) -> AsyncIterator[DebugSession]:
        """A working container of the image, removed on leaving; a FieldError
        (before anything is streamed) when the image is not in the project's storage."""
        builds = self.builds
        loop = asyncio.get_running_loop()
        ids = await self._ids(actor, request.project)
        container = f"debug-{os.getpid()}-{time.monotonic_ns()}"
        work = builds.root / "work" / container
        storage = builds.root / "storage" / request.project
        paths = BuildahPaths(root=str(storage / "root"), runroot=str(storage / "run"), dockerfile=str(work / "unused"), context="",
                             iidfile=str(work / "unused"))
        await loop.run_in_executor(None, _private_folder, work)
        try:
            async with builds._lock(request.project):
                made = await _run(buildah_from_argv(builds.buildah, paths, request.image, container), builds._env(work))
                if made.returncode != 0:
                    raise FieldError("image", f"'{request.image}' is not in project '{request.project}''s build storage "
                                     f"({made.stderr.strip()[-200:]})", IMAGE_REF_ACCEPTED)
                try:
                    yield DebugSession(self, request, paths, container, work, ids)
                finally:
                    removed = await _run(buildah_rm_argv(builds.buildah, paths, container), builds._env(work))
                    if removed.returncode != 0:
                        log.warning("could not remove debug container %s: %s", container, removed.stderr.strip()[-200:])
        finally:
            await loop.run_in_executor(None, shutil.rmtree, work, True)


async def _run(argv: list[str], env: dict) -> subprocess.CompletedProcess:
    proc = await asyncio.create_subprocess_exec(*argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
    return subprocess.CompletedProcess(argv, proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


def _private_folder(work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    os.chmod(work, 0o700)


def _drop(groups) -> None:
    for group in groups:
        if group is not None:
            remove_cgroup(group)
