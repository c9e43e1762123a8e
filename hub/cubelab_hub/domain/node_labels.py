"""The labels by which the platform places work on Kubernetes nodes (Cube
Studio's "machines by label"): which nodes run notebooks, training tasks or
services, CPU or GPU work, for which organisations, with which GPU type.

These are the keys :func:`cubelab_hub.kube.objects.node_selector_for` selects
on. An admin relabels a node with only these keys; every other label of the
node stays as its owner set it. Pure Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import FieldError, FieldErrors
from .formats import validate_label_value

# keys that are "true" or absent
FLAG_LABELS = ("notebook", "train", "service", "cpu", "gpu")
# keys with a value of their own
VALUE_LABELS = ("org", "gpu-type")
ROLE_LABEL_KEYS = FLAG_LABELS + VALUE_LABELS
LABELS_ACCEPTED = ("an object of platform labels: notebook, train, service, cpu, gpu ('true' or null to remove), "
                   "org and gpu-type (a label value or null to remove)")


def role_labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    """Only the platform's role labels of a node's labels."""
    return {key: value for key, value in (labels or {}).items() if key in ROLE_LABEL_KEYS}


def parse_label_patch(body: Any) -> dict[str, str | None]:
    """A relabelling request's ``labels`` -> key -> value (None removes it).
    Errors name ``labels.<key>``; any error refuses the whole change."""
    if not isinstance(body, dict) or set(body) != {"labels"}:
        raise FieldError("labels", "must be the only field", '{"labels": {"train": "true", "gpu-type": null}}')
    labels = body["labels"]
    if not isinstance(labels, dict) or not labels:
        raise FieldError("labels", "must be an object naming at least one label", LABELS_ACCEPTED)
    errors: list[FieldError] = []
    patch: dict[str, str | None] = {}
    for key, value in labels.items():
        where = f"labels.{key}"
        if key not in ROLE_LABEL_KEYS:
            errors.append(FieldError(where, "is not a platform role label; other labels are left to the node's owner",
                                     ", ".join(ROLE_LABEL_KEYS)))
            continue
        if value is None:
            patch[key] = None
        elif key in FLAG_LABELS:
            if value is True or value == "true":
                patch[key] = "true"
            else:
                errors.append(FieldError(where, f"must be 'true' or null, got {value!r}", "'true' or null (removes it)"))
        elif not isinstance(value, str) or not value:
            errors.append(FieldError(where, f"must be a non-empty label value or null, got {value!r}", "a label value such as 'team-a' or 'V100', or null"))
        else:
            try:
                patch[key] = validate_label_value(value, where)
            except FieldError as exc:
                errors.append(exc)
    if errors:
        raise FieldErrors(errors)
    return patch


def labels_patch_body(patch: Mapping[str, str | None]) -> dict:
    """The merge patch of a node that sets (or, with None, removes) only these labels."""
    return {"metadata": {"labels": dict(patch)}}
