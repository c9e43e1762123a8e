"""Unix sockets for the side apps a user's Jupyter server starts (TensorBoard, VS Code).

Side apps listen on Unix sockets in one private directory per Jupyter server
(mode 0700, owned by the server's user), never on a TCP port: only the server's
own authenticated handlers reach them, and no other account on the machine can
connect.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import stat
import tempfile
import threading

from tornado.netutil import Resolver
from tornado.simple_httpclient import SimpleAsyncHTTPClient

# sun_path holds 108 bytes; keep room for the socket's own name
_MAX_DIR_LENGTH = 80

_lock = threading.Lock()
_runtime_dir: str | None = None


def _private_base() -> str:
    """$XDG_RUNTIME_DIR when it is ours and private, else the temporary directory."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and len(xdg) < _MAX_DIR_LENGTH - 20:
        try:
            st = os.stat(xdg)
            if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077:
                return xdg
        except OSError:
            pass
    return tempfile.gettempdir()


def runtime_dir() -> str:
    """This server's private socket directory (0700), created on first use and
    removed when the server exits."""
    global _runtime_dir
    with _lock:
        if _runtime_dir is None or not os.path.isdir(_runtime_dir):
            # mkdtemp creates it 0700 and fails rather than reuse an existing path
            path = tempfile.mkdtemp(prefix="cubelab-apps-", dir=_private_base())
            os.chmod(path, 0o700)
            _runtime_dir = path
            atexit.register(shutil.rmtree, path, True)
        return _runtime_dir


def remove_stale_socket(path: str) -> None:
    """Remove a socket left by an app that died (binding would fail on it)."""
    try:
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
    except FileNotFoundError:
        pass


def socket_path(name: str) -> str:
    """A socket path in the runtime directory; a stale socket of that name is removed."""
    path = os.path.join(runtime_dir(), name)
    remove_stale_socket(path)
    return path


class UnixSocketResolver(Resolver):
    """Resolves every host to one Unix socket (tornado 6.3+ connects to AF_UNIX)."""

    def initialize(self, path: str) -> None:
        self.path = path

    async def resolve(self, host, port, family=socket.AF_UNSPEC):
        return [(socket.AF_UNIX, self.path)]


def unix_http_client(path: str) -> SimpleAsyncHTTPClient:
    """An HTTP client whose every request goes to the socket at ``path``
    (the URL's host and port are ignored). Close it when done."""
    return SimpleAsyncHTTPClient(force_instance=True, resolver=UnixSocketResolver(path=path))
