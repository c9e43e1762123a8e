"""Job templates: what an admin publishes and a pipeline task instantiates.

A template is an image (or, on the local engine, a built-in runner), a command,
and an argument schema in Cube Studio's shape::

    {"group": {"--name": {"type": "str", "item_type": "", "label": "...",
                          "require": 1, "choice": [], "range": "", "default": "",
                          "placeholder": "", "describe": "", "editable": 1}}}

so Cube Studio's templates import unchanged. Kubeflow Pipelines component YAML
(``name / inputs / outputs / implementation.container``) imports too: inputs
become arguments, outputs become task outputs.

Pure Python: no Jupyter, tornado or Kubernetes imports.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from .errors import FieldError, FieldErrors
from .formats import parse_volume_mounts, validate_dns_label

ARG_TYPES = ("int", "float", "bool", "str", "text", "enum", "multiple", "list", "dict", "json", "file")
ARG_TYPES_ACCEPTED = "one of " + ", ".join(ARG_TYPES)
VERSIONS = ("Release", "Alpha")
VERSIONS_ACCEPTED = "'Release' (visible to everyone) or 'Alpha' (admins only)"
TEMPLATE_KINDS = ("container", "python", "shell", "notebook", "logical")

# Env keys of a template that change how tasks run (DESIGN.md section 2).
RESOURCE_ENV_KEYS = ("TASK_RESOURCE_CPU", "TASK_RESOURCE_MEMORY", "TASK_RESOURCE_GPU")
NO_RESOURCE_CHECK = "NO_RESOURCE_CHECK"

ARG_NAME_RE = re.compile(r"^--?[A-Za-z0-9][A-Za-z0-9_.\-]*$")
ARG_NAME_ACCEPTED = "a command-line flag such as '--learning_rate' or '-n' (letters, digits, '_', '.', '-')"
ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ENV_ACCEPTED = "one 'KEY=value' per line, KEY of letters, digits and '_' not starting with a digit"
OUTPUT_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
OUTPUT_NAME_ACCEPTED = "letters, digits, '_' and '-', starting with a letter or '_'"
# 'path' addresses the task's whole output directory, so no declared output may take it.
RESERVED_OUTPUT_NAMES = frozenset({"path"})

# A reference to an upstream task's output inside an argument value.
REFERENCE_RE = re.compile(r"\{\{\s*tasks\.([A-Za-z0-9_\-]+)\.outputs\.([A-Za-z0-9_\-]+)\s*\}\}")


def _as_flag(value: Any) -> bool:
    """Cube Studio writes 0/1; JSON users write true/false."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


# ---------------------------------------------------------------- argument schema


@dataclass
class ArgSpec:
    """One argument of a template (one entry of the Cube Studio schema)."""

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
    extra: dict = field(default_factory=dict)  # keys we keep but do not interpret (condition, regex, ...)

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
        return data


_SPEC_KEYS = ("type", "item_type", "label", "require", "choice", "range", "default", "placeholder", "describe", "editable")


def parse_arg_spec(group: str, name: str, raw: Any, field_name: str) -> ArgSpec:
    if not isinstance(raw, dict):
        raise FieldError(field_name, f"argument '{name}' must be an object, got {type(raw).__name__}", "an object with keys " + ", ".join(_SPEC_KEYS))
    if not isinstance(name, str) or not ARG_NAME_RE.match(name):
        raise FieldError(field_name, f"argument name '{name}' is not a flag", ARG_NAME_ACCEPTED)
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
        _parse_range(str(rng), f"{field_name}.range")
    extra = {k: v for k, v in raw.items() if k not in _SPEC_KEYS}
    spec = ArgSpec(
        name=name,
        group=group,
        type=arg_type,
        item_type=str(raw.get("item_type", "") or ""),
        label=str(raw.get("label", "") or ""),
        require=_as_flag(raw.get("require", 0)),
        choice=choice,
        range=str(rng),
        default=raw.get("default", ""),
        placeholder=str(raw.get("placeholder", "") or ""),
        describe=str(raw.get("describe", "") or ""),
        editable=_as_flag(raw.get("editable", 1)),
        extra=extra,
    )
    if spec.default not in (None, "") and not contains_reference(spec.default):
        coerce_arg_value(spec, spec.default, f"{field_name}.default")  # a default must be a valid value
    return spec


