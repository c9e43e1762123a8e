"""Kubeflow Pipelines components (v1 YAML) -> :class:`~cubelab_hub.domain.templates.JobTemplate`.

The component's ``command`` and ``args`` become the template's argv template, so a
task runs the command line Kubeflow would build; inputs become the form's
arguments and outputs task outputs. :func:`import_kfp_component` says how each
placeholder is read. KFP v2 IR is :mod:`.kubeflow_v2`.
"""

from __future__ import annotations

import json
from typing import Any

from ..domain.argspec import ARG_NAME_RE
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


def load_kfp_yaml(text_or_data: Any, what: str = "component") -> Any:
    """YAML text (or already parsed data) -> data, a YAML error named as a field error."""
    import yaml  # pyyaml: a dependency of the project; only needed here

    if not isinstance(text_or_data, (str, bytes)):
        return text_or_data
    try:
        return yaml.safe_load(text_or_data)
    except yaml.YAMLError as exc:
        raise FieldErrors([FieldError(what, f"is not valid YAML ({exc})", f"a Kubeflow Pipelines {what} YAML")]) from None


def import_kfp_component(text_or_data: Any, *, category: str = "kubeflow", version: str = "Release") -> JobTemplate:
    """Kubeflow Pipelines component YAML (v1 ``name/inputs/outputs/implementation.container``).

    The component's ``command`` and ``args``, joined as Kubeflow joins them, become the
    template's argv template (:data:`~cubelab_hub.domain.templates.ARGV_ACCEPTED`), so
    the task runs the exact command line Kubeflow builds: positional items stay
    positional, ``concat`` and ``if/isPresent`` resolve as in Kubeflow, an input with
    a default (``''`` included) is always passed. Inputs become the form's arguments:
    an input's name is the flag literal that precedes its first placeholder
    (``--x`` from the input's name when there is none, or when two inputs would share
    it); outputs become task outputs whose ``outputPath`` is a file in the task's
    output directory.
    """
    data = load_kfp_yaml(text_or_data)
    if not isinstance(data, dict):
        raise FieldErrors([FieldError("component", "must be a mapping", "name, inputs, outputs, implementation.container")])
    errors: list[FieldError] = []
    name = data.get("name")
    if name is None:
        name = "Component"  # Kubeflow's own name for a component without one
    if not isinstance(name, str) or not template_name(name):
        raise FieldErrors([FieldError("name", f"{name!r} gives no template name", "name: My component (letters or digits)")])
    implementation = data.get("implementation") if isinstance(data.get("implementation"), dict) else {}
    if "graph" in implementation:
        tasks = (implementation.get("graph") or {}).get("tasks") or {}
        raise FieldErrors(
            [
                FieldError(
                    "implementation.graph",
                    f"component '{name}' is a graph component (a pipeline of {len(tasks)} tasks: {', '.join(list(tasks)[:5])}), not one container",
                    "a container component (implementation.container); import the pipeline's own components one by one",
                )
            ]
        )
    container = implementation.get("container")
    if not isinstance(container, dict):
        raise FieldErrors(
            [
                FieldError(
                    "implementation.container", f"component '{name}' has no container implementation", "implementation: {container: {image, command, args}}"
                )
            ]
        )
    if not isinstance(container.get("image"), str) or not container["image"].strip():
        errors.append(
            FieldError(
                "implementation.container.image",
                f"component '{name}' names no image ({container.get('image')!r}), so nothing could run it",
                "an image reference such as 'python:3.11'",
            )
        )
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

    literal_flag: dict[str, str] = {}  # input -> the flag literal before its first placeholder
    path_inputs: set[str] = set()  # inputs passed as a file path: their value is the path, whatever their type
    conditional: set[str] = set()

    def scan(items: Any, where: str, in_condition: bool) -> None:
        """Note each input's flag literal and which inputs sit inside conditions."""
        if not isinstance(items, list):
            errors.append(FieldError(where, "must be a list", "a list of strings and placeholders"))
            return
        previous: Any = None
        for i, item in enumerate(items):
            if isinstance(item, dict):
                ref = item.get("inputValue", item.get("inputPath"))
                if isinstance(item.get("inputPath"), str):
                    path_inputs.add(item["inputPath"])
                if isinstance(ref, str):
                    if isinstance(previous, str) and previous.startswith("-") and ref not in literal_flag:
                        literal_flag[ref] = previous
                    if in_condition:
                        conditional.add(ref)
                if isinstance(item.get("concat"), list):
                    scan(item["concat"], f"{where}[{i}].concat", in_condition)
                if isinstance(item.get("if"), dict):
                    for branch in ("then", "else"):
                        part = item["if"].get(branch)
                        if part is not None:
                            scan(part if isinstance(part, list) else [part], f"{where}[{i}].if.{branch}", True)
            previous = item

    scan(container.get("command") or [], "implementation.container.command", False)
    scan(container.get("args") or [], "implementation.container.args", False)

    flags: dict[str, str] = {}
    taken: dict[str, str] = {}
    for in_name in input_by_name:
        for flag in (literal_flag.get(in_name), argument_flag(in_name)):
            if flag and ARG_NAME_RE.fullmatch(flag) and flag not in taken:
                flags[in_name] = flag
                taken[flag] = in_name
                break
        else:
            flag = argument_flag(in_name)
            errors.append(
                FieldError("inputs", f"inputs '{taken.get(flag)}' and '{in_name}' both become argument '{flag}'", "inputs that map to distinct flags")
            )
    out_names = {o: _output_name(o) for o in output_by_name}

    def convert(items: Any, where: str) -> list:
        if not isinstance(items, list):
            return []
        out: list = []
        for i, item in enumerate(items):
            at = f"{where}[{i}]"
            if isinstance(item, str):
                out.append(item)
                continue
            if isinstance(item, (bool, int, float)):
                # YAML reads true / 8080 unquoted as a boolean / number; Kubeflow's loader refuses them too
                errors.append(
                    FieldError(
                        at, f"{item!r} is a YAML {type(item).__name__}, not text", f"the item quoted: '{str(item).lower() if isinstance(item, bool) else item}'"
                    )
                )
                continue
            if not isinstance(item, dict) or len(item) != 1:
                errors.append(FieldError(at, f"{item!r} is not a placeholder", "a string, inputValue, inputPath, outputPath, concat or if"))
                continue
            ((key, ref),) = item.items()
            if key in ("inputValue", "inputPath"):
                if ref not in input_by_name:
                    errors.append(FieldError(at, f"{key} refers to unknown input '{ref}'", "an input declared under inputs"))
                elif ref in flags:
                    out.append({"value" if key == "inputValue" else "path": flags[ref]})
            elif key == "outputPath":
                if ref not in output_by_name:
                    errors.append(FieldError(at, f"outputPath refers to unknown output '{ref}'", "an output declared under outputs"))
                else:
                    out.append({"output": out_names[ref]})
            elif key == "concat":
                out.append({"concat": convert(ref, f"{at}.concat")})
            elif key == "if" and isinstance(ref, dict):
                cond = ref.get("cond")
                present = cond.get("isPresent") if isinstance(cond, dict) else None
                if not isinstance(present, str):
                    errors.append(
                        FieldError(
                            f"{at}.if.cond", f"the condition {cond!r} is not isPresent: CubeLab resolves only 'if input X is given'", "cond: {isPresent: X}"
                        )
                    )
                    continue
                if present not in flags:
                    errors.append(FieldError(f"{at}.if.cond.isPresent", f"refers to unknown input '{present}'", "an input declared under inputs"))
                    continue
                # a branch that is one item rather than a list is that one item, as in Kubeflow
                branches = {b: ref[b] if isinstance(ref[b], list) else [ref[b]] for b in ("then", "else") if ref.get(b) is not None}
                node = {"if_present": flags[present], "then": convert(branches.get("then", []), f"{at}.if.then")}
                if "else" in branches:
                    node["else"] = convert(branches["else"], f"{at}.if.else")
                out.append(node)
            else:
                errors.append(
                    FieldError(
                        at,
                        f"placeholder '{key}' has no CubeLab equivalent (it names a Kubeflow runtime value: an artifact URI, the executor input)",
                        "inputValue, inputPath, outputPath, concat, if/isPresent",
                    )
                )
        return out

    argv = convert(container.get("command") or [], "implementation.container.command") + convert(container.get("args") or [], "implementation.container.args")

    specs: dict[str, dict] = {}
    always_present: list[str] = []
    for in_name, item in input_by_name.items():
        if in_name not in flags:
            continue
        flag = flags[in_name]
        kfp_type = str(item.get("type", "String")).lower()
        arg_type = "str" if in_name in path_inputs else _KFP_TYPES.get(kfp_type, "str")
        has_default = item.get("default") is not None
        default = item.get("default")
        if has_default:
            always_present.append(flag)
            # Kubeflow passes a default as written ('1e-3' stays '1e-3'); keep it as text
            default = json.dumps(default) if isinstance(default, (dict, list)) else str(default)
        optional = bool(item.get("optional", False))
        shown_default = default
        if optional and has_default:
            # Kubeflow leaves an optional input out unless a value is given, default or not
            has_default = False
            always_present.remove(flag)
        specs[flag] = {
            "type": arg_type,
            "item_type": "",
            "label": in_name,
            "require": 0 if (optional or has_default or in_name in conditional) else 1,
            "choice": [],
            "range": "",
            "default": default if has_default else "",
            "placeholder": str(shown_default) if optional and shown_default is not None else "",
            "describe": str(item.get("description", "") or ""),
            "editable": 1,
        }
        if arg_type == "bool":
            # Kubeflow passes booleans as a value ('True'), not a bare flag
            specs[flag]["type"] = "enum"
            specs[flag]["choice"] = ["True", "False"] + ([default] if has_default and default not in ("True", "False", "") else [])
        elif arg_type in ("int", "float") and has_default and default != "":
            try:
                float(default)
            except ValueError:
                specs[flag]["type"] = "str"  # a default Kubeflow would pass although it is not a number
    body = {
        "name": template_name(name),
        "version": version,
        "kind": "container",
        "category": category,
        "image": str(container.get("image", "") or ""),
        "command": [],
        "argv": argv,
        "always_present": always_present,
        "args": {"inputs": specs} if specs else {},
        "env": {str(k): str(v) for k, v in (container.get("env") or {}).items()} if isinstance(container.get("env"), dict) else {},
        "description": str(data.get("description", "") or ""),
        "outputs": [
            {"name": out_names[o], "description": str(output_by_name[o].get("description", "") or ""), "type": str(output_by_name[o].get("type", "String"))}
            for o in output_by_name
        ],
    }
    if errors:
        raise FieldErrors(errors)
    return template_from_dict(body)


def kfp_ignored_fields(data: Any) -> list[str]:
    """Fields of a v1 component that CubeLab keeps no meaning for (reported, not dropped silently)."""
    container = ((data or {}).get("implementation") or {}).get("container") if isinstance(data, dict) else None
    ignored: list[str] = []
    if isinstance(container, dict):
        for out_name, path in (container.get("fileOutputs") or {}).items():
            ignored.append(
                f"implementation.container.fileOutputs.{out_name}: the program writes it to {path}, "
                "which CubeLab does not copy into the task's output directory"
            )
    return ignored


def _output_name(name: str) -> str:
    """'Output Path' -> 'output_path' (addressable in ``{{tasks.t.outputs.output_path}}``)."""
    return snake_name(name) or "output"
