"""NNI search spaces: every type accepted in its documented form, every mistake
refused with its path and the accepted form, all of them at once."""

import math

import pytest

from cubelab_hub.domain.errors import FieldErrors
from cubelab_hub.domain.searchspace import SPACE_TYPES, grid_size, is_nested, iter_parameters, parse_search_space, space_types

EVERY_TYPE = {
    "optimizer": {"_type": "choice", "_value": ["sgd", "adam", 1, 0.5, True]},
    "layers": {"_type": "randint", "_value": [1, 5]},
    "dropout": {"_type": "uniform", "_value": [0, 0.5]},
    "batch": {"_type": "quniform", "_value": [16, 128, 16]},
    "lr": {"_type": "loguniform", "_value": [1e-5, 0.1]},
    "hidden": {"_type": "qloguniform", "_value": [8, 1024, 8]},
    "shift": {"_type": "normal", "_value": [0, 1]},
    "bias": {"_type": "qnormal", "_value": [-1, 2.5, 0.5]},
    "decay": {"_type": "lognormal", "_value": [-3, 1]},
    "warmup": {"_type": "qlognormal", "_value": [2, 1, 1]},
}

NESTED = {
    "optimizer": {"_type": "choice", "_value": [
        {"_name": "sgd", "momentum": {"_type": "uniform", "_value": [0, 0.99]},
         "schedule": {"_type": "choice", "_value": [{"_name": "step", "gamma": {"_type": "quniform", "_value": [0.1, 0.9, 0.1]}}, {"_name": "none"}]}},
        {"_name": "adam", "beta1": {"_type": "loguniform", "_value": [0.8, 0.999]}},
        {"_name": "plain"},
    ]},
    "lr": {"_type": "loguniform", "_value": [1e-4, 1e-1]},
}


def errors_of(data):
    with pytest.raises(FieldErrors) as info:
        parse_search_space(data)
    return info.value.errors


def test_every_type_in_its_documented_form_is_kept_as_written():
    assert parse_search_space(EVERY_TYPE) == EVERY_TYPE
    assert space_types(EVERY_TYPE) == set(SPACE_TYPES)
    assert not is_nested(EVERY_TYPE)


def test_nested_choice_is_parsed_at_every_level():
    parsed = parse_search_space(NESTED)
    assert parsed == NESTED
    assert is_nested(parsed)
    assert space_types(parsed) == {"choice", "uniform", "quniform", "loguniform"}
    paths = [where for where, _name, _spec in iter_parameters(parsed)]
    assert paths == [
        "search_space.optimizer",
        "search_space.optimizer._value[0].momentum",
        "search_space.optimizer._value[0].schedule",
        "search_space.optimizer._value[0].schedule._value[0].gamma",
        "search_space.optimizer._value[1].beta1",
        "search_space.lr",
    ]


def test_the_result_is_a_copy_without_foreign_state():
    data = {"x": {"_type": "uniform", "_value": [0, 1]}}
    parsed = parse_search_space(data)
    parsed["x"]["_value"].append(5)
    assert data["x"]["_value"] == [0, 1]


def test_choice_of_parameter_sets_is_a_plain_choice():
    # the Batch tuner's form: objects without _name are values, passed whole to the trial
    space = {"combo": {"_type": "choice", "_value": [{"lr": 0.1, "bs": 32}, {"lr": 0.01, "bs": [64, 128], "opt": None}]}}
    assert parse_search_space(space) == space
    assert not is_nested(space)


