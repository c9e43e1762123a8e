"""Kubeflow's own command-line resolution for v1 components, run in a separate
interpreter that has the ``kfp`` 1.8 SDK (its pins conflict with the project's).

Reads a JSON list of ``{"text", "arguments", "output_dir"}`` on stdin, writes a
JSON list of resolved argv lists (or ``{"error": ...}``) on stdout. Arguments
go through the component's task factory, so defaults are applied as the SDK
applies them; input paths are the argument values, outputs are
``output_dir/<snake name>``.
"""

import json
import posixpath
import re
import sys

from kfp.components import load_component_from_text
from kfp.components._components import _resolve_command_line_and_paths
from kfp.components._naming import _sanitize_python_function_name, generate_unique_name_conversion_table


def snake(name):
    return re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_").lower() or "output"


def resolve(case):
    factory = load_component_from_text(case["text"])
    spec = factory.component_spec
    names = [i.name for i in spec.inputs or []]
    pythonic = generate_unique_name_conversion_table(names, _sanitize_python_function_name)
    task = factory(**{pythonic[k]: v for k, v in case["arguments"].items()})
    resolved = _resolve_command_line_and_paths(
        spec,
        task.arguments,
        input_path_generator=lambda name: task.arguments[name],
        output_path_generator=lambda name: posixpath.join(case["output_dir"], snake(name)),
    )
    return [*resolved.command, *resolved.args]


results = []
for case in json.load(sys.stdin):
    try:
        results.append(resolve(case))
    except Exception as exc:  # reported per case: the test names the component
        results.append({"error": f"{type(exc).__name__}: {exc}"})
json.dump(results, sys.stdout)
