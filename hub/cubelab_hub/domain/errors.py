"""Errors and diagnostics shared by every part of CubeLab.

The domain never raises bare ``ValueError`` for user input: it raises
:class:`FieldError`, which names the field, the bad part and the accepted forms,
so every caller (REST handler, spawn form, pipeline editor) can show the same
clear message.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from dataclasses import field as _field


class FieldError(ValueError):
    """A user-supplied value that cannot be accepted.

    ``field``: the name of the field as the user knows it (``volume_mount``,
    ``tasks.prep.resources.cpu``); ``message``: what is wrong, naming the bad part;
    ``accepted``: the accepted forms, in words or examples.
    """

    def __init__(self, field: str, message: str, accepted: str | None = None):
        self.field = field
        self.message = message
        self.accepted = accepted
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.field}: {self.message}"
        if self.accepted:
            text += f" (accepted: {self.accepted})"
        return text

    def to_dict(self) -> dict:
        return {"field": self.field, "message": str(self), "accepted": self.accepted}

    def prefixed(self, prefix: str) -> FieldError:
        """The same error with the field name nested under ``prefix``."""
        return FieldError(f"{prefix}.{self.field}" if prefix else self.field, self.message, self.accepted)


class FieldErrors(ValueError):
    """Several field errors found at once (nothing was written)."""

    def __init__(self, errors: list[FieldError]):
        self.errors = list(errors)
        super().__init__("; ".join(str(e) for e in self.errors))


class NotFound(LookupError):
    """Something the caller named does not exist, or is not theirs to see (both
    answer the same, so nobody learns what exists where they may not look).

    ``field``: the request field that named it, when it came from a body.
    """

    def __init__(self, message: str, field: str | None = None):
        self.message = message
        self.field = field
        super().__init__(message)

    @classmethod
    def of(cls, what: str, name: str, field: str | None = None) -> NotFound:
        return cls(f"{what} '{name}' does not exist", field)


class Conflict(Exception):
    """The request is well-formed but the current state refuses it (a name taken,
    a run still active, the last creator leaving). ``code`` is the short error
    code callers switch on; ``extra`` carries details such as diagnostics."""

    code = "conflict"

    def __init__(self, message: str, field: str | None = None, **extra):
        self.message = message
        self.field = field
        self.extra = extra
        super().__init__(message)


@dataclass(frozen=True)
class Diagnostic:
    """One finding of a validation pass, shaped for the pipeline editor's canvas
    (Elyra-style: validation returns a list instead of failing at the first).
    """

    severity: str  # "error" | "warning"
    message: str
    task: str | None = None
    edge: tuple[str, str] | None = None
    field: str | None = None
    extra: dict = _field(default_factory=dict)

    def to_dict(self) -> dict:
        data = asdict(self)
        if self.edge is not None:
            data["edge"] = list(self.edge)
        if not data["extra"]:
            data.pop("extra")
        return data
