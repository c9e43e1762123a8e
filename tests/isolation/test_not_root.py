"""``cubelab up`` started by an ordinary user: it starts, says that every
account's code runs as that one OS user, and keeps registration closed."""

from __future__ import annotations

import os
import re

import pytest
from support.platform import Platform, User

pytestmark = [pytest.mark.hub, pytest.mark.skipif(os.geteuid() != 0, reason="starts the platform as 'nobody' from root")]

NOBODY = 65534


def test_not_root_says_so_and_keeps_registration_closed(tmp_path, artifacts_dir):
    platform = Platform(tmp_path / "data", log_path=artifacts_dir / "platform-not-root.log", run_as_uid=NOBODY).start()
    try:
        log = platform.log_text()
        assert re.search(r"not running as root, so every account's code .* runs as this one OS user \(nobody\)", log), log[-3000:]
        assert "Registration is closed" in log
        newcomer = User(platform, "newcomer", "long-enough-password")
        resp = newcomer.login()
        assert resp.status_code == 403 and "Registration is closed" in resp.text
        admin = User(platform, platform.admin, platform.admin_password)
        assert admin.login().status_code == 302
        assert (platform.data_dir.stat().st_mode & 0o777) == 0o700
    finally:
        platform.stop()
