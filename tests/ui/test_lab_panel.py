"""A new user logs in, JupyterLab opens, and the CubeLab panel shows 'public'."""

from __future__ import annotations

import pytest
from ui.lab import log_in, open_cubelab_panel

pytestmark = pytest.mark.browser


def test_new_user_sees_public_project_in_cubelab_panel(platform, page, artifacts_dir):
    log_in(page, platform.url, "newcomer", "newcomer-password")
    assert "/user/newcomer/lab" in page.url
    open_cubelab_panel(page)
    row = page.locator('[data-testid="cubelab-projects"] li[data-project="public"]')
    row.wait_for(timeout=30_000)
    assert row.get_attribute("data-role") == "dev"
    assert page.locator('[data-testid="cubelab-user"]').inner_text().strip().endswith("newcomer")
    page.screenshot(path=str(artifacts_dir / "lab-cubelab-panel.png"))
    assert not [e for e in page.console_errors if "cubelab" in e.lower()], page.console_errors
