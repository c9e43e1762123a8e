"""How long a failed task waits before its next attempt (a task's ``retry_backoff``).

The wait grows geometrically: ``delay`` before the 2nd attempt, ``delay * factor``
before the 3rd, and so on, never more than ``max_delay``. The same numbers drive
the local engine's retry loop and Argo's ``retryStrategy.backoff`` (``duration``,
``factor``, ``cap``). Pure Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import FieldError, FieldErrors

DURATION_ACCEPTED = "seconds as a whole number, or text such as '5s', '2m', '1h', '1m30s'"
MIN_DELAY, MAX_DELAY = 1, 3600  # a retry storm below, a task stuck for hours above
MAX_CAP = 24 * 3600
MAX_FACTOR = 10
_DURATION_RE = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


@dataclass(frozen=True)
class RetryBackoff:
    delay: int = 5  # seconds before the 2nd attempt
    factor: int = 2  # each later wait is the previous one times this
    max_delay: int = 300  # no wait is longer

    def wait_before(self, attempt: int) -> int:
        """Seconds to wait before attempt number ``attempt`` (2 for the first retry)."""
        if attempt < 2:
            return 0
        wait = self.delay
        for _ in range(attempt - 2):
            wait *= self.factor
            if wait >= self.max_delay:
                break
        return min(wait, self.max_delay)

    def to_dict(self) -> dict:
        return {"delay": format_duration(self.delay), "factor": self.factor, "max_delay": format_duration(self.max_delay)}


DEFAULT_BACKOFF = RetryBackoff()
_KEYS = ("delay", "factor", "max_delay")


def format_duration(seconds: int) -> str:
    """'5s', '2m', '1h', '90s': a form Go's ``time.ParseDuration`` (Argo) reads too."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_duration_seconds(value: Any, field_name: str, minimum: int, maximum: int) -> int:
    limits = f"from {format_duration(minimum)} to {format_duration(maximum)}; {DURATION_ACCEPTED}"
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise FieldError(field_name, f"{value!r} is not a duration", limits)
    if isinstance(value, int):
        seconds = value
    else:
        text = value.strip().lower()
        match = _DURATION_RE.fullmatch(text)
        if text.isdigit():
            seconds = int(text)
        elif text and match and any(match.groups()):
            h, m, s = (int(g or 0) for g in match.groups())
            seconds = h * 3600 + m * 60 + s
        else:
            raise FieldError(field_name, f"'{value}' is not a duration", limits)
    if not minimum <= seconds <= maximum:
        raise FieldError(field_name, f"'{value}' is outside {format_duration(minimum)}..{format_duration(maximum)}", limits)
    return seconds


def retry_backoff_from_dict(data: Any, field_prefix: str) -> RetryBackoff | None:
    """Parse a task's ``retry_backoff``; ``None`` (absent) means the default. Every
    problem is reported, each naming its field (:class:`FieldErrors`)."""
    if data is None:
        return None
    shape = '{"delay": "5s", "factor": 2, "max_delay": "5m"}'
    if not isinstance(data, dict):
        raise FieldErrors([FieldError(field_prefix, "must be an object", shape)])
    errors: list[FieldError] = []
    for key in data:
        if key not in _KEYS:
            errors.append(FieldError(f"{field_prefix}.{key}", "is not a back-off setting", ", ".join(_KEYS) + f", e.g. {shape}"))
    values: dict[str, int] = {}
    try:
        values["delay"] = parse_duration_seconds(data.get("delay", DEFAULT_BACKOFF.delay), f"{field_prefix}.delay", MIN_DELAY, MAX_DELAY)
    except FieldError as exc:
        errors.append(exc)
    factor = data.get("factor", DEFAULT_BACKOFF.factor)
    if isinstance(factor, bool) or not isinstance(factor, int) or not 1 <= factor <= MAX_FACTOR:
        errors.append(FieldError(f"{field_prefix}.factor", f"{factor!r} is not a whole number from 1 to {MAX_FACTOR}",
                                 f"a whole number from 1 (the same wait each time) to {MAX_FACTOR}"))
    else:
        values["factor"] = factor
    try:
        values["max_delay"] = parse_duration_seconds(data.get("max_delay", DEFAULT_BACKOFF.max_delay), f"{field_prefix}.max_delay", MIN_DELAY, MAX_CAP)
    except FieldError as exc:
        errors.append(exc)
    if not errors and values["max_delay"] < values["delay"]:
        errors.append(FieldError(f"{field_prefix}.max_delay", f"{format_duration(values['max_delay'])} is shorter than the delay "
                                 f"{format_duration(values['delay'])}", "a duration at least as long as delay"))
    if errors:
        raise FieldErrors(errors)
    return RetryBackoff(**values)