@pytest.mark.parametrize("spec,field,needle,accepted", [
    ({"_type": "uniform", "_value": [1, 1]}, "search_space.p._value", "low 1 is not less than high 1", "low < high"),
    ({"_type": "uniform", "_value": [2, 1]}, "search_space.p._value", "low 2 is not less than high 1", "[low, high]"),
    ({"_type": "uniform", "_value": [0, 1, 2]}, "search_space.p._value", "has 3 values, uniform takes 2", "[low, high]"),
    ({"_type": "uniform", "_value": ["0", 1]}, "search_space.p._value", "'0' is not a finite number", "numbers"),
    ({"_type": "uniform", "_value": [0, math.inf]}, "search_space.p._value", "inf is not a finite number", "numbers"),
    ({"_type": "uniform", "_value": [True, 2]}, "search_space.p._value", "True is not a finite number", "numbers"),
    ({"_type": "uniform", "_value": {"low": 0}}, "search_space.p._value", "must be a list, got an object", "[low, high]"),
    ({"_type": "randint", "_value": [0.5, 3]}, "search_space.p._value", "0.5 is not a whole number", "whole numbers"),
    ({"_type": "randint", "_value": [3, 3]}, "search_space.p._value", "not less than high", "high excluded"),
    ({"_type": "quniform", "_value": [0, 10]}, "search_space.p._value", "has 2 values, quniform takes 3", "[low, high, q]"),
    ({"_type": "quniform", "_value": [0, 10, 0]}, "search_space.p._value", "q 0 is not greater than 0", "q > 0"),
    ({"_type": "loguniform", "_value": [0, 1]}, "search_space.p._value", "low 0 is not greater than 0", "0 < low < high"),
    ({"_type": "qloguniform", "_value": [-1, 10, 1]}, "search_space.p._value", "low -1 is not greater than 0", "0 < low"),
    ({"_type": "normal", "_value": [0, 0]}, "search_space.p._value", "sigma 0 is not greater than 0", "[mu, sigma]"),
    ({"_type": "qnormal", "_value": [0, 1, -1]}, "search_space.p._value", "q -1 is not greater than 0", "[mu, sigma, q]"),
    ({"_type": "lognormal", "_value": [0, -2]}, "search_space.p._value", "sigma -2", "sigma > 0"),
    ({"_type": "qlognormal", "_value": [0, 1]}, "search_space.p._value", "has 2 values, qlognormal takes 3", "[mu, sigma, q]"),
    ({"_type": "gaussian", "_value": [0, 1]}, "search_space.p._type", "'gaussian' is not a search-space type", "qlognormal"),
    ({"_value": [0, 1]}, "search_space.p._type", "is missing", "one of choice"),
    ({"_type": "uniform"}, "search_space.p._value", "is missing", "[low, high]"),
    ({"_type": "uniform", "_value": [0, 1], "_default": 0.5}, "search_space.p._default", "is not a search-space key", '"_type" and "_value"'),
    ([0, 1], "search_space.p", "must be an object, got a list", '"_type"'),
    ({"_type": "choice", "_value": []}, "search_space.p._value", "has no options", "non-empty list"),
    ({"_type": "choice", "_value": "abc"}, "search_space.p._value", "must be a list, got text", "non-empty list"),
    ({"_type": "choice", "_value": [1, None]}, "search_space.p._value[1]", "None is not a choice option", "numbers, strings"),
    ({"_type": "choice", "_value": [1, [2, 3]]}, "search_space.p._value[1]", "[2, 3] is not a choice option", "numbers, strings"),
    ({"_type": "choice", "_value": [1, math.nan]}, "search_space.p._value[1]", "nan is not a choice option", "numbers, strings"),
])
def test_a_bad_parameter_names_its_path_and_the_accepted_form(spec, field, needle, accepted):
    errors = errors_of({"p": spec})
    [error] = errors
    assert error.field == field
    assert needle in error.message
    assert accepted in error.accepted


@pytest.mark.parametrize("data,field,needle", [
    ({}, "search_space", "has no parameters"),
    ([], "search_space", "must be an object, got a list"),
    ("lr: 0.1", "search_space", "must be an object, got text"),
    ({"--lr": {"_type": "uniform", "_value": [0, 1]}}, "search_space.--lr", "is not a parameter name"),
    ({"learning rate": {"_type": "uniform", "_value": [0, 1]}}, "search_space.learning rate", "is not a parameter name"),
    ({"x" * 101: {"_type": "uniform", "_value": [0, 1]}}, "search_space." + "x" * 101, "is not a parameter name"),
])
def test_the_space_itself_and_parameter_names(data, field, needle):
    [error] = errors_of(data)
    assert error.field == field and needle in error.message and error.accepted


def test_nested_choice_mistakes_are_found_inside_the_options():
    space = {"opt": {"_type": "choice", "_value": [
        {"_name": "sgd", "lr": {"_type": "uniform", "_value": [1, 0]}},
        {"_name": "sgd"},
        {"_name": "", "m": {"_type": "bogus", "_value": [0, 1]}},
    ]}}
    errors = {e.field: e for e in errors_of(space)}
    assert set(errors) == {
        "search_space.opt._value[0].lr._value",
        "search_space.opt._value[1]._name",
        "search_space.opt._value[2]._name",
        "search_space.opt._value[2].m._type",
    }
    assert "names two options" in errors["search_space.opt._value[1]._name"].message
    assert "is not an option name" in errors["search_space.opt._value[2]._name"].message


