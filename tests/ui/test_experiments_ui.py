"""Experiments in JupyterLab, driven as a person would, on a real platform:
fill the new-experiment form (search space checked as you type, Random tuner,
a small NNI trial script from the workspace), start it, and watch the trial
table fill and the intermediate-result curves draw live, without reloading."""

from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import expect
from ui.lab import log_in, open_cubelab_panel

pytestmark = pytest.mark.browser

TRIAL_SCRIPT = """\
import nni

params = nni.get_next_parameter()
print("parameters", params, flush=True)
x = float(params["x"])
for step in range(3):
    nni.report_intermediate_result(x * (step + 1))
    print(f"step {step}: {x * (step + 1)}", flush=True)
nni.report_final_result(x * 3)
"""


def test_create_an_experiment_and_watch_it_live(platform, page, artifacts_dir):
    user = "tuner"
    log_in(page, platform.url, user, "tuner-password")
    workspace = platform.data_dir / "workspaces" / user
    (workspace / "hpo_trial.py").write_text(TRIAL_SCRIPT)
    open_cubelab_panel(page)

    section = page.locator('[data-testid="cubelab-section-experiments"]')
    section.scroll_into_view_if_needed()
    page.click('[data-testid="cubelab-new-experiment"]')
    form = page.locator('[data-testid="cubelab-experiment-form"]')
    expect(form).to_be_visible(timeout=30_000)

    page.fill('[data-testid="cubelab-experiment-name"]', "ui-random")
    page.select_option('[data-testid="cubelab-experiment-project"]', "public")

    # a wrong search space is named as you type, at the parameter's field
    space = page.locator('[data-testid="cubelab-experiment-search_space"]')
    space.fill(json.dumps({"x": {"_type": "uniform", "_value": [1, 0]}}))
    error = page.locator('[data-testid="cubelab-field-error-search_space"]')
    expect(error).to_contain_text("search_space.x", timeout=15_000)
    space.fill(json.dumps({"x": {"_type": "uniform", "_value": [0, 1]}}))
    expect(error).to_have_count(0, timeout=15_000)

    # the tuner picker lists each tuner with its types; left-out tuners say why
    tuners = page.locator('[data-testid="cubelab-experiment-tuner"]')
    expect(tuners.locator('[data-tuner="Random"]')).to_contain_text("uniform", timeout=15_000)
    tuners.locator('[data-tuner="Random"] input').check()

    page.locator('[data-testid="cubelab-experiment-source-file"]').check()
    page.fill('[data-testid="cubelab-experiment-file"]', "hpo_trial.py")
    page.fill('[data-testid="cubelab-experiment-trial_concurrency"]', "2")
    page.fill('[data-testid="cubelab-experiment-max_trials"]', "4")
    page.fill('[data-testid="cubelab-experiment-seed"]', "3")
    expect(page.locator('[data-testid="cubelab-experiment-diagnostics-count"]')).to_contain_text("no errors", timeout=15_000)
    page.click('[data-testid="cubelab-experiment-submit"]')

    # the experiment's tab opens and fills from its event stream
    view = page.locator('[data-testid="cubelab-experiment-view"]')
    expect(view).to_be_visible(timeout=30_000)
    rows = view.locator('[data-testid="cubelab-trials"] tbody tr')
    expect(rows.first).to_be_visible(timeout=120_000)
    seen_counts: set[int] = set()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        seen_counts.add(rows.count())
        if view.get_attribute("data-status") == "succeeded":
            break
        time.sleep(0.5)
    assert view.get_attribute("data-status") == "succeeded", page.locator('[data-testid="cubelab-experiment-view"]').inner_text()
    expect(rows).to_have_count(4)
    # rows arrived one by one while the page stayed (no reload between them)
    assert len(seen_counts) > 1, seen_counts
    expect(view.locator('[data-testid="cubelab-experiment-progress"]')).to_contain_text("4/4")
    assert view.locator('[data-testid="cubelab-trials"] tr[data-status="succeeded"]').count() == 4

    # the best row is highlighted and is the one with the largest final value (x * 3)
    best = view.locator('[data-testid="cubelab-trials"] tr[data-best="true"]')
    expect(best).to_have_count(1)
    values = [float(v) for v in view.locator('[data-testid="cubelab-trial-metric"]').all_inner_texts()]
    assert float(best.locator('[data-testid="cubelab-trial-metric"]').inner_text()) == max(values)

    # the curves and the parallel coordinates are drawn by JupyterLab's Vega renderer
    curves = view.locator('[data-testid="cubelab-experiment-curves"]')
    expect(curves.locator(".vega-embed canvas, .vega-embed svg").first).to_be_visible(timeout=30_000)
    parallel = view.locator('[data-testid="cubelab-experiment-parallel"]')
    expect(parallel.locator(".vega-embed canvas, .vega-embed svg").first).to_be_visible(timeout=30_000)

    # the best trial's parameters, and a trial's log
    expect(view.locator('[data-testid="cubelab-experiment-best-parameters"]')).to_contain_text('"x"')
    best.locator('[data-testid="cubelab-trial-log-open"]').click()
    expect(view.locator('[data-testid="cubelab-trial-log-text"]')).to_contain_text("step 2", timeout=30_000)
    page.screenshot(path=str(artifacts_dir / "experiment-view.png"))

    # the section lists it with its progress and best value
    row = section.locator('li[data-experiment="ui-random"]')
    expect(row).to_have_attribute("data-status", "succeeded", timeout=30_000)
    expect(row.locator('[data-testid="cubelab-experiment-row-progress"]')).to_have_text("4/4")
    assert not [e for e in page.console_errors if "experiments" in e], page.console_errors
