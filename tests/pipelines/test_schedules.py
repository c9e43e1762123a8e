"""Cron ticks with a controllable clock: croniter fields, time zones, start time,
backfill, expired_limit, depends_on_past and max_active_runs decisions."""

from datetime import UTC, datetime, timedelta

import pytest

from cubelab_hub.domain.errors import FieldErrors
from cubelab_hub.domain.schedules import MAX_TICKS_PER_PASS, decide_start, due_ticks, next_fire_time, next_ticks, schedule_from_dict

UTC = UTC


def at(*args, tz=UTC):
    return datetime(*args, tzinfo=tz)


def settings(**kw):
    return schedule_from_dict({"enabled": True, **kw})


@pytest.mark.parametrize("cron", ["*/15 9-18 * * 1-5", "0 0,12 1 * *", "5 4 * * sun", "0 22 * * 1-5", "1-10/3 * * * *"])
def test_croniter_accepts_ranges_lists_steps(cron):
    assert settings(cron=cron).cron == cron


@pytest.mark.parametrize("cron,needle", [
    ("* * * *", "has 4 fields, not 5"), ("0 0 * * * *", "has 6 fields"), ("61 * * * *", "not a cron expression"),
    ("0 25 * * *", "not a cron expression"), ("@hourly", "has 1 fields"), ("", "is empty"),
])
def test_bad_cron_names_field(cron, needle):
    with pytest.raises(FieldErrors) as info:
        settings(cron=cron)
    err = info.value.errors[0]
    assert err.field == "schedule.cron" and needle in str(err) and "ranges, lists and steps" in err.accepted


@pytest.mark.parametrize("body,field", [
    ({"cron": "* * * * *", "timezone": "Mars/Base"}, "schedule.timezone"),
    ({"cron": "* * * * *", "start_time": "yesterday"}, "schedule.start_time"),
    ({"cron": "* * * * *", "max_active_runs": 0}, "schedule.max_active_runs"),
    ({"cron": "* * * * *", "expired_limit": -1}, "schedule.expired_limit"),
    ({"cron": "* * * * *", "backfill": "yes"}, "schedule.backfill"),
    ({"cron": "* * * * *", "backfill": True}, "schedule.start_time"),
    ({"cron": "* * * * *", "every": 5}, "schedule.every"),
])
def test_bad_settings(body, field):
    with pytest.raises(FieldErrors) as info:
        settings(**body)
    assert field in {e.field for e in info.value.errors}


def test_ticks_between_last_tick_and_now():
    s = settings(cron="*/15 * * * *")
    plan = due_ticks(s, last_tick=at(2026, 1, 1, 10, 0), now=at(2026, 1, 1, 11, 0))
    assert plan.run == [at(2026, 1, 1, 10, 15), at(2026, 1, 1, 10, 30), at(2026, 1, 1, 10, 45), at(2026, 1, 1, 11, 0)]
    # the clock moves on: only new ticks
    assert due_ticks(s, plan.run[-1], at(2026, 1, 1, 11, 14)).run == []
    assert due_ticks(s, plan.run[-1], at(2026, 1, 1, 11, 15)).run == [at(2026, 1, 1, 11, 15)]


def test_disabled_schedule_has_no_ticks():
    s = schedule_from_dict({"enabled": False, "cron": "* * * * *"})
    assert due_ticks(s, None, at(2026, 1, 1)).run == []


def test_first_pass_without_backfill_starts_at_enable_time():
    s = settings(cron="0 * * * *", start_time="2025-01-01T00:00:00+00:00")
    plan = due_ticks(s, None, now=at(2026, 1, 1, 12, 30), enabled_at=at(2026, 1, 1, 10, 5))
    assert plan.run == [at(2026, 1, 1, 11), at(2026, 1, 1, 12)]


def test_backfill_from_start_time_includes_a_tick_exactly_at_start():
    s = settings(cron="0 */6 * * *", start_time="2026-01-01T00:00:00Z", backfill=True)
    plan = due_ticks(s, None, now=at(2026, 1, 2, 1), enabled_at=at(2026, 1, 2, 0, 30))
    assert plan.run == [at(2026, 1, 1, h) for h in (0, 6, 12, 18)] + [at(2026, 1, 2, 0)]


def test_start_time_in_the_future_holds_ticks():
    s = settings(cron="*/10 * * * *", start_time="2026-01-01T12:00:00+00:00")
    assert due_ticks(s, at(2026, 1, 1, 11), at(2026, 1, 1, 11, 59)).run == []
    assert due_ticks(s, at(2026, 1, 1, 11), at(2026, 1, 1, 12, 10)).run == [at(2026, 1, 1, 12), at(2026, 1, 1, 12, 10)]