def parse_args_schema(raw: Any, field_name: str = "args") -> list[ArgSpec]:
    """Cube Studio's grouped schema (dict, or its JSON text) -> ordered specs."""
    if raw in (None, "", {}):
        return []
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise FieldError(field_name, f"is not valid JSON ({exc.msg} at position {exc.pos})", '{"group": {"--name": {"type": "str", ...}}}')
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
            specs.append(parse_arg_spec(group, name, spec_raw, f"{field_name}.{group}.{name}"))
    return specs


def args_to_schema(specs: list[ArgSpec]) -> dict:
    schema: dict[str, dict] = {}
    for spec in specs:
        schema.setdefault(spec.group, {})[spec.name] = spec.to_schema()
    return schema


def _parse_range(text: str, field_name: str) -> tuple[float | None, float | None]:
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
            raise FieldError(field_name, f"'{part}' in '{text}' is not a number", accepted)
    low, high = bounds
    if low is not None and high is not None and low > high:
        raise FieldError(field_name, f"'{text}' has min above max", accepted)
    return low, high


def contains_reference(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value and bool(REFERENCE_RE.search(value))


def _json_text(value: Any, spec: ArgSpec, field_name: str, want: type | None, accepted: str) -> Any:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise FieldError(field_name, f"'{_short(value)}' is not valid JSON ({exc.msg})", accepted)
    if want is not None and not isinstance(value, want):
        raise FieldError(field_name, f"must be a {spec.type}, got {type(value).__name__}", accepted)
    return value


def _short(value: Any, limit: int = 60) -> str:
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
            if not re.match(r"^\s*[-+]?\d+\s*$", value):
                raise FieldError(field_name, f"'{_short(value)}' is not a whole number", accepted)
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
                raise FieldError(field_name, f"'{_short(value)}' is not a number", accepted)
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
        raise FieldError(field_name, f"'{_short(value)}' is not a boolean", accepted)
    if t in ("str", "text", "file"):
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise FieldError(field_name, f"must be text, got {type(value).__name__}", "a string")
        return value if isinstance(value, str) else str(value)
    if t == "enum":
        accepted = "one of " + ", ".join(repr(c) for c in spec.choice)
        if value not in spec.choice and str(value) not in [str(c) for c in spec.choice]:
            raise FieldError(field_name, f"'{_short(value)}' is not one of the choices", accepted)
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
        return [_check_item(spec, item, f"{field_name}[{i}]") for i, item in enumerate(items)]
    if t == "dict":
        return _json_text(value, spec, field_name, dict, 'a JSON object such as {"k": "v"}')
    if t == "json":
        return _json_text(value, spec, field_name, None, "any JSON value")
    raise FieldError(field_name, f"unknown type '{t}'", ARG_TYPES_ACCEPTED)  # pragma: no cover


def _check_range(spec: ArgSpec, value: float, field_name: str) -> None:
    if not spec.range:
        return
    low, high = _parse_range(spec.range, f"{field_name}.range")
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


# ---------------------------------------------------------------- env lines


def parse_env_lines(text: Any, field_name: str = "env") -> dict[str, str]:
    """``K=V`` lines (also accepts a dict) -> ordered dict. Blank lines and
    ``#`` comments are allowed; a key given twice is an error (ambiguous)."""
    if text in (None, ""):
        return {}
    if isinstance(text, dict):
        out = {}
        for key, value in text.items():
            if not isinstance(key, str) or not ENV_KEY_RE.match(key):
                raise FieldError(field_name, f"'{key}' is not an environment variable name", ENV_ACCEPTED)
            if isinstance(value, (dict, list)) or value is None:
                raise FieldError(field_name, f"value of '{key}' must be text", ENV_ACCEPTED)
            out[key] = str(value).lower() if isinstance(value, bool) else str(value)
        return out
    if not isinstance(text, str):
        raise FieldError(field_name, f"must be text, got {type(text).__name__}", ENV_ACCEPTED)
    env: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise FieldError(field_name, f"line {lineno} '{_short(line)}' has no '='", ENV_ACCEPTED)
        key, _, value = line.partition("=")
        key = key.strip()
        if not ENV_KEY_RE.match(key):
            raise FieldError(field_name, f"line {lineno}: '{key}' is not an environment variable name", ENV_ACCEPTED)
        if key in env:
            raise FieldError(field_name, f"line {lineno}: '{key}' is set twice", ENV_ACCEPTED)
        env[key] = value.strip()
    return env


def format_env_lines(env: dict[str, str]) -> str:
    return "\n".join(f"{k}={v}" for k, v in env.items())


# ---------------------------------------------------------------- template


@dataclass
class TemplateOutput:
    """A named output of a task. ``flag``: when set (Kubeflow ``outputPath``), the
    engine passes ``flag <file path>`` so the program knows where to write it."""

    name: str
    description: str = ""
    type: str = "String"
    flag: str | None = None

    def to_dict(self) -> dict:
        return {"name": self.name, "description": self.description, "type": self.type, "flag": self.flag}


@dataclass
class JobTemplate:
    name: str
    version: str = "Release"
    kind: str = "container"  # container | python | shell | notebook | logical (built-ins run on one machine)
    category: str = "base"
    category_index: int = 0
    image: str = ""
    workdir: str = ""
    command: list[str] = field(default_factory=list)  # entrypoint argv, before the rendered arguments
    args: list[ArgSpec] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    volume_mount: str = ""
    service_account: str = ""
    help_url: str = ""
    description: str = ""
    outputs: list[TemplateOutput] = field(default_factory=list)
    # Literal argv items that follow the command (Kubeflow constants); rendered before arguments.
    fixed_args: list[str] = field(default_factory=list)
    builtin: bool = False

    @property
    def ref(self) -> tuple[str, str]:
        return (self.name, self.version)

    @property
    def released(self) -> bool:
        return self.version == "Release"

    @property
    def no_resource_check(self) -> bool:
        return self.env.get(NO_RESOURCE_CHECK, "").strip().lower() in ("true", "1", "yes")

    def arg(self, name: str) -> ArgSpec | None:
        for spec in self.args:
            if spec.name == name:
                return spec
        return None

    def output(self, name: str) -> TemplateOutput | None:
        for out in self.outputs:
            if out.name == name:
                return out
        return None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "version": self.version,
            "kind": self.kind,
            "category": self.category,
            "category_index": self.category_index,
            "image": self.image,
            "workdir": self.workdir,
            "command": list(self.command),
            "fixed_args": list(self.fixed_args),
            "args": args_to_schema(self.args),
            "env": format_env_lines(self.env),
            "volume_mount": self.volume_mount,
            "service_account": self.service_account,
            "help_url": self.help_url,
            "description": self.description,
            "outputs": [o.to_dict() for o in self.outputs],
            "builtin": self.builtin,
        }


