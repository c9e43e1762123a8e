"""Row ids from URLs: a number a row can have, or a FieldError (which handlers
answer with 404, since no row has such an id). Pure unit tests."""

from __future__ import annotations

import pytest

from cubelab_hub.domain.errors import FieldError
from cubelab_hub.domain.ids import ID_ACCEPTED, MAX_ID, parse_id


@pytest.mark.parametrize("value,expected", [("1", 1), ("42", 42), (7, 7), ("007", 7), (str(2**63 - 1), 2**63 - 1), (2**63 - 1, 2**63 - 1)])
def test_ids_in_range(value, expected):
    assert parse_id(value, "pipeline_id") == expected


@pytest.mark.parametrize(
    "value,bad",
    [
        (str(2**63), f"'{2**63}' is outside 1..{MAX_ID}"),
        ("99999999999999999999999", "is outside 1.."),
        ("9" * 5000, "is outside 1.."),
        (2**64, "is outside 1.."),
        ("0", "'0' is outside 1.."),
        ("000", "is outside 1.."),
        ("", "'' is not a whole number"),
        ("-1", "'-1' is not a whole number"),
        (-1, "'-1' is not a whole number"),
        ("+1", "'+1' is not a whole number"),
        (" 1", "' 1' is not a whole number"),
        ("1_000", "'1_000' is not a whole number"),
        ("1.0", "'1.0' is not a whole number"),
        ("\u0661", "is not a whole number"),  # Arabic-Indic 1, which int() reads
        (True, "must be a whole number, got bool"),
        (1.0, "must be a whole number, got float"),
        (None, "must be a whole number, got NoneType"),
    ],
)
def test_ids_refused_with_the_field_named(value, bad):
    with pytest.raises(FieldError) as info:
        parse_id(value, "pipeline_id")
    err = info.value
    assert err.field == "pipeline_id" and bad in err.message, err.message
    assert err.accepted == ID_ACCEPTED == "a whole number from 1 to 9223372036854775807"
    assert isinstance(err, ValueError)  # handlers that catch ValueError for a 404 keep working
    assert len(str(err)) < 300  # a huge id is not echoed back whole


def test_id_bound_is_the_databases_signed_64_bit_integer():
    assert MAX_ID == 9223372036854775807


@pytest.mark.parametrize("value", ["run-0123456789ab", "a", "x" * 40, "run.1_2-3"])
def test_run_id_shapes(value):
    from cubelab_hub.domain.ids import is_run_id

    assert is_run_id(value)


@pytest.mark.parametrize("value", ["", "x" * 41, "run\x00id", "run id", "rün", "../x", 7, None])
def test_not_run_ids(value):
    from cubelab_hub.domain.ids import is_run_id

    assert not is_run_id(value)
