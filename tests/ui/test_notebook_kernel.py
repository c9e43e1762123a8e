"""A notebook in JupyterLab talks to its kernel through the platform's proxy with
no failed WebSocket connection (the browser drops one whose subprotocol is not
answered, and JupyterLab then logs an error and reconnects)."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect
from ui.lab import log_in

pytestmark = pytest.mark.browser


def test_a_notebook_runs_a_cell_with_no_websocket_errors(platform, page, artifacts_dir):
    name = "kerneluser"
    log_in(page, platform.url, name, "kerneluser-password")
    notebook = {
        "cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": "6 * 7"}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    (platform.data_dir / "workspaces" / name / "answer.ipynb").write_text(json.dumps(notebook))

    page.goto(f"{platform.url}/user/{name}/lab/tree/answer.ipynb")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    # the kernel answered over its WebSocket (a cell run before that is dropped)
    expect(page.locator(".jp-StatusBar-TextItem", has_text="| Idle").first).to_be_visible(timeout=120_000)
    page.click(".jp-Notebook .jp-Cell .cm-content")
    page.keyboard.press("Shift+Enter")
    expect(page.locator(".jp-Notebook .jp-OutputArea-output").first).to_contain_text("42", timeout=120_000)
    # a failed handshake is logged while JupyterLab retries: give it time to show
    page.wait_for_timeout(3000)
    page.screenshot(path=str(artifacts_dir / "notebook-kernel.png"))
    failed = [e for e in page.console_errors if "websocket" in e.lower()]
    assert failed == [], failed