def test_expired_limit_keeps_only_newest():
    s = settings(cron="0 * * * *", expired_limit=2)
    plan = due_ticks(s, at(2026, 1, 1, 0), at(2026, 1, 1, 5, 30))
    assert plan.expired == [at(2026, 1, 1, h) for h in (1, 2, 3)]
    assert plan.run == [at(2026, 1, 1, 4), at(2026, 1, 1, 5)]


def test_time_zone_is_respected():
    # 09:00 on weekdays in Shanghai is 01:00 UTC
    s = settings(cron="0 9 * * 1-5", timezone="Asia/Shanghai")
    plan = due_ticks(s, at(2026, 1, 2, 0), at(2026, 1, 6, 2))  # Fri 2 Jan .. Tue 6 Jan 2026
    assert [t.astimezone(UTC) for t in plan.run] == [at(2026, 1, 2, 1), at(2026, 1, 5, 1), at(2026, 1, 6, 1)]
    assert plan.run[0].utcoffset() == timedelta(hours=8)


def test_dst_gap_in_new_york():
    s = settings(cron="30 2 * * *", timezone="America/New_York")
    plan = due_ticks(s, at(2026, 3, 7, 12), at(2026, 3, 10, 12))
    # 02:30 does not exist on 8 March 2026; croniter moves on rather than firing twice
    assert len(plan.run) == len({t.astimezone(UTC) for t in plan.run})
    assert at(2026, 3, 9, 6, 30) in [t.astimezone(UTC) for t in plan.run]


def test_catch_up_is_bounded_per_pass():
    s = settings(cron="* * * * *")
    plan = due_ticks(s, at(2025, 1, 1), at(2026, 1, 1))
    assert plan.truncated and len(plan.run) == MAX_TICKS_PER_PASS
    assert plan.next_tick == plan.run[-1] + timedelta(minutes=1)
    nxt = due_ticks(s, plan.run[-1], at(2026, 1, 1))
    assert nxt.run[0] == plan.run[-1] + timedelta(minutes=1)


def test_next_ticks_preview():
    s = settings(cron="0 8 * * 1", timezone="UTC")
    assert next_ticks(s, at(2026, 1, 1), 3) == [at(2026, 1, 5, 8), at(2026, 1, 12, 8), at(2026, 1, 19, 8)]


def test_start_decisions():
    s = settings(cron="* * * * *", max_active_runs=2)
    assert decide_start(s, 0, None).action == "start"
    assert decide_start(s, 1, "failed").action == "start"  # no depends_on_past
    assert decide_start(s, 2, None).action == "wait"
    d = settings(cron="* * * * *", depends_on_past=True)
    assert decide_start(d, 0, "succeeded").action == "start"
    assert decide_start(d, 0, "running").action == "wait"
    skip = decide_start(d, 0, "failed")
    assert skip.action == "skip" and "previous scheduled run failed" in skip.reason


@pytest.mark.parametrize("kw,last_tick,enabled_at", [
    ({"cron": "*/15 * * * *"}, at(2026, 1, 1, 10, 0), None),
    ({"cron": "0 9 * * 1-5", "timezone": "Asia/Shanghai"}, at(2026, 1, 2, 0), None),
    ({"cron": "0 * * * *", "start_time": "2026-01-01T12:00:00+00:00"}, None, at(2026, 1, 1, 10, 5)),
    ({"cron": "0 */6 * * *", "start_time": "2026-01-01T00:00:00Z", "backfill": True}, None, at(2026, 1, 2)),
    ({"cron": "*/10 * * * *"}, None, at(2026, 1, 1, 10, 3)),
])
def test_next_fire_time_is_when_due_ticks_first_has_work(kw, last_tick, enabled_at):
    """The scheduler trusts next_fire_time to skip schedules: nothing may be due before it."""
    s = settings(**kw)
    fire = next_fire_time(s, last_tick, enabled_at, now=at(2026, 1, 1, 10, 4))
    assert fire.utcoffset() == timedelta(0)
    before = due_ticks(s, last_tick, fire - timedelta(seconds=1), enabled_at)
    assert before.run == [] and before.next_tick == fire
    assert due_ticks(s, last_tick, fire, enabled_at).run[0].astimezone(UTC) == fire
    # the scheduler takes the next fire time from the plan of the ticks it records
    plan = due_ticks(s, last_tick, fire, enabled_at)
    assert plan.next_tick == next_fire_time(s, plan.run[-1], enabled_at, fire)


def test_next_fire_time_of_missed_ticks_is_in_the_past():
    s = settings(cron="*/5 * * * *")
    assert next_fire_time(s, at(2026, 1, 1, 10), None, now=at(2026, 1, 1, 12)) == at(2026, 1, 1, 10, 5)
    assert next_fire_time(schedule_from_dict({"enabled": False, "cron": "* * * * *"}), None, None, at(2026, 1, 1)) is None
