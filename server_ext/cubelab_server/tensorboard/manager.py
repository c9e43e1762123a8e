"""TensorBoard processes inside the user's Jupyter server.

Each board is TensorBoard on a Unix socket in the server's private runtime
directory (``cubelab_server.tensorboard.serve``), with a log directory that must
resolve (symlinks followed) inside the server's root directory. Nothing listens
on TCP: the browser reaches a board only through the Jupyter server's
authenticated proxy handler.
"""

from __future__ import annotations

import asyncio
import atexit
import ctypes
import os
import posixpath
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.simple_httpclient import SimpleAsyncHTTPClient

from ..unix_sockets import socket_path, unix_http_client

LOGDIR_ACCEPTED = "a directory inside your workspace, as a path relative to it, e.g. 'runs/exp1'"


class BoardError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None):
        self.status = status
        self.message = message
        self.field = field
        super().__init__(message)


@dataclass
class Board:
    id: str
    logdir: str  # as the user sees it: relative to the root directory
    path: Path  # resolved absolute directory
    socket: str  # the Unix socket it listens on
    url: str  # the browser's URL (through the Jupyter server)
    prefix: str  # TensorBoard's --path_prefix (the same path)
    proc: subprocess.Popen
    log_path: str  # its stderr, read back when it fails to start
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    client: SimpleAsyncHTTPClient | None = None

    def http_client(self) -> SimpleAsyncHTTPClient:
        """The client that reaches this board's socket (one per board)."""
        if self.client is None:
            self.client = unix_http_client(self.socket)
        return self.client

    def close_client(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "logdir": self.logdir,
            "url": self.url,
            "started": self.started.isoformat().replace("+00:00", "Z"),
            "running": self.proc.poll() is None,
        }


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    # Linux: the board gets SIGTERM if the Jupyter server dies without cleaning up.
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


MOUNT_LINKS_FILE = ".cubelab-links"  # written by cubelab_spawner.local: the project mounts it linked


def _mount_targets(root: Path) -> list[Path]:
    """Where the project mounts the local spawner linked into the workspace
    point (they are part of the workspace as the user sees it, as real mounts
    are on Kubernetes). Links the user made themselves are not listed."""
    record = root / MOUNT_LINKS_FILE
    try:
        names = [n for n in record.read_text().splitlines() if n and not n.startswith("/") and ".." not in n.split("/")]
    except OSError:
        return []
    targets = []
    for name in names:
        link = root / name
        if link.is_symlink():
            targets.append(link.resolve())
    return targets


def resolve_logdir(root_dir: str, logdir: object) -> tuple[str, Path]:
    """(normalised relative path, absolute path) or BoardError 400 naming ``logdir``."""
    if not isinstance(logdir, str) or not logdir.strip():
        raise BoardError(400, "logdir: is required", "logdir")
    text = logdir.strip()
    if "\0" in text:
        raise BoardError(400, "logdir: contains a NUL character", "logdir")
    root = Path(root_dir).resolve()
    candidate = Path(text)
    if candidate.is_absolute():
        # An absolute path is accepted only if it lies inside the root.
        target = candidate.resolve()
    else:
        target = (root / candidate).resolve()
    allowed = [root] + _mount_targets(root)
    if not any(target == base or base in target.parents for base in allowed):
        raise BoardError(403, f"logdir: '{text}' is outside your workspace ({LOGDIR_ACCEPTED})", "logdir")
    if not target.is_dir():
        raise BoardError(400, f"logdir: '{text}' is not a directory ({LOGDIR_ACCEPTED})", "logdir")
    if target == root or root in target.parents:
        rel = target.relative_to(root).as_posix() or "."
    else:  # through a project mount link: keep the path as the user sees it
        rel = posixpath.normpath(posixpath.relpath(text, str(root)) if candidate.is_absolute() else text)
    return rel, target


def _launch(argv: list[str], cwd: Path, log_path: str) -> subprocess.Popen:
    # its output goes to a file, not a pipe: a pipe nobody reads would stall a chatty board
    with open(log_path, "wb", opener=lambda p, flags: os.open(p, flags, 0o600)) as log_file:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            cwd=str(cwd),
        )


def _tail(path: str, limit: int = 2000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - limit))
            return f.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


class TensorBoardManager:
    def __init__(self, root_dir: str, base_url: str, log=None, start_timeout: float = 60):
        self.root_dir = root_dir
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.log = log
        self.start_timeout = start_timeout
        self.boards: dict[str, Board] = {}
        self._lock = asyncio.Lock()
        atexit.register(self.stop_all)

    def list(self) -> list[Board]:
        return sorted(self.boards.values(), key=lambda b: b.started)

    def get(self, board_id: str) -> Board:
        board = self.boards.get(board_id)
        if board is None:
            raise BoardError(404, f"no TensorBoard '{board_id}'")
        return board

    async def start(self, logdir: object) -> tuple[Board, bool]:
        """Start (or reuse) a board for ``logdir``; returns (board, created)."""
        rel, path = resolve_logdir(self.root_dir, logdir)
        async with self._lock:
            for board in self.boards.values():
                if board.path == path and board.proc.poll() is None:
                    return board, False
            board_id = secrets.token_hex(6)
            prefix = f"{self.base_url}cubelab/tensorboard/{board_id}"
            sock = socket_path(f"tensorboard-{board_id}.sock")
            log_path = sock[: -len(".sock")] + ".log"
            argv = [
                sys.executable, "-m", "cubelab_server.tensorboard.serve",
                "--socket", sock,
                "--logdir", str(path),
                "--path_prefix", prefix,
                "--reload_interval", "5",
                # the fast loader is a separate data server on a loopback TCP port
                # with no authentication; the in-process loader opens no port
                "--load_fast", "false",
            ]
            proc = _launch(argv, path, log_path)
            board = Board(board_id, rel, path, sock, prefix + "/", prefix, proc, log_path)
            self.boards[board_id] = board
        try:
            await self._wait_ready(board)
        except BoardError:
            await self.stop(board_id)
            raise
        if self.log:
            self.log.info("TensorBoard %s on unix socket %s for %s", board_id, board.socket, rel)
        return board, True

    async def _wait_ready(self, board: Board) -> None:
        client = board.http_client()
        deadline = time.monotonic() + self.start_timeout
        url = f"http://localhost{board.prefix}/data/logdir"
        while time.monotonic() < deadline:
            if board.proc.poll() is not None:
                raise BoardError(500, f"TensorBoard exited with status {board.proc.returncode}: {_tail(board.log_path)}")
            try:
                await client.fetch(HTTPRequest(url, request_timeout=2))
                return
            except (ConnectionError, OSError, HTTPClientError):
                await asyncio.sleep(0.2)
        raise BoardError(504, f"TensorBoard did not answer within {self.start_timeout:.0f}s")

    async def stop(self, board_id: str) -> Board:
        board = self.get(board_id)
        self.boards.pop(board_id, None)
        board.close_client()
        await asyncio.get_running_loop().run_in_executor(None, self._terminate, board)
        return board

    @staticmethod
    def _terminate(board: Board) -> None:
        proc = board.proc
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for leftover in (board.socket, board.log_path):
            try:
                os.unlink(leftover)
            except OSError:
                pass

    def stop_all(self) -> None:
        for board in list(self.boards.values()):
            self.boards.pop(board.id, None)
            self._terminate(board)
