"""The TensorBoard section: start a board on a log directory of the user's
workspace, see it listed, open it in a Lab tab, stop it."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect
from ui.lab import log_in, open_cubelab_panel

pytestmark = pytest.mark.browser


def write_events(logdir) -> None:
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    logdir.mkdir(parents=True, exist_ok=True)
    writer = EventFileWriter(str(logdir))
    for step in range(3):
        value = summary_pb2.Summary.Value(tag="loss", simple_value=1.0 / (step + 1))
        writer.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary_pb2.Summary(value=[value])))
    writer.close()


def test_tensorboard_section_opens_a_board(platform, page, artifacts_dir):
    log_in(page, platform.url, "boarder", "boarder-password")
    write_events(platform.data_dir / "workspaces" / "boarder" / "runs" / "exp1")
    open_cubelab_panel(page)

    section = page.locator('[data-testid="cubelab-tensorboard"]')
    section.scroll_into_view_if_needed()
    page.fill('[data-testid="cubelab-tensorboard-logdir"]', "runs/exp1")
    page.click('[data-testid="cubelab-tensorboard-start"]')
    board = page.locator('[data-testid="cubelab-boards"] li[data-logdir="runs/exp1"]')
    expect(board).to_be_visible(timeout=60_000)

    board.locator('[data-testid="cubelab-board-open"]').click()
    frame = page.frame_locator(".cl-TensorBoardWidget iframe")
    # TensorBoard's own UI, served through the user's server, shows the scalar tag
    expect(frame.locator("body")).to_contain_text("loss", timeout=60_000)
    page.screenshot(path=str(artifacts_dir / "tensorboard-tab.png"))

    # a directory outside the workspace is refused with the field named
    page.fill('[data-testid="cubelab-tensorboard-logdir"]', "../../etc")
    page.click('[data-testid="cubelab-tensorboard-start"]')
    expect(section).to_contain_text("logdir", timeout=15_000)

    board.locator('[data-testid="cubelab-board-stop"]').click()
    page.locator(".jp-Dialog .jp-mod-warn").click()  # confirm in JupyterLab's dialog
    expect(board).to_have_count(0, timeout=30_000)

    # the tab restored on the next visit points at a board that no longer runs
    # (as after a platform restart): it says so and starts it again on request
    page.reload()
    page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
    gone = page.locator('.cl-TensorBoardWidget [data-testid="cubelab-board-gone"]')
    expect(gone).to_contain_text("not running any more", timeout=60_000)
    expect(page.locator(".cl-TensorBoardWidget iframe")).to_be_hidden()
    gone.locator('[data-testid="cubelab-board-restart"]').click()
    expect(gone).to_be_hidden(timeout=60_000)
    expect(frame.locator("body")).to_contain_text("loss", timeout=60_000)
    assert not [e for e in page.console_errors if "cubelab" in e.lower()], page.console_errors
