"""When a notebook server expires, and what renewing does.

A server lives for a period after it started or was last renewed, whichever is
later: ``expires_at = max(started, renewed_at) + period``. The period is the
admin's: a default (3 days, as Cube Studio), per kind, and for GPU servers
(scarce cards go back sooner). A renewal made before the server was restarted
does not carry over: the new start is later.

Pure Python: the control plane applies it to the hub's server list, and the
spawner reads the same settings, so both depend on the domain, not on each other.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .errors import FieldError
from .formats import parse_gpu

DURATION_ACCEPTED = "a duration such as '3d', '12h', '90m', '1d12h' or a number of seconds; '0' or 'never' for no expiry"
_DURATION_RE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: Any, field_name: str) -> timedelta | None:
    """'3d' -> 3 days; '0' / 'never' -> None (never expires)."""
    if isinstance(text, bool):
        raise FieldError(field_name, f"'{text}' is not a duration", DURATION_ACCEPTED)
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        value = str(text).strip().lower()
        if value in ("never", "0"):
            return None
        if re.fullmatch(r"\d+(\.\d+)?", value):
            seconds = float(value)
        else:
            match = _DURATION_RE.fullmatch(value)
            if not value or not match or not any(match.groups()):
                raise FieldError(field_name, f"'{text}' is not a duration", DURATION_ACCEPTED)
            d, h, m, s = (int(g or 0) for g in match.groups())
            seconds = d * 86400 + h * 3600 + m * 60 + s
    if seconds < 0:
        raise FieldError(field_name, f"'{text}' is negative", DURATION_ACCEPTED)
    if seconds == 0:
        return None
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class ExpiryPolicy:
    default: timedelta | None = timedelta(days=3)
    per_kind: Mapping[str, timedelta | None] = field(default_factory=dict)
    # applies to servers with at least one GPU, over the kind's period
    gpu: timedelta | None = None
    gpu_set: bool = False

    @classmethod
    def from_config(cls, default: Any = "3d", per_kind: Mapping[str, Any] | None = None, gpu: Any = None) -> ExpiryPolicy:
        return cls(
            default=parse_duration(default, "expiry.default"),
            per_kind={k: parse_duration(v, f"expiry.per_kind.{k}") for k, v in (per_kind or {}).items()},
            gpu=parse_duration(gpu, "expiry.gpu") if gpu not in (None, "") else None,
            gpu_set=gpu not in (None, ""),
        )

    def period_for(self, options: Mapping[str, Any] | None) -> timedelta | None:
        options = options or {}
        if self.gpu_set:
            try:
                has_gpu = parse_gpu(str(options.get("gpu", "0"))).count > 0
            except FieldError:
                has_gpu = False
            if has_gpu:
                return self.gpu
        kind = options.get("kind")
        if kind in self.per_kind:
            return self.per_kind[kind]
        return self.default

    def expires_at(self, started: datetime, renewed_at: datetime | None, options: Mapping[str, Any] | None) -> datetime | None:
        """None: this server never expires."""
        period = self.period_for(options)
        if period is None:
            return None
        base = started if renewed_at is None or renewed_at < started else renewed_at
        return base + period

    def is_expired(self, now: datetime, started: datetime, renewed_at: datetime | None, options: Mapping[str, Any] | None) -> bool:
        expires = self.expires_at(started, renewed_at, options)
        return expires is not None and now >= expires