def test_options_with_and_without_name_do_not_mix():
    space = {"opt": {"_type": "choice", "_value": [{"_name": "sgd", "lr": {"_type": "uniform", "_value": [0, 1]}}, {"lr": 0.1}]}}
    [error] = errors_of(space)
    assert error.field == "search_space.opt._value[1]" and '"_name"' in error.message


def test_nesting_is_bounded():
    space: dict = {"_name": "leaf"}
    for level in range(12):
        space = {"_name": f"l{level}", "p": {"_type": "choice", "_value": [space]}}
    [error] = errors_of({"root": {"_type": "choice", "_value": [space]}})
    assert "levels deep" in error.message


def test_every_problem_is_reported_at_once():
    errors = errors_of({
        "a": {"_type": "uniform", "_value": [1, 0]},
        "b": {"_type": "loguniform", "_value": [-1, -2]},
        "c": {"_type": "choice", "_value": []},
        "bad name": {"_type": "uniform", "_value": [0, 1]},
        "ok": {"_type": "uniform", "_value": [0, 1]},
    })
    fields = [e.field for e in errors]
    assert fields == ["search_space.a._value", "search_space.b._value", "search_space.b._value", "search_space.c._value", "search_space.bad name"]
    # low >= high and low <= 0 are two problems of one field, each said
    assert {e.message for e in errors if e.field == "search_space.b._value"} == {
        "low -1 is not less than high -2", "low -1 is not greater than 0 (its logarithm is taken)"}


def test_field_prefix_is_the_callers():
    [error] = errors_of_prefixed({"x": {"_type": "uniform", "_value": [1, 0]}}, "body.space")
    assert error.field == "body.space.x._value"


def errors_of_prefixed(data, field):
    with pytest.raises(FieldErrors) as info:
        parse_search_space(data, field)
    return info.value.errors


# ---------------------------------------------------------------- agreement with NNI itself


def test_accepted_spaces_are_accepted_by_nni_and_formatted_by_its_tuners():
    hpo_utils = pytest.importorskip("nni.common.hpo_utils")
    for space in (EVERY_TYPE, NESTED):
        parsed = parse_search_space(space)
        assert hpo_utils.validate_search_space(parsed, raise_exception=True)
        formatted = hpo_utils.format_search_space(parsed)
        assert {spec.name for spec in formatted.values()} == {name for _w, name, _s in iter_parameters(parsed)}


@pytest.mark.parametrize("spec", [
    {"_type": "uniform", "_value": [1, 0]},
    {"_type": "loguniform", "_value": [0, 1]},
    {"_type": "normal", "_value": [0, 0]},
    {"_type": "randint", "_value": [0.5, 2]},
    {"_type": "quniform", "_value": [0, 1]},
])
def test_what_nni_refuses_is_refused_here(spec):
    hpo_utils = pytest.importorskip("nni.common.hpo_utils")
    with pytest.raises(ValueError):
        hpo_utils.validate_search_space({"p": spec}, raise_exception=True)
    assert errors_of({"p": spec})


GRIDS = [
    ({"a": {"_type": "choice", "_value": [1, 2, 3]}, "b": {"_type": "randint", "_value": [2, 5]}}, 9),
    ({"q": {"_type": "quniform", "_value": [0.05, 1, 0.25]}}, 5),
    ({"q": {"_type": "quniform", "_value": [16, 128, 16]}}, 8),
    ({"q": {"_type": "quniform", "_value": [1, 10, 3]}}, 4),
    ({"o": {"_type": "choice", "_value": [{"_name": "s", "m": {"_type": "choice", "_value": [1, 2]}, "n": {"_type": "randint", "_value": [0, 3]}},
                                           {"_name": "a"}]},
      "x": {"_type": "choice", "_value": ["u", "v"]}}, 14),
]


@pytest.mark.parametrize("space,size", GRIDS)
def test_grid_size(space, size):
    assert grid_size(space) == size


@pytest.mark.parametrize("space", [EVERY_TYPE, NESTED, {"x": {"_type": "uniform", "_value": [0, 1]}}])
def test_a_continuous_parameter_has_no_grid_size(space):
    assert grid_size(space) is None


@pytest.mark.parametrize("space,size", GRIDS)
def test_grid_size_is_what_nnis_grid_search_runs(space, size):
    nni = pytest.importorskip("nni")
    from nni.algorithms.hpo.gridsearch_tuner import GridSearchTuner

    tuner = GridSearchTuner()
    tuner.update_search_space(space)
    seen = 0
    with pytest.raises(nni.NoMoreTrialError):
        while seen <= size:
            tuner.generate_parameters(seen)
            seen += 1
    assert seen == size
