"""Job templates: what an admin publishes and a pipeline task instantiates.

A template is an image (or, on the local engine, a built-in runner), a command,
and an argument schema in Cube Studio's shape::

    {"group": {"--name": {"type": "str", "item_type": "", "label": "...",
                          "require": 1, "choice": [], "range": "", "default": "",
                          "placeholder": "", "describe": "", "editable": 1}}}

(:mod:`.argspec`), so Cube Studio's templates import unchanged. The importers
of other tools' formats live in :mod:`cubelab_hub.importers`.

Pure Python: no Jupyter, tornado or Kubernetes imports.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from .argspec import ARG_NAME_ACCEPTED, ARG_NAME_RE, ArgSpec, args_to_schema, parse_args_schema, shorten
from .errors import FieldError, FieldErrors
from .formats import parse_volume_mounts, validate_dns_label

VERSIONS = ("Release", "Alpha")
VERSIONS_ACCEPTED = "'Release' (visible to everyone) or 'Alpha' (admins only)"
TEMPLATE_KINDS = ("container", "python", "shell", "notebook", "logical")

# Env keys of a template that change how its tasks run (resources, the quota check).
RESOURCE_ENV_KEYS = ("TASK_RESOURCE_CPU", "TASK_RESOURCE_MEMORY", "TASK_RESOURCE_GPU")
NO_RESOURCE_CHECK = "NO_RESOURCE_CHECK"

ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ENV_ACCEPTED = "one 'KEY=value' per line, KEY of letters, digits and '_' not starting with a digit"
OUTPUT_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
OUTPUT_NAME_ACCEPTED = "letters, digits, '_' and '-', starting with a letter or '_'"
# 'path' addresses the task's whole output directory, so no declared output may take it.
RESERVED_OUTPUT_NAMES = frozenset({"path"})

# Cube Studio's ``expand`` keys CubeLab acts on; the others are kept and reported
# as ignored by the importer. 'index' is the palette order (category_index),
# 'help_url' the help link, 'HostNetwork' gives run and debug pods host ports,
# announced to the task as PORT1 and PORT2.
EXPAND_ACTED_ON = ("index", "help_url", "HostNetwork")


# ---------------------------------------------------------------- env lines


def parse_env_lines(text: Any, field_name: str = "env") -> dict[str, str]:
    """``K=V`` lines (also accepts a dict) -> ordered dict. Blank lines and
    ``#`` comments are allowed; a key given twice is an error (ambiguous)."""
    if text in (None, ""):
        return {}
    if isinstance(text, dict):
        out = {}
        for key, value in text.items():
            if not isinstance(key, str) or not ENV_KEY_RE.fullmatch(key):
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
            raise FieldError(field_name, f"line {lineno} '{shorten(line)}' has no '='", ENV_ACCEPTED)
        key, _, value = line.partition("=")
        key = key.strip()
        if not ENV_KEY_RE.fullmatch(key):
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
    # An argv template (see ARGV_ACCEPTED): when set, it is the task's whole command line,
    # replacing command, fixed_args and the '--flag value' rendering of ``args``
    # (which still describe the form). Kubeflow components need the exact argv shape.
    argv: list | None = None
    # Arguments that are present even without a value: their default, '' included, is passed
    # (a Kubeflow input with ``default: ''`` still yields an empty argv item).
    always_present: list[str] = field(default_factory=list)
    display_name: str = ""  # the name as the source wrote it ('自定义镜像'); '' = the name
    aliases: list[str] = field(default_factory=list)  # former names pipelines still reference
    expand: dict = field(default_factory=dict)  # Cube Studio's extension keys, kept as given

    @property
    def host_network(self) -> bool:
        """Cube Studio's ``HostNetwork``: the task listens on host ports PORT1 and PORT2."""
        return self.expand.get("HostNetwork") in (True, 1, "true", "True")

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
            **({"argv": self.argv, "always_present": list(self.always_present)} if self.argv is not None else {}),
            "display_name": self.display_name,
            "aliases": list(self.aliases),
            "expand": dict(self.expand),
        }


def _str_field(data: dict, key: str, errors: list, default: str = "") -> str:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        errors.append(FieldError(key, f"must be text, got {type(value).__name__}", "a string"))
        return default
    return value


