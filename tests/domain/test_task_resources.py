"""A task's resources go through the same parsers as a server's: the values the
bad-input probes ran (absurd sizes, a space inside) are error diagnostics on
that task. Pure unit tests."""

from __future__ import annotations

import pytest

from cubelab_hub.domain.pipelines import has_errors, pipeline_from_dict, validate
from cubelab_hub.domain.templates import TemplateCatalog, builtin_templates


@pytest.mark.parametrize(
    "key,value,needle",
    [
        ("memory", "99999999999999999999T", "is more than 1024P"),
        ("memory", "1 G", "'1 G' has a space inside"),
        ("gpu", "9999999999999999999", "is more than 1024 per request"),
        ("cpu", "99999999999999999999", "is more than 1000000 cores"),
    ],
)
def test_wrong_task_resources_are_errors_on_the_task(key, value, needle):
    task = {"name": "a", "template": "shell", "args": {"--command": "true"}, key: value}
    diagnostics = validate(pipeline_from_dict({"name": "p", "tasks": [task]}), TemplateCatalog(builtin_templates()), False)
    assert has_errors(diagnostics)
    hits = [d for d in diagnostics if d.severity == "error" and d.task == "a" and d.field == key and needle in d.message]
    assert hits, [d.to_dict() for d in diagnostics]
