"""Usage over time: intervals cut into UTC days, series per key."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from cubelab_hub.domain.errors import FieldError
from cubelab_hub.domain.usage_days import (
    Interval,
    day_keys,
    keep_top,
    parse_by,
    parse_days,
    parse_top,
    pieces_of,
    series,
    split_by_day,
)


def at(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def test_an_interval_within_one_day():
    assert split_by_day(at(1, 10), at(1, 12, 30)) == [("2026-03-01", 9000.0)]


def test_an_interval_over_midnight_is_cut_at_midnight_utc():
    assert split_by_day(at(1, 23), at(3, 1)) == [("2026-03-01", 3600.0), ("2026-03-02", 86400.0), ("2026-03-03", 3600.0)]


def test_other_time_zones_and_naive_times_are_utc():
    plus2 = timezone(timedelta(hours=2))
    assert split_by_day(datetime(2026, 3, 2, 1, 0, tzinfo=plus2), at(2, 0, 30)) == [("2026-03-01", 3600.0), ("2026-03-02", 1800.0)]
    assert split_by_day(datetime(2026, 3, 1, 10), datetime(2026, 3, 1, 11)) == [("2026-03-01", 3600.0)]


def test_empty_and_reversed_intervals_count_nothing():
    assert split_by_day(at(1, 10), at(1, 10)) == []
    assert split_by_day(at(1, 11), at(1, 10)) == []


def test_pieces_weigh_by_cores_and_cards_and_open_ones_run_to_now():
    pieces = pieces_of(Interval("task", "p", "alice", 2.0, 1.0, at(1, 23)), now=at(2, 1))
    assert [(p.day, p.cpu_seconds, p.gpu_seconds) for p in pieces] == [("2026-03-01", 7200.0, 3600.0), ("2026-03-02", 7200.0, 3600.0)]


def test_day_keys_end_today_oldest_first():
    assert day_keys(date(2026, 3, 2), 3) == ["2026-02-28", "2026-03-01", "2026-03-02"]


def test_series_add_running_work_and_fill_missing_days_with_zero():
    days = ["2026-03-01", "2026-03-02"]
    totals = {("p", "2026-03-01"): (7200.0, 0.0), ("q", "2026-03-02"): (3600.0, 3600.0), ("old", "2026-01-01"): (1.0, 1.0)}
    running = pieces_of(Interval("server", "p", "bob", 1.0, 0.0, at(2, 0)), now=at(2, 1, 30))
    assert series(days, totals, running) == [
        {"key": "p", "cpu_hours": [2.0, 1.5], "gpu_hours": [0.0, 0.0]},
        {"key": "q", "cpu_hours": [0.0, 1.0], "gpu_hours": [0.0, 1.0]},
    ]
    by_user = series(days, {}, running, by="user")
    assert by_user == [{"key": "bob", "cpu_hours": [0.0, 1.5], "gpu_hours": [0.0, 0.0]}]


@pytest.mark.parametrize("text, days", [(None, 30), ("", 30), ("1", 1), ("90", 90)])
def test_days_accepted(text, days):
    assert parse_days(text) == days


@pytest.mark.parametrize("text", ["0", "91", "-1", "3.5", "ten", "１"])
def test_days_refused_naming_the_parameter(text):
    with pytest.raises(FieldError) as exc:
        parse_days(text)
    assert exc.value.field == "days"


def test_by_is_project_or_user():
    assert parse_by(None) == "project"
    assert parse_by("user") == "user"
    with pytest.raises(FieldError) as exc:
        parse_by("cluster")
    assert exc.value.field == "by"


def _s(key, cpu, gpu=(0.0, 0.0)):
    return {"key": key, "cpu_hours": list(cpu), "gpu_hours": list(gpu)}


def test_top_keeps_the_largest_series_and_sums_the_rest():
    result = [_s("a", (1.0, 0.0)), _s("b", (5.0, 5.0)), _s("c", (0.5, 0.25), (2.0, 0.0)), _s("d", (0.0, 3.0)), _s("e", (0.5, 0.25))]
    kept, others = keep_top(result, 2)
    assert [s["key"] for s in kept] == ["b", "d"]  # 10 and 3 hours; kept in key order
    assert others == {"keys": 3, "cpu_hours": [2.0, 0.5], "gpu_hours": [2.0, 0.0]}
    # equal CPU: more GPU first, then by key
    kept, _ = keep_top(result, 4)
    assert [s["key"] for s in kept] == ["a", "b", "c", "d"]


def test_top_leaves_a_short_list_alone():
    result = [_s("a", (1.0,)), _s("b", (2.0,))]
    assert keep_top(result, 2) == (result, None)
    assert keep_top([], 20) == ([], None)


@pytest.mark.parametrize("text, top", [(None, 20), ("", 20), ("1", 1), ("100", 100)])
def test_top_accepted(text, top):
    assert parse_top(text) == top


@pytest.mark.parametrize("text", ["0", "101", "-1", "2.5", "all"])
def test_top_refused_naming_the_parameter(text):
    with pytest.raises(FieldError) as exc:
        parse_top(text)
    assert exc.value.field == "top"
