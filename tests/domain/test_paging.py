"""The list contract's pure parts: limit, cursors, filters."""

import base64
import json
from datetime import UTC, datetime

import pytest

from cubelab_hub.domain.errors import FieldError
from cubelab_hub.domain.paging import (
    DEFAULT_LIMIT,
    ListFilters,
    decode_cursor,
    encode_cursor,
    page_from,
    page_in_memory,
    parse_filters,
    parse_limit,
)


@pytest.mark.parametrize("text, expected", [(None, DEFAULT_LIMIT), ("", DEFAULT_LIMIT), ("1", 1), ("500", 500), ("050", 50)])
def test_limit_accepts_1_to_500(text, expected):
    assert parse_limit(text) == expected


@pytest.mark.parametrize("text", ["0", "501", "-1", "1.5", "ten", " 5", "+5", "٣", "9" * 40])
def test_limit_refuses_the_rest_naming_the_field(text):
    with pytest.raises(FieldError) as err:
        parse_limit(text)
    assert err.value.field == "limit"
    assert "1 to 500" in str(err.value)


def test_cursor_round_trips_its_key_with_types():
    when = datetime(2026, 5, 1, 12, 30, 0, 123456, tzinfo=UTC)
    cursor = encode_cursor("runs", [when, "run-abc"])
    assert "=" not in cursor and "/" not in cursor and "+" not in cursor  # safe in a query string as is
    assert decode_cursor("runs", cursor, (datetime, str)) == (when, "run-abc")
    assert decode_cursor("runs", None, (datetime, str)) is None
    assert decode_cursor("runs", "", (datetime, str)) is None


def test_naive_times_in_a_key_are_utc():
    cursor = encode_cursor("runs", [datetime(2026, 5, 1, 12, 0), "r"])
    assert decode_cursor("runs", cursor, (datetime, str))[0] == datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _forge(doc) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    "not a cursor", "%%%", "eyJ", "x" * 5000, "é",
    _forge([1, 2]), _forge({"k": "pipelines", "v": ["a", "b", 1]}),
    _forge({"k": "pipelines", "f": ListFilters().digest(), "v": ["a", "b"]}),
    _forge({"k": "pipelines", "f": ListFilters().digest(), "v": ["a", "b", "1"]}),
    _forge({"k": "pipelines", "f": ListFilters().digest(), "v": ["a", "b", True]}),
    _forge({"k": "pipelines", "f": ListFilters().digest(), "v": ["a", "b", 2**70]}),
    _forge({"k": "pipelines", "f": ListFilters().digest(), "v": ["a", "b", 1], "extra": 1}),
])
def test_tampered_cursors_are_refused_naming_cursor(cursor):
    with pytest.raises(FieldError) as err:
        decode_cursor("pipelines", cursor, (str, str, int))
    assert err.value.field == "cursor"


def test_a_cursor_of_another_list_or_other_filters_is_refused():
    cursor = encode_cursor("runs", [datetime(2026, 1, 1, tzinfo=UTC), "r"], ListFilters(status="failed"))
    with pytest.raises(FieldError, match="another list") as err:
        decode_cursor("pipeline-runs:3", cursor, (datetime, str), ListFilters(status="failed"))
    assert err.value.field == "cursor"
    with pytest.raises(FieldError, match="other filters"):
        decode_cursor("runs", cursor, (datetime, str), ListFilters(status="succeeded"))
    assert decode_cursor("runs", cursor, (datetime, str), ListFilters(status="failed"))[1] == "r"


def test_a_bad_time_inside_a_forged_cursor_is_a_cursor_error():
    cursor = _forge({"k": "runs", "f": ListFilters().digest(), "v": [{"t": "yesterday"}, "r"]})
    with pytest.raises(FieldError) as err:
        decode_cursor("runs", cursor, (datetime, str))
    assert err.value.field == "cursor"


def test_filters_parse_what_the_list_accepts_only():
    f = parse_filters({"project": "ml", "q": "ETL", "status": "failed", "creator": "bob", "since": "2026-01-01",
                       "until": "2026-02-01T00:00:00Z"}, ["project", "q", "since", "until"])
    assert f.project == "ml" and f.q == "etl" and f.status is None and f.creator is None
    assert f.since == datetime(2026, 1, 1, tzinfo=UTC)
    assert f.until == datetime(2026, 2, 1, tzinfo=UTC)
    assert parse_filters({"q": ""}, ["q"]) == ListFilters()


@pytest.mark.parametrize("args, field", [
    ({"since": "last week"}, "since"), ({"until": "2026-13-01"}, "until"),
    ({"since": "2026-02-01", "until": "2026-01-01"}, "until"),
    ({"status": "done"}, "status"), ({"q": "x" * 300}, "q"),
])
def test_bad_filters_name_their_field(args, field):
    with pytest.raises(FieldError) as err:
        parse_filters(args, ["q", "status", "since", "until"], statuses=("failed", "succeeded"))
    assert err.value.field == field


def test_a_time_with_an_offset_is_converted_to_utc():
    f = parse_filters({"since": "2026-01-01T08:00:00+08:00"}, ["since"])
    assert f.since == datetime(2026, 1, 1, 0, 0, tzinfo=UTC)


def test_page_from_uses_the_extra_row_only_to_say_more_follows():
    page = page_from([1, 2, 3], 2, "n", lambda x: (x,))
    assert page.items == [1, 2]
    assert decode_cursor("n", page.next_cursor, (int,)) == (2,)
    last = page_from([1, 2], 2, "n", lambda x: (x,))
    assert last.items == [1, 2] and last.next_cursor is None
    assert page_from([], 2, "n", lambda x: (x,)).next_cursor is None


def test_walking_an_in_memory_collection_returns_each_item_once_in_order():
    names = [f"user{i:03d}" for i in range(57)][::-1]
    seen, cursor = [], None
    while True:
        after = decode_cursor("members", cursor, (str,))
        page = page_in_memory(names, 10, after, "members", lambda n: (n,))
        seen.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == sorted(names)
