"""Kubeflow Pipelines components (v1 YAML) -> :class:`~cubelab_hub.domain.templates.JobTemplate`.

Inputs become arguments, outputs become task outputs; :func:`import_kfp_component`
says how each placeholder of the component's ``args`` is read.
"""

from __future__ import annotations

from typing import Any

from ..domain.errors import FieldError, FieldErrors
from ..domain.templates import JobTemplate, template_from_dict
from .naming import argument_flag, snake_name, template_name

# A component input's type -> the argument type it becomes.
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
                    flags[ref] = argument_flag(ref)
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
                    out_flags[ref] = argument_flag(ref)
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
        flag = flags.get(in_name) or argument_flag(in_name)
        if flag in specs:
            other = next(n for n, f in ((n, flags.get(n) or argument_flag(n)) for n in input_by_name) if f == flag)
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
        "name": template_name(name),
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
    return snake_name(name) or "output"
