"""VS Code (code-server) opened from a started server, in Chromium: the
workbench loads, a file of the workspace opens in the editor, and the
integrated terminal runs as the server's user."""

from __future__ import annotations

import json
import os
import re

import psutil
import pytest
from playwright.sync_api import expect
from ui.lab import log_in

from cubelab_server.vscode import find_code_server

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        find_code_server() is None,
        reason="code-server is not installed: run bash scripts/install-code-server.sh (the test set-up, scripts/test.sh, does)",
    ),
]

MARKER = "CUBELAB_VSCODE_MARKER_7319"


def server_user(platform, user_name: str) -> str:
    """The OS account the user's Jupyter server runs as."""
    for pid in platform.descendants():
        try:
            proc = psutil.Process(pid)
            if proc.environ().get("JUPYTERHUB_USER") == user_name and proc.parent().environ().get("JUPYTERHUB_USER") != user_name:
                return proc.username()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    raise AssertionError(f"no server process for {user_name}")


def write_as_owner(workspace, relative: str, text: str) -> None:
    """Write a file into a user's workspace owned by the workspace's owner (who may
    be another account than the tests'), parents included, as the user would have."""
    owner = workspace.stat()
    *folders, name = relative.split("/")
    path = workspace
    for folder in folders:
        path = path / folder
        path.mkdir(exist_ok=True)
        os.chown(path, owner.st_uid, owner.st_gid)
    (path / name).write_text(text)
    os.chown(path / name, owner.st_uid, owner.st_gid)


def test_vscode_workbench_editor_and_terminal(platform, page, artifacts_dir):
    name = "coder"
    log_in(page, platform.url, name, "coder-password")
    workspace = platform.data_dir / "workspaces" / name
    write_as_owner(workspace, "hello.py", f"print('{MARKER}')\n")
    # DOM-rendered terminal (no WebGL in headless Chromium), so its text can be read
    write_as_owner(workspace, ".local/share/code-server/User/settings.json", json.dumps({
        "terminal.integrated.gpuAcceleration": "off",
        "workbench.startupEditor": "none",
        "terminal.integrated.enablePersistentSessions": False,
    }))
    expected_user = server_user(platform, name)

    page.goto(f"{platform.url}/user/{name}/vscode/", timeout=180_000)  # the first request starts code-server
    workbench = page.locator(".monaco-workbench")
    expect(workbench).to_be_visible(timeout=180_000)
    # the workspace folder is open: its file is in the explorer
    entry = page.get_by_role("treeitem", name=re.compile(r"hello\.py"))
    expect(entry).to_be_visible(timeout=60_000)
    entry.click()
    editor = page.locator(".editor-group-container .monaco-editor .view-lines")
    expect(editor.first).to_contain_text(MARKER, timeout=60_000)
    page.screenshot(path=str(artifacts_dir / "vscode-editor.png"))

    # a terminal from the command palette; it runs in the workspace as the server's user
    page.keyboard.press("F1")
    palette = page.locator(".quick-input-widget input")
    expect(palette).to_be_visible(timeout=30_000)
    palette.fill(">Terminal: Create New Terminal")
    page.locator(".quick-input-widget .monaco-list-row", has_text="Create New Terminal").first.click()
    terminal = page.locator(".terminal-wrapper .xterm-rows").first
    expect(terminal).to_be_visible(timeout=60_000)
    page.locator(".terminal-wrapper .xterm").first.click()
    page.keyboard.type('echo "ID:$(id -un):END"')
    page.keyboard.press("Enter")
    expect(terminal).to_contain_text(f"ID:{expected_user}:END", timeout=60_000)
    page.screenshot(path=str(artifacts_dir / "vscode-terminal.png"))