def _str_field(data: dict, key: str, errors: list, default: str = "") -> str:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        errors.append(FieldError(key, f"must be text, got {type(value).__name__}", "a string"))
        return default
    return value


def template_from_dict(data: Any) -> JobTemplate:
    """Build and check a template from our own JSON shape (the REST body).

    Collects every field error and raises :class:`FieldErrors` if any.
    """
    if not isinstance(data, dict):
        raise FieldErrors([FieldError("template", f"must be an object, got {type(data).__name__}", "a JSON object")])
    errors: list[FieldError] = []
    known = {
        "name", "version", "kind", "category", "category_index", "image", "workdir", "command", "fixed_args",
        "args", "env", "volume_mount", "service_account", "help_url", "description", "outputs", "builtin",
    }
    for key in data:
        if key not in known:
            errors.append(FieldError(key, "is not a template field", "fields " + ", ".join(sorted(known))))
    name = data.get("name")
    try:
        validate_dns_label(name, "name")
    except FieldError as exc:
        errors.append(exc)
    version = data.get("version", "Release")
    if version not in VERSIONS:
        errors.append(FieldError("version", f"'{version}' is not a version", VERSIONS_ACCEPTED))
    kind = data.get("kind", "container")
    if kind not in TEMPLATE_KINDS:
        errors.append(FieldError("kind", f"'{kind}' is not a template kind", "one of " + ", ".join(TEMPLATE_KINDS)))
    category_index = data.get("category_index", 0)
    if isinstance(category_index, bool) or not isinstance(category_index, int):
        errors.append(FieldError("category_index", f"must be a whole number, got {category_index!r}", "a whole number (display order)"))
        category_index = 0
    command = _parse_argv(data.get("command", []), "command", errors)
    fixed_args = _parse_argv(data.get("fixed_args", []), "fixed_args", errors)
    args: list[ArgSpec] = []
    try:
        args = parse_args_schema(data.get("args"), "args")
    except FieldError as exc:
        errors.append(exc)
    env: dict[str, str] = {}
    try:
        env = parse_env_lines(data.get("env"), "env")
        _check_template_env(env, "env")
    except FieldError as exc:
        errors.append(exc)
    volume_mount = _str_field(data, "volume_mount", errors)
    try:
        parse_volume_mounts(volume_mount, "volume_mount")
    except FieldError as exc:
        errors.append(exc)
    outputs: list[TemplateOutput] = []
    raw_outputs = data.get("outputs", []) or []
    if not isinstance(raw_outputs, list):
        errors.append(FieldError("outputs", "must be a list", '[{"name": "model", "description": "..."}]'))
    else:
        seen: set[str] = set()
        for i, raw in enumerate(raw_outputs):
            try:
                out = _parse_output(raw, f"outputs[{i}]")
            except FieldError as exc:
                errors.append(exc)
                continue
            if out.name in seen:
                errors.append(FieldError(f"outputs[{i}].name", f"output '{out.name}' is declared twice", "unique output names"))
            seen.add(out.name)
            outputs.append(out)
    tpl = JobTemplate(
        name=name if isinstance(name, str) else "",
        version=version if isinstance(version, str) else "Release",
        kind=kind if isinstance(kind, str) else "container",
        category=_str_field(data, "category", errors, "base") or "base",
        category_index=category_index,
        image=_str_field(data, "image", errors),
        workdir=_str_field(data, "workdir", errors),
        command=command,
        fixed_args=fixed_args,
        args=args,
        env=env,
        volume_mount=volume_mount,
        service_account=_str_field(data, "service_account", errors),
        help_url=_str_field(data, "help_url", errors),
        description=_str_field(data, "description", errors),
        outputs=outputs,
        builtin=bool(data.get("builtin", False)),
    )
    if tpl.kind == "container" and not tpl.image and not tpl.command:
        errors.append(FieldError("image", "a container template needs an image or a command", "an image reference such as 'python:3.11'"))
    if errors:
        raise FieldErrors(errors)
    return tpl


