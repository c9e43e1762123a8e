"""Argument specs as Cube Studio writes them: the 0/1 switches, the known keys
(and the three extra ones real templates carry), and the 'regex' check on
values. Pure unit tests."""

from __future__ import annotations

import pytest

from cubelab_hub.domain.argspec import (
    FLAG_ACCEPTED,
    SPEC_KEYS_ACCEPTED,
    args_to_schema,
    coerce_arg_value,
    parse_arg_spec,
    parse_args_schema,
)
from cubelab_hub.domain.errors import FieldError

FIELD = "args.参数.--name"

# As Cube Studio's own job templates write an argument (with condition and sub_args).
CUBE_STUDIO_ARG = {
    "type": "str", "item_type": "", "label": "名称", "require": 1, "choice": [], "range": "", "default": "demo",
    "placeholder": "", "describe": "name", "editable": 1, "condition": "", "sub_args": {},
}


def spec(**raw):
    return parse_arg_spec("参数", "--name", raw, FIELD)


def refused(raw, field, bad, accepted=None):
    with pytest.raises(FieldError) as info:
        parse_arg_spec("参数", "--name", raw, FIELD)
    err = info.value
    assert err.field == field and bad in err.message, (err.field, err.message)
    if accepted is not None:
        assert err.accepted == accepted
    return err


@pytest.mark.parametrize("value,expected", [(1, True), (0, False), (True, True), (False, False)])
@pytest.mark.parametrize("key", ["require", "editable"])
def test_flags_take_0_1_and_booleans(key, value, expected):
    assert getattr(spec(**{key: value}), key) is expected


def test_flags_default_when_absent():
    s = spec()
    assert s.require is False and s.editable is True


@pytest.mark.parametrize("value,shown", [(2, "2"), (-1, "-1"), (1.0, "1.0"), ("1", "'1'"), ("yes", "'yes'"), (None, "None"), ([1], "[1]")])
@pytest.mark.parametrize("key", ["require", "editable"])
def test_flags_refuse_anything_else(key, value, shown):
    refused({key: value}, f"{FIELD}.{key}", f"{shown} is not 0 or 1", FLAG_ACCEPTED)


def test_unknown_key_refused_naming_it_and_listing_the_accepted_keys():
    err = refused({"type": "str", "requird": 1}, f"{FIELD}.requird", "argument '--name' has unknown key(s) 'requird'", SPEC_KEYS_ACCEPTED)
    for key in ("type", "require", "editable", "regex", "condition", "sub_args"):
        assert key in err.accepted
    err = refused({"x": 1, "y": 2}, f"{FIELD}.x", "'x', 'y'")


def test_unknown_keys_refused_through_the_grouped_schema():
    with pytest.raises(FieldError) as info:
        parse_args_schema({"参数": {"--epochs": {"type": "int", "require": 2}}})
    assert info.value.field == "args.参数.--epochs.require"


def test_cube_studio_extra_keys_are_kept_as_given_and_round_trip():
    raw = dict(CUBE_STUDIO_ARG, condition="--mode==train", sub_args={"--x": {"type": "int"}}, regex="^[a-z]+$")
    s = spec(**raw)
    assert s.extra == {"condition": "--mode==train", "sub_args": {"--x": {"type": "int"}}, "regex": "^[a-z]+$"}
    again = args_to_schema([s])["参数"]["--name"]
    assert again == raw
    assert parse_arg_spec("参数", "--name", again, FIELD).to_schema() == again


def test_regex_checks_text_values():
    s = spec(type="str", regex="^[a-z][a-z0-9-]*$")
    assert coerce_arg_value(s, "model-1", "args.--name") == "model-1"
    with pytest.raises(FieldError) as info:
        coerce_arg_value(s, "Model 1", "args.--name")
    err = info.value
    assert err.field == "args.--name" and "'Model 1' does not match ^[a-z][a-z0-9-]*$" in err.message
    assert "^[a-z][a-z0-9-]*$" in err.accepted


def test_regex_is_searched_as_cube_studio_forms_test_it():
    s = spec(type="str", regex="[0-9]")
    assert coerce_arg_value(s, "v2", "v") == "v2"
    with pytest.raises(FieldError):
        coerce_arg_value(s, "none", "v")


def test_default_must_match_the_regex():
    refused({"type": "str", "regex": "^[0-9]+$", "default": "abc"}, f"{FIELD}.default", "'abc' does not match")


def test_empty_regex_checks_nothing():
    assert coerce_arg_value(spec(type="str", regex=""), "anything at all", "v") == "anything at all"


@pytest.mark.parametrize(
    "regex,bad", [("([a-z]", "is not a regular expression"), (3, "must be text, got int"), ("a" * 1001, "is 1001 characters, more than 1000")]
)
def test_bad_regex_refused_at_parse(regex, bad):
    refused({"type": "str", "regex": regex}, f"{FIELD}.regex", bad)
