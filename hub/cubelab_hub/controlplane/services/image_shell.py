"""An interactive shell in a working container of an image
(:mod:`cubelab_hub.domain.image_shell`), run by :class:`~.image_debug.ImageDebugger`'s
session: the same container, account, cgroups and build-queue hold as a debug command.

- buildah's own stdin/stdout/stderr are a pseudo-terminal made here, so
  ``buildah run --terminal`` sizes the shell's terminal from it; buildah relays bytes
  between the two terminals.
- buildah passes no size change on (chroot isolation forwards no SIGWINCH), so a resize
  sets the size of the terminal the shell holds too: root opens it through
  ``/proc/<pid>/fd/0`` of buildah's descendants, and the kernel signals the shell.
- The session ends when the shell exits, after ``idle_timeout`` without a byte either
  way, after ``max_lifetime``, or when :meth:`ShellProcess.stop` is called (the socket
  closed); the working container is removed by the session's context manager.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import stat
import struct
import subprocess
import termios
from collections.abc import Awaitable, Callable

import psutil

from ...domain.image_debug import buildah_run_argv
from ...domain.image_shell import SHELL, ShellRequest
from ...domain.retries import format_duration
from ...engines.local.processes import SH, Child, kill_group
from ...platform.cgroups import make_cpu_cgroup, make_memory_cgroup, oom_killed
from .image_debug import DebugSession, _drop

# waits for one line on stdin, written once the wrapper is in its cgroups (as the local engine's gate),
# then runs buildah on the terminal named by $0 (a /dev/pts path made here, never user input)
_GATE = 'read -r _ || exit 125; exec "$@" <"$0" >"$0" 2>&1'

# Linux's Unix98 pseudo-terminal slaves (/dev/pts/N): majors 136 to 143
_PTY_SLAVE_MAJORS = (136, 143)


def _set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class ShellProcess:
    def __init__(self, session: DebugSession, request: ShellRequest, max_lifetime: float):
        self.session, self.request, self.max_lifetime = session, request, max_lifetime
        self.code: int | None = None
        self.reason = ""
        self._stop = asyncio.Event()
        self._master = -1
        self._ours = ""
        self._child: Child | None = None

    async def run(self, send: Callable[[bytes], Awaitable[None]]) -> None:
        """Start the shell and relay its output to ``send`` until it ends; sets ``code`` and ``reason``."""
        session = self.session
        builds = session.debugger.builds
        loop = asyncio.get_running_loop()
        uid, gid = session.ids if session.ids else (None, None)
        argv = buildah_run_argv(builds.buildah, session.paths, session.container, uid, gid, SHELL, terminal=True)
        name = f"cubelab-shell-{session.container}"
        groups = [make_memory_cgroup(name, session.request.memory), make_cpu_cgroup(name, float(session.request.cpu))]
        if session.ids is None:
            await send(b"[cubelab] no Unix accounts on this platform: the shell runs as the image's own user\r\n")
        master, slave = pty.openpty()
        self._master, self._ours = master, os.ttyname(slave)
        _set_size(master, self.request.rows, self.request.cols)
        try:
            # the wrapper opens the terminal itself once in its cgroups (it becomes its controlling terminal)
            popen = subprocess.Popen([SH, "-c", _GATE, self._ours, *argv], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, cwd=str(session.work), env=builds._env(session.work),
                                     start_new_session=True, close_fds=True)
        except OSError as exc:
            os.close(master)
            os.close(slave)
            self._master = -1
            await loop.run_in_executor(None, _drop, groups)
            self.reason = f"could not start buildah: {exc}"
            return
        try:
            for group in groups:
                if group is not None:
                    with open(group / "cgroup.procs", "w") as fh:
                        fh.write(str(popen.pid))
            popen.stdin.write(b"go\n")
            popen.stdin.close()
        except OSError:
            pass  # it is gone already: its exit says why
        self._child = Child(popen)
        os.set_blocking(master, False)
        output: asyncio.Queue[bytes] = asyncio.Queue()

        def readable() -> None:
            try:
                chunk = os.read(master, 65536)
            except (BlockingIOError, OSError):
                return
            if chunk:
                output.put_nowait(chunk)

        loop.add_reader(master, readable)
        ends = loop.time() + self.max_lifetime
        idle = self.request.idle_timeout
        self._last = loop.time()
        stopped = asyncio.ensure_future(self._stop.wait())
        finished = asyncio.ensure_future(self._child.wait())
        exited = False
        try:
            while True:
                wait = min(ends, self._last + idle) - loop.time()
                getting = asyncio.ensure_future(output.get())
                done, _ = await asyncio.wait({getting, stopped, finished}, timeout=max(0.0, wait), return_when=asyncio.FIRST_COMPLETED)
                if getting in done:
                    self._last = loop.time()
                    await send(getting.result())
                    continue
                getting.cancel()
                if finished in done:  # the shell exited: what it wrote last is still in the terminal
                    exited = True
                    loop.remove_reader(master)
                    while not output.empty():
                        await send(output.get_nowait())
                    while chunk := _read_now(master):
                        await send(chunk)
                    break
                if stopped in done:
                    self.reason = self.reason or "closed"
                elif loop.time() >= ends:
                    self.reason = f"ended after the maximum lifetime of {_seconds(self.max_lifetime)}"
                else:
                    self.reason = f"ended after {_seconds(idle)} without input or output"
                break
        finally:
            stopped.cancel()
            loop.remove_reader(master)
            if not exited:  # stopped, timed out, or the sender failed: the shell goes too
                await kill_group(popen.pid, builds.kill_grace)
            self.code = await self._child.wait()
            os.close(master)
            os.close(slave)
            self._master = -1
            oom = groups[0] is not None and oom_killed(groups[0])
            await loop.run_in_executor(None, _drop, groups)
        if oom:
            self.reason = f"killed at its memory limit of {session.request.to_dict()['memory']}"

    async def write(self, data: bytes) -> None:
        """Keystrokes for the shell; waits while its terminal's buffer is full (nothing is dropped)."""
        view = memoryview(data)
        while view and self._master >= 0:
            try:
                view = view[os.write(self._master, view):]
            except BlockingIOError:
                await asyncio.sleep(0.02)
            except OSError:
                return
        self._last = asyncio.get_running_loop().time()

    def resize(self, rows: int, cols: int) -> None:
        if self._master < 0 or self._child is None:
            return
        _set_size(self._master, rows, cols)
        try:
            processes = psutil.Process(self._child.pid).children(recursive=True)
        except psutil.Error:
            return
        for process in processes:
            try:
                terminal = os.readlink(f"/proc/{process.pid}/fd/0")
            except OSError:
                continue
            if terminal.startswith("/dev/pts/") and terminal != self._ours:
                # the shell's own terminal (buildah's inner one): setting its size signals the shell.
                # Only a pseudo-terminal is opened (root opening whatever a user's process holds could have effects)
                path = f"/proc/{process.pid}/fd/0"
                try:
                    st = os.stat(path)
                    if not stat.S_ISCHR(st.st_mode) or not _PTY_SLAVE_MAJORS[0] <= os.major(st.st_rdev) <= _PTY_SLAVE_MAJORS[1]:
                        continue
                    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
                except OSError:
                    continue
                try:
                    _set_size(fd, rows, cols)
                finally:
                    os.close(fd)
                return

    def stop(self, reason: str = "closed") -> None:
        self.reason = self.reason or reason
        self._stop.set()


def _read_now(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # nothing more (EAGAIN) or nobody on the other side (EIO)
        return b""


def _seconds(value: float) -> str:
    return format_duration(int(value))