def _parse_argv(value: Any, field_name: str, errors: list) -> list[str]:
    """A command as a list of strings, or one string split with shell quoting rules
    (Cube Studio stores commands as text). Only split: the engines never hand a
    template command to a shell.
    """
    if value in (None, ""):
        return []
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as exc:
            errors.append(FieldError(field_name, f"'{_short(value)}' cannot be split into arguments ({exc})", '["python", "train.py"] or "python train.py"'))
            return []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    errors.append(FieldError(field_name, "must be a list of strings", '["python", "train.py"]'))
    return []


def _parse_output(raw: Any, field_name: str) -> TemplateOutput:
    if isinstance(raw, str):
        raw = {"name": raw}
    if not isinstance(raw, dict):
        raise FieldError(field_name, "must be an object", '{"name": "model", "description": "..."}')
    name = raw.get("name")
    if not isinstance(name, str) or not OUTPUT_NAME_RE.match(name):
        raise FieldError(f"{field_name}.name", f"'{name}' is not an output name", OUTPUT_NAME_ACCEPTED)
    if name in RESERVED_OUTPUT_NAMES:
        raise FieldError(f"{field_name}.name", f"'{name}' is reserved for the task's output directory", "any other name")
    flag = raw.get("flag")
    if flag is not None and (not isinstance(flag, str) or not ARG_NAME_RE.match(flag)):
        raise FieldError(f"{field_name}.flag", f"'{flag}' is not a flag", ARG_NAME_ACCEPTED)
    return TemplateOutput(name=name, description=str(raw.get("description", "") or ""), type=str(raw.get("type", "String") or "String"), flag=flag)


