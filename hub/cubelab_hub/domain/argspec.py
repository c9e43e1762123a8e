"""Argument schemas: typed, named values checked and rendered as command-line flags.

An :class:`ArgSpec` is one entry of Cube Studio's grouped schema::

    {"group": {"--name": {"type": "str", "item_type": "", "label": "...",
                          "require": 1, "choice": [], "range": "", "default": "",
                          "placeholder": "", "describe": "", "editable": 1}}}

with eleven types (:data:`ARG_TYPES`). The same schema describes a job
template's arguments, and is meant to describe any set of typed values a user
fills in (search spaces, service settings), so nothing here knows about
templates or pipelines beyond the ``{{tasks.T.outputs.O}}`` reference syntax a
value may hold until a run resolves it.

Pure Python: no Jupyter, tornado or Kubernetes imports.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import FieldError

ARG_TYPES = ("int", "float", "bool", "str", "text", "enum", "multiple", "list", "dict", "json", "file")
ARG_TYPES_ACCEPTED = "one of " + ", ".join(ARG_TYPES)

ARG_NAME_RE = re.compile(r"^--?[A-Za-z0-9][A-Za-z0-9_.\-]*$")
ARG_NAME_ACCEPTED = "a command-line flag such as '--learning_rate' or '-n' (letters, digits, '_', '.', '-'), or images, workdir, command"

# Argument names without dashes that Cube Studio templates use as platform
# overrides rather than flags: 'images' replaces the task's image, 'workdir' its
# working directory, and 'command' is run with ``bash -c`` (the custom-image template).
PLATFORM_OVERRIDES = ("images", "workdir", "command")

# A reference to an upstream task's output inside an argument value.
REFERENCE_RE = re.compile(r"\{\{\s*tasks\.([A-Za-z0-9_\-]+)\.outputs\.([A-Za-z0-9_\-]+)\s*\}\}")


FLAG_ACCEPTED = "1 or 0 (true or false)"


def _as_flag(raw: dict, key: str, default: bool, field_name: str) -> bool:
    """A 0/1 switch of the schema (``require``, ``editable``). Cube Studio writes
    0/1; JSON users write true/false. Anything else ('yes', 2) has no sure meaning."""
    value = raw.get(key, default)
    if isinstance(value, bool):
        return value
    if type(value) is int and value in (0, 1):
        return bool(value)
    raise FieldError(f"{field_name}.{key}", f"{shorten(repr(value))} is not 0 or 1", FLAG_ACCEPTED)


@dataclass
class ArgSpec:
    """One typed, named value: an entry of the Cube Studio schema (a template's
    argument), rendered on a command line as its flag."""

    name: str  # the flag as written on the command line: "--epochs"
    group: str = "参数"
    type: str = "str"
    item_type: str = ""
    label: str = ""
    require: bool = False
    choice: list = field(default_factory=list)
    range: str = ""
    default: Any = ""
    placeholder: str = ""
    describe: str = ""
    editable: bool = True
    extra: dict = field(default_factory=dict)  # Cube Studio keys kept as given (EXTRA_SPEC_KEYS)
    sub_args: list[ArgSpec] = field(default_factory=list)  # the keys of a dict (or of each dict of a list)

    @property
    def is_override(self) -> bool:
        """A platform override (image, working directory, bash command), not a flag."""
        return self.name in PLATFORM_OVERRIDES

    @property
    def condition(self) -> str:
        """When the form shows this argument (Cube Studio's expression, kept as text)."""
        return str(self.extra.get("condition") or "")

    def to_schema(self) -> dict:
        data = {
            "type": self.type,
            "item_type": self.item_type,
            "label": self.label,
            "require": 1 if self.require else 0,
            "choice": list(self.choice),
            "range": self.range,
            "default": self.default,
            "placeholder": self.placeholder,
            "describe": self.describe,
            "editable": 1 if self.editable else 0,
        }
        data.update(self.extra)
        return data  # sub_args round-trip as given, through extra


_SPEC_KEYS = ("type", "item_type", "label", "require", "choice", "range", "default", "placeholder", "describe", "editable")
# Keys real Cube Studio templates also write, kept as given so they import and
# round-trip: 'regex' (a pattern text values must match, checked by
# coerce_arg_value), 'condition' (when a form shows the argument: an expression
# over other arguments that only the form evaluates, so it is kept as text) and
# 'sub_args' (the schema of a dict's keys, or of each dict of a list: parsed
# into ArgSpec.sub_args and checked by coerce_arg_value).
EXTRA_SPEC_KEYS = ("regex", "condition", "sub_args")
SPEC_KEYS_ACCEPTED = "an object with keys " + ", ".join(_SPEC_KEYS + EXTRA_SPEC_KEYS)
# A pattern is compiled and run on every value; a bound keeps that cheap.
MAX_REGEX_LENGTH = 1000


def range_problem(text: str) -> str | None:
    """Why ``text`` is not a range Cube Studio's own form would check, or None.

    Cube Studio never interprets ``range``: real templates hold placeholders
    such as '$min,$max' and single numbers such as '3'. Such a range is kept as
    text and not enforced; importers report it as a warning."""
    if not text:
        return None
    try:
        parse_range(text, "range")
    except FieldError as exc:
        return exc.message
    return None


def parse_arg_spec(group: str, name: str, raw: Any, field_name: str, warnings: list | None = None) -> ArgSpec:
    """One argument of the schema. With ``warnings`` (a list), a range that is not
    a range is kept as text and reported there as ``(field, message)``; without
    it, refused."""
    if not isinstance(raw, dict):
        raise FieldError(field_name, f"argument '{name}' must be an object, got {type(raw).__name__}", SPEC_KEYS_ACCEPTED)
    if not isinstance(name, str) or not (ARG_NAME_RE.fullmatch(name) or name in PLATFORM_OVERRIDES):
        raise FieldError(field_name, f"argument name '{name}' is not a flag", ARG_NAME_ACCEPTED)
    unknown = [k for k in raw if k not in _SPEC_KEYS and k not in EXTRA_SPEC_KEYS]
    if unknown:
        listed = ", ".join(f"'{shorten(k, 40)}'" for k in unknown)
        raise FieldError(f"{field_name}.{shorten(unknown[0], 40)}", f"argument '{name}' has unknown key(s) {listed}", SPEC_KEYS_ACCEPTED)
    regex = raw.get("regex", "")
    if regex not in (None, ""):
        _compile_regex(regex, f"{field_name}.regex")
    arg_type = raw.get("type", "str") or "str"
    if arg_type not in ARG_TYPES:
        raise FieldError(f"{field_name}.type", f"'{arg_type}' is not an argument type", ARG_TYPES_ACCEPTED)
    choice = raw.get("choice", []) or []
    if isinstance(choice, str):
        # Cube Studio sometimes stores choices as 'a,b,c'
        choice = [c.strip() for c in choice.split(",") if c.strip()]
    if not isinstance(choice, list):
        raise FieldError(f"{field_name}.choice", f"must be a list, got {type(choice).__name__}", "a list of allowed values")
    if arg_type in ("enum", "multiple") and not choice:
        raise FieldError(f"{field_name}.choice", f"type '{arg_type}' needs a non-empty 'choice' list", "a list of allowed values")
    rng = raw.get("range", "") or ""
    if rng:
        problem = range_problem(str(rng))
        if problem and warnings is None:
            parse_range(str(rng), f"{field_name}.range")
        if problem:
            warnings.append((f"{field_name}.range", f"{problem}; kept as text and not enforced"))
    condition = raw.get("condition", "")
    if condition not in (None, "") and not isinstance(condition, str):
        raise FieldError(f"{field_name}.condition", f"must be text, got {type(condition).__name__}", "an expression over other arguments, kept as text")
    sub_args = _parse_sub_args(raw.get("sub_args"), f"{field_name}.sub_args", warnings)
    extra = {k: v for k, v in raw.items() if k in EXTRA_SPEC_KEYS}
    spec = ArgSpec(
        name=name,
        group=group,
        type=arg_type,
        item_type=str(raw.get("item_type", "") or ""),
        label=str(raw.get("label", "") or ""),
        require=_as_flag(raw, "require", False, field_name),
        choice=choice,
        range=str(rng),
        default=raw.get("default", ""),
        placeholder=str(raw.get("placeholder", "") or ""),
        describe=str(raw.get("describe", "") or ""),
        editable=_as_flag(raw, "editable", True, field_name),
        extra=extra,
        sub_args=sub_args,
    )
    if spec.default not in (None, "") and not contains_reference(spec.default):
        coerce_arg_value(spec, spec.default, f"{field_name}.default")  # a default must be a valid value
    return spec


SUB_ARGS_ACCEPTED = 'an object of key -> argument spec, e.g. {"lr": {"type": "float"}}, or empty'


def _parse_sub_args(raw: Any, field_name: str, warnings: list | None) -> list[ArgSpec]:
    """``sub_args``: key -> spec of a dict's keys (keys are plain names, not flags)."""
    if raw in (None, "", {}, []):
        return []
    if not isinstance(raw, dict):
        raise FieldError(field_name, f"must be an object, got {type(raw).__name__}", SUB_ARGS_ACCEPTED)
    specs = []
    for key, spec_raw in raw.items():
        if not isinstance(key, str) or not key:
            raise FieldError(field_name, f"key {key!r} is not a name", SUB_ARGS_ACCEPTED)
        # parsed under a flag-shaped stand-in name: keys of a dict are not flags
        spec = parse_arg_spec("", "--sub_arg", spec_raw, f"{field_name}.{key}", warnings)
        spec.name = key
        specs.append(spec)
    return specs


def parse_args_schema(raw: Any, field_name: str = "args", warnings: list | None = None) -> list[ArgSpec]:
    """Cube Studio's grouped schema (dict, or its JSON text) -> ordered specs."""
    if raw in (None, "", {}):
        return []
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise FieldError(field_name, f"is not valid JSON ({exc.msg} at position {exc.pos})", '{"group": {"--name": {"type": "str", ...}}}') from None
    if not isinstance(raw, dict):
        raise FieldError(field_name, f"must be an object of groups, got {type(raw).__name__}", '{"group": {"--name": {"type": "str", ...}}}')
    specs: list[ArgSpec] = []
    seen: set[str] = set()
    for group, items in raw.items():
        if not isinstance(items, dict):
            raise FieldError(f"{field_name}.{group}", f"group '{group}' must be an object of arguments", '{"--name": {"type": "str", ...}}')
        for name, spec_raw in items.items():
            if name in seen:
                raise FieldError(f"{field_name}.{group}.{name}", f"argument '{name}' appears in more than one group", "each flag once")
            seen.add(name)
            specs.append(parse_arg_spec(group, name, spec_raw, f"{field_name}.{group}.{name}", warnings))
    return specs


def args_to_schema(specs: list[ArgSpec]) -> dict:
    schema: dict[str, dict] = {}
    for spec in specs:
        schema.setdefault(spec.group, {})[spec.name] = spec.to_schema()
    return schema


def parse_range(text: str, field_name: str) -> tuple[float | None, float | None]:
    """A numeric range ('1,100', '0~1', ',10') -> (min, max); None where open."""
    accepted = "'min,max' or 'min~max' (either side may be empty), e.g. '1,100'"
    sep = "~" if "~" in text else ","
    parts = text.split(sep)
    if len(parts) != 2:
        raise FieldError(field_name, f"'{text}' is not a range", accepted)
    bounds: list[float | None] = []
    for part in parts:
        part = part.strip()
        if not part:
            bounds.append(None)
            continue
        try:
            bounds.append(float(part))
        except ValueError:
            raise FieldError(field_name, f"'{part}' in '{text}' is not a number", accepted) from None
    low, high = bounds
    if low is not None and high is not None and low > high:
        raise FieldError(field_name, f"'{text}' has min above max", accepted)
    return low, high


def _compile_regex(pattern: Any, field_name: str) -> re.Pattern:
    accepted = f"a regular expression (Python syntax) of at most {MAX_REGEX_LENGTH} characters, or empty"
    if not isinstance(pattern, str):
        raise FieldError(field_name, f"must be text, got {type(pattern).__name__}", accepted)
    if len(pattern) > MAX_REGEX_LENGTH:
        raise FieldError(field_name, f"is {len(pattern)} characters, more than {MAX_REGEX_LENGTH}", accepted)
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise FieldError(field_name, f"'{shorten(pattern)}' is not a regular expression ({exc})", accepted) from None


def _check_regex(spec: ArgSpec, text: str, field_name: str) -> None:
    pattern = spec.extra.get("regex")
    if pattern in (None, ""):
        return
    # search, as Cube Studio's form tests its pattern: a pattern anchors itself with ^...$
    if not _compile_regex(pattern, f"{field_name}.regex").search(text):
        raise FieldError(field_name, f"'{shorten(text)}' does not match {shorten(pattern)}", f"text matching the regular expression {shorten(pattern)}")


def contains_reference(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value and bool(REFERENCE_RE.search(value))


def _json_text(value: Any, spec: ArgSpec, field_name: str, want: type | None, accepted: str) -> Any:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise FieldError(field_name, f"'{shorten(value)}' is not valid JSON ({exc.msg})", accepted) from None
    if want is not None and not isinstance(value, want):
        raise FieldError(field_name, f"must be a {spec.type}, got {type(value).__name__}", accepted)
    return value


def shorten(value: Any, limit: int = 60) -> str:
    """A value as text short enough to quote in an error message."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_item(spec: ArgSpec, item: Any, field_name: str) -> Any:
    kind = spec.item_type
    if kind in ("int", "float", "bool", "str"):
        sub = ArgSpec(name=spec.name, type=kind)
        return coerce_arg_value(sub, item, field_name)
    return item


def coerce_arg_value(spec: ArgSpec, value: Any, field_name: str) -> Any:
    """Check ``value`` against ``spec`` and return its typed form.

    Strings from forms are accepted where they parse exactly ("3" for int,
    "true" for bool); nothing is rounded or truncated.
    """
    t = spec.type
    if t == "int":
        accepted = "a whole number such as 3"
        if isinstance(value, bool):
            raise FieldError(field_name, "must be a whole number, got a boolean", accepted)
        if isinstance(value, float):
            if not value.is_integer():
                raise FieldError(field_name, f"{value} is not a whole number", accepted)
            value = int(value)
        elif isinstance(value, str):
            if not re.fullmatch(r"^\s*[-+]?\d+\s*$", value):
                raise FieldError(field_name, f"'{shorten(value)}' is not a whole number", accepted)
            value = int(value)
        elif not isinstance(value, int):
            raise FieldError(field_name, f"must be a whole number, got {type(value).__name__}", accepted)
        _check_range(spec, value, field_name)
        return value
    if t == "float":
        accepted = "a number such as 0.01"
        if isinstance(value, bool):
            raise FieldError(field_name, "must be a number, got a boolean", accepted)
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise FieldError(field_name, f"'{shorten(value)}' is not a number", accepted) from None
        elif isinstance(value, int):
            value = value  # keep ints exact
        elif not isinstance(value, float):
            raise FieldError(field_name, f"must be a number, got {type(value).__name__}", accepted)
        if isinstance(value, float) and not math.isfinite(value):
            raise FieldError(field_name, f"{value} is not a finite number", accepted)
        _check_range(spec, value, field_name)
        return value
    if t == "bool":
        accepted = "true or false"
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise FieldError(field_name, f"'{shorten(value)}' is not a boolean", accepted)
    if t in ("str", "text", "file"):
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise FieldError(field_name, f"must be text, got {type(value).__name__}", "a string")
        text = value if isinstance(value, str) else str(value)
        _check_regex(spec, text, field_name)
        return text
    if t == "enum":
        accepted = "one of " + ", ".join(repr(c) for c in spec.choice)
        if value not in spec.choice and str(value) not in [str(c) for c in spec.choice]:
            raise FieldError(field_name, f"'{shorten(value)}' is not one of the choices", accepted)
        return value
    if t == "multiple":
        accepted = "a list of (or comma-joined) values from " + ", ".join(repr(c) for c in spec.choice)
        items = [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value
        if not isinstance(items, list):
            raise FieldError(field_name, f"must be a list, got {type(value).__name__}", accepted)
        allowed = [str(c) for c in spec.choice]
        bad = [v for v in items if str(v) not in allowed]
        if bad:
            raise FieldError(field_name, f"{', '.join(repr(b) for b in bad)} not among the choices", accepted)
        return items
    if t == "list":
        accepted = 'a JSON list such as ["a", "b"]'
        items = _json_text(value, spec, field_name, list, accepted)
        return [_check_sub_args(spec, _check_item(spec, item, f"{field_name}[{i}]"), f"{field_name}[{i}]") for i, item in enumerate(items)]
    if t == "dict":
        return _check_sub_args(spec, _json_text(value, spec, field_name, dict, 'a JSON object such as {"k": "v"}'), field_name)
    if t == "json":
        return _json_text(value, spec, field_name, None, "any JSON value")
    raise FieldError(field_name, f"unknown type '{t}'", ARG_TYPES_ACCEPTED)  # pragma: no cover


def _check_sub_args(spec: ArgSpec, value: Any, field_name: str) -> Any:
    """A dict checked key by key against ``sub_args`` (keys it does not declare pass as given)."""
    if not spec.sub_args or not isinstance(value, dict):
        return value
    out = dict(value)
    for sub in spec.sub_args:
        where = f"{field_name}.{sub.name}"
        if out.get(sub.name) in (None, ""):
            if sub.require and sub.default in (None, ""):
                raise FieldError(where, "is required and has no value", f"a value for key '{sub.name}'")
            continue
        out[sub.name] = coerce_arg_value(sub, out[sub.name], where)
    return out


def _check_range(spec: ArgSpec, value: float, field_name: str) -> None:
    if not spec.range or range_problem(spec.range):
        return
    low, high = parse_range(spec.range, f"{field_name}.range")
    if (low is not None and value < low) or (high is not None and value > high):
        raise FieldError(field_name, f"{value} is outside the range {spec.range}", f"a value within {spec.range}")


def render_arg(spec: ArgSpec, value: Any) -> list[str]:
    """One typed value -> argv items: ``--name value``; a true bool is a bare flag,
    a false bool is left out; lists, dicts and JSON are JSON strings."""
    if value is None:
        return []
    if spec.type == "bool":
        return [spec.name] if value else []
    if spec.type in ("list", "dict", "json"):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    elif spec.type == "multiple":
        # Cube Studio's form submits multiple choices comma-joined
        text = ",".join(str(v) for v in value)
    elif isinstance(value, float):
        text = repr(value)
    else:
        text = str(value)
    return [spec.name, text]
