"""Cron input refused before croniter reads it another way: backward ranges,
dates that never come, and settings with no cron asked for a preview. Pure unit
tests (the tick arithmetic is in tests/pipelines/test_schedules.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cubelab_hub.domain.errors import FieldError, FieldErrors
from cubelab_hub.domain.schedules import CRON_ACCEPTED, ScheduleSettings, next_ticks, parse_cron, schedule_from_dict

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "cron,bad",
    [
        ("5-1 * * * *", "the minute range '5-1' starts after it ends"),
        ("0 23-1 * * *", "the hour range '23-1' starts after it ends"),
        ("0 22-2/2 * * *", "the hour range '22-2/2' starts after it ends"),
        ("0 0 20-10 * *", "the day-of-month range '20-10' starts after it ends"),
        ("0 0 1 12-2 *", "the month range '12-2' starts after it ends"),
        ("0 0 1 dec-jan *", "the month range 'dec-jan' starts after it ends"),
        ("0 0 * * 5-1", "the day-of-week range '5-1' starts after it ends"),
        ("0 0 * * sat-mon", "the day-of-week range 'sat-mon' starts after it ends"),
        ("0,30-10 * * * *", "the minute range '30-10' starts after it ends"),
    ],
)
def test_backward_range_refused_naming_the_field_and_the_range(cron, bad):
    with pytest.raises(FieldError) as info:
        parse_cron(cron)
    err = info.value
    assert err.field == "schedule.cron" and bad in err.message and f"'{cron}'" in err.message
    assert "ranges from low to high" in err.accepted and CRON_ACCEPTED in err.accepted


@pytest.mark.parametrize(
    "cron", ["1-5 * * * *", "1-1 * * * *", "0 9-18 * * 1-5", "0 0 * * fri-sun", "0 0 * * 5-7", "0 0 * * 0-6", "0 0 1 jan-mar *", "0 0 L * *", "0 0 * * 5#3"]
)
def test_forward_ranges_and_croniter_forms_accepted(cron):
    assert parse_cron(cron) == cron


def test_sunday_closes_a_week_range_like_croniter():
    # 'fri-sun' means Friday to Sunday, not a backward range to day 0
    ticks = next_ticks(ScheduleSettings(enabled=True, cron="0 0 * * fri-sun"), NOW, 3)
    assert [t.strftime("%a") for t in ticks] == ["Fri", "Sat", "Sun"]


def test_backward_range_refused_through_the_settings():
    with pytest.raises(FieldErrors) as info:
        schedule_from_dict({"enabled": True, "cron": "5-1 * * * *"})
    assert info.value.errors[0].field == "schedule.cron"


@pytest.mark.parametrize("cron", ["0 0 31 2 *", "0 0 30 2 *", "0 0 31 4,6,9,11 *"])
def test_cron_that_never_fires_refused(cron):
    with pytest.raises(FieldError) as info:
        parse_cron(cron)
    assert "never fires" in info.value.message and info.value.field == "schedule.cron"


def test_leap_day_fires():
    assert parse_cron("0 0 29 2 *") == "0 0 29 2 *"


@pytest.mark.parametrize("body", [{"enabled": False}, {"enabled": False, "cron": ""}, {"enabled": False, "cron": None}])
def test_preview_of_settings_without_cron_is_a_field_error(body):
    # what POST /schedules/preview did with an empty cron: croniter('') raised, a 500
    settings = schedule_from_dict(body)
    with pytest.raises(FieldError) as info:
        next_ticks(settings, NOW)
    assert info.value.field == "schedule.cron" and info.value.message == "is empty"


def test_preview_of_stored_settings_croniter_cannot_follow_is_a_field_error():
    # settings built without parse_cron (as stored before these rules existed)
    with pytest.raises(FieldError) as info:
        next_ticks(ScheduleSettings(enabled=True, cron="0 0 31 2 *"), NOW)
    assert info.value.field == "schedule.cron" and "never fires" in info.value.message
