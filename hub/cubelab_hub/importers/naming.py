"""How imported names become CubeLab names.

Every importer turns the other tool's input names into the command-line flag
CubeLab passes (:func:`argument_flag`) and its display names into template
names (:func:`template_name`) by these rules, so one input imported from Cube
Studio or from Kubeflow gets the same flag.
"""

from __future__ import annotations

import re

from ..domain.argspec import ARG_NAME_RE

_NOT_WORD = re.compile(r"[^A-Za-z0-9_]+")


def snake_name(name: str) -> str:
    """'Output Path' -> 'output_path': runs of anything but letters, digits and
    '_' become one '_', stripped at both ends, lower-cased ('' when nothing is left)."""
    return _NOT_WORD.sub("_", name).strip("_").lower()


def argument_flag(name: str) -> str:
    """An input or argument name -> the flag CubeLab passes its value with.

    A name already written as a flag ('--lr', '-n') is the flag: Cube Studio's
    argument keys are passed to the image as written. Any other name becomes
    '--' and its :func:`snake_name` ('Model Name' -> '--model_name'), as a
    Kubeflow input with no flag literal before it in the component's args.
    """
    if ARG_NAME_RE.match(name):
        return name
    return "--" + snake_name(name)


def template_name(text: str) -> str:
    """A display name ('Model Hub', 'PaddleJob') -> a k8s-safe template name."""
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1-\2", text.strip())
    name = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return name[:63].strip("-")
