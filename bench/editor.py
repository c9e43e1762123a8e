"""The pipeline editor's responsiveness, in Debian Chromium against a real `cubelab up`.

  run -> running   from clicking Run to the first task showing "running" on the
                   canvas (the run starts, the status reaches the page, React renders)
  open 200         from clicking a 200-task pipeline in the sidebar to all 200
                   nodes on the canvas
  layout 200       from clicking Auto-layout to the next painted frame

Usage:  .venv/bin/python bench/editor.py --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests")]

from playwright.sync_api import sync_playwright  # noqa: E402
from support.platform import Platform, User  # noqa: E402
from ui.conftest import CHROMIUM_ARGS, chromium_path  # noqa: E402
from ui.lab import log_in, open_cubelab_panel  # noqa: E402


def layered(name: str, layers: int = 20, width: int = 10) -> dict:
    tasks, edges = [], []
    for layer in range(layers):
        for i in range(width):
            tasks.append({"name": f"t{layer}-{i}", "template": "logical"})
            if layer:
                edges.append([f"t{layer - 1}-{i}", f"t{layer}-{i}"])
                edges.append([f"t{layer - 1}-{(i + 1) % width}", f"t{layer}-{i}"])
    return {"name": name, "project": "public", "tasks": tasks, "edges": edges}


def open_pipeline(page, name: str) -> float:
    """Click the pipeline in the sidebar; seconds until its nodes are all drawn."""
    row = page.locator(f'[data-testid="cubelab-pipeline-list"] li[data-pipeline="{name}"] [data-testid="cubelab-pipeline-open"]')
    page.click('[data-testid="cubelab-refresh"]')
    row.wait_for()
    start = time.monotonic()
    row.click()
    return start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    run_ms, open_ms, layout_ms = [], [], []
    with tempfile.TemporaryDirectory(prefix="cubelab-bench-editor-") as tmp:
        platform = Platform(Path(tmp) / "data").start()
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                log_in(page, platform.url, "bencher", "bencher-password")
                user = User(platform, "bencher", "bencher-password")
                user.login()
                user.create_token()
                quick = user.api("POST", "/pipelines", json={"name": "quick", "project": "public", "tasks": [
                    {"name": "first", "template": "shell", "args": {"--command": "sleep 1"}},
                    {"name": "second", "template": "shell", "args": {"--command": "true"}}], "edges": [["first", "second"]]})
                assert quick.status_code == 201, quick.text
                big = user.api("POST", "/pipelines", json=layered("big"))
                assert big.status_code == 201, big.text
                open_cubelab_panel(page)

                open_pipeline(page, "quick")
                page.locator('[data-testid="cubelab-task-node"]').nth(1).wait_for()
                for _ in range(args.rounds):
                    page.locator('[data-testid="cubelab-run-start"]').wait_for()
                    # measured inside the page: click, then poll the node's status attribute each frame
                    ms = page.evaluate("""() => new Promise(resolve => {
                        const t0 = performance.now();
                        document.querySelector('[data-testid="cubelab-run-start"]').click();
                        const tick = () => {
                          const n = document.querySelector('[data-testid="cubelab-task-node"][data-task="first"]');
                          if (n && n.getAttribute('data-status') === 'running') { resolve(performance.now() - t0); return; }
                          requestAnimationFrame(tick);
                        };
                        requestAnimationFrame(tick);
                      })""")
                    run_ms.append(ms)
                    page.wait_for_selector('[data-testid="cubelab-run"][data-status="succeeded"]', timeout=60_000)
                    back = page.locator('text=Back to editing')
                    if back.count():
                        back.first.click()

                for _ in range(args.rounds):
                    # File > Close All Tabs, so each open builds a fresh editor
                    page.click('.lm-MenuBar-itemLabel:text-is("File")')
                    page.click('.lm-Menu-itemLabel:text-is("Close All Tabs")')
                    if page.locator(".jp-Dialog").count():
                        page.locator(".jp-Dialog .jp-mod-warn, .jp-Dialog .jp-mod-reject").first.click()
                    page.wait_for_function("() => !document.querySelector('[data-testid=\"cubelab-canvas\"]')", timeout=30_000)
                    start = open_pipeline(page, "big")
                    page.wait_for_function("() => document.querySelectorAll('[data-testid=\"cubelab-task-node\"]').length >= 200", timeout=60_000)
                    open_ms.append((time.monotonic() - start) * 1000)
                    ms = page.evaluate("""() => new Promise(resolve => {
                        const t0 = performance.now();
                        document.querySelector('[data-testid="cubelab-layout"]').click();
                        requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now() - t0)));
                      })""")
                    layout_ms.append(ms)
                browser.close()
        finally:
            platform.stop()

    def show(label: str, values: list[float]) -> None:
        print(f"{label:<34}median {statistics.median(values):8.0f} ms   min {min(values):6.0f}   max {max(values):6.0f}   (n={len(values)})")

    show("click Run -> first task 'running'", run_ms)
    show("open a 200-task pipeline", open_ms)
    show("auto-layout 200 tasks", layout_ms)


if __name__ == "__main__":
    main()
