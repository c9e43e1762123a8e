"""How imported names become CubeLab names.

Every importer turns the other tool's input names into the command-line flag
CubeLab passes (:func:`argument_flag`) and its display names into template
names (:func:`template_name`) by these rules, so one input imported from Cube
Studio or from Kubeflow gets the same flag, and one Cube Studio display name
(``自定义镜像``, ``llama_factory``) always the same template name.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from ..domain.argspec import ARG_NAME_RE

_NOT_WORD = re.compile(r"[^A-Za-z0-9_]+")
# Cube Studio's own names for the custom-image template in its locales: one
# template, so one CubeLab name whichever locale exported it.
KNOWN_DISPLAY_NAMES = {"自定义镜像": "customize"}


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
    if ARG_NAME_RE.fullmatch(name):
        return name
    return "--" + snake_name(name)


def template_name(text: str) -> str:
    """A display name -> a valid template name (a DNS label), always the same one.

    'Model Hub' -> 'model-hub', 'PaddleJob' -> 'paddle-job', 'llama_factory' ->
    'llama-factory' (Cube Studio itself turns '_' into '-'). A name with letters
    outside ASCII keeps its ASCII part and gains a short hash of the whole name,
    so two such names never meet ('模型训练' -> 't-9f4b3788'), except the names
    Cube Studio uses for one template in different locales (``自定义镜像`` ->
    ``customize``).
    """
    text = unicodedata.normalize("NFKC", text.strip())
    if text in KNOWN_DISPLAY_NAMES:
        return KNOWN_DISPLAY_NAMES[text]
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1-\2", text)
    name = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if text.isascii():
        return name[:63].strip("-")  # '' when there is no letter or digit at all: the caller refuses it
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return f"{(name[:50].strip('-') or 't')}-{digest}"
