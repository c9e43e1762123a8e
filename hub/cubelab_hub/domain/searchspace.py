"""NNI search spaces, parsed strictly.

A search space is NNI's JSON: parameter name -> ``{"_type": ..., "_value": [...]}``.
``choice`` may nest: when every option is an object with a ``_name``, the option's
other keys are a sub-space sampled only when that option is chosen::

    {"optimizer": {"_type": "choice", "_value": [
        {"_name": "sgd", "momentum": {"_type": "uniform", "_value": [0, 0.99]}},
        {"_name": "adam"}]}}

NNI's own check (``nni.common.hpo_utils.validate_search_space``) only logs and
stops at the first problem; this parser refuses, and reports every problem at once
with its path (``search_space.optimizer._value[0].momentum._value``) and the
accepted form, so the experiment form can mark each one.

Pure Python.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from .errors import FieldError, FieldErrors

SPACE_TYPES = ("choice", "randint", "uniform", "quniform", "loguniform", "qloguniform",
               "normal", "qnormal", "lognormal", "qlognormal")
SPACE_TYPES_ACCEPTED = "one of " + ", ".join(SPACE_TYPES)

# Parameter names become '--name=value' argv items and keys in the trial's
# parameters, so they must read as a flag name and may not start with '-'.
PARAMETER_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
PARAMETER_NAME_ACCEPTED = "letters, digits, '_', '.' and '-', starting with a letter or '_' (it becomes --name=value)"
MAX_PARAMETER_NAME = 100
# a space nested deeper than this is a mistake, and recursion stays bounded
MAX_DEPTH = 8
MAX_CHOICES = 10_000

SPACE_ACCEPTED = 'an object of parameter name -> {"_type": "<type>", "_value": [...]}, e.g. {"lr": {"_type": "loguniform", "_value": [1e-4, 0.1]}}'
CHOICE_ACCEPTED = (
    "a non-empty list of numbers, strings, true/false or objects; for a nested choice, "
    'every option an object with a "_name" and the parameters of that option, e.g. [{"_name": "sgd", "lr": {...}}, {"_name": "adam"}]'
)
# The accepted form of each type's _value, in the words the form shows.
VALUE_ACCEPTED = {
    "randint": "[low, high] whole numbers with low < high (high excluded)",
    "uniform": "[low, high] numbers with low < high",
    "quniform": "[low, high, q] numbers with low < high and q > 0",
    "loguniform": "[low, high] numbers with 0 < low < high",
    "qloguniform": "[low, high, q] numbers with 0 < low < high and q > 0",
    "normal": "[mu, sigma] numbers with sigma > 0",
    "qnormal": "[mu, sigma, q] numbers with sigma > 0 and q > 0",
    "lognormal": "[mu, sigma] numbers with sigma > 0",
    "qlognormal": "[mu, sigma, q] numbers with sigma > 0 and q > 0",
}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def parse_search_space(data: Any, field: str = "search_space") -> dict:
    """The normalised NNI search space (a copy holding only ``_type``, ``_value``
    and, in nested options, ``_name``). Raises :class:`FieldErrors` with every problem."""
    errors: list[FieldError] = []
    space = _parse_space(data, field, errors, depth=0, top=True)
    if errors:
        raise FieldErrors(errors)
    return space


def _parse_space(data: Any, field: str, errors: list[FieldError], depth: int, top: bool) -> dict:
    if not isinstance(data, dict):
        errors.append(FieldError(field, f"must be an object, got {_kind(data)}", SPACE_ACCEPTED))
        return {}
    if top and not data:
        errors.append(FieldError(field, "has no parameters", SPACE_ACCEPTED))
    out: dict = {}
    for name, spec in data.items():
        where = f"{field}.{name}"
        if not isinstance(name, str) or not PARAMETER_NAME_RE.match(name) or len(name) > MAX_PARAMETER_NAME:
            errors.append(FieldError(where, f"'{name}' is not a parameter name", f"{PARAMETER_NAME_ACCEPTED}, at most {MAX_PARAMETER_NAME} characters"))
            continue
        parsed = _parse_parameter(spec, where, errors, depth)
        if parsed is not None:
            out[name] = parsed
    return out


def _parse_parameter(spec: Any, field: str, errors: list[FieldError], depth: int) -> dict | None:
    if not isinstance(spec, dict):
        errors.append(FieldError(field, f"must be an object, got {_kind(spec)}", '{"_type": "<type>", "_value": [...]}'))
        return None
    ok = True
    for key in spec:
        if key not in ("_type", "_value"):
            errors.append(FieldError(f"{field}.{key}", "is not a search-space key", '"_type" and "_value"'))
            ok = False
    type_ = spec.get("_type")
    if "_type" not in spec:
        errors.append(FieldError(f"{field}._type", "is missing", SPACE_TYPES_ACCEPTED))
        return None
    if type_ not in SPACE_TYPES:
        errors.append(FieldError(f"{field}._type", f"{type_!r} is not a search-space type", SPACE_TYPES_ACCEPTED))
        return None
    if "_value" not in spec:
        errors.append(FieldError(f"{field}._value", "is missing", CHOICE_ACCEPTED if type_ == "choice" else VALUE_ACCEPTED[type_]))
        return None
    value = spec["_value"]
    before = len(errors)
    if type_ == "choice":
        parsed = _parse_choice(value, f"{field}._value", errors, depth)
    else:
        parsed = _parse_range(type_, value, f"{field}._value", errors)
    if not ok or len(errors) > before:
        return None
    return {"_type": type_, "_value": parsed}


def _parse_range(type_: str, value: Any, field: str, errors: list[FieldError]) -> list:
    accepted = VALUE_ACCEPTED[type_]
    size = 3 if type_.startswith("q") else 2
    if not isinstance(value, list):
        errors.append(FieldError(field, f"must be a list, got {_kind(value)}", accepted))
        return []
    if len(value) != size:
        errors.append(FieldError(field, f"has {len(value)} values, {type_} takes {size}", accepted))
        return []
    if type_ == "randint":
        bad = [v for v in value if isinstance(v, bool) or not isinstance(v, int)]
        if bad:
            errors.append(FieldError(field, f"{bad[0]!r} is not a whole number", accepted))
            return []
    elif not all(_is_number(v) for v in value):
        bad = next(v for v in value if not _is_number(v))
        errors.append(FieldError(field, f"{bad!r} is not a finite number", accepted))
        return []
    if "normal" in type_:
        sigma = value[1]
        if sigma <= 0:
            errors.append(FieldError(field, f"sigma {sigma} is not greater than 0", accepted))
    else:
        low, high = value[0], value[1]
        if low >= high:
            errors.append(FieldError(field, f"low {low} is not less than high {high}", accepted))
        if "log" in type_ and low <= 0:
            errors.append(FieldError(field, f"low {low} is not greater than 0 (its logarithm is taken)", accepted))
    if size == 3 and value[2] <= 0:
        errors.append(FieldError(field, f"q {value[2]} is not greater than 0", accepted))
    return list(value)


def _parse_choice(value: Any, field: str, errors: list[FieldError], depth: int) -> list:
    if not isinstance(value, list):
        errors.append(FieldError(field, f"must be a list, got {_kind(value)}", CHOICE_ACCEPTED))
        return []
    if not value:
        errors.append(FieldError(field, "has no options", CHOICE_ACCEPTED))
        return []
    if len(value) > MAX_CHOICES:
        errors.append(FieldError(field, f"has {len(value)} options, more than {MAX_CHOICES}", CHOICE_ACCEPTED))
        return []
    named = [isinstance(v, dict) and "_name" in v for v in value]
    if any(named) and not all(named):
        # NNI then samples the objects as plain values and ignores their sub-spaces: surely a slip
        i = named.index(False)
        errors.append(FieldError(f"{field}[{i}]", "has no \"_name\" while other options of this nested choice do", CHOICE_ACCEPTED))
        return []
    if all(named):
        return _parse_nested(value, field, errors, depth)
    out = []
    for i, option in enumerate(value):
        if isinstance(option, bool) or isinstance(option, str) or _is_number(option):
            out.append(option)
        elif isinstance(option, dict):
            # a combination of values (the Batch tuner's form), passed to the trial as one object
            out.append(_plain_json(option, f"{field}[{i}]", errors))
        else:
            errors.append(FieldError(f"{field}[{i}]", f"{_shown(option)} is not a choice option", CHOICE_ACCEPTED))
    return out


def _parse_nested(value: list, field: str, errors: list[FieldError], depth: int) -> list:
    if depth + 1 >= MAX_DEPTH:
        errors.append(FieldError(field, f"nests choices more than {MAX_DEPTH} levels deep", "at most 8 levels of nested choice"))
        return []
    out = []
    seen: set[str] = set()
    for i, option in enumerate(value):
        where = f"{field}[{i}]"
        name = option["_name"]
        if not isinstance(name, str) or not name.strip():
            errors.append(FieldError(f"{where}._name", f"{_shown(name)} is not an option name", "a non-empty string naming the option"))
        elif name in seen:
            errors.append(FieldError(f"{where}._name", f"'{name}' names two options", "a different _name for each option"))
        else:
            seen.add(name)
        sub = {k: v for k, v in option.items() if k != "_name"}
        parsed = _parse_space(sub, where, errors, depth + 1, top=False)
        out.append({"_name": name, **parsed})
    return out


def _plain_json(value: Any, field: str, errors: list[FieldError], depth: int = 0) -> Any:
    """A JSON value the trial receives as is (no NaN, no infinity: JSON has none)."""
    if depth > MAX_DEPTH:
        errors.append(FieldError(field, f"nests more than {MAX_DEPTH} levels deep", "a JSON value"))
        return None
    if value is None or isinstance(value, (bool, str)) or _is_number(value):
        return value
    if isinstance(value, list):
        return [_plain_json(v, f"{field}[{i}]", errors, depth + 1) for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                errors.append(FieldError(field, f"key {key!r} is not text", "an object with text keys"))
                continue
            out[key] = _plain_json(item, f"{field}.{key}", errors, depth + 1)
        return out
    errors.append(FieldError(field, f"{_shown(value)} is not a JSON value", "numbers (finite), strings, true/false, null, lists and objects"))
    return None


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null", int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)


def _shown(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------- reading a parsed space


def iter_parameters(space: dict, field: str = "search_space") -> Iterator[tuple[str, str, dict]]:
    """``(field path, name, spec)`` of every parameter, nested ones included,
    in document order."""
    for name, spec in space.items():
        where = f"{field}.{name}"
        yield where, name, spec
        if spec["_type"] == "choice" and _nested_options(spec["_value"]):
            for i, option in enumerate(spec["_value"]):
                sub = {k: v for k, v in option.items() if k != "_name"}
                yield from iter_parameters(sub, f"{where}._value[{i}]")


def _nested_options(options: list) -> bool:
    return bool(options) and all(isinstance(o, dict) and "_name" in o for o in options)


def space_types(space: dict) -> set[str]:
    """Every ``_type`` the space uses, nested ones included."""
    return {spec["_type"] for _, _, spec in iter_parameters(space)}


def is_nested(space: dict) -> bool:
    """Whether some ``choice`` has options with sub-spaces (``_name`` objects)."""
    return any(spec["_type"] == "choice" and _nested_options(spec["_value"]) for _, _, spec in iter_parameters(space))