def _check_template_env(env: dict[str, str], field_name: str) -> None:
    """``TASK_RESOURCE_*`` override task resources, so they must parse."""
    from .formats import parse_cpu, parse_gpu, parse_memory

    parsers = {"TASK_RESOURCE_CPU": parse_cpu, "TASK_RESOURCE_MEMORY": parse_memory, "TASK_RESOURCE_GPU": parse_gpu}
    for key, parser in parsers.items():
        if key in env:
            parser(env[key], f"{field_name}.{key}")
    if NO_RESOURCE_CHECK in env and env[NO_RESOURCE_CHECK].strip().lower() not in ("true", "false", "1", "0", "yes", "no"):
        raise FieldError(f"{field_name}.{NO_RESOURCE_CHECK}", f"'{env[NO_RESOURCE_CHECK]}' is not a boolean", "true or false")


# ---------------------------------------------------------------- importers


def _k8s_name(text: str) -> str:
    """A display name ('Model Hub', 'PaddleJob') -> a k8s-safe template name."""
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1-\2", text.strip())
    name = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return name[:63].strip("-")


# Keys of Cube Studio's template JSON this importer reads; anything else with a
# value is reported by cube_studio_ignored_fields (never dropped silently).
CUBE_STUDIO_KEYS = frozenset({
    "image_name", "images", "image", "group_name", "project_name", "project", "job_template_expand", "expand",
    "job_template_name", "name", "job_template_version", "version", "job_template_workdir", "workdir",
    "job_template_command", "entrypoint", "command", "job_template_args", "args", "job_template_env", "env",
    "job_template_volume", "volume_mount", "job_template_account", "accounts", "service_account", "help_url",
    "job_template_describe", "describe", "description",
    # bookkeeping of Cube Studio's own database, meaningless elsewhere
    "id", "created_on", "changed_on", "created_by", "changed_by", "created_by_fk", "changed_by_fk", "image_describe",
    "project_id", "images_id", "gitpath",
})


def cube_studio_ignored_fields(data: Any) -> list[str]:
    """Fields of a Cube Studio template that CubeLab does not carry over (e.g.
    ``privileged``, ``hostAliases``), so the importer can say so."""
    if not isinstance(data, dict):
        return []
    return sorted(k for k, v in data.items() if k not in CUBE_STUDIO_KEYS and v not in (None, "", 0, False, [], {}))