def template_from_dict(data: Any, warnings: list | None = None) -> JobTemplate:
    """Build and check a template from our own JSON shape (the REST body).

    Collects every field error and raises :class:`FieldErrors` if any. With
    ``warnings`` (a list), what Cube Studio itself leaves uninterpreted (a range
    that is no range) is kept and reported there as ``(field, message)``.
    """
    if not isinstance(data, dict):
        raise FieldErrors([FieldError("template", f"must be an object, got {type(data).__name__}", "a JSON object")])
    errors: list[FieldError] = []
    known = {
        "name", "version", "kind", "category", "category_index", "image", "workdir", "command", "fixed_args",
        "args", "env", "volume_mount", "service_account", "help_url", "description", "outputs", "builtin",
        "argv", "always_present",
        "display_name", "aliases", "expand",
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
        args = parse_args_schema(data.get("args"), "args", warnings)
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
    aliases = data.get("aliases", []) or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
        errors.append(FieldError("aliases", "must be a list of names", '["old-name"]'))
        aliases = []
    expand = data.get("expand", {}) or {}
    if not isinstance(expand, dict):
        errors.append(FieldError("expand", f"must be an object, got {type(expand).__name__}", '{"index": 1, "HostNetwork": true}'))
        expand = {}
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
        display_name=_str_field(data, "display_name", errors),
        aliases=list(aliases),
        expand=dict(expand),
    )
    if data.get("argv") is not None:
        tpl.argv = _parse_argv_template(data["argv"], "argv", {a.name for a in args}, {o.name for o in outputs}, errors)
        if tpl.kind != "container":
            errors.append(FieldError("argv", f"only container templates take an argv template, this one is '{tpl.kind}'", "kind: container"))
    present = data.get("always_present") or []
    if not isinstance(present, list) or not all(isinstance(p, str) and tpl.arg(p) is not None for p in present):
        errors.append(FieldError("always_present", f"must list arguments of the template, got {present!r}", "argument names, e.g. [\"--lr\"]"))
    else:
        tpl.always_present = list(present)
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
            errors.append(FieldError(field_name, f"'{shorten(value)}' cannot be split into arguments ({exc})", '["python", "train.py"] or "python train.py"'))
            return []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    errors.append(FieldError(field_name, "must be a list of strings", '["python", "train.py"]'))
    return []


ARGV_ACCEPTED = (
    "a list of strings and placeholders: {\"value\": ARG} (the argument's value), {\"path\": ARG} "
    "(the path the argument names), {\"output\": OUTPUT} (the file the task writes the output to), "
    "{\"concat\": [...]} (one item), {\"if_present\": ARG, \"then\": [...], \"else\": [...]}"
)


def _parse_argv_template(value: Any, field_name: str, arg_names: set[str], output_names: set[str], errors: list) -> list:
    """Check an argv template (:data:`ARGV_ACCEPTED`); returns it as given."""
    if not isinstance(value, list):
        errors.append(FieldError(field_name, "must be a list", ARGV_ACCEPTED))
        return []

    def check(item: Any, where: str) -> None:
        if isinstance(item, str):
            return
        if isinstance(item, dict) and len(item) == 1 and ("value" in item or "path" in item):
            ref = item.get("value", item.get("path"))
            if ref not in arg_names:
                accepted = ", ".join(sorted(arg_names)) or "an argument under args"
                errors.append(FieldError(where, f"refers to '{ref}', which is not an argument of the template", accepted))
            return
        if isinstance(item, dict) and len(item) == 1 and "output" in item:
            if item["output"] not in output_names:
                accepted = ", ".join(sorted(output_names)) or "an output under outputs"
                errors.append(FieldError(where, f"refers to '{item['output']}', which is not an output of the template", accepted))
            return
        if isinstance(item, dict) and len(item) == 1 and isinstance(item.get("concat"), list):
            for i, part in enumerate(item["concat"]):
                check(part, f"{where}.concat[{i}]")
            return
        if isinstance(item, dict) and "if_present" in item and set(item) <= {"if_present", "then", "else"}:
            if item["if_present"] not in arg_names:
                accepted = ", ".join(sorted(arg_names)) or "an argument under args"
                errors.append(FieldError(f"{where}.if_present", f"'{item['if_present']}' is not an argument of the template", accepted))
            for branch in ("then", "else"):
                parts = item.get(branch, [])
                if not isinstance(parts, list):
                    errors.append(FieldError(f"{where}.{branch}", "must be a list", ARGV_ACCEPTED))
                    continue
                for i, part in enumerate(parts):
                    check(part, f"{where}.{branch}[{i}]")
            return
        errors.append(FieldError(where, f"{shorten(repr(item))} is not an argv item", ARGV_ACCEPTED))

    for i, item in enumerate(value):
        check(item, f"{field_name}[{i}]")
    return value


