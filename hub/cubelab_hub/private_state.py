"""Files of the platform's private state: keys made once, kept in the data
directory, readable by the platform's account only (0600).

A file is written whole under a temporary name and linked into place, so a
reader never sees half of one, and two processes making it at once (``cubelab
up`` and the control plane) keep the first one's.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path


def load_or_create(path: str | os.PathLike, make: Callable[[], bytes]) -> bytes:
    """The bytes in ``path``; ``make()``'s, written there (0600), when there are none."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(make())
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # fails if another process made it meanwhile: theirs is kept
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)
    return path.read_bytes()


def load_or_create_key(path: str | os.PathLike, size: int = 32) -> bytes:
    """``size`` random bytes kept in ``path``."""
    key = load_or_create(path, lambda: secrets.token_bytes(size))
    if len(key) != size:
        raise RuntimeError(f"{path} holds {len(key)} bytes, not a {size}-byte key; remove it to make a new one "
                           "(what it protected can then no longer be read)")
    return key