def import_cube_studio_template(data: Any) -> JobTemplate:
    """Cube Studio template JSON -> :class:`JobTemplate`.

    Accepts both shapes Cube Studio writes: the registration form
    (``job_template_name``, ``image_name``, ``job_template_args`` ...) and the
    database export (``name``, ``images``, ``project``, ``args``, ``entrypoint`` ...).
    """
    if not isinstance(data, dict):
        raise FieldErrors([FieldError("template", "must be a JSON object", "a Cube Studio job template export")])

    def pick(*keys: str, default: Any = "") -> Any:
        for key in keys:
            if key in data and data[key] not in (None,):
                return data[key]
        return default

    images = pick("image_name", "images", "image")
    if isinstance(images, dict):
        images = images.get("name", "")
    project = pick("group_name", "project_name", "project", default="base")
    category_index = 0
    if isinstance(project, dict):
        expand = project.get("expand") or {}
        if isinstance(expand, str):
            try:
                expand = json.loads(expand or "{}")
            except json.JSONDecodeError:
                expand = {}
        category_index = int(expand.get("index", 0) or 0) if isinstance(expand, dict) else 0
        project = project.get("name", "base")
    expand = pick("job_template_expand", "expand", default={})
    if isinstance(expand, str):
        try:
            expand = json.loads(expand or "{}")
        except json.JSONDecodeError:
            raise FieldErrors([FieldError("expand", "is not valid JSON", "a JSON object such as {\"index\": 1, \"help_url\": \"...\"}")])
    if not isinstance(expand, dict):
        expand = {}
    category_index = int(expand.get("index", category_index) or category_index) if str(expand.get("index", "")).lstrip("-").isdigit() else category_index
    name = pick("job_template_name", "name")
    body = {
        "name": _k8s_name(name) if isinstance(name, str) and not re.match(r"^[a-z0-9-]+$", name) else name,
        "version": pick("job_template_version", "version", default="Release") or "Release",
        "kind": "container",
        "category": project or "base",
        "category_index": category_index,
        "image": images or "",
        "workdir": pick("job_template_workdir", "workdir"),
        "command": pick("job_template_command", "entrypoint", "command", default=[]),
        "args": pick("job_template_args", "args", default={}),
        "env": pick("job_template_env", "env"),
        "volume_mount": pick("job_template_volume", "volume_mount"),
        "service_account": pick("job_template_account", "accounts", "service_account"),
        "help_url": expand.get("help_url") or expand.get("help") or pick("help_url"),
        "description": pick("job_template_describe", "describe", "description"),
    }
    return template_from_dict(body)


_KFP_TYPES = {
    "string": "str",
    "str": "str",
    "integer": "int",
    "int": "int",
    "float": "float",
    "double": "float",
    "boolean": "bool",
    "bool": "bool",
    "jsonobject": "dict",
    "dict": "dict",
    "jsonarray": "list",
    "list": "list",
    "json": "json",
}