def _parse_output(raw: Any, field_name: str) -> TemplateOutput:
    if isinstance(raw, str):
        raw = {"name": raw}
    if not isinstance(raw, dict):
        raise FieldError(field_name, "must be an object", '{"name": "model", "description": "..."}')
    name = raw.get("name")
    if not isinstance(name, str) or not OUTPUT_NAME_RE.fullmatch(name):
        raise FieldError(f"{field_name}.name", f"'{name}' is not an output name", OUTPUT_NAME_ACCEPTED)
    if name in RESERVED_OUTPUT_NAMES:
        raise FieldError(f"{field_name}.name", f"'{name}' is reserved for the task's output directory", "any other name")
    flag = raw.get("flag")
    if flag is not None and (not isinstance(flag, str) or not ARG_NAME_RE.fullmatch(flag)):
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

    def resolve(self, name: str) -> JobTemplate | None:
        """The template another tool's pipeline means by ``name``: an imported
        template with that display name (Cube Studio's ``python`` is its own image,
        imported beside CubeLab's built-in ``python``), else one with that name,
        else one that had that name before (``job_template_old_names``)."""
        def pick(matches: list[JobTemplate]) -> JobTemplate | None:
            return ([t for t in matches if t.released] or matches or [None])[0]

        found = pick([t for t in self._by_ref.values() if not t.builtin and t.display_name == name])
        found = found or self.get(name)
        return found or pick([t for t in self._by_ref.values() if name in t.aliases])

    def __iter__(self):
        return iter(self._by_ref.values())

    def __len__(self) -> int:
        return len(self._by_ref)


# ---------------------------------------------------------------- admin: order, release, retire

# The palette orders categories by this index (Cube Studio's ``expand.index``), then by name.
CATEGORY_INDEX_MAX = 1_000_000
CATEGORY_INDEX_ACCEPTED = f'{{"index": N}}, N a whole number from 0 to {CATEGORY_INDEX_MAX} (lower comes first in the palette)'
RETIRED_ACCEPTED = '{"retired": true} (hidden from the palette and new pipelines) or {"retired": false}'


def _only_key(body: Any, key: str, accepted: str) -> Any:
    if not isinstance(body, dict):
        raise FieldError(key, "is missing: the body must be an object", accepted)
    unknown = sorted(set(body) - {key})
    if unknown:
        raise FieldError(unknown[0], "cannot be changed here", accepted)
    if key not in body:
        raise FieldError(key, "is missing", accepted)
    return body[key]


def parse_category_index(body: Any) -> int:
    """The new palette position of a category from ``{"index": N}``."""
    index = _only_key(body, "index", CATEGORY_INDEX_ACCEPTED)
    if isinstance(index, bool) or not isinstance(index, int):
        raise FieldError("index", f"must be a whole number, got {index!r}", CATEGORY_INDEX_ACCEPTED)
    if not 0 <= index <= CATEGORY_INDEX_MAX:
        raise FieldError("index", f"{index} is out of range", CATEGORY_INDEX_ACCEPTED)
    return index


def parse_retired(body: Any) -> bool:
    """Whether a template version is to be retired, from ``{"retired": bool}``."""
    retired = _only_key(body, "retired", RETIRED_ACCEPTED)
    if not isinstance(retired, bool):
        raise FieldError("retired", f"must be true or false, got {retired!r}", RETIRED_ACCEPTED)
    return retired


def released_copy(alpha: JobTemplate) -> JobTemplate:
    """The Release an Alpha version becomes: the same template, version Release
    (the Alpha stays, so pipelines pinned to it keep running)."""
    if alpha.version != "Alpha":
        raise FieldError("version", f"'{alpha.version}' is not Alpha", "an Alpha version to release")
    released = template_from_dict({**alpha.to_dict(), "version": "Release"}, warnings=[])
    released.builtin = False
    return released


def retired_uses(tasks: Any, catalog: TemplateCatalog, retired: set[tuple[str, str]],
                 kept: set[tuple[str, str]] = frozenset()) -> list[FieldError]:
    """Errors for the tasks of a new or changed pipeline that use a retired template
    version. ``kept``: versions the stored pipeline already used (it keeps them)."""
    errors = []
    for index, task in enumerate(tasks):
        tpl = catalog.get(task.template, task.template_version)
        if tpl is not None and tpl.ref in retired and tpl.ref not in kept:
            errors.append(FieldError(f"tasks[{index}].template", f"template '{tpl.name}' ({tpl.version}) is retired",
                                     "a template of the palette (retired ones only stay in the pipelines that used them)"))
    return errors
