"""A value with a trailing newline is not a name: ``$`` alone matches before a final
newline, so every validation pattern must match the whole text."""

import pytest

from cubelab_hub.domain.errors import FieldError, FieldErrors
from cubelab_hub.domain.formats import validate_dns_label, validate_label_key, validate_label_value
from cubelab_hub.domain.projects import validate_project_name


@pytest.mark.parametrize("check", [
    lambda v: validate_project_name(v),
    lambda v: validate_dns_label(v, "name"),
    lambda v: validate_label_key(v, "node_selector"),
    lambda v: validate_label_value(v, "node_selector"),
])
def test_trailing_newline_is_refused(check):
    check("demo")  # the same text without the newline is fine
    with pytest.raises((FieldError, FieldErrors, ValueError)):
        check("demo\n")
