"""Usage over time: CPU and GPU hours per day, per project or per user.

Work that held resources (a pipeline task, a trial, a notebook server, a
service's replica) is an interval with the cores and cards it held. It is cut
into UTC days when it ends (:func:`split_by_day`), so the database sums whole
days with one aggregate query over an indexed day range, and the intervals
still open are cut the same way when they are read.

Pure Python: no Jupyter, tornado or SQLAlchemy imports.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from .errors import FieldError

DEFAULT_DAYS = 30
MAX_DAYS = 90
DAYS_ACCEPTED = f"a whole number of days from 1 to {MAX_DAYS} (default {DEFAULT_DAYS})"
BY = ("project", "user")
# a chart of hundreds of series says nothing, and an answer with one per user grows
# with the users: the largest `top` series, the rest summed into `others`
DEFAULT_TOP = 20
MAX_TOP = 100
TOP_ACCEPTED = f"a whole number from 1 to {MAX_TOP} (default {DEFAULT_TOP})"
KINDS = ("task", "trial", "server", "service")


def parse_days(value: str | None) -> int:
    """``?days=`` -> 1..MAX_DAYS; absent or empty is the default."""
    if value is None or value == "":
        return DEFAULT_DAYS
    text = str(value)
    if not text.isascii() or not text.isdigit() or len(text) > 3 or not 1 <= int(text) <= MAX_DAYS:
        raise FieldError("days", f"'{text[:20]}' is not a whole number from 1 to {MAX_DAYS}", DAYS_ACCEPTED)
    return int(text)


def parse_by(value: str | None) -> str:
    if value is None or value == "":
        return "project"
    if value not in BY:
        raise FieldError("by", f"'{value[:40]}' is not a grouping", "project or user")
    return value


def parse_top(value: str | None) -> int:
    """``?top=`` -> 1..MAX_TOP; absent or empty is the default."""
    if value is None or value == "":
        return DEFAULT_TOP
    text = str(value)
    if not text.isascii() or not text.isdigit() or len(text) > 3 or not 1 <= int(text) <= MAX_TOP:
        raise FieldError("top", f"'{text[:20]}' is not a whole number from 1 to {MAX_TOP}", TOP_ACCEPTED)
    return int(text)


def keep_top(result: list[dict], top: int) -> tuple[list[dict], dict | None]:
    """The ``top`` series with the most CPU and then GPU hours over the period
    (ties by key), in key order, and the others summed into one
    (``{"keys": n, "cpu_hours": [...], "gpu_hours": [...]}``; None when none is left out)."""
    if len(result) <= top:
        return result, None
    ranked = sorted(result, key=lambda s: (-sum(s["cpu_hours"]), -sum(s["gpu_hours"]), s["key"]))
    kept, rest = ranked[:top], ranked[top:]
    width = len(result[0]["cpu_hours"])
    others = {"keys": len(rest),
              "cpu_hours": [round(sum(s["cpu_hours"][i] for s in rest), 6) for i in range(width)],
              "gpu_hours": [round(sum(s["gpu_hours"][i] for s in rest), 6) for i in range(width)]}
    return sorted(kept, key=lambda s: s["key"]), others


def day_keys(today: date, days: int) -> list[str]:
    """The last ``days`` days, oldest first, ending with ``today`` (YYYY-MM-DD)."""
    return [(today - timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def split_by_day(start: datetime, end: datetime) -> list[tuple[str, float]]:
    """The seconds of [start, end) in each UTC day it touches, oldest first;
    nothing when it is empty or reversed."""
    start, end = _utc(start), _utc(end)
    pieces: list[tuple[str, float]] = []
    cursor = start
    while cursor < end:
        midnight = datetime.combine(cursor.date() + timedelta(days=1), time(), tzinfo=UTC)
        stop = min(midnight, end)
        pieces.append((cursor.date().isoformat(), (stop - cursor).total_seconds()))
        cursor = stop
    return pieces


@dataclass(frozen=True)
class Interval:
    """Resources held over a time: ``end`` None while the work still runs."""

    kind: str
    project: str
    user: str
    cpu: float
    gpu: float
    start: datetime
    end: datetime | None = None


@dataclass(frozen=True)
class DayPiece:
    """One interval's share of one day, in core-seconds and card-seconds."""

    day: str
    kind: str
    project: str
    user: str
    cpu_seconds: float
    gpu_seconds: float


def pieces_of(interval: Interval, now: datetime) -> list[DayPiece]:
    """An interval cut into days (an open one up to ``now``)."""
    end = interval.end or now
    return [DayPiece(day, interval.kind, interval.project, interval.user, interval.cpu * seconds, interval.gpu * seconds)
            for day, seconds in split_by_day(interval.start, end) if seconds > 0]


def series(days: list[str], totals: Mapping[tuple[str, str], tuple[float, float]], extra: Iterable[DayPiece] = (),
           by: str = "project") -> list[dict]:
    """``totals``: (key, day) -> (core-seconds, card-seconds), summed by the
    database; ``extra``: pieces of work still running. One series per key
    (sorted), hours per day in ``days`` order, rounded to a millionth of an hour."""
    sums: dict[tuple[str, str], list[float]] = {k: list(v) for k, v in totals.items()}
    for piece in extra:
        key = (piece.project if by == "project" else piece.user, piece.day)
        current = sums.setdefault(key, [0.0, 0.0])
        current[0] += piece.cpu_seconds
        current[1] += piece.gpu_seconds
    wanted = set(days)
    keys = sorted({key for key, day in sums if day in wanted})
    result = []
    for key in keys:
        cpu = [round(sums.get((key, day), (0.0, 0.0))[0] / 3600, 6) for day in days]
        gpu = [round(sums.get((key, day), (0.0, 0.0))[1] / 3600, 6) for day in days]
        result.append({"key": key, "cpu_hours": cpu, "gpu_hours": gpu})
    return result
