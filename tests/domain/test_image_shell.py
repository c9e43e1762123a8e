"""The interactive shell's query and messages (pure)."""

from __future__ import annotations

import pytest

from cubelab_hub.domain.builds import BuildahPaths
from cubelab_hub.domain.errors import FieldError, FieldErrors
from cubelab_hub.domain.image_debug import buildah_run_argv
from cubelab_hub.domain.image_shell import Input, Resize, parse_shell_message, shell_request_from_dict

REGISTRY = "127.0.0.1:5000"
IMAGE = f"{REGISTRY}/ml/trainer:v1"


def test_a_query_becomes_a_shell_request_with_the_debug_rules():
    request = shell_request_from_dict({"project": "ml", "image": IMAGE, "rows": "40", "cols": "120", "idle_timeout": "30s",
                                       "memory": "2G"}, REGISTRY, 600)
    assert (request.rows, request.cols, request.idle_timeout) == (40, 120, 30)
    assert request.debug.command == ("/bin/sh",) and request.debug.memory == 2 * 2**30
    default = shell_request_from_dict({"project": "ml", "image": IMAGE}, REGISTRY, 600)
    assert (default.rows, default.cols, default.idle_timeout) == (24, 80, 600)


def test_every_bad_parameter_is_named_at_once():
    with pytest.raises(FieldErrors) as caught:
        shell_request_from_dict({"project": "ml", "image": "docker.io/x:1", "rows": "0", "cols": "x", "idle_timeout": "1h",
                                 "command": "bash"}, REGISTRY, 600)
    assert {e.field for e in caught.value.errors} == {"image", "rows", "cols", "idle_timeout", "command"}
    assert all(e.accepted for e in caught.value.errors)


def test_messages():
    assert parse_shell_message('{"type": "input", "data": "ls\\r"}') == Input(b"ls\r")
    assert parse_shell_message('{"type": "resize", "rows": 30, "cols": 90}') == Resize(30, 90)
    for bad, field in (("ls", "message"), ("[1]", "message"), ('{"type": "x"}', "type"), ('{"type": "input", "data": 3}', "data")):
        with pytest.raises(FieldError) as caught:
            parse_shell_message(bad)
        assert caught.value.field == field
    with pytest.raises(FieldErrors) as many:
        parse_shell_message('{"type": "resize", "rows": 0, "cols": true}')
    assert [e.field for e in many.value.errors] == ["rows", "cols"]


def test_the_shell_runs_on_a_terminal_after_the_separator():
    paths = BuildahPaths(root="/r", runroot="/rr", dockerfile="", context="", iidfile="")
    argv = buildah_run_argv("buildah", paths, "c1", 1001, 1001, ("/bin/sh",), terminal=True)
    assert argv[-7:] == ["1001:1001", "--env", "TERM=xterm-256color", "--terminal", "c1", "--", "/bin/sh"]