def import_kfp_component(text_or_data: Any, *, category: str = "kubeflow", version: str = "Release") -> JobTemplate:
    """Kubeflow Pipelines component YAML (v1 ``name/inputs/outputs/implementation.container``).

    Inputs become arguments: an input's flag is the literal that precedes its
    ``{inputValue: X}`` in ``args`` (``--x`` when it has none); inputs inside
    ``if: {cond: {isPresent: X}}`` blocks are optional; ``default``/``optional`` are
    kept. Outputs (``{outputPath: Y}``) become task outputs whose flag receives
    the file path to write.
    """
    import yaml  # pyyaml: a dependency of the project; only needed here

    data = text_or_data
    if isinstance(text_or_data, (str, bytes)):
        try:
            data = yaml.safe_load(text_or_data)
        except yaml.YAMLError as exc:
            raise FieldErrors([FieldError("component", f"is not valid YAML ({exc})", "a Kubeflow Pipelines component YAML")])
    if not isinstance(data, dict):
        raise FieldErrors([FieldError("component", "must be a mapping", "name, inputs, outputs, implementation.container")])
    errors: list[FieldError] = []
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise FieldErrors([FieldError("name", "is missing", "the component's name")])
    container = (data.get("implementation") or {}).get("container") if isinstance(data.get("implementation"), dict) else None
    if not isinstance(container, dict):
        raise FieldErrors([FieldError("implementation.container", "is missing", "implementation: {container: {image, command, args}}")])
    inputs = data.get("inputs") or []
    outputs = data.get("outputs") or []
    if not isinstance(inputs, list):
        raise FieldErrors([FieldError("inputs", "must be a list", "- {name: X, type: String}")])
    if not isinstance(outputs, list):
        raise FieldErrors([FieldError("outputs", "must be a list", "- {name: Y, type: String}")])
    input_by_name: dict[str, dict] = {}
    for i, item in enumerate(inputs):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            errors.append(FieldError(f"inputs[{i}]", "must have a name", "{name: X, type: String}"))
            continue
        input_by_name[item["name"]] = item
    output_by_name: dict[str, dict] = {}
    for i, item in enumerate(outputs):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            errors.append(FieldError(f"outputs[{i}]", "must have a name", "{name: Y, type: String}"))
            continue
        output_by_name[item["name"]] = item

    flags: dict[str, str] = {}  # input name -> flag
    out_flags: dict[str, str] = {}
    conditional: set[str] = set()
    fixed: list[str] = []

    def walk(items: Any, in_condition: str | None) -> None:
        pending_literal: str | None = None
        if not isinstance(items, list):
            errors.append(FieldError("implementation.container.args", "must be a list", "a list of strings and placeholders"))
            return
        for item in items:
            if isinstance(item, (str, int, float)):
                if pending_literal is not None and in_condition is None:
                    fixed.append(pending_literal)
                pending_literal = str(item)
                continue
            if isinstance(item, dict) and ("inputValue" in item or "inputPath" in item):
                ref = item.get("inputValue", item.get("inputPath"))
                if ref not in input_by_name:
                    errors.append(FieldError("implementation.container.args", f"refers to unknown input '{ref}'", "an input declared under inputs"))
                elif pending_literal and pending_literal.startswith("-"):
                    flags[ref] = pending_literal
                else:
                    if pending_literal is not None and in_condition is None:
                        fixed.append(pending_literal)
                    flags[ref] = "--" + re.sub(r"[^A-Za-z0-9_]+", "_", ref).strip("_").lower()
                if in_condition:
                    conditional.add(ref)
                pending_literal = None
                continue
            if isinstance(item, dict) and "outputPath" in item:
                ref = item["outputPath"]
                if ref not in output_by_name:
                    errors.append(FieldError("implementation.container.args", f"refers to unknown output '{ref}'", "an output declared under outputs"))
                elif pending_literal and pending_literal.startswith("-"):
                    out_flags[ref] = pending_literal
                else:
                    out_flags[ref] = "--" + re.sub(r"[^A-Za-z0-9_]+", "_", ref).strip("_").lower()
                pending_literal = None
                continue
            if isinstance(item, dict) and "if" in item:
                cond = item["if"] or {}
                present = (cond.get("cond") or {}).get("isPresent") if isinstance(cond.get("cond"), dict) else None
                walk(cond.get("then") or [], present or "?")
                if cond.get("else"):
                    walk(cond.get("else"), present or "?")
                continue
            errors.append(FieldError("implementation.container.args", f"unsupported placeholder {item!r}", "strings, inputValue, inputPath, outputPath, if/isPresent"))
        if pending_literal is not None and in_condition is None:
            fixed.append(pending_literal)

    walk(container.get("args") or [], None)
    command = container.get("command") or []
    if not isinstance(command, list) or not all(isinstance(c, (str, int, float)) for c in command):
        errors.append(FieldError("implementation.container.command", "must be a list of strings (placeholders in command are not supported)", "[python, train.py]"))
        command = []

    specs: dict[str, dict] = {}
    for in_name, item in input_by_name.items():
        flag = flags.get(in_name) or "--" + re.sub(r"[^A-Za-z0-9_]+", "_", in_name).strip("_").lower()
        if flag in specs:
            other = next(n for n, f in ((n, flags.get(n) or "--" + re.sub(r"[^A-Za-z0-9_]+", "_", n).strip("_").lower()) for n in input_by_name) if f == flag)
            errors.append(FieldError("inputs", f"inputs '{other}' and '{in_name}' both become argument '{flag}'", "inputs that map to distinct flags"))
            continue
        kfp_type = str(item.get("type", "String")).lower()
        arg_type = _KFP_TYPES.get(kfp_type, "str")
        optional = bool(item.get("optional", False)) or in_name in conditional
        has_default = "default" in item
        default = item.get("default", "")
        if arg_type == "bool" and isinstance(default, str) and default.lower() in ("true", "false"):
            default = default.lower() == "true"
        specs[flag] = {
            "type": arg_type,
            "item_type": "",
            "label": in_name,
            "require": 0 if (optional or has_default) else 1,
            "choice": [],
            "range": "",
            "default": default if has_default else "",
            "placeholder": "",
            "describe": str(item.get("description", "") or ""),
            "editable": 1,
        }
        if arg_type == "bool":
            # Kubeflow passes booleans as a value ('--flag True'), not a bare flag
            specs[flag]["type"] = "enum"
            specs[flag]["choice"] = ["True", "False"]
            specs[flag]["default"] = ("True" if default else "False") if has_default else ""
    body = {
        "name": _k8s_name(name),
        "version": version,
        "kind": "container",
        "category": category,
        "image": str(container.get("image", "") or ""),
        "command": [str(c) for c in command],
        "fixed_args": fixed,
        "args": {"inputs": specs} if specs else {},
        "description": str(data.get("description", "") or ""),
        "outputs": [
            {"name": _output_name(o), "description": str(output_by_name[o].get("description", "") or ""), "type": str(output_by_name[o].get("type", "String")), "flag": out_flags.get(o)}
            for o in output_by_name
        ],
    }
    if errors:
        raise FieldErrors(errors)
    return template_from_dict(body)


