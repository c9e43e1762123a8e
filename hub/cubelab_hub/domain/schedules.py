"""Pipeline schedules: cron ticks, backfill, expiry, and the start decision.

Pure functions over an explicit ``now`` so tests drive the clock. Cron parsing is
croniter's (5 fields with ranges, lists and steps), never a home-made regex:
Cube Studio's regex rejected ranges.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterNotAlphaError, croniter

from .errors import FieldError, FieldErrors

CRON_ACCEPTED = "5 fields 'minute hour day-of-month month day-of-week' with ranges, lists and steps, e.g. '*/15 9-18 * * 1-5'"
TIMEZONE_ACCEPTED = "an IANA time zone name such as 'UTC' or 'Asia/Shanghai'"
# Catch-up is bounded so a start time years ago cannot make a tick loop run forever.
MAX_TICKS_PER_PASS = 1000


@dataclass
class ScheduleSettings:
    enabled: bool = False
    cron: str = ""
    timezone: str = "UTC"
    start_time: datetime | None = None  # aware; ticks before it never fire
    backfill: bool = False  # on first enable, create the ticks between start_time and now
    depends_on_past: bool = False  # a tick waits for / is skipped after the previous scheduled run's failure
    max_active_runs: int = 1
    expired_limit: int = 0  # when catching up, only the newest N ticks run; older ones are skipped. 0 = no limit

    def to_dict(self) -> dict:
        return {
            "enabled": self.enabled,
            "cron": self.cron,
            "timezone": self.timezone,
            "start_time": self.start_time.isoformat() if self.start_time else None,
            "backfill": self.backfill,
            "depends_on_past": self.depends_on_past,
            "max_active_runs": self.max_active_runs,
            "expired_limit": self.expired_limit,
        }


CRON_FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_RANGE_RE = re.compile(r"([0-9A-Za-z]+)-([0-9A-Za-z]+)(/[0-9]+)?")
# A fixed base for the "does it ever fire" probe, so parsing does not depend on the clock.
_PROBE_BASE = datetime(2000, 1, 1, tzinfo=UTC)


def _range_bound(text: str, position: int) -> int | None:
    """A range end as a number; None for what croniter alone understands."""
    if text.isdigit():
        return int(text)
    name = text.lower()
    if position == 3:
        return _MONTHS.get(name)
    if position == 4 and name in _DAYS:
        return _DAYS[name]
    return None


def _check_ranges(expr: str, field_name: str) -> None:
    """Refuse a range that runs backwards ('5-1'): croniter reads it as wrapping
    around, which is rarely what was meant and never what the form shows."""
    for position, part in enumerate(expr.split(" ")):
        for item in part.split(","):
            match = _RANGE_RE.fullmatch(item)
            if not match:
                continue
            start, end = _range_bound(match.group(1), position), _range_bound(match.group(2), position)
            if start is None or end is None:
                continue
            if position == 4 and end == 0 and start > 0:
                end = 7  # 'fri-sun': Sunday is also 7 at the end of a week
            if start > end:
                raise FieldError(
                    field_name,
                    f"in '{expr}' the {CRON_FIELDS[position]} range '{item}' starts after it ends",
                    f"ranges from low to high such as '1-5' (split one that crosses the end in two, e.g. '22-23,0-2'); {CRON_ACCEPTED}",
                )


def parse_cron(expr: Any, field_name: str = "schedule.cron") -> str:
    if not isinstance(expr, str) or not expr.strip():
        raise FieldError(field_name, "is empty", CRON_ACCEPTED)
    return _checked_cron(" ".join(expr.split()), field_name)


@lru_cache(maxsize=4096)
def _checked_cron(expr: str, field_name: str) -> str:
    """The checks of :func:`parse_cron`, remembered per expression: every stored
    pipeline's schedule is parsed again on each run and scheduler pass, and most
    share a few expressions. Refusals raise, so only accepted ones are kept."""
    if len(expr.split(" ")) != 5:
        raise FieldError(field_name, f"'{expr}' has {len(expr.split(' '))} fields, not 5", CRON_ACCEPTED)
    _check_ranges(expr, field_name)
    try:
        it = croniter(expr, _PROBE_BASE)
    except (CroniterBadCronError, CroniterNotAlphaError, CroniterBadDateError, ValueError, KeyError) as exc:
        raise FieldError(field_name, f"'{expr}' is not a cron expression ({exc})", CRON_ACCEPTED) from None
    try:
        # '0 0 31 2 *' parses but names no real day; croniter then fails on every
        # look-up (preview, each scheduler pass), so it is refused here instead.
        it.get_next(datetime)
    except (CroniterBadDateError, ValueError, KeyError):
        raise FieldError(field_name, f"'{expr}' never fires (no such date)", CRON_ACCEPTED) from None
    return expr


def parse_timezone(name: Any, field_name: str = "schedule.timezone") -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise FieldError(field_name, "is empty", TIMEZONE_ACCEPTED)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise FieldError(field_name, f"'{name}' is not a known time zone", TIMEZONE_ACCEPTED) from None


def _parse_time(value: Any, field_name: str) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise FieldError(field_name, f"'{value}' is not a date and time", "ISO 8601, e.g. '2026-01-31T08:00:00+00:00'") from None
    else:
        raise FieldError(field_name, f"must be a string, got {type(value).__name__}", "ISO 8601 text")
    return dt


def _nonneg_int(value: Any, field_name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(field_name, f"{value!r} is not a whole number", f"a whole number >= {minimum}")
    if value < minimum:
        raise FieldError(field_name, f"{value} is less than {minimum}", f"a whole number >= {minimum}")
    return value


def schedule_from_dict(data: Any, field_prefix: str = "schedule") -> ScheduleSettings:
    """Parse and check settings; every problem is reported (FieldErrors)."""
    if data in (None, {}):
        return ScheduleSettings()
    if not isinstance(data, dict):
        raise FieldErrors([FieldError(field_prefix, "must be an object", "{cron, timezone, start_time, ...}")])
    errors: list[FieldError] = []
    known = set(ScheduleSettings().to_dict())
    for key in data:
        if key not in known:
            errors.append(FieldError(f"{field_prefix}.{key}", "is not a schedule setting", ", ".join(sorted(known))))
    s = ScheduleSettings()
    enabled = data.get("enabled", False)
    if not isinstance(enabled, bool):
        errors.append(FieldError(f"{field_prefix}.enabled", f"{enabled!r} is not true or false", "true or false"))
    else:
        s.enabled = enabled
    for flag in ("backfill", "depends_on_past"):
        value = data.get(flag, False)
        if not isinstance(value, bool):
            errors.append(FieldError(f"{field_prefix}.{flag}", f"{value!r} is not true or false", "true or false"))
        else:
            setattr(s, flag, value)
    cron = data.get("cron", "")
    if cron or s.enabled:
        try:
            s.cron = parse_cron(cron, f"{field_prefix}.cron")
        except FieldError as exc:
            errors.append(exc)
            s.cron = cron if isinstance(cron, str) else ""
    tz = data.get("timezone", "UTC") or "UTC"
    try:
        zone = parse_timezone(tz, f"{field_prefix}.timezone")
        s.timezone = tz
    except FieldError as exc:
        errors.append(exc)
        zone = ZoneInfo("UTC")
    try:
        start = _parse_time(data.get("start_time"), f"{field_prefix}.start_time")
        if start is not None and start.tzinfo is None:
            # a naive start time is read in the schedule's own time zone
            start = start.replace(tzinfo=zone)
        s.start_time = start
    except FieldError as exc:
        errors.append(exc)
    for key, minimum in (("max_active_runs", 1), ("expired_limit", 0)):
        if key in data:
            try:
                setattr(s, key, _nonneg_int(data[key], f"{field_prefix}.{key}", minimum))
            except FieldError as exc:
                errors.append(exc)
    if s.backfill and s.start_time is None and not errors:
        errors.append(FieldError(f"{field_prefix}.start_time", "backfill needs a start time", "ISO 8601 date and time"))
    if errors:
        raise FieldErrors(errors)
    return s


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def next_ticks(settings: ScheduleSettings, after: datetime, count: int = 5) -> list[datetime]:
    """The next ``count`` tick times strictly after ``after`` (for previews), in the schedule's zone.

    Settings may hold no cron (a schedule switched off keeps none): that is the
    caller's input, so it is a :class:`FieldError`, not a crash in croniter.
    """
    if not isinstance(settings.cron, str) or not settings.cron.strip():
        raise FieldError("schedule.cron", "is empty", CRON_ACCEPTED)
    zone = parse_timezone(settings.timezone)
    try:
        it = croniter(settings.cron, _aware(after).astimezone(zone))
        return [it.get_next(datetime) for _ in range(count)]
    except (CroniterBadCronError, CroniterNotAlphaError, CroniterBadDateError, ValueError, KeyError):
        # settings built without parse_cron (stored before a rule existed): the same message
        parse_cron(settings.cron, "schedule.cron")
        raise FieldError("schedule.cron", f"'{settings.cron}' has no tick after {after.isoformat()}", CRON_ACCEPTED) from None


@dataclass
class TickPlan:
    """What one scheduler pass should record: ``run`` ticks become ``comed``
    records; ``expired`` ticks become ``skipped`` records (reason: too old)."""

    run: list[datetime] = field(default_factory=list)
    expired: list[datetime] = field(default_factory=list)
    truncated: bool = False  # more ticks were due than one pass handles; the next pass continues
    # the first tick after these (UTC): what next_fire_time gives once they are recorded
    next_tick: datetime | None = None


def _lower_bound(settings: ScheduleSettings, last_tick: datetime | None, enabled_at: datetime) -> tuple[datetime, bool]:
    """Where the ticks of a schedule start, and whether a tick exactly there counts."""
    if last_tick is not None:
        lower, inclusive = _aware(last_tick), False
    elif settings.backfill and settings.start_time is not None:
        lower, inclusive = _aware(settings.start_time), True
    else:
        lower, inclusive = _aware(enabled_at), False
    if settings.start_time is not None and _aware(settings.start_time) > lower:
        lower, inclusive = _aware(settings.start_time), True
    return lower, inclusive


def next_fire_time(settings: ScheduleSettings, last_tick: datetime | None, enabled_at: datetime | None, now: datetime) -> datetime | None:
    """The first time :func:`due_ticks` has a tick to give, in UTC; ``None`` when never.

    It may lie in the past: ticks missed while the control plane was down, or
    the rest of a catch-up cut by ``MAX_TICKS_PER_PASS``, are due at once. The
    scheduler keeps this per schedule so a pass asks the database only for
    schedules with work, instead of computing ticks for every schedule.
    ``now`` stands in for ``enabled_at`` when that is unknown, as in ``due_ticks``.
    """
    if not settings.enabled or not settings.cron:
        return None
    zone = parse_timezone(settings.timezone)
    lower, inclusive = _lower_bound(settings, last_tick, enabled_at or _aware(now))
    local = lower.astimezone(zone)
    if inclusive and croniter.match(settings.cron, local):
        return lower.astimezone(UTC)
    return croniter(settings.cron, local).get_next(datetime).astimezone(UTC)


def due_ticks(settings: ScheduleSettings, last_tick: datetime | None, now: datetime, enabled_at: datetime | None = None) -> TickPlan:
    """Ticks due in ``(last_tick, now]``.

    With no ``last_tick`` (never ticked): from ``start_time`` when ``backfill`` is on,
    otherwise from when the schedule was enabled (``enabled_at``, default ``now``)
    so turning a schedule on does not replay history. Ticks before ``start_time``
    never fire. ``expired_limit`` keeps only the newest N of the due ticks.
    """
    plan = TickPlan()
    if not settings.enabled or not settings.cron:
        return plan
    now = _aware(now)
    zone = parse_timezone(settings.timezone)
    lower, inclusive = _lower_bound(settings, last_tick, enabled_at or now)
    it = croniter(settings.cron, lower.astimezone(zone))
    ticks: list[datetime] = []
    # croniter's get_next is strictly after its base; step back to include a tick exactly at an inclusive bound
    if inclusive and croniter.match(settings.cron, lower.astimezone(zone)):
        if lower > now:
            plan.next_tick = lower.astimezone(UTC)
            return plan
        ticks.append(lower.astimezone(zone))
    while True:
        tick = it.get_next(datetime)
        if tick > now:
            plan.next_tick = tick.astimezone(UTC)
            break
        ticks.append(tick)
        if len(ticks) >= MAX_TICKS_PER_PASS:
            plan.truncated = True
            plan.next_tick = it.get_next(datetime).astimezone(UTC)
            break
    if settings.expired_limit and len(ticks) > settings.expired_limit:
        cut = len(ticks) - settings.expired_limit
        plan.expired = ticks[:cut]
        ticks = ticks[cut:]
    plan.run = ticks
    return plan


# ---------------------------------------------------------------- start decision

RECORD_STATUSES = ("comed", "created", "skipped")


@dataclass(frozen=True)
class StartDecision:
    action: str  # "start" | "wait" | "skip"
    reason: str = ""


def decide_start(settings: ScheduleSettings, active_scheduled_runs: int, previous_run_status: str | None) -> StartDecision:
    """Whether a ``comed`` record may start its run now.

    ``previous_run_status``: status of the run of the previous scheduled record
    (``None`` if there is none or it never got a run). Manual runs do not count
    against ``max_active_runs``: manual and scheduled runs never block each other.
    """
    if settings.depends_on_past and previous_run_status is not None:
        if previous_run_status in ("pending", "running"):
            return StartDecision("wait", "previous scheduled run still running (depends_on_past)")
        if previous_run_status != "succeeded":
            return StartDecision("skip", f"previous scheduled run {previous_run_status} (depends_on_past)")
    if active_scheduled_runs >= settings.max_active_runs:
        return StartDecision("wait", f"{active_scheduled_runs} scheduled runs active (max_active_runs={settings.max_active_runs})")
    return StartDecision("start")
