"""A task's retry back-off: parsing with field-named errors, the waits it gives,
and its round trip through the pipeline format."""

import pytest

from cubelab_hub.domain.errors import FieldErrors
from cubelab_hub.domain.pipelines import pipeline_from_dict
from cubelab_hub.domain.retries import DEFAULT_BACKOFF, RetryBackoff, retry_backoff_from_dict


def test_default_is_exponential_from_5s_capped_at_5m():
    assert [DEFAULT_BACKOFF.wait_before(n) for n in range(1, 11)] == [0, 5, 10, 20, 40, 80, 160, 300, 300, 300]


@pytest.mark.parametrize("data,expected", [
    ({"delay": "10s", "factor": 3, "max_delay": "2m"}, RetryBackoff(10, 3, 120)),
    ({"delay": 30}, RetryBackoff(30, 2, 300)),
    ({"delay": "1m30s", "max_delay": "1h"}, RetryBackoff(90, 2, 3600)),
    ({"factor": 1}, RetryBackoff(5, 1, 300)),
    ({}, RetryBackoff()),
])
def test_accepted_forms(data, expected):
    assert retry_backoff_from_dict(data, "tasks[0].retry_backoff") == expected


@pytest.mark.parametrize("data,field,needle", [
    ("5s", "tasks[0].retry_backoff", "must be an object"),
    ({"delay": "soon"}, "tasks[0].retry_backoff.delay", "'soon' is not a duration"),
    ({"delay": "0s"}, "tasks[0].retry_backoff.delay", "outside 1s..1h"),
    ({"delay": "2h", "max_delay": "3h"}, "tasks[0].retry_backoff.delay", "outside 1s..1h"),
    ({"delay": True}, "tasks[0].retry_backoff.delay", "is not a duration"),
    ({"factor": 1.5}, "tasks[0].retry_backoff.factor", "not a whole number from 1 to 10"),
    ({"factor": 0}, "tasks[0].retry_backoff.factor", "not a whole number from 1 to 10"),
    ({"max_delay": "2d"}, "tasks[0].retry_backoff.max_delay", "is not a duration"),
    ({"delay": "10m"}, "tasks[0].retry_backoff.max_delay", "shorter than the delay 10m"),
    ({"jitter": 1}, "tasks[0].retry_backoff.jitter", "is not a back-off setting"),
])
def test_refused_with_the_field_named(data, field, needle):
    with pytest.raises(FieldErrors) as info:
        retry_backoff_from_dict(data, "tasks[0].retry_backoff")
    [error] = [e for e in info.value.errors if e.field == field]
    assert needle in str(error) and error.accepted


def test_round_trip_through_a_pipeline_and_refused_on_save():
    body = {"name": "p", "tasks": [{"name": "a", "template": "shell", "retries": 2, "retry_backoff": {"delay": "90s", "max_delay": 600}},
                                   {"name": "b", "template": "shell"}]}
    pipeline = pipeline_from_dict(body)
    a, b = pipeline.tasks
    assert a.to_dict()["retry_backoff"] == {"delay": "90s", "factor": 2, "max_delay": "10m"}
    assert "retry_backoff" not in b.to_dict() and b.backoff == DEFAULT_BACKOFF
    assert pipeline_from_dict(pipeline.to_dict()).tasks[0].backoff == RetryBackoff(90, 2, 600)
    body["tasks"][1]["retry_backoff"] = {"factor": "2"}
    with pytest.raises(FieldErrors) as info:
        pipeline_from_dict(body)
    assert [e.field for e in info.value.errors] == ["tasks[1].retry_backoff.factor"]
