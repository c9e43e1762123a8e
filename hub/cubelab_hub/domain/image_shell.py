"""An interactive shell in an image built (or imported) here: the WebSocket
version of :mod:`cubelab_hub.domain.image_debug`. The same working container,
account and limits; the program is the image's ``/bin/sh`` on a terminal.

What the client sends, as JSON text messages (one object each):

- ``{"type": "input", "data": "ls -l\\r"}``: keystrokes, given to the shell's terminal;
- ``{"type": "resize", "rows": 40, "cols": 120}``: the terminal's new size.

What it receives: the terminal's output as binary messages, then one text message
``{"type": "exit", "code": N | null, "reason": "..."}`` before the socket closes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from .errors import FieldError, FieldErrors
from .image_debug import DebugRequest, debug_request_from_dict
from .retries import parse_duration_seconds

SHELL = ("/bin/sh",)
MIN_SIZE, MAX_SIZE = 1, 1000
DEFAULT_ROWS, DEFAULT_COLS = 24, 80
SIZE_ACCEPTED = f"a whole number from {MIN_SIZE} to {MAX_SIZE}"
MESSAGE_ACCEPTED = ('a JSON object: {"type": "input", "data": "<text>"} or '
                    '{"type": "resize", "rows": <1-1000>, "cols": <1-1000>}')
MAX_INPUT = 65536
_FIELDS = ("project", "image", "cpu", "memory", "rows", "cols", "idle_timeout")


@dataclass(frozen=True)
class ShellRequest:
    debug: DebugRequest  # the command is the shell; its timeout is the session's idle timeout
    rows: int = DEFAULT_ROWS
    cols: int = DEFAULT_COLS

    @property
    def idle_timeout(self) -> int:
        return self.debug.timeout


@dataclass(frozen=True)
class Input:
    data: bytes


@dataclass(frozen=True)
class Resize:
    rows: int
    cols: int


def _size(value: Any, name: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_SIZE <= value <= MAX_SIZE:
        raise FieldError(name, f"'{str(value)[:20]}' is not a terminal size", SIZE_ACCEPTED)
    return value


def shell_request_from_dict(data: dict[str, Any], registry: str, max_idle: int) -> ShellRequest:
    """The query of a shell socket, every field checked at once. ``idle_timeout``
    (default and most: ``max_idle``, the platform's setting) may only be shorter."""
    errors: list[FieldError] = [FieldError(key, "is not a parameter of a shell", ", ".join(_FIELDS)) for key in data if key not in _FIELDS]
    rows = cols = idle = None
    for name in ("rows", "cols"):
        try:
            value = _size(data.get(name, DEFAULT_ROWS if name == "rows" else DEFAULT_COLS), name)
        except FieldError as exc:
            errors.append(exc)
        else:
            rows, cols = (value, cols) if name == "rows" else (rows, value)
    try:
        idle = parse_duration_seconds(data.get("idle_timeout", max_idle), "idle_timeout", 1, max_idle)
    except FieldError as exc:
        errors.append(exc)
    debug = {k: data[k] for k in ("project", "image", "cpu", "memory") if k in data}
    try:
        request = debug_request_from_dict({**debug, "command": list(SHELL)}, registry)
    except FieldErrors as exc:
        errors.extend(exc.errors)
    if errors:
        raise FieldErrors(errors)
    return ShellRequest(debug=replace(request, timeout=idle), rows=rows, cols=cols)


def parse_shell_message(text: str | bytes) -> Input | Resize:
    """One client message; a FieldError naming what is wrong (the socket says it and goes on)."""
    try:
        message = json.loads(text)
    except ValueError:
        raise FieldError("message", "is not JSON", MESSAGE_ACCEPTED) from None
    if not isinstance(message, dict):
        raise FieldError("message", "is not a JSON object", MESSAGE_ACCEPTED)
    kind = message.get("type")
    if kind == "input":
        data = message.get("data")
        if not isinstance(data, str) or len(data) > MAX_INPUT:
            raise FieldError("data", "is not a string of at most 64K characters", MESSAGE_ACCEPTED)
        return Input(data.encode("utf-8", errors="surrogateescape"))
    if kind == "resize":
        errors = []
        sizes = {}
        for name in ("rows", "cols"):
            try:
                sizes[name] = _size(message.get(name), name)
            except FieldError as exc:
                errors.append(exc)
        if errors:
            raise FieldErrors(errors)
        return Resize(sizes["rows"], sizes["cols"])
    raise FieldError("type", f"'{str(kind)[:20]}' is not a message type", MESSAGE_ACCEPTED)
