"""The pipeline editor in JupyterLab, driven as a person would, on a real platform:
create a pipeline, drag two templates onto the canvas, connect them, fix the
diagnostic, save, run, watch both tasks turn green, read the second task's log."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect
from ui.lab import log_in, open_cubelab_panel

pytestmark = pytest.mark.browser


def env_key(task: str) -> str:
    return task.upper().replace("-", "_")


def open_task(page, task: str) -> None:
    page.locator(f'[data-testid="cubelab-task-node"][data-task="{task}"] .cl-TaskNode-title').click()
    expect(page.locator(f'[data-testid="cubelab-task-properties"][data-task="{task}"]')).to_be_visible()


def test_build_run_and_read_a_pipeline(platform, page, artifacts_dir):
    log_in(page, platform.url, "piper", "piper-password")
    open_cubelab_panel(page)

    # a new pipeline in 'public'
    page.click('[data-testid="cubelab-new-pipeline"]')
    page.fill('[data-testid="cubelab-create-pipeline-name"]', "first-flow")
    page.select_option('[data-testid="cubelab-create-pipeline-project"]', "public")
    page.click('[data-testid="cubelab-create-pipeline-submit"]')
    canvas = page.locator('[data-testid="cubelab-canvas"]')
    expect(canvas).to_be_visible(timeout=30_000)

    # drag two 'shell' templates from the palette onto the canvas
    shell = page.locator('[data-testid="cubelab-palette"] [data-template="shell"]').first
    expect(shell).to_be_visible()
    box = canvas.bounding_box()
    shell.drag_to(canvas, target_position={"x": box["width"] * 0.25, "y": box["height"] * 0.4})
    shell.drag_to(canvas, target_position={"x": box["width"] * 0.65, "y": box["height"] * 0.4})
    nodes = page.locator('[data-testid="cubelab-task-node"]')
    expect(nodes).to_have_count(2)
    first, second = nodes.nth(0).get_attribute("data-task"), nodes.nth(1).get_attribute("data-task")
    assert first and second and first != second

    # connect them by dragging from the first's output to the second's input
    page.locator(f'[aria-label="Output of {first}"]').drag_to(page.locator(f'[aria-label="Input of {second}"]'))
    expect(page.locator(".react-flow__edge")).to_have_count(1)

    # the server's diagnostic: the shell template's command is required
    expect(page.locator(f'[data-testid="cubelab-task-node"][data-task="{first}"] [data-testid="cubelab-task-diagnostic"]')).to_be_visible(timeout=15_000)
    problems = page.locator('[data-testid="cubelab-problem"]')
    expect(problems.first).to_contain_text("--command")

    open_task(page, first)
    page.fill('[data-testid="cubelab-arg---command"]', "echo made-by-first > $KFJ_TASK_OUTPUT_DIR/msg")
    open_task(page, second)
    page.fill('[data-testid="cubelab-arg---command"]', f"echo second read: $(cat $KFJ_UPSTREAM_{env_key(first)}_OUTPUT_DIR/msg)")
    expect(page.locator('[data-testid="cubelab-task-diagnostic"]')).to_have_count(0, timeout=15_000)

    # explicit save with Ctrl+S: the tab loses its dirty marker
    canvas.click(position={"x": 10, "y": 10})
    page.keyboard.press("Control+s")
    expect(page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.jp-mod-dirty")).to_have_count(0, timeout=15_000)
    page.screenshot(path=str(artifacts_dir / "pipeline-editor.png"))

    # run, and watch the statuses change on the canvas without reloading
    page.click('[data-testid="cubelab-run-start"]')
    seen: set[tuple[str, str]] = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        statuses = (
            page.locator(f'[data-testid="cubelab-task-node"][data-task="{first}"]').get_attribute("data-status"),
            page.locator(f'[data-testid="cubelab-task-node"][data-task="{second}"]').get_attribute("data-status"),
        )
        seen.add(statuses)
        if statuses == ("succeeded", "succeeded"):
            break
        time.sleep(0.1)
    assert ("succeeded", "succeeded") in seen, seen
    assert len(seen) > 1, f"statuses changed live on the canvas: {seen}"
    expect(page.locator('[data-testid="cubelab-run"]')).to_have_attribute("data-status", "succeeded")

    # the second task's log holds what the first one wrote
    open_task(page, second)
    log = page.locator(f'[data-testid="cubelab-log"][data-task="{second}"] [data-testid="cubelab-log-text"]')
    expect(log).to_contain_text("second read: made-by-first", timeout=15_000)
    page.screenshot(path=str(artifacts_dir / "pipeline-run-finished.png"))
    assert not [e for e in page.console_errors if "cubelab" in e.lower()], page.console_errors


def boxes_overlap(a: dict, b: dict) -> bool:
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


def inside(inner: dict, outer: dict) -> bool:
    return (inner["x"] >= outer["x"] and inner["y"] >= outer["y"]
            and inner["x"] + inner["width"] <= outer["x"] + outer["width"]
            and inner["y"] + inner["height"] <= outer["y"] + outer["height"])


def test_keyboard_undo_placement_and_read_only(platform, browser, page):
    """Ctrl+Z after Delete and after a click on the empty canvas; drops and
    keyboard adds never overlap and stay in view; auto-layout runs left to
    right; another member sees the pipeline read-only, its delete disabled."""
    log_in(page, platform.url, "undoer", "undoer-password")
    open_cubelab_panel(page)
    page.click('[data-testid="cubelab-new-pipeline"]')
    page.fill('[data-testid="cubelab-create-pipeline-name"]', "undo-flow")
    page.select_option('[data-testid="cubelab-create-pipeline-project"]', "public")
    page.click('[data-testid="cubelab-create-pipeline-submit"]')
    canvas = page.locator('[data-testid="cubelab-canvas"]')
    expect(canvas).to_be_visible(timeout=30_000)
    nodes = page.locator('[data-testid="cubelab-task-node"]')

    # two drops on the same spot: the second is nudged off the first
    shell = page.locator('[data-testid="cubelab-palette"] [data-template="shell"]').first
    expect(shell).to_be_visible()
    box = canvas.bounding_box()
    for _ in range(2):
        shell.drag_to(canvas, target_position={"x": box["width"] * 0.3, "y": box["height"] * 0.3})
    expect(nodes).to_have_count(2)
    assert not boxes_overlap(nodes.nth(0).bounding_box(), nodes.nth(1).bounding_box())

    # a task added by keyboard lands inside the visible canvas, on no other task
    shell.focus()
    page.keyboard.press("Enter")
    expect(nodes).to_have_count(3)
    added = nodes.nth(2).bounding_box()
    assert inside(added, canvas.bounding_box()), (added, canvas.bounding_box())
    assert not any(boxes_overlap(added, nodes.nth(i).bounding_box()) for i in range(2))

    # Delete on a task, then Ctrl+Z brings it back (the deleted task had the focus)
    third = nodes.nth(2).get_attribute("data-task")
    page.locator(f'.react-flow__node[data-id="{third}"]').click()
    page.keyboard.press("Delete")
    expect(nodes).to_have_count(2)
    page.keyboard.press("Control+z")
    expect(nodes).to_have_count(3)

    # after a click on the empty canvas: Ctrl+Shift+Z redoes, Ctrl+Z undoes
    canvas.click(position={"x": 8, "y": 8})
    page.keyboard.press("Control+Shift+z")
    expect(nodes).to_have_count(2)
    canvas.click(position={"x": 8, "y": 8})
    page.keyboard.press("Control+z")
    expect(nodes).to_have_count(3)

    # auto-layout: connected tasks run left to right, the edge leaves the right side
    first, second = nodes.nth(0).get_attribute("data-task"), nodes.nth(1).get_attribute("data-task")
    page.locator(f'[aria-label="Output of {first}"]').drag_to(page.locator(f'[aria-label="Input of {second}"]'))
    expect(page.locator(".react-flow__edge")).to_have_count(1)
    page.click('[data-testid="cubelab-layout"]')
    page.wait_for_timeout(500)
    a = page.locator(f'[data-testid="cubelab-task-node"][data-task="{first}"]').bounding_box()
    b = page.locator(f'[data-testid="cubelab-task-node"][data-task="{second}"]').bounding_box()
    assert b["x"] > a["x"] + a["width"], (a, b)
    assert abs(a["y"] - b["y"]) < a["height"], (a, b)
    page.keyboard.press("Control+s")
    expect(page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.jp-mod-dirty")).to_have_count(0, timeout=15_000)

    # another member of 'public' may not change or delete it: told before trying
    other = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        viewer = other.new_page()
        log_in(viewer, platform.url, "looker", "looker-password")
        open_cubelab_panel(viewer)
        row = viewer.locator('[data-testid="cubelab-pipeline-list"] li[data-pipeline="undo-flow"]')
        expect(row).to_be_visible(timeout=15_000)
        delete = row.locator('[data-testid="cubelab-pipeline-delete"]')
        expect(delete).to_be_disabled()
        assert "creators of project public" in (delete.get_attribute("title") or "")
        row.locator('[data-testid="cubelab-pipeline-open"]').click()
        expect(viewer.locator('[data-testid="cubelab-readonly"]')).to_contain_text("Read-only", timeout=30_000)
    finally:
        other.close()
    assert not [e for e in page.console_errors if "cubelab" in e.lower()], page.console_errors
