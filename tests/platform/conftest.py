"""Helpers for the platform tests (accounts, project permissions and settings).

Everything runs against a real ``cubelab up`` (see tests/conftest.py); these
fixtures only add small conveniences on top of it.
"""

from __future__ import annotations

import html
import itertools
import os
import re
import time

import pytest
import requests

_counter = itertools.count()


def fresh_name(prefix: str) -> str:
    """A username / project name no other test of this run uses (2..32 chars)."""
    return f"{prefix}{os.getpid() % 10000}x{next(_counter)}"


def login_error(resp: requests.Response) -> str | None:
    """The message JupyterHub's login form shows (unescaped), or None."""
    # the hub sends text/html without a charset; its pages are UTF-8
    match = re.search(r'class="login_error">(.*?)</p>', resp.content.decode("utf-8", "replace"), re.S)
    return html.unescape(match.group(1)).strip() if match else None


def is_login_page(resp: requests.Response) -> bool:
    return 'name="username"' in resp.text and 'name="password"' in resp.text


def wait_for(predicate, timeout: float, interval: float = 0.5, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value {last!r}")


@pytest.fixture(scope="session")
def helpers():
    """Module-level helpers as a fixture (test modules here are imported with
    --import-mode=importlib, so they cannot import this conftest)."""

    class H:
        fresh_name = staticmethod(fresh_name)
        login_error = staticmethod(login_error)
        is_login_page = staticmethod(is_login_page)
        wait_for = staticmethod(wait_for)

    return H