def _output_name(name: str) -> str:
    """'Output Path' -> 'output_path' (addressable in ``{{tasks.t.outputs.output_path}}``)."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_").lower() or "output"


# ---------------------------------------------------------------- built-ins


def builtin_templates() -> list[JobTemplate]:
    """Templates every installation has; the local engine runs them directly."""
    base = "base"
    return [
        JobTemplate(
            name="python",
            kind="python",
            category=base,
            image="python:3.11",
            description="Run Python code, or a script from the workspace.",
            args=[
                ArgSpec("--code", group="python", type="text", label="Code", describe="Python source to run (used when no script is given)"),
                ArgSpec("--script", group="python", type="str", item_type="file", label="Script", describe="Path of a .py file in the workspace, relative to it or absolute"),
                ArgSpec("--args", group="python", type="str", label="Script arguments", describe="Arguments for the script, split on whitespace (no shell)"),
            ],
            builtin=True,
        ),
        JobTemplate(
            name="shell",
            kind="shell",
            category=base,
            image="bash:5",
            description="Run a shell command (bash -c).",
            args=[ArgSpec("--command", group="shell", type="text", label="Command", require=True, describe="A bash command line")],
            builtin=True,
        ),
        JobTemplate(
            name="notebook",
            kind="notebook",
            category=base,
            image="jupyter/base-notebook",
            description="Execute a notebook with papermill and keep the executed copy in the task's output directory.",
            args=[
                ArgSpec("--notebook", group="notebook", type="str", item_type="file", label="Notebook", require=True, describe="Path of an .ipynb in the workspace"),
                ArgSpec("--parameters", group="notebook", type="dict", label="Parameters", default={}, describe="papermill parameters (JSON object)"),
                ArgSpec("--kernel", group="notebook", type="str", label="Kernel", default="", describe="Kernel name (default: the notebook's)"),
            ],
            # the executed copy is written to the task's output directory under the notebook's own name
            builtin=True,
        ),
        JobTemplate(
            name="logical",
            kind="logical",
            category=base,
            description="A no-op task for joins and fan-in points.",
            env={NO_RESOURCE_CHECK: "true"},
            builtin=True,
        ),
    ]


class TemplateCatalog:
    """Templates by (name, version). The latest Release wins when no version is given."""

    def __init__(self, templates: list[JobTemplate] | None = None):
        self._by_ref: dict[tuple[str, str], JobTemplate] = {}
        for tpl in templates or []:
            self.add(tpl)

    def add(self, tpl: JobTemplate) -> None:
        self._by_ref[tpl.ref] = tpl

    def get(self, name: str, version: str | None = None) -> JobTemplate | None:
        if version:
            return self._by_ref.get((name, version))
        return self._by_ref.get((name, "Release")) or self._by_ref.get((name, "Alpha"))

    def __iter__(self):
        return iter(self._by_ref.values())

    def __len__(self) -> int:
        return len(self._by_ref)
